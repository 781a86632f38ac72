//! Reading the session token a request presents, the same way for every
//! web framework: the `Authorization: Bearer` header or the session
//! cookie, never the URL (SECURITY.md, ASVS 4.0.3 V3.1.1). Feature
//! `credentials`.
//!
//! The framework's adapter hands [`read`] the raw header values (bytes,
//! so that any framework and any version of the `http` crate can), and
//! gets a [`Credential`]: nothing, a bearer token, or the cookie's
//! token-shaped values to try in order (see [`CookieTokens`] on cookie
//! tossing). [`sets_cookie_named`] is for the way out: dropping a
//! handler's own `Set-Cookie` for the session cookie, so that a response
//! carries at most one.
//!
//! ```
//! use narvik_core::credentials::{AuthMethod, Credential, read};
//!
//! let cookie = b"theme=dark; narvik_session=aaaqeayeaudaocajbifqydiob4ibceqt";
//! let credential = read(None, [&cookie[..]], "narvik_session", true);
//! assert_eq!(credential.method(), Some(AuthMethod::Cookie));
//! assert_eq!(credential.tokens(), ["aaaqeayeaudaocajbifqydiob4ibceqt"]);
//!
//! let credential = read(Some(b"Bearer abc"), [], "narvik_session", true);
//! assert!(matches!(credential, Credential::Bearer { token: "abc", with_cookie: false }));
//! ```

use crate::TOKEN_LEN;

/// At most this many values of the session cookie are tried per request
/// (one store call each), in header order; see [`CookieTokens`].
pub const MAX_COOKIE_CANDIDATES: usize = 3;

/// How a request presented its session token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// The session cookie.
    Cookie,
    /// `Authorization: Bearer <token>`.
    Bearer,
}

/// What a request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// Nothing: no bearer header (or bearer auth is off) and no session
    /// cookie.
    None,
    /// `Authorization: Bearer <token>`; the token may be garbage (narvik
    /// answers "no session" for it without a store call).
    Bearer {
        /// The header's credential, as sent.
        token: &'a str,
        /// Whether the session cookie came too (and is ignored).
        with_cookie: bool,
    },
    /// The session cookie, sent with these token-shaped values (none if no
    /// value could be a token).
    Cookie(CookieTokens<'a>),
}

impl<'a> Credential<'a> {
    /// Whether the request carries the session cookie, used or not.
    #[must_use]
    pub fn has_cookie(self) -> bool {
        match self {
            Self::None => false,
            Self::Bearer { with_cookie, .. } => with_cookie,
            Self::Cookie(_) => true,
        }
    }

    /// How the request presented a token, if it did.
    #[must_use]
    pub fn method(self) -> Option<AuthMethod> {
        match self {
            Self::None => None,
            Self::Bearer { .. } => Some(AuthMethod::Bearer),
            Self::Cookie(_) => Some(AuthMethod::Cookie),
        }
    }

    /// The values to validate, in order; the first valid session wins.
    #[must_use]
    pub fn tokens<'c>(&'c self) -> &'c [&'a str] {
        match self {
            Self::None => &[],
            Self::Bearer { token, .. } => std::slice::from_ref(token),
            Self::Cookie(tokens) => tokens.as_slice(),
        }
    }

    /// The credential the request goes on with after the cross-origin
    /// check: on an exempt path that the check refused
    /// ([`Decision::PassWithoutCookie`](crate::cross_origin::Decision::PassWithoutCookie)),
    /// as if it had no session cookie (a bearer token still counts).
    #[cfg(feature = "cross-origin")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cross-origin")))]
    #[must_use]
    pub fn usable(self, decision: crate::cross_origin::Decision) -> Self {
        match (decision, self) {
            (crate::cross_origin::Decision::PassWithoutCookie(_), Self::Cookie(_)) => Self::None,
            _ => self,
        }
    }
}

/// The token-shaped values of the session cookie, in header order, at most
/// [`MAX_COOKIE_CANDIDATES`].
///
/// Several values of one name arrive when another host of the site set a
/// cookie of that name for a parent domain or a longer path ("cookie
/// tossing": a sibling subdomain, possibly the attacker's). The browser
/// sends them all, longer paths first (RFC 6265bis 5.7.3), and nothing in
/// the `Cookie` header says which is ours. Taking only the first would let
/// a planted value keep the user signed out; so the integrations try each
/// in order and the first valid session wins. A planted value that is a
/// valid session of the attacker's can still win; only the `__Host-`
/// prefix, which no other host can set, rules that out. The bound keeps a
/// request with many duplicates to a few store calls.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CookieTokens<'a> {
    tokens: [&'a str; MAX_COOKIE_CANDIDATES],
    len: usize,
}

impl<'a> CookieTokens<'a> {
    /// No values.
    pub const EMPTY: Self = Self {
        tokens: [""; MAX_COOKIE_CANDIDATES],
        len: 0,
    };

    /// The values, first first.
    #[must_use]
    pub fn as_slice(&self) -> &[&'a str] {
        &self.tokens[..self.len]
    }

    /// Adds a value unless full (then returns false).
    pub fn push(&mut self, token: &'a str) -> bool {
        match self.tokens.get_mut(self.len) {
            Some(slot) => {
                *slot = token;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    fn is_full(&self) -> bool {
        self.len == MAX_COOKIE_CANDIDATES
    }
}

/// Tokens never go into `Debug`: only how many there are.
impl std::fmt::Debug for CookieTokens<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieTokens")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Reads the credential from the request's first `Authorization` header
/// (`authorization`, read only if `bearer` is on) and every `Cookie`
/// header in order (`cookies`; HTTP/2 may send one header per cookie, RFC
/// 9113 8.2.3).
///
/// A bearer header wins over the cookie: it is what a client deliberately
/// sent for this call, and a cross-site page cannot add one to a visitor's
/// request, so preferring it never gives a forged request the cookie's
/// authority.
///
/// Works on bytes: a header that is not valid UTF-8 (another cookie with
/// obs-text) must not hide the session cookie or cause a panic.
pub fn read<'a, I>(
    authorization: Option<&'a [u8]>,
    cookies: I,
    cookie_name: &str,
    bearer: bool,
) -> Credential<'a>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let cookie = session_cookie(cookies, cookie_name);
    if bearer && let Some(token) = authorization.and_then(bearer_token) {
        return Credential::Bearer {
            token,
            with_cookie: cookie.is_some(),
        };
    }
    match cookie {
        Some(tokens) => Credential::Cookie(tokens),
        None => Credential::None,
    }
}

/// The credential of `Authorization: Bearer <credential>` (RFC 6750 2.1).
/// The scheme is matched case-insensitively (RFC 9110 11.1). Any other
/// scheme is not ours and is ignored.
fn bearer_token(value: &[u8]) -> Option<&str> {
    let (scheme, rest) = split_at_byte(value, b' ')?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    // A value that is not UTF-8 cannot be a token: present it as an empty
    // (so invalid) bearer credential rather than falling back to the
    // cookie, which the client chose not to rely on.
    Some(std::str::from_utf8(trim_ows(rest)).unwrap_or(""))
}

/// The session cookie's values across every `Cookie` header, in header
/// order.
///
/// - `None`: no cookie of that name.
/// - `Some(tokens)`: the first [`MAX_COOKIE_CANDIDATES`] values that have
///   a token's shape (32 characters of `a-z2-7`, optionally in double
///   quotes); empty if the cookie was sent but no value could be a token,
///   and the response clears it.
fn session_cookie<'a>(
    headers: impl IntoIterator<Item = &'a [u8]>,
    name: &str,
) -> Option<CookieTokens<'a>> {
    let mut seen = false;
    let mut tokens = CookieTokens::EMPTY;
    for header in headers {
        for pair in header.split(|&b| b == b';') {
            // RFC 6265bis 5.6: a pair without `=` has an empty name, which
            // is never ours (the configured name is a non-empty token).
            let Some((pair_name, value)) = split_at_byte(pair, b'=') else {
                continue;
            };
            if trim_ows(pair_name) != name.as_bytes() {
                continue;
            }
            seen = true;
            let value = unquote(trim_ows(value));
            // Token-shaped means ASCII, so `from_utf8` never fails here.
            if has_token_shape(value)
                && let Ok(token) = std::str::from_utf8(value)
            {
                tokens.push(token);
                if tokens.is_full() {
                    return Some(tokens);
                }
            }
        }
    }
    seen.then_some(tokens)
}

/// True if a `Set-Cookie` value sets the cookie `name` (however the
/// handler spaced it): the integrations drop such a header before they
/// add their own, so that a response carries at most one (RFC 6265bis
/// 4.1.1) and it is the one that matches the store.
///
/// ```
/// use narvik_core::credentials::sets_cookie_named;
///
/// assert!(sets_cookie_named(b" s =x; Path=/", "s"));
/// assert!(!sets_cookie_named(b"s_theme=s", "s"));
/// ```
#[must_use]
pub fn sets_cookie_named(set_cookie: &[u8], name: &str) -> bool {
    let pair = set_cookie.split(|&b| b == b';').next().unwrap_or_default();
    let cookie_name = pair.split(|&b| b == b'=').next().unwrap_or_default();
    cookie_name.trim_ascii() == name.as_bytes()
}

/// True for 32 bytes of `a-z2-7`: narvik's token alphabet and length (a
/// cheap filter before the store; validation checks again).
fn has_token_shape(value: &[u8]) -> bool {
    value.len() == TOKEN_LEN
        && value
            .iter()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(b))
}

/// RFC 6265 4.1.1: a cookie value may be wrapped in double quotes.
fn unquote(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    }
}

fn split_at_byte(bytes: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == sep)?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

/// Strips optional whitespace (SP and HTAB, RFC 9110 5.6.3).
fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "aaaqeayeaudaocajbifqydiob4ibceqt";
    const T2: &str = "bbbqeayeaudaocajbifqydiob4ibceqt";

    fn cookie(tokens: &[&'static str]) -> Credential<'static> {
        let mut all = CookieTokens::EMPTY;
        for token in tokens {
            all.push(token);
        }
        Credential::Cookie(all)
    }

    /// Reads from `(name, value)` header pairs, as a framework would hand
    /// them over.
    fn read_pairs<'a>(pairs: &[(&str, &'a [u8])], name: &str, bearer: bool) -> Credential<'a> {
        let authorization = pairs
            .iter()
            .find(|(n, _)| *n == "authorization")
            .map(|(_, v)| *v);
        let cookies: Vec<&'a [u8]> = pairs
            .iter()
            .filter(|(n, _)| *n == "cookie")
            .map(|(_, v)| *v)
            .collect();
        read(authorization, cookies, name, bearer)
    }

    #[test]
    fn no_headers_is_no_credential() {
        assert_eq!(read(None, [], "s", true), Credential::None);
    }

    #[test]
    fn cookie_among_others_is_found() {
        let v = format!("a=1; s={T1}; b=2");
        assert_eq!(
            read_pairs(&[("cookie", v.as_bytes())], "s", true),
            cookie(&[T1])
        );
    }

    #[test]
    fn cookie_in_a_later_header_is_found() {
        let v = format!("s={T1}");
        let h = [("cookie", &b"a=1"[..]), ("cookie", v.as_bytes())];
        assert_eq!(read_pairs(&h, "s", true), cookie(&[T1]));
    }

    #[test]
    fn duplicates_keep_the_token_shaped_values_in_order() {
        let v = format!("s={T2}; s={T1}");
        let h = [("cookie", &b"s=garbage"[..]), ("cookie", v.as_bytes())];
        assert_eq!(read_pairs(&h, "s", true), cookie(&[T2, T1]));
    }

    #[test]
    fn at_most_three_values_are_kept() {
        let v = format!("s={T2}; s={T1}; s=x; s={T2}; s={T1}; s={T1}");
        assert_eq!(
            read_pairs(&[("cookie", v.as_bytes())], "s", true),
            cookie(&[T2, T1, T2])
        );
    }

    #[test]
    fn sent_but_never_token_shaped_is_some_none() {
        let h = [("cookie", &b"s=; s=AAAA; s=\"x\""[..])];
        assert_eq!(read_pairs(&h, "s", true), cookie(&[]));
    }

    #[test]
    fn quoted_value_is_unquoted() {
        let v = format!("s=\"{T1}\"");
        assert_eq!(
            read_pairs(&[("cookie", v.as_bytes())], "s", true),
            cookie(&[T1])
        );
    }

    #[test]
    fn cookie_names_match_exactly() {
        let v = format!("S={T1}; ss={T1}; xs={T1}");
        assert_eq!(
            read_pairs(&[("cookie", v.as_bytes())], "s", true),
            Credential::None
        );
    }

    #[test]
    fn non_utf8_neighbours_do_not_hide_the_cookie() {
        let mut value = b"a=\xff\xfe; s=".to_vec();
        value.extend_from_slice(T1.as_bytes());
        assert_eq!(read_pairs(&[("cookie", &value)], "s", true), cookie(&[T1]));
    }

    #[test]
    fn bearer_wins_over_the_cookie() {
        let c = format!("s={T1}");
        let a = format!("Bearer {T2}");
        let h = [("cookie", c.as_bytes()), ("authorization", a.as_bytes())];
        assert_eq!(
            read_pairs(&h, "s", true),
            Credential::Bearer {
                token: T2,
                with_cookie: true
            }
        );
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let a = format!("bEaReR  {T2}");
        assert_eq!(
            read_pairs(&[("authorization", a.as_bytes())], "s", true),
            Credential::Bearer {
                token: T2,
                with_cookie: false
            }
        );
    }

    #[test]
    fn other_schemes_fall_back_to_the_cookie() {
        let c = format!("s={T1}");
        let h = [
            ("cookie", c.as_bytes()),
            ("authorization", &b"Basic dXNlcjpwYXNz"[..]),
        ];
        assert_eq!(read_pairs(&h, "s", true), cookie(&[T1]));
    }

    #[test]
    fn bearer_off_ignores_the_header() {
        let c = format!("s={T1}");
        let a = format!("Bearer {T2}");
        let h = [("cookie", c.as_bytes()), ("authorization", a.as_bytes())];
        assert_eq!(read_pairs(&h, "s", false), cookie(&[T1]));
    }

    #[test]
    fn non_utf8_bearer_is_an_empty_credential() {
        let h = [("authorization", &b"Bearer \xff"[..])];
        assert_eq!(
            read_pairs(&h, "s", true),
            Credential::Bearer {
                token: "",
                with_cookie: false
            }
        );
    }

    #[test]
    fn method_and_tokens_follow_the_credential() {
        assert_eq!(Credential::None.method(), None);
        assert!(Credential::None.tokens().is_empty());
        let bearer = Credential::Bearer {
            token: T2,
            with_cookie: true,
        };
        assert_eq!(bearer.method(), Some(AuthMethod::Bearer));
        assert_eq!(bearer.tokens(), [T2]);
        let c = cookie(&[T1, T2]);
        assert_eq!(c.method(), Some(AuthMethod::Cookie));
        assert_eq!(c.tokens(), [T1, T2]);
    }

    #[test]
    fn a_fourth_value_does_not_fit() {
        let mut tokens = CookieTokens::EMPTY;
        for _ in 0..MAX_COOKIE_CANDIDATES {
            assert!(tokens.push(T1));
        }
        assert!(!tokens.push(T2));
        assert_eq!(tokens.as_slice().len(), MAX_COOKIE_CANDIDATES);
    }

    #[test]
    fn set_cookie_names_are_matched_however_spaced() {
        assert!(sets_cookie_named(b"s=x; Path=/", "s"));
        assert!(sets_cookie_named(b" s =x", "s"));
        assert!(sets_cookie_named(b"s=", "s"));
        assert!(!sets_cookie_named(b"s_theme=s; Path=/", "s"));
        assert!(!sets_cookie_named(b"theme=s", "s"));
    }

    /// What the cross-origin check is told: a bearer request with the
    /// session cookie alongside is checked as a cookie request.
    #[test]
    fn has_cookie_is_any_session_cookie_used_or_not() {
        assert!(!Credential::None.has_cookie());
        assert!(cookie(&[T1]).has_cookie());
        assert!(cookie(&[]).has_cookie(), "sent, though no value is a token");
        for with_cookie in [false, true] {
            let bearer = Credential::Bearer {
                token: T2,
                with_cookie,
            };
            assert_eq!(bearer.has_cookie(), with_cookie);
        }
    }
}
