//! The token and session-id shape checks (narvik-core's `Token::parse`,
//! `SessionId::parse` and the check at the top of validation): a string is
//! a token exactly when it is 32 characters of `a-z2-7`, and then it is
//! what `Token::from_bytes` makes of its 20 bytes; anything else is "no
//! session" without a store call. An id is exactly 64 lower-case hex
//! characters, however it is parsed.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use data_encoding::{BASE32_NOPAD, HEXLOWER};
use libfuzzer_sys::fuzz_target;
use narvik_core::store::MemoryStore;
use narvik_core::{Narvik, SessionId, Token};
use narvik_fuzz::is_token_shaped;
use narvik_testkit::wrap::Wrapped;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_token(text);
        check_session_id(text);
    }
    // Any 20 bytes make a token that parses back to itself.
    if let Some(bytes) = data.first_chunk::<20>() {
        let token = Token::from_bytes(bytes);
        assert!(
            is_token_shaped(token.as_str().as_bytes()),
            "{}",
            token.as_str()
        );
        assert_eq!(Token::parse(token.as_str()), Some(token.clone()));
        assert_eq!(decode_token(token.as_str()), *bytes);
    }
});

fn check_token(text: &str) {
    let parsed = Token::parse(text);
    assert_eq!(
        parsed.is_some(),
        is_token_shaped(text.as_bytes()),
        "{text:?}"
    );
    if let Some(token) = &parsed {
        assert_eq!(token.as_str(), text);
        // 32 base32 characters are 160 bits: exactly the 20 bytes.
        assert_eq!(Token::from_bytes(&decode_token(text)), *token);
        assert_eq!(token.session_id(), SessionId::from_token(text));
        assert!(
            !format!("{token:?}").contains(text),
            "Debug shows the token"
        );
    }

    // Validation: a string that cannot be a token never reaches the store.
    let store = Wrapped::new(MemoryStore::<()>::new());
    let narvik = Narvik::new(store.clone());
    let answer = narvik.validate_session_now(text);
    assert!(matches!(answer, Some(Ok(None))), "{answer:?}");
    assert_eq!(store.total_calls(), usize::from(parsed.is_some()));
    let mut waiting = pin!(narvik.validate_session(text));
    if parsed.is_none() {
        let poll = waiting
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(poll, Poll::Ready(Ok(None))), "{poll:?}");
        assert_eq!(
            store.total_calls(),
            0,
            "a malformed token reached the store"
        );
    }
}

fn check_session_id(text: &str) {
    let parsed = SessionId::parse(text);
    let is_id = text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    assert_eq!(parsed.is_ok(), is_id, "{text:?}");
    if let Ok(id) = parsed {
        assert_eq!(id.to_string(), text);
        assert_eq!(HEXLOWER.encode(id.as_bytes()), text);
        // A session id presented as a token is no token.
        assert!(Token::parse(text).is_none());
    }
    // `FromStr` and serde agree with `parse`.
    assert_eq!(
        text.parse::<SessionId>().ok(),
        parsed.as_ref().ok().copied()
    );
    let json = serde_json::to_string(text).unwrap_or_default();
    assert_eq!(serde_json::from_str::<SessionId>(&json).ok(), parsed.ok());
}

/// The 20 bytes of a token-shaped string (the property's own decoding).
fn decode_token(text: &str) -> [u8; 20] {
    let bytes = BASE32_NOPAD
        .decode(text.to_ascii_uppercase().as_bytes())
        .unwrap_or_default();
    bytes
        .try_into()
        .unwrap_or_else(|b: Vec<u8>| panic!("{} bytes from {text:?}", b.len()))
}
