//! Cross-origin protection (CSRF) for every state-changing request, the
//! same decision for every web framework: the framework's adapter
//! (`narvik-axum`'s layer) reads a few headers into [`RequestFacts`],
//! asks a [`CrossOriginPolicy`], and answers `403` before the handler
//! runs when the [`Verdict`] says so. Feature `cross-origin`.
//!
//! The model is Go 1.25's `net/http.CrossOriginProtection` (Filippo
//! Valsorda, "Cross-Site Request Forgery", 2025): browsers say where a
//! request comes from in `Sec-Fetch-Site` (Fetch Metadata, every browser
//! since 2023) and `Origin` (on every `POST` since 2020), and a page on
//! another site can forge neither. No token in forms, no state.
//!
//! # The rules
//!
//! Safe methods (`GET`, `HEAD`, `OPTIONS`, `TRACE`) always pass: they
//! must not change state. For any other method, the headers give the
//! request's [`Provenance`]:
//!
//! 1. `Sec-Fetch-Site: same-origin`, or a value the policy allows
//!    ([`allow_sec_fetch_site`](CrossOriginPolicyBuilder::allow_sec_fetch_site)):
//!    trusted. `cross-site`, `same-site` (unless allowed) or an unknown
//!    value: cross-origin, unless `Origin` is allow-listed.
//! 2. Otherwise (no `Sec-Fetch-Site`, or `none`: no page started the
//!    request), `Origin` decides: trusted if its parsed origin equals the
//!    request's own (`Host` with the configured scheme) or an
//!    [allow-listed](CrossOriginPolicyBuilder::allow_origin) one, exactly;
//!    cross-origin if not, and for `null` or a malformed value.
//! 3. Neither header: unknown.
//!
//! Then the [`Decision`] for the request:
//!
//! - trusted: allowed;
//! - authenticated only by a bearer token (an `Authorization: Bearer`
//!   header and no session cookie): allowed, whatever the headers say. A
//!   page on another site cannot add that header to a visitor's request
//!   (not without the app's CORS policy allowing it), and no cookie rides
//!   along. A bearer header *with* the session cookie is checked.
//! - unknown: allowed without the session cookie, refused with it. No
//!   browser of this decade sends a state-changing request without
//!   either header, so such a request is a non-browser client (curl, a
//!   server, a mobile app) and cannot be a forgery in a visitor's
//!   browser. Go allows it even with cookies; narvik refuses it when the
//!   session cookie comes along, because that request would act with the
//!   cookie's authority and nothing shows it came from the site. A client
//!   that uses the cookie outside a browser sends `Origin` (or uses a
//!   bearer token instead).
//! - cross-origin: refused, unless the path is
//!   [exempt](CrossOriginPolicyBuilder::exempt_path) (webhooks); an exempt
//!   request then passes without its session cookie
//!   ([`Decision::PassWithoutCookie`]).
//!
//! Separately, [`Verdict::sign_in`] says whether a handler may *set* the
//! session cookie on this request (a sign-in): only with trusted
//! provenance, bearer header or exempt path notwithstanding, so that a
//! form on another site cannot sign a visitor into the attacker's account
//! (login CSRF), and a non-browser client that wants a cookie sends
//! `Origin`. Safe methods may sign in (OAuth callbacks and magic links
//! are `GET`s from elsewhere; their `state` or one-time token is their
//! protection).
//!
//! # What it cannot protect
//!
//! - **Same-site attacks** when `same-site` is allowed: any subdomain
//!   (including one you do not control, or one with an XSS hole) counts
//!   as the site. Allow exact origins with `allow_origin` instead.
//! - **`GET` handlers that change state**: safe methods are never checked.
//!   Keep state changes off `GET`.
//! - **Non-browser clients**: they can send any header. The check stops
//!   a visitor's browser from being used against them, not a client
//!   acting for itself (that is what authentication is for).
//! - **XSS** on the site or an allow-listed origin: a script there is the
//!   site.
//! - **Old browsers** that send neither header on a cross-site `POST`
//!   (before 2020) without a session cookie: allowed as unknown. The
//!   session cookie's `SameSite=Lax` default keeps the cookie off such
//!   requests anyway.
//! - **A proxy that rewrites `Host`**: modern browsers' `Sec-Fetch-Site`
//!   is unaffected, but the `Origin` fallback compares with the `Host` the
//!   server sees; allow the public origin with `allow_origin`.
//!
//! # Example
//!
//! ```
//! use narvik_core::cross_origin::{CrossOriginPolicy, Decision, HeaderField, RequestFacts};
//!
//! let policy = CrossOriginPolicy::default();
//! let facts = RequestFacts {
//!     method: "POST",
//!     path: "/signup",
//!     sec_fetch_site: HeaderField::One(b"cross-site"),
//!     host: Some(b"example.com"),
//!     ..RequestFacts::default()
//! };
//! let verdict = policy.check(&facts);
//! // No cookie, but a browser said another site sent it: refused.
//! assert!(matches!(verdict.request, Decision::Refuse(_)));
//! assert!(verdict.sign_in.is_err());
//!
//! // The same request from a script or server: neither header.
//! let facts = RequestFacts { sec_fetch_site: HeaderField::Absent, ..facts };
//! let verdict = policy.check(&facts);
//! assert_eq!(verdict.request, Decision::Allow);
//! // It may not be handed a session cookie, though.
//! assert!(verdict.sign_in.is_err());
//! ```

mod origin;
mod policy;

use std::fmt;

pub use origin::{InvalidOrigin, Origin, parse_origin};
pub use policy::{CrossOriginPolicy, CrossOriginPolicyBuilder, PolicyError, is_safe_method};

/// What the check needs to know about one request, read by the web
/// framework's adapter. Plain values, so that any framework and any
/// version of the `http` crate can fill it in.
///
/// ```
/// use narvik_core::cross_origin::{HeaderField, RequestFacts};
///
/// let facts = RequestFacts {
///     method: "POST",
///     path: "/sign-in",
///     origin: HeaderField::One(b"https://example.com"),
///     host: Some(b"example.com"),
///     ..RequestFacts::default()
/// };
/// # let _ = facts;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'a> {
    /// The method, e.g. `"POST"` (case-sensitive, as on the wire).
    pub method: &'a str,
    /// The path, without the query, as it arrived (for exempt paths).
    pub path: &'a str,
    /// The `Origin` header(s).
    pub origin: HeaderField<'a>,
    /// The `Sec-Fetch-Site` header(s).
    pub sec_fetch_site: HeaderField<'a>,
    /// The request's host: the `Host` header, or the URI's authority
    /// where there is none (HTTP/2's `:authority`).
    pub host: Option<&'a [u8]>,
    /// The request's scheme, if the server knows it (HTTP/2's `:scheme`);
    /// the policy's configured scheme wins over it.
    pub scheme: Option<&'a str>,
    /// Whether the request carries the session cookie (any value).
    pub session_cookie: bool,
    /// Whether the request carries a bearer token the app reads
    /// (`Authorization: Bearer`, with bearer authentication on).
    pub bearer: bool,
}

/// A request header that browsers send at most once, as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderField<'a> {
    /// Not sent.
    #[default]
    Absent,
    /// Sent once, with this value.
    One(&'a [u8]),
    /// Sent more than once: no browser does, so it is refused.
    Several,
}

impl<'a> HeaderField<'a> {
    /// The field from every value of the header, in order (e.g.
    /// `headers.get_all(ORIGIN).iter().map(|v| v.as_bytes())`).
    ///
    /// ```
    /// use narvik_core::cross_origin::HeaderField;
    ///
    /// assert_eq!(HeaderField::from_values([]), HeaderField::Absent);
    /// assert_eq!(HeaderField::from_values([&b"x"[..]]), HeaderField::One(b"x"));
    /// assert_eq!(HeaderField::from_values([&b"x"[..], b"y"]), HeaderField::Several);
    /// ```
    pub fn from_values(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut values = values.into_iter();
        match (values.next(), values.next()) {
            (None, _) => Self::Absent,
            (Some(value), None) => Self::One(value),
            (Some(_), Some(_)) => Self::Several,
        }
    }
}

/// A `Sec-Fetch-Site` value (W3C Fetch Metadata): how the page that
/// started a request relates to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecFetchSite {
    /// `same-origin`: the site's own page (same scheme, host and port).
    SameOrigin,
    /// `same-site`: another origin of the same registrable domain (a
    /// sibling subdomain; in older browsers, another scheme or port too).
    SameSite,
    /// `cross-site`: another site.
    CrossSite,
    /// `none`: no page: the user typed the address, used a bookmark, or
    /// the browser itself made the request.
    None,
}

impl SecFetchSite {
    /// Parses a header value. Browsers send the values in lower case, and
    /// only those are recognised.
    ///
    /// ```
    /// use narvik_core::cross_origin::SecFetchSite;
    ///
    /// assert_eq!(SecFetchSite::parse(b"same-origin"), Some(SecFetchSite::SameOrigin));
    /// assert_eq!(SecFetchSite::parse(b"Same-Origin"), None);
    /// ```
    #[must_use]
    pub fn parse(value: &[u8]) -> Option<Self> {
        match value {
            b"same-origin" => Some(Self::SameOrigin),
            b"same-site" => Some(Self::SameSite),
            b"cross-site" => Some(Self::CrossSite),
            b"none" => Some(Self::None),
            _ => None,
        }
    }

    /// The header value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SameOrigin => "same-origin",
            Self::SameSite => "same-site",
            Self::CrossSite => "cross-site",
            Self::None => "none",
        }
    }
}

/// What a request's `Sec-Fetch-Site` and `Origin` show about where it came
/// from; see [`CrossOriginPolicy::provenance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// The site's own page or an allowed origin.
    Trusted,
    /// Neither header: not a browser, or one too old to say.
    Unknown,
    /// Another origin, or headers no browser sends.
    CrossOrigin(Refusal),
}

/// Why a request was refused: a short fixed reason, for a debug log line
/// (it never quotes the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal(&'static str);

impl Refusal {
    /// The reason, in words.
    #[must_use]
    pub fn reason(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// What to do with a request before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let it through.
    Allow,
    /// An exempt path: let it through, but do not read the session cookie
    /// for it (as if it had none), since the check failed.
    PassWithoutCookie(Refusal),
    /// Answer `403 Forbidden` without calling the handler. Log it at
    /// debug level at most: any site can cause one.
    Refuse(Refusal),
}

/// The policy's answer for one request: [`CrossOriginPolicy::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// What to do with the request before the handler.
    pub request: Decision,
    /// Whether a handler may set the session cookie on this request (sign
    /// a browser in): only when its provenance is trusted or its method
    /// safe, or with the check off.
    pub sign_in: Result<(), Refusal>,
}

#[cfg(test)]
mod tests;
