//! Web origins: parsing an `Origin` header or an allow-list entry, and
//! the request's own origin from its `Host`.
//!
//! Origins are compared as parsed `(scheme, host, port)` tuples with the
//! `url` crate (WHATWG URL parsing: lower-cased, IDN hosts in their
//! punycode form, default ports dropped), never as strings, so neither
//! `https://example.com.evil.com` nor `https://evil.com/https://example.com`
//! passes for `https://example.com`.

use std::fmt;

use url::Url;

/// A parsed `http` or `https` origin: scheme, host and port, normalised
/// (RFC 6454; WHATWG URL).
///
/// ```
/// use narvik_core::cross_origin::parse_origin;
///
/// let a = parse_origin(b"HTTPS://Example.COM:443")?;
/// let b = parse_origin(b"https://example.com")?;
/// assert_eq!(a, b);
/// assert_eq!(a.to_string(), "https://example.com");
/// assert!(parse_origin(b"https://example.com/path").is_err());
/// # Ok::<(), narvik_core::cross_origin::InvalidOrigin>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin(url::Origin);

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.ascii_serialization())
    }
}

/// Why a value is not an `http(s)://host[:port]` origin (see
/// [`parse_origin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an origin: {0}")]
pub struct InvalidOrigin(&'static str);

impl InvalidOrigin {
    /// What is wrong with the value, in words.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        self.0
    }
}

/// Parses `scheme://host[:port]` into an [`Origin`]: `http` or `https`, a
/// host, no userinfo, path, query or fragment (a trailing `/` is allowed).
/// Takes the header's bytes as they came.
///
/// `null` (the opaque origin of sandboxed frames, `file:` pages and some
/// redirects) is not an origin here: it names no site to compare with.
///
/// # Errors
///
/// [`InvalidOrigin`] for anything else, with the reason.
pub fn parse_origin(value: &[u8]) -> Result<Origin, InvalidOrigin> {
    let value = std::str::from_utf8(value).map_err(|_| InvalidOrigin("not UTF-8"))?;
    let url = Url::parse(value).map_err(|_| InvalidOrigin("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(InvalidOrigin("scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(InvalidOrigin("must not hold a user name or password"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(InvalidOrigin(
            "must be scheme://host[:port] with no path, query or fragment",
        ));
    }
    Ok(Origin(url.origin()))
}

impl Origin {
    /// The origin's scheme, `"http"` or `"https"`.
    pub(super) fn scheme(&self) -> &str {
        match &self.0 {
            url::Origin::Tuple(scheme, ..) => scheme,
            // `parse_origin` and `own` only make tuples.
            url::Origin::Opaque(_) => "",
        }
    }

    /// The request's own origin: `scheme://` + its `Host` (`host[:port]`,
    /// RFC 9110 7.2). `None` if the host is not one.
    pub(super) fn own(scheme: &str, host: &[u8]) -> Option<Self> {
        // Anything that would make the URL parser read userinfo or a path
        // is not a host.
        if host.is_empty()
            || host
                .iter()
                .any(|&b| matches!(b, b'/' | b'\\' | b'?' | b'#' | b'@') || b <= b' ' || b >= 0x7f)
        {
            return None;
        }
        let host = std::str::from_utf8(host).ok()?;
        let url = Url::parse(&format!("{scheme}://{host}")).ok()?;
        Some(Self(url.origin()))
    }
}

/// The common case without parsing: a browser on the site itself sends
/// `Origin: scheme://host[:port]` with exactly the `Host` it sends, when
/// that host is a plain lower-case DNS name. Two equal strings of that
/// shape parse to the same origin, so this only ever answers yes where
/// the full comparison would; anything else goes to the parser.
///
/// `scheme` is the one the origin must have, if fixed.
pub(super) fn is_plainly_same_origin(origin: &[u8], host: &[u8], scheme: Option<&str>) -> bool {
    let (origin_scheme, authority) = if let Some(rest) = origin.strip_prefix(b"https://") {
        ("https", rest)
    } else if let Some(rest) = origin.strip_prefix(b"http://") {
        ("http", rest)
    } else {
        return false;
    };
    scheme.is_none_or(|s| s == origin_scheme) && authority == host && is_plain_host(host)
}

/// `name(.name)*(:digits)?` with names of `a-z0-9-`: a host the URL parser
/// keeps as it is.
fn is_plain_host(host: &[u8]) -> bool {
    let (name, port) = match host.iter().position(|&b| b == b':') {
        Some(at) => (&host[..at], Some(&host[at + 1..])),
        None => (host, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.iter().all(u8::is_ascii_digit));
    port_ok
        && name.split(|&b| b == b'.').all(|label| {
            !label.is_empty()
                && label
                    .iter()
                    .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_normalises_case_default_ports_and_idn() {
        let origin = |s: &str| parse_origin(s.as_bytes()).expect(s);
        assert_eq!(
            origin("HTTPS://App.Example.com:443/"),
            origin("https://app.example.com")
        );
        assert_eq!(
            origin("https://bücher.de"),
            origin("https://xn--bcher-kva.de")
        );
        assert_ne!(origin("http://example.com"), origin("https://example.com"));
        assert_eq!(origin("http://[::1]:8080").to_string(), "http://[::1]:8080");
    }

    #[test]
    fn what_is_not_an_origin_is_refused() {
        for value in [
            "example.com",
            "localhost:3000",
            "https://example.com/path",
            "https://u:p@example.com",
            "https://example.com@evil.com",
            "ftp://example.com",
            "javascript://example.com",
            "file:///etc/passwd",
            "https://example.com?x",
            "https://example.com#x",
            "null",
            "",
        ] {
            assert!(parse_origin(value.as_bytes()).is_err(), "{value} accepted");
        }
        assert!(parse_origin(b"https://ex\xffample.com").is_err());
    }

    #[test]
    fn own_origin_refuses_hosts_with_url_syntax() {
        for host in [
            "",
            "evil.com/@example.com",
            "a@b",
            "a?b",
            "a#b",
            "a\\b",
            "a b",
            "ex\u{e4}.com",
        ] {
            assert!(Origin::own("https", host.as_bytes()).is_none(), "{host:?}");
        }
        let own = Origin::own("https", b"Example.COM:443").expect("a host");
        assert_eq!(own.to_string(), "https://example.com");
        assert_eq!(own.scheme(), "https");
    }

    #[test]
    fn plain_hosts_are_recognised() {
        for host in ["example.com", "localhost:3000", "a-b.c0.example:443"] {
            assert!(is_plain_host(host.as_bytes()), "{host}");
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
            assert!(!is_plain_host(host.as_bytes()), "{host}");
        }
    }

    #[test]
    fn the_fast_path_respects_the_scheme_and_the_exact_host() {
        let same = |origin: &str, host: &str, scheme| {
            is_plainly_same_origin(origin.as_bytes(), host.as_bytes(), scheme)
        };
        assert!(same("https://example.com", "example.com", Some("https")));
        assert!(same("http://example.com", "example.com", None));
        assert!(!same("http://example.com", "example.com", Some("https")));
        assert!(!same("https://example.com.evil.com", "example.com", None));
        assert!(!same("https://example.com", "example.com.evil.com", None));
        assert!(!same("ftp://example.com", "example.com", None));
    }
}
