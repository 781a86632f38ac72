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
    let usable: Vec<&[u8]> = pairs
        .iter()
        .map(|&(_, v)| v)
        .filter(|v| is_token_shaped(v))
        .collect();
    match read {
        Credential::Bearer { .. } => panic!("a bearer credential from Cookie headers alone"),
        Credential::None => assert!(pairs.is_empty(), "missed {pairs:?}"),
        Credential::Cookie(values) => {
            assert!(!pairs.is_empty(), "no cookie {name} was sent");
            // The first usable values, up to the layer's limit of three,
            // in order: the headers' own bytes, not copies or rewrites.
            assert_eq!(
                values.len(),
                usable.len().min(3),
                "{values:?} of {usable:?}"
            );
            for (value, expected) in values.iter().zip(&usable) {
                assert!(is_token_shaped(value.as_bytes()), "{value:?}");
                assert_eq!(
                    value.as_ptr(),
                    expected.as_ptr(),
                    "not the header's value in order"
                );
                assert!(
                    map.get_all(COOKIE)
                        .iter()
                        .any(|h| offset_in(h.as_bytes(), value.as_bytes()).is_some()),
                    "{value:?} is not in any Cookie header"
                );
            }
        }
    }
});
