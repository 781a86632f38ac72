//! Reading the session token from a request: the `Authorization: Bearer`
//! header or the session cookie. Never the URL (SECURITY.md, ASVS 4.0.3
//! V3.1.1).

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};
use narvik_core::TOKEN_LEN;

/// At most this many values of the session cookie are tried per request
/// (one store call each), in header order; see [`CookieTokens`].
pub(crate) const MAX_COOKIE_CANDIDATES: usize = 3;

/// What a request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential<'a> {
    /// Nothing: no bearer header (or bearer auth is off) and no session
    /// cookie.
    None,
    /// `Authorization: Bearer <token>`; the token may be garbage (narvik
    /// answers "no session" for it without a store call). `with_cookie`:
    /// the session cookie came too (and is ignored).
    Bearer { token: &'a str, with_cookie: bool },
    /// The session cookie, sent with these token-shaped values (none if no
    /// value could be a token).
    Cookie(CookieTokens<'a>),
}

impl Credential<'_> {
    /// Whether the request carries the session cookie, used or not.
    pub(crate) fn has_cookie(self) -> bool {
        match self {
            Self::None => false,
            Self::Bearer { with_cookie, .. } => with_cookie,
            Self::Cookie(_) => true,
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
/// a planted value keep the user signed out; so the layer tries each in
/// order and the first valid session wins. A planted value that is a
/// valid session of the attacker's can still win; only the `__Host-`
/// prefix, which no other host can set, rules that out. The bound keeps a
/// request with many duplicates to a few store calls.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct CookieTokens<'a> {
    tokens: [&'a str; MAX_COOKIE_CANDIDATES],
    len: usize,
}

impl<'a> CookieTokens<'a> {
    const EMPTY: Self = Self {
        tokens: [""; MAX_COOKIE_CANDIDATES],
        len: 0,
    };

    /// The values, first first.
    pub(crate) fn as_slice(&self) -> &[&'a str] {
        &self.tokens[..self.len]
    }

    /// Adds a value unless full.
    fn push(&mut self, token: &'a str) {
        if let Some(slot) = self.tokens.get_mut(self.len) {
            *slot = token;
            self.len += 1;
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

/// Reads the credential. A bearer header wins over the cookie: it is what
/// a client deliberately sent for this call, and a cross-site page cannot
/// add one to a visitor's request, so preferring it never gives a forged
/// request the cookie's authority.
pub(crate) fn read<'a>(headers: &'a HeaderMap, cookie_name: &str, bearer: bool) -> Credential<'a> {
    if bearer && let Some(token) = bearer_token(headers) {
        return Credential::Bearer {
            token,
            with_cookie: session_cookie(headers, cookie_name).is_some(),
        };
    }
    match session_cookie(headers, cookie_name) {
        Some(tokens) => Credential::Cookie(tokens),
        None => Credential::None,
    }
}

/// The credential of `Authorization: Bearer <credential>` (RFC 6750 2.1),
/// from the first `Authorization` header only. The scheme is matched
/// case-insensitively (RFC 9110 11.1). Any other scheme is not ours and is
/// ignored.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = split_at_byte(value, b' ')?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    // A value that is not UTF-8 cannot be a token: present it as an empty
    // (so invalid) bearer credential rather than falling back to the
    // cookie, which the client chose not to rely on.
    Some(std::str::from_utf8(trim_ows(rest)).unwrap_or(""))
}

/// The session cookie's values across every `Cookie` header (HTTP/2 may
/// send one header per cookie, RFC 9113 8.2.3), in header order.
///
/// - `None`: no cookie of that name.
/// - `Some(tokens)`: the first [`MAX_COOKIE_CANDIDATES`] values that have
///   a token's shape (32 characters of `a-z2-7`, optionally in double
///   quotes); empty if the cookie was sent but no value could be a token,
///   and the response clears it.
///
/// Works on bytes: a header that is not valid UTF-8 (another cookie with
/// obs-text) must not hide the session cookie or cause a panic.
fn session_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<CookieTokens<'a>> {
    let mut seen = false;
    let mut tokens = CookieTokens::EMPTY;
    for header in headers.get_all(COOKIE) {
        for pair in header.as_bytes().split(|&b| b == b';') {
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

/// True for 32 bytes of `a-z2-7`: narvik's token alphabet and length (the
/// core keeps its own check private; `validate_session` checks again).
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
    use http::HeaderValue;

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

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                *name,
                HeaderValue::from_bytes(value).expect("test header value"),
            );
        }
        map
    }

    #[test]
    fn no_headers_is_no_credential() {
        assert_eq!(read(&HeaderMap::new(), "s", true), Credential::None);
    }

    #[test]
    fn cookie_among_others_is_found() {
        let h = headers(&[("cookie", format!("a=1; s={T1}; b=2").as_bytes())]);
        assert_eq!(read(&h, "s", true), cookie(&[T1]));
    }

    #[test]
    fn cookie_in_a_later_header_is_found() {
        let h = headers(&[("cookie", b"a=1"), ("cookie", format!("s={T1}").as_bytes())]);
        assert_eq!(read(&h, "s", true), cookie(&[T1]));
    }

    #[test]
    fn duplicates_keep_the_token_shaped_values_in_order() {
        let h = headers(&[
            ("cookie", b"s=garbage"),
            ("cookie", format!("s={T2}; s={T1}").as_bytes()),
        ]);
        assert_eq!(read(&h, "s", true), cookie(&[T2, T1]));
    }

    #[test]
    fn at_most_three_values_are_kept() {
        let h = headers(&[(
            "cookie",
            format!("s={T2}; s={T1}; s=x; s={T2}; s={T1}; s={T1}").as_bytes(),
        )]);
        assert_eq!(read(&h, "s", true), cookie(&[T2, T1, T2]));
    }

    #[test]
    fn sent_but_never_token_shaped_is_some_none() {
        let h = headers(&[("cookie", b"s=; s=AAAA; s=\"x\"")]);
        assert_eq!(read(&h, "s", true), cookie(&[]));
    }

    #[test]
    fn quoted_value_is_unquoted() {
        let h = headers(&[("cookie", format!("s=\"{T1}\"").as_bytes())]);
        assert_eq!(read(&h, "s", true), cookie(&[T1]));
    }

    #[test]
    fn cookie_names_match_exactly() {
        let h = headers(&[("cookie", format!("S={T1}; ss={T1}; xs={T1}").as_bytes())]);
        assert_eq!(read(&h, "s", true), Credential::None);
    }

    #[test]
    fn non_utf8_neighbours_do_not_hide_the_cookie() {
        let mut value = b"a=\xff\xfe; s=".to_vec();
        value.extend_from_slice(T1.as_bytes());
        let h = headers(&[("cookie", &value)]);
        assert_eq!(read(&h, "s", true), cookie(&[T1]));
    }

    #[test]
    fn bearer_wins_over_the_cookie() {
        let h = headers(&[
            ("cookie", format!("s={T1}").as_bytes()),
            ("authorization", format!("Bearer {T2}").as_bytes()),
        ]);
        assert_eq!(
            read(&h, "s", true),
            Credential::Bearer {
                token: T2,
                with_cookie: true
            }
        );
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let h = headers(&[("authorization", format!("bEaReR  {T2}").as_bytes())]);
        assert_eq!(
            read(&h, "s", true),
            Credential::Bearer {
                token: T2,
                with_cookie: false
            }
        );
    }

    #[test]
    fn other_schemes_fall_back_to_the_cookie() {
        let h = headers(&[
            ("cookie", format!("s={T1}").as_bytes()),
            ("authorization", b"Basic dXNlcjpwYXNz"),
        ]);
        assert_eq!(read(&h, "s", true), cookie(&[T1]));
    }

    #[test]
    fn bearer_off_ignores_the_header() {
        let h = headers(&[
            ("cookie", format!("s={T1}").as_bytes()),
            ("authorization", format!("Bearer {T2}").as_bytes()),
        ]);
        assert_eq!(read(&h, "s", false), cookie(&[T1]));
    }

    #[test]
    fn non_utf8_bearer_is_an_empty_credential() {
        let h = headers(&[("authorization", b"Bearer \xff")]);
        assert_eq!(
            read(&h, "s", true),
            Credential::Bearer {
                token: "",
                with_cookie: false
            }
        );
    }
}
