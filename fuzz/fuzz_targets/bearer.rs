//! The bearer parser (narvik-axum's `credentials::read` with bearer auth
//! on, through `__fuzz`): `Authorization: Bearer <token>` per RFC 6750 2.1
//! from the first `Authorization` header only, the scheme matched
//! case-insensitively; anything else falls back to the cookie, exactly as
//! with bearer auth off. Never a panic.
#![no_main]

use arbitrary::Arbitrary;
use http::header::{AUTHORIZATION, COOKIE};
use libfuzzer_sys::fuzz_target;
use narvik_axum::__fuzz::{Credential, read_credential};
use narvik_core::DEFAULT_COOKIE_NAME;
use narvik_fuzz::{cookie_pairs, headers, offset_in};

#[derive(Debug, Arbitrary)]
struct Input {
    authorization: Vec<Vec<u8>>,
    cookies: Vec<Vec<u8>>,
}

fuzz_target!(|input: Input| {
    let mut map = headers(AUTHORIZATION, &input.authorization);
    map.extend(headers(COOKIE, &input.cookies));

    let read = read_credential(&map, DEFAULT_COOKIE_NAME, true);
    let without_bearer = read_credential(&map, DEFAULT_COOKIE_NAME, false);
    assert!(!matches!(without_bearer, Credential::Bearer { .. }));

    let first = map.get(AUTHORIZATION).map(|h| h.as_bytes());
    // RFC 6750 2.1: `Bearer` (any case), one space, the credential.
    let bearer_credential = first.and_then(|h| {
        let space = h.iter().position(|&b| b == b' ')?;
        h[..space]
            .eq_ignore_ascii_case(b"bearer")
            .then(|| h[space + 1..].trim_ascii())
    });
    match (read, bearer_credential) {
        (Credential::Bearer { token, with_cookie }, Some(expected)) => {
            assert_eq!(
                with_cookie,
                !cookie_pairs(&map, DEFAULT_COOKIE_NAME).is_empty()
            );
            match std::str::from_utf8(expected) {
                Ok(expected) => {
                    assert_eq!(token, expected);
                    if !token.is_empty() {
                        let header = first.unwrap_or_default();
                        assert!(
                            offset_in(header, token.as_bytes()).is_some(),
                            "not the header's bytes"
                        );
                    }
                }
                // Not UTF-8: an empty, invalid credential, not the cookie.
                Err(_) => assert_eq!(token, ""),
            }
            assert_eq!(token, token.trim_matches([' ', '\t']));
        }
        (Credential::Bearer { token, .. }, None) => {
            panic!("bearer {token:?} without a Bearer header")
        }
        (other, Some(expected)) => panic!("missed bearer {expected:?}, read {other:?}"),
        // Not ours: the cookie decides, as if bearer auth were off.
        (other, None) => assert_eq!(other, without_bearer),
    }
});
