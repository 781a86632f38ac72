//! [`CrossOriginPolicy`] and its builder: the options, checked once, and
//! the decision for one request.

use super::origin::{Origin, is_plainly_same_origin, parse_origin};
use super::{Decision, HeaderField, Provenance, Refusal, RequestFacts, SecFetchSite, Verdict};

/// The configured cross-origin protection: which origins and
/// `Sec-Fetch-Site` values count as the site's own, the scheme of the
/// site's origin, and the paths that are exempt. Built once with
/// [`CrossOriginPolicy::builder`]; [`check`](Self::check) decides each
/// request. See [the module documentation](super) for the rules.
///
/// ```
/// use narvik_core::cross_origin::{CrossOriginPolicy, Decision, HeaderField, RequestFacts};
///
/// let policy = CrossOriginPolicy::builder()
///     .request_scheme("https")
///     .allow_origin("https://admin.example.com")
///     .exempt_path("/hooks/")
///     .build()?;
///
/// let from = |origin: &'static str| RequestFacts {
///     method: "POST",
///     path: "/account/delete",
///     origin: HeaderField::One(origin.as_bytes()),
///     host: Some(b"example.com"),
///     session_cookie: true,
///     ..RequestFacts::default()
/// };
/// assert_eq!(policy.check(&from("https://example.com")).request, Decision::Allow);
/// assert_eq!(policy.check(&from("https://admin.example.com")).request, Decision::Allow);
/// assert!(matches!(policy.check(&from("https://evil.com")).request, Decision::Refuse(_)));
/// // A page on plain http is not the site.
/// assert!(matches!(policy.check(&from("http://example.com")).request, Decision::Refuse(_)));
/// # Ok::<(), narvik_core::cross_origin::PolicyError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CrossOriginPolicy {
    enabled: bool,
    scheme: Option<&'static str>,
    allowed: Vec<Origin>,
    /// Trusted besides `same-origin`: some of `same-site` and `none`.
    sites: Vec<SecFetchSite>,
    exempt: Vec<ExemptPath>,
}

impl Default for CrossOriginPolicy {
    /// On, no extra origins or `Sec-Fetch-Site` values, any request
    /// scheme, no exempt paths.
    fn default() -> Self {
        Self {
            enabled: true,
            scheme: None,
            allowed: Vec::new(),
            sites: Vec::new(),
            exempt: Vec::new(),
        }
    }
}

/// A path the check lets through (the request then does not use the
/// session cookie, see [`Decision::PassWithoutCookie`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum ExemptPath {
    /// This path only.
    Exact(Box<str>),
    /// Every path that starts with this one, which ends in `/`.
    Under(Box<str>),
}

impl ExemptPath {
    fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(exact) => path == &**exact,
            Self::Under(prefix) => path.starts_with(&**prefix),
        }
    }
}

/// A [`CrossOriginPolicy`] option that cannot work, refused by
/// [`CrossOriginPolicyBuilder::build`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// An entry of the origin allow-list is not an `http` or `https`
    /// origin (`scheme://host[:port]`, nothing after it).
    #[error("invalid allowed origin {origin:?}: {reason}")]
    InvalidOrigin {
        /// The entry as given.
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The request scheme for the same-origin comparison is neither
    /// `http` nor `https`.
    #[error("invalid request scheme {0:?}: expected \"http\" or \"https\"")]
    InvalidScheme(String),

    /// A `Sec-Fetch-Site` value to allow is not `same-site` or `none`
    /// (`same-origin` always passes; `cross-site` never may).
    #[error("invalid Sec-Fetch-Site value to allow {0:?}: expected \"same-site\" or \"none\"")]
    InvalidSecFetchSite(String),

    /// An exempt path does not start with `/`, or holds a query (`?`), a
    /// fragment (`#`) or a dot segment, which no request path matches.
    #[error("invalid exempt path {0:?}: expected an absolute path such as \"/hooks/stripe\"")]
    InvalidExemptPath(String),
}

impl CrossOriginPolicy {
    /// A builder, starting from the [default](Self::default).
    pub fn builder() -> CrossOriginPolicyBuilder {
        CrossOriginPolicyBuilder {
            enabled: true,
            scheme: None,
            allowed_origins: Vec::new(),
            allowed_sites: Vec::new(),
            exempt_paths: Vec::new(),
        }
    }

    /// Whether the check runs at all.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// True if `path` is one of the exempt paths.
    #[must_use]
    pub fn is_exempt(&self, path: &str) -> bool {
        self.exempt.iter().any(|exempt| exempt.matches(path))
    }

    /// The verdict for one request, before its handler runs.
    ///
    /// With the check off, or for a safe method (`GET`, `HEAD`,
    /// `OPTIONS`, `TRACE`), both halves allow. Otherwise the
    /// [`provenance`](Self::provenance) of the request decides, with the
    /// rules of [the module documentation](super).
    #[must_use]
    pub fn check(&self, request: &RequestFacts<'_>) -> Verdict {
        if !self.enabled || is_safe_method(request.method) {
            return Verdict {
                request: Decision::Allow,
                sign_in: Ok(()),
            };
        }
        let provenance = self.provenance(request);
        let sign_in = match provenance {
            Provenance::Trusted => Ok(()),
            Provenance::Unknown => Err(Refusal("no Origin or Sec-Fetch-Site on a sign-in")),
            Provenance::CrossOrigin(refusal) => Err(refusal),
        };
        let refusal = match provenance {
            Provenance::Trusted => None,
            // Bearer-only: a page on another site cannot add the header
            // to a visitor's request, and no cookie rides along.
            _ if request.bearer && !request.session_cookie => None,
            // No browser sent it (or one from before 2020): nothing to
            // forge without the cookie's authority.
            Provenance::Unknown if !request.session_cookie => None,
            Provenance::Unknown => Some(Refusal(
                "no Origin or Sec-Fetch-Site on a request with the session cookie",
            )),
            Provenance::CrossOrigin(refusal) => Some(refusal),
        };
        let request = match refusal {
            None => Decision::Allow,
            Some(refusal) if self.is_exempt(request.path) => Decision::PassWithoutCookie(refusal),
            Some(refusal) => Decision::Refuse(refusal),
        };
        Verdict { request, sign_in }
    }

    /// What the request's headers show about where it came from, whatever
    /// its method, credentials or path.
    ///
    /// `Sec-Fetch-Site` first: the browser computed it against the
    /// request's full target origin, scheme included, and a proxy that
    /// rewrites `Host` does not change it. `same-origin` or an allowed
    /// value is [`Trusted`](Provenance::Trusted); `cross-site`,
    /// `same-site` (unless allowed) or an unknown value is
    /// [`CrossOrigin`](Provenance::CrossOrigin) unless `Origin` is
    /// allow-listed. `none` (no page started the request) and a missing
    /// `Sec-Fetch-Site` leave it to `Origin` (browsers before 2023): its
    /// parsed origin must equal the request's own (`Host` with the
    /// scheme) or an allow-listed one. With neither header it is
    /// [`Unknown`](Provenance::Unknown). A header sent twice is
    /// `CrossOrigin`: browsers send each once.
    #[must_use]
    pub fn provenance(&self, request: &RequestFacts<'_>) -> Provenance {
        match request.sec_fetch_site {
            HeaderField::Several => {
                Provenance::CrossOrigin(Refusal("several Sec-Fetch-Site headers"))
            }
            HeaderField::One(value) => match SecFetchSite::parse(value) {
                Some(SecFetchSite::SameOrigin) => Provenance::Trusted,
                Some(site) if self.sites.contains(&site) => Provenance::Trusted,
                Some(SecFetchSite::None) => self.by_origin(request),
                _ if self.is_allow_listed(request.origin) => Provenance::Trusted,
                Some(_) => Provenance::CrossOrigin(Refusal("Sec-Fetch-Site is not same-origin")),
                None => Provenance::CrossOrigin(Refusal("unknown Sec-Fetch-Site value")),
            },
            HeaderField::Absent => self.by_origin(request),
        }
    }

    /// The provenance `Origin` shows, without `Sec-Fetch-Site`.
    fn by_origin(&self, request: &RequestFacts<'_>) -> Provenance {
        let origin = match request.origin {
            HeaderField::Absent => return Provenance::Unknown,
            HeaderField::Several => {
                return Provenance::CrossOrigin(Refusal("several Origin headers"));
            }
            HeaderField::One(origin) => origin,
        };
        let scheme = self.scheme.or_else(|| known_scheme(request.scheme));
        if let Some(host) = request.host
            && is_plainly_same_origin(origin, host, scheme)
        {
            return Provenance::Trusted;
        }
        // `null` (opaque origins: sandboxed frames, file: pages, some
        // redirects) and anything that is not an http(s) origin fail here.
        let Ok(origin) = parse_origin(origin) else {
            return Provenance::CrossOrigin(Refusal("Origin is not an http(s) origin"));
        };
        if self.allowed.contains(&origin) {
            return Provenance::Trusted;
        }
        let scheme = scheme.unwrap_or(origin.scheme());
        match request.host.and_then(|host| Origin::own(scheme, host)) {
            Some(own) if own == origin => Provenance::Trusted,
            Some(_) => Provenance::CrossOrigin(Refusal("cross-origin request")),
            None => Provenance::CrossOrigin(Refusal("no usable Host")),
        }
    }

    fn is_allow_listed(&self, origin: HeaderField<'_>) -> bool {
        match origin {
            HeaderField::One(origin) if !self.allowed.is_empty() => {
                parse_origin(origin).is_ok_and(|origin| self.allowed.contains(&origin))
            }
            _ => false,
        }
    }
}

/// True for the methods RFC 9110 9.2.1 defines as safe: they must not
/// change state, so they need no CSRF check. Methods are case-sensitive
/// (RFC 9110 9.1).
///
/// ```
/// use narvik_core::cross_origin::is_safe_method;
///
/// assert!(is_safe_method("GET"));
/// assert!(!is_safe_method("POST"));
/// assert!(!is_safe_method("get"));
/// ```
#[must_use]
pub fn is_safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// The request's scheme if it is one an origin can have.
fn known_scheme(scheme: Option<&str>) -> Option<&'static str> {
    match scheme? {
        s if s.eq_ignore_ascii_case("https") => Some("https"),
        s if s.eq_ignore_ascii_case("http") => Some("http"),
        _ => None,
    }
}

/// Options for a [`CrossOriginPolicy`], checked by [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct CrossOriginPolicyBuilder {
    enabled: bool,
    scheme: Option<String>,
    allowed_origins: Vec<String>,
    allowed_sites: Vec<String>,
    exempt_paths: Vec<String>,
}

impl CrossOriginPolicyBuilder {
    /// Whether the check runs; default true. Turn it off only if
    /// something else already checks origins or tokens for every
    /// state-changing route.
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }

    /// Adds an origin that may send state-changing requests besides the
    /// site itself, e.g. `https://admin.example.com`. Written
    /// `scheme://host[:port]`; compared after parsing (lower case, IDN
    /// hosts as punycode, default ports dropped), exactly: no prefix or
    /// suffix matching. May be called repeatedly.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Adds a `Sec-Fetch-Site` value that counts as the site's own
    /// besides `same-origin`: `same-site` or `none` (a request the user
    /// started, not a page). Case-insensitive here; `cross-site` can never
    /// be allowed.
    ///
    /// `same-site` trusts every host under the site's registrable domain
    /// (any subdomain of `example.com`, including ones you do not run
    /// yourself, and in older browsers other schemes and ports of them):
    /// much wider than the exact origins of
    /// [`allow_origin`](Self::allow_origin). May be called repeatedly.
    pub fn allow_sec_fetch_site(mut self, value: impl Into<String>) -> Self {
        self.allowed_sites.push(value.into());
        self
    }

    /// The scheme of the site's own origin, `"https"` or `"http"`, for the
    /// comparison of `Origin` with `Host`. By default the request's scheme
    /// if the server knows it, else the `Origin`'s own, so that only host
    /// and port are compared. Set `"https"` in production behind TLS so
    /// that a page on `http://` the same host (reachable by a network
    /// attacker) does not count as the site.
    pub fn request_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.scheme = Some(scheme.into());
        self
    }

    /// Exempts a path from the check, for requests that no browser page
    /// sends (webhooks, which prove themselves with a signature):
    /// `"/hooks/stripe"` is that path only, and a path ending in `/`,
    /// such as `"/hooks/"`, every path under it. Compared with the
    /// request's path as it arrived, without the query. May be called
    /// repeatedly.
    ///
    /// A request that would have been refused still reaches the handler,
    /// but without the session cookie's authority
    /// ([`Decision::PassWithoutCookie`]): an exempt route never acts for
    /// the visitor of another site.
    pub fn exempt_path(mut self, path: impl Into<String>) -> Self {
        self.exempt_paths.push(path.into());
        self
    }

    /// Checks the options and returns the policy.
    ///
    /// # Errors
    ///
    /// [`PolicyError::InvalidOrigin`] for an allow-list entry that is not
    /// an `http(s)://host[:port]` origin; [`PolicyError::InvalidScheme`]
    /// for a request scheme other than `http` or `https`;
    /// [`PolicyError::InvalidSecFetchSite`] for a `Sec-Fetch-Site` value
    /// other than `same-origin`, `same-site` or `none`;
    /// [`PolicyError::InvalidExemptPath`] for an exempt path that does not
    /// start with `/` or holds `?`, `#` or a dot segment.
    pub fn build(self) -> Result<CrossOriginPolicy, PolicyError> {
        let scheme = match self.scheme {
            None => None,
            Some(s) => Some(known_scheme(Some(&s)).ok_or(PolicyError::InvalidScheme(s))?),
        };
        let allowed = self
            .allowed_origins
            .into_iter()
            .map(|entry| match parse_origin(entry.as_bytes()) {
                Ok(origin) => Ok(origin),
                Err(err) => Err(PolicyError::InvalidOrigin {
                    origin: entry,
                    reason: err.reason(),
                }),
            })
            .collect::<Result<_, _>>()?;
        let mut sites = Vec::new();
        for value in self.allowed_sites {
            match SecFetchSite::parse(value.to_ascii_lowercase().as_bytes()) {
                Some(SecFetchSite::SameOrigin) => {}
                Some(site @ (SecFetchSite::SameSite | SecFetchSite::None)) => sites.push(site),
                Some(SecFetchSite::CrossSite) | None => {
                    return Err(PolicyError::InvalidSecFetchSite(value));
                }
            }
        }
        let exempt = self
            .exempt_paths
            .into_iter()
            .map(exempt_path)
            .collect::<Result<_, _>>()?;
        Ok(CrossOriginPolicy {
            enabled: self.enabled,
            scheme,
            allowed,
            sites,
            exempt,
        })
    }
}

fn exempt_path(path: String) -> Result<ExemptPath, PolicyError> {
    let dot_segment = path.split('/').any(|segment| matches!(segment, "." | ".."));
    if !path.starts_with('/') || path.contains(['?', '#']) || dot_segment {
        return Err(PolicyError::InvalidExemptPath(path));
    }
    Ok(if path.ends_with('/') {
        ExemptPath::Under(path.into())
    } else {
        ExemptPath::Exact(path.into())
    })
}
