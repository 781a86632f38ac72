//! The origin check against cross-site request forgery, as in Lucia's
//! guide (OWASP ASVS 5.0.0 3.5.1-3.5.3): a state-changing request that carries the
//! session cookie must come from the site itself or an allow-listed
//! origin.
//!
//! Origins are compared as parsed `(scheme, host, port)` tuples with the
//! `url` crate (WHATWG URL parsing: lower-cased, IDN hosts in their
//! punycode form, default ports dropped), never as strings, so neither
//! `https://example.com.evil.com` nor `https://evil.com/https://example.com`
//! passes for `https://example.com`.

use http::header::{HOST, ORIGIN};
use http::{HeaderMap, HeaderName, Method, Uri};
use url::Url;

use crate::Error;

/// Fetch Metadata (W3C): `Sec-Fetch-Site` says how the request's initiator
/// relates to its target.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Whether the origin check let a request through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A safe method, or the origin is the site's own or allow-listed.
    Allowed,
    /// A state-changing request from elsewhere, or of unknown origin.
    Refused(&'static str),
}

/// True for the methods RFC 9110 9.2.1 defines as safe: they must not
/// change state, so they need no CSRF check.
pub(crate) fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The `Sec-Fetch-Site` values that may be allowed besides `same-origin`
/// (always allowed). `cross-site` never is: that is the forgery.
pub(crate) const ALLOWABLE_SITES: [&str; 2] = ["same-site", "none"];

/// The checked origin policy: the request's scheme, if fixed, the
/// allow-list, and the `Sec-Fetch-Site` values that pass without `Origin`.
#[derive(Debug, Clone, Default)]
pub(crate) struct OriginPolicy {
    scheme: Option<&'static str>,
    allowed: Vec<url::Origin>,
    /// Besides `same-origin`: some of [`ALLOWABLE_SITES`].
    sites: Vec<&'static str>,
}

impl OriginPolicy {
    /// Checks the scheme, every allow-list entry and every
    /// `Sec-Fetch-Site` value once, at build time.
    pub(crate) fn new(
        scheme: Option<&str>,
        allowed: &[String],
        sites: &[String],
    ) -> Result<Self, Error> {
        let scheme = match scheme {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("https") => Some("https"),
            Some(s) if s.eq_ignore_ascii_case("http") => Some("http"),
            Some(s) => return Err(Error::InvalidScheme(s.to_owned())),
        };
        let allowed = allowed
            .iter()
            .map(|entry| {
                parse_origin(entry).map_err(|reason| Error::InvalidOrigin {
                    origin: entry.clone(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        let mut checked_sites = Vec::new();
        for site in sites {
            if site.eq_ignore_ascii_case("same-origin") {
                continue;
            }
            let known = ALLOWABLE_SITES
                .into_iter()
                .find(|known| site.eq_ignore_ascii_case(known))
                .ok_or_else(|| Error::InvalidSecFetchSite(site.clone()))?;
            checked_sites.push(known);
        }
        Ok(Self {
            scheme,
            allowed,
            sites: checked_sites,
        })
    }

    /// The verdict for a state-changing request (call it only for those).
    ///
    /// With an `Origin` header, its origin must equal the request's own
    /// (`Host`, or the URI's authority for HTTP/2, with the configured
    /// scheme or the `Origin`'s own if none is configured) or an
    /// allow-listed one. Without one, `Sec-Fetch-Site` must be
    /// `same-origin` or one of the allowed values; a request with neither
    /// is refused, because nothing shows where it came from.
    pub(crate) fn check(&self, headers: &HeaderMap, uri: &Uri) -> Verdict {
        let mut origins = headers.get_all(ORIGIN).iter();
        match (origins.next(), origins.next()) {
            (Some(origin), None) => {
                let Ok(origin) = origin.to_str() else {
                    return Verdict::Refused("Origin is not ASCII");
                };
                self.check_origin(origin, headers, uri)
            }
            (Some(_), Some(_)) => Verdict::Refused("several Origin headers"),
            (None, _) => {
                let mut sites = headers.get_all(SEC_FETCH_SITE).iter();
                match (sites.next(), sites.next()) {
                    (Some(site), None) if self.is_allowed_site(site.as_bytes()) => Verdict::Allowed,
                    _ => Verdict::Refused("no Origin and no allowed Sec-Fetch-Site"),
                }
            }
        }
    }

    /// Browsers send the values in lower case (Fetch Metadata), and so are
    /// they compared.
    fn is_allowed_site(&self, site: &[u8]) -> bool {
        site == b"same-origin" || self.sites.iter().any(|allowed| allowed.as_bytes() == site)
    }

    fn check_origin(&self, origin: &str, headers: &HeaderMap, uri: &Uri) -> Verdict {
        let host = request_host(headers, uri);
        if host.is_some_and(|host| self.is_plainly_same_origin(origin, host)) {
            return Verdict::Allowed;
        }
        // `null` (opaque origins: sandboxed frames, file: pages, some
        // redirects) and anything that is not an http(s) origin fail here.
        let Ok(origin) = parse_origin(origin) else {
            return Verdict::Refused("Origin is not an http(s) origin");
        };
        if self.allowed.contains(&origin) {
            return Verdict::Allowed;
        }
        let url::Origin::Tuple(origin_scheme, ..) = &origin else {
            return Verdict::Refused("Origin is opaque");
        };
        let scheme = self.scheme.unwrap_or(origin_scheme.as_str());
        match host.and_then(|host| own_origin(scheme, host)) {
            Some(own) if own == origin => Verdict::Allowed,
            Some(_) => Verdict::Refused("cross-origin request"),
            None => Verdict::Refused("no usable Host"),
        }
    }
}

impl OriginPolicy {
    /// The common case without parsing: a browser on the site itself sends
    /// `Origin: scheme://host[:port]` with exactly the `Host` it sends,
    /// when that host is a plain lower-case DNS name. Two equal strings of
    /// that shape parse to the same origin, so this only ever answers yes
    /// where the full comparison would; anything else goes to the parser.
    fn is_plainly_same_origin(&self, origin: &str, host: &str) -> bool {
        let (scheme, authority) = if let Some(rest) = origin.strip_prefix("https://") {
            ("https", rest)
        } else if let Some(rest) = origin.strip_prefix("http://") {
            ("http", rest)
        } else {
            return false;
        };
        self.scheme.is_none_or(|s| s == scheme) && authority == host && is_plain_host(host)
    }
}

/// `name(.name)*(:digits)?` with names of `a-z0-9-`: a host the URL parser
/// keeps as it is.
fn is_plain_host(host: &str) -> bool {
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// The request's host: the `Host` header, or the URI's authority when there
/// is no `Host` (HTTP/2 sends `:authority` instead, which hyper puts in
/// the URI).
fn request_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    match headers.get(HOST) {
        Some(host) => host.to_str().ok(),
        None => Some(uri.authority()?.as_str()),
    }
}

/// The request's own origin: `scheme://` + its host.
fn own_origin(scheme: &str, host: &str) -> Option<url::Origin> {
    // Host is `host[:port]` (RFC 9110 7.2). Anything that would make the
    // URL parser read userinfo or a path is not a host.
    if host.is_empty()
        || host
            .bytes()
            .any(|b| matches!(b, b'/' | b'\\' | b'?' | b'#' | b'@') || b <= b' ' || b == 0x7f)
    {
        return None;
    }
    let url = Url::parse(&format!("{scheme}://{host}")).ok()?;
    Some(url.origin())
}

/// Parses `scheme://host[:port]` into an origin tuple: http or https, a
/// host, no userinfo, path, query or fragment (a trailing `/` is allowed).
fn parse_origin(value: &str) -> Result<url::Origin, &'static str> {
    let url = Url::parse(value).map_err(|_| "not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("scheme must be http or https");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not hold a user name or password");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be scheme://host[:port] with no path, query or fragment");
    }
    Ok(url.origin())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn policy(allowed: &[&str]) -> OriginPolicy {
        let allowed: Vec<String> = allowed.iter().map(|s| (*s).to_owned()).collect();
        OriginPolicy::new(None, &allowed, &[]).expect("valid policy")
    }

    fn verdict(policy: &OriginPolicy, host: &str, origin: Option<&str>) -> Verdict {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_str(host).expect("host"));
        if let Some(origin) = origin {
            headers.insert(ORIGIN, HeaderValue::from_str(origin).expect("origin"));
        }
        policy.check(&headers, &Uri::from_static("/"))
    }

    #[test]
    fn own_origin_passes_with_case_and_default_port_normalised() {
        let p = policy(&[]);
        assert_eq!(
            verdict(&p, "Example.COM", Some("https://example.com")),
            Verdict::Allowed
        );
        assert_eq!(
            verdict(&p, "example.com:443", Some("https://example.com")),
            Verdict::Allowed
        );
        assert_eq!(
            verdict(&p, "localhost:3000", Some("http://localhost:3000")),
            Verdict::Allowed
        );
        assert_eq!(
            verdict(&p, "[::1]:8080", Some("http://[::1]:8080")),
            Verdict::Allowed
        );
    }

    #[test]
    fn prefix_suffix_and_userinfo_tricks_are_refused() {
        let p = policy(&["https://app.example.com"]);
        for origin in [
            "https://example.com.evil.com",
            "https://evilexample.com",
            "https://example.com@evil.com",
            "https://evil.com/https://example.com",
            "https://app.example.com.evil.com",
            "https://example.com:444",
            "null",
            "example.com",
            "javascript://example.com",
            "file:///etc/passwd",
        ] {
            assert!(
                matches!(
                    verdict(&p, "example.com", Some(origin)),
                    Verdict::Refused(_)
                ),
                "{origin} passed"
            );
        }
    }

    #[test]
    fn allow_list_matches_exactly_after_parsing() {
        let p = policy(&["HTTPS://App.Example.com:443/", "https://xn--bcher-kva.de"]);
        assert_eq!(
            verdict(&p, "example.com", Some("https://app.example.com")),
            Verdict::Allowed
        );
        assert_eq!(
            verdict(&p, "example.com", Some("https://xn--bcher-kva.de")),
            Verdict::Allowed
        );
        assert!(matches!(
            verdict(&p, "example.com", Some("http://app.example.com")),
            Verdict::Refused(_)
        ));
    }

    #[test]
    fn idn_allow_list_entries_are_normalised_to_punycode() {
        let p = policy(&["https://bücher.de"]);
        assert_eq!(
            verdict(&p, "example.com", Some("https://xn--bcher-kva.de")),
            Verdict::Allowed
        );
    }

    #[test]
    fn configured_scheme_must_match() {
        let p = OriginPolicy::new(Some("https"), &[], &[]).expect("valid");
        assert_eq!(
            verdict(&p, "example.com", Some("https://example.com")),
            Verdict::Allowed
        );
        assert!(matches!(
            verdict(&p, "example.com", Some("http://example.com")),
            Verdict::Refused(_)
        ));
    }

    #[test]
    fn invalid_configuration_is_refused_at_build_time() {
        for entry in [
            "example.com",
            "localhost:3000",
            "https://example.com/path",
            "https://u:p@example.com",
            "ftp://example.com",
            "https://example.com?x",
            "null",
        ] {
            assert!(
                OriginPolicy::new(None, &[entry.to_owned()], &[]).is_err(),
                "{entry} accepted"
            );
        }
        assert!(OriginPolicy::new(Some("ftp"), &[], &[]).is_err());
    }

    #[test]
    fn http2_authority_stands_in_for_host() {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_static("https://example.com"));
        let uri = Uri::from_static("https://example.com/x");
        assert_eq!(policy(&[]).check(&headers, &uri), Verdict::Allowed);
    }

    #[test]
    fn plain_hosts_are_recognised() {
        for host in ["example.com", "localhost:3000", "a-b.c0.example:443"] {
            assert!(is_plain_host(host), "{host}");
        }
        for host in [
            "",
            "Example.com",
            "a..b",
            "a:b",
            "a:",
            "a:123456",
            "[::1]",
            "a_b.com",
            "ex\u{e4}.com",
        ] {
            assert!(!is_plain_host(host), "{host}");
        }
    }

    #[test]
    fn the_fast_path_respects_the_configured_scheme() {
        let p = OriginPolicy::new(Some("https"), &[], &[]).expect("valid");
        assert!(p.is_plainly_same_origin("https://example.com", "example.com"));
        assert!(!p.is_plainly_same_origin("http://example.com", "example.com"));
        assert!(!p.is_plainly_same_origin("https://example.com.evil.com", "example.com"));
    }

    #[test]
    fn hosts_with_url_syntax_are_unusable() {
        let p = policy(&[]);
        assert!(matches!(
            verdict(&p, "evil.com/@example.com", Some("https://example.com")),
            Verdict::Refused(_)
        ));
    }

    #[test]
    fn missing_origin_needs_sec_fetch_site_same_origin() {
        let p = policy(&[]);
        let uri = Uri::from_static("/");
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("example.com"));
        assert!(matches!(p.check(&headers, &uri), Verdict::Refused(_)));
        headers.insert(SEC_FETCH_SITE, HeaderValue::from_static("same-site"));
        assert!(matches!(p.check(&headers, &uri), Verdict::Refused(_)));
        headers.insert(SEC_FETCH_SITE, HeaderValue::from_static("same-origin"));
        assert_eq!(p.check(&headers, &uri), Verdict::Allowed);
    }

    #[test]
    fn allowed_sec_fetch_sites_pass_without_origin_and_only_those() {
        let sites = ["Same-Site".to_owned()];
        let p = OriginPolicy::new(None, &[], &sites).expect("valid");
        let uri = Uri::from_static("/");
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("example.com"));
        for (site, allowed) in [
            ("same-origin", true),
            ("same-site", true),
            ("none", false),
            ("cross-site", false),
            ("SAME-SITE", false),
        ] {
            headers.insert(SEC_FETCH_SITE, HeaderValue::from_static(site));
            assert_eq!(
                p.check(&headers, &uri) == Verdict::Allowed,
                allowed,
                "{site}"
            );
        }
        // Origin, when present, decides alone.
        headers.insert(SEC_FETCH_SITE, HeaderValue::from_static("same-site"));
        headers.insert(ORIGIN, HeaderValue::from_static("https://evil.com"));
        assert!(matches!(p.check(&headers, &uri), Verdict::Refused(_)));
    }

    #[test]
    fn only_known_sec_fetch_sites_can_be_allowed() {
        for site in ["same-origin", "same-site", "none", "NONE"] {
            assert!(
                OriginPolicy::new(None, &[], &[site.to_owned()]).is_ok(),
                "{site}"
            );
        }
        for site in ["cross-site", "", "same_site", "same-site "] {
            assert!(
                matches!(
                    OriginPolicy::new(None, &[], &[site.to_owned()]),
                    Err(Error::InvalidSecFetchSite(_))
                ),
                "{site:?}"
            );
        }
    }

    #[test]
    fn several_origin_headers_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("example.com"));
        headers.append(ORIGIN, HeaderValue::from_static("https://example.com"));
        headers.append(ORIGIN, HeaderValue::from_static("https://example.com"));
        assert!(matches!(
            policy(&[]).check(&headers, &Uri::from_static("/")),
            Verdict::Refused(_)
        ));
    }

    #[test]
    fn safe_methods_are_the_rfc_9110_ones() {
        for m in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
            assert!(is_safe(&m));
        }
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(!is_safe(&m));
        }
        assert!(!is_safe(&Method::from_bytes(b"PROPFIND").expect("method")));
    }
}
