//! The Redis store's value decoder (narvik-redis's session codec, through
//! `__fuzz`): whatever bytes a key holds, decoding never panics; a value
//! decodes only if it starts with 15 digits and a space, and then its
//! expiry is those digits and every reader (the full session, the owner
//! alone) agrees; anything else is `Error::Data` naming the session, whose
//! log line quotes nothing of the value. What a save writes decodes back to
//! the session saved.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use narvik_core::{Error, Session, SessionId, Timestamp};
use narvik_redis::__fuzz::{decode_owner, decode_session, encode_session};
use narvik_redis::MAX_EXPIRY;
use serde_json::Value;

#[derive(Debug, Arbitrary)]
struct Input {
    id: [u8; 32],
    /// A value as `GET` might return it.
    value: Vec<u8>,
    /// A session to save: user id, times, and its data as JSON text.
    user_id: String,
    created_at: i64,
    expires_at: i64,
    data: String,
}

fuzz_target!(|input: Input| {
    let id = SessionId::from_bytes(input.id);
    check_decode(&id, &input.value);

    let data: Value = serde_json::from_str(&input.data).unwrap_or(Value::Null);
    let session = Session::new(
        id,
        input.user_id,
        Timestamp::from_unix_millis(input.created_at),
        Timestamp::from_unix_millis(input.expires_at),
        data,
    );
    let (at, value) = encode_session(&session).expect("a JSON value always serializes");
    assert_eq!(at, input.expires_at.clamp(1, MAX_EXPIRY.as_unix_millis()));
    let back: Session<Value> = decode_session(&id, &value).expect("what a save writes decodes");
    assert_eq!(back.expires_at.as_unix_millis(), at);
    assert_eq!(back.user_id, session.user_id);
    assert_eq!(back.created_at, session.created_at);
    assert_eq!(back.data, session.data);
    assert_eq!(back.id, id);
    check_decode(&id, &value);
});

fn check_decode(id: &SessionId, value: &[u8]) {
    let full = decode_session::<Value>(id, value);
    let unit = decode_session::<()>(id, value);
    let owner = decode_owner(id, value);
    for err in [
        full.as_ref().err(),
        unit.as_ref().err(),
        owner.as_ref().err(),
    ]
    .into_iter()
    .flatten()
    {
        assert_data_error(id, err);
    }
    // The head: 15 digits, a space.
    let head = value
        .get(..16)
        .filter(|h| h[..15].iter().all(u8::is_ascii_digit) && h[15] == b' ');
    let Some(head) = head else {
        assert!(
            full.is_err() && unit.is_err() && owner.is_err(),
            "decoded without a head"
        );
        return;
    };
    let expiry = std::str::from_utf8(&head[..15])
        .ok()
        .and_then(|d| d.parse::<i64>().ok())
        .expect("15 digits are an i64");
    if let Ok(session) = &full {
        assert_eq!(session.id, *id);
        assert_eq!(session.expires_at.as_unix_millis(), expiry);
        // The owner alone reads the same user id.
        assert_eq!(
            owner.as_ref().ok().map(String::as_str),
            Some(session.user_id.as_str())
        );
    }
    if let Ok(session) = &unit {
        // What decodes as `()` data decodes as any JSON, with `null` data.
        let full = full.as_ref().expect("() data decoded but JSON did not");
        assert_eq!(full.data, Value::Null);
        assert_eq!(
            (&full.user_id, full.created_at, full.expires_at),
            (&session.user_id, session.created_at, session.expires_at)
        );
    }
}

/// A decode failure is `Error::Data` for the session asked for, and its log
/// line (`redacted`) is fixed text: nothing of the value is quoted.
fn assert_data_error(id: &SessionId, err: &Error) {
    match err {
        Error::Data { id: named, .. } => assert_eq!(named, id),
        other => panic!("not a data error: {other:?}"),
    }
    assert_eq!(
        err.redacted().to_string(),
        format!(
            "data of session {id} could not be encoded or decoded \
             (the decoder's message is withheld: it may quote session data)"
        )
    );
}
