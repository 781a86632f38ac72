//! The `Cookie` header reader (narvik-axum's `credentials::read`, through
//! `__fuzz`): whatever bytes arrive in any number of `Cookie` headers, it
//! answers without panicking, returns only a token-shaped value that the
//! headers hold as the session cookie's value, and that value is the first
//! such one; "sent but unusable" only when the cookie was sent.
#![no_main]

use arbitrary::Arbitrary;
use http::header::COOKIE;
use libfuzzer_sys::fuzz_target;
use narvik_axum::__fuzz::{Credential, read_credential};
use narvik_fuzz::{cookie_pairs, headers, is_token_shaped, offset_in};

#[derive(Debug, Arbitrary)]
struct Input {
    /// A cookie name to configure; used only if the configuration takes it.
    name: String,
    headers: Vec<Vec<u8>>,
}

fuzz_target!(|input: Input| {
    // The layer only ever reads a name its configuration accepted.
    let name = narvik_core::Config::builder()
        .cookie_name(input.name.as_str())
        .build()
        .map_or_else(
            |_| narvik_core::DEFAULT_COOKIE_NAME.to_owned(),
            |c| c.cookie_name().to_owned(),
        );
    let map = headers(COOKIE, &input.headers);

    let read = read_credential(&map, &name, false);
    // Without an `Authorization` header, bearer auth changes nothing.
    assert_eq!(read, read_credential(&map, &name, true));

    let pairs = cookie_pairs(&map, &name);
    let first_usable = pairs.iter().find(|(_, v)| is_token_shaped(v));
    match read {
        Credential::Bearer(_) => panic!("a bearer credential from Cookie headers alone"),
        Credential::None => assert!(pairs.is_empty(), "missed {pairs:?}"),
        Credential::Cookie(None) => {
            assert!(!pairs.is_empty(), "no cookie {name} was sent");
            assert!(first_usable.is_none(), "missed {first_usable:?}");
        }
        Credential::Cookie(Some(value)) => {
            assert!(is_token_shaped(value.as_bytes()), "{value:?}");
            // The value is the headers' own bytes, not a copy or a rewrite.
            let held = map
                .get_all(COOKIE)
                .iter()
                .enumerate()
                .find_map(|(i, h)| offset_in(h.as_bytes(), value.as_bytes()).map(|at| (i, at)));
            let Some((index, _)) = held else {
                panic!("{value:?} is not in any Cookie header");
            };
            let Some(&(first_index, first)) = first_usable else {
                panic!("{value:?} is not a pair named {name}");
            };
            assert_eq!(
                index, first_index,
                "not from the first header with a usable value"
            );
            assert_eq!(value.as_ptr(), first.as_ptr(), "not the first usable value");
        }
    }
});
