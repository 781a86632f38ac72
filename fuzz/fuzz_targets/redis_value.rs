//! The Redis store's value decoder (narvik-redis's session codec, through
//! `__fuzz`): whatever bytes a key holds, decoding never panics; a value
//! decodes only if it starts with 15 digits and a space, and then its
//! expiry is those digits and every reader (the full session, the owner
//! alone) agrees; anything else is `Error::Data` naming the session, whose
//! log line quotes nothing of the value. What a save writes decodes back to
//! the session saved, the lifecycle's fields included (times clamped to
//! `0..=MAX_EXPIRY`, as their slots hold), and its key expiry is the
//! session's, or a rotation marker's end if later.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use narvik_core::{Error, ROTATED_MARKER_TTL, Session, SessionId, Timestamp};
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
    /// The lifecycle's fields.
    length_ms: Option<u64>,
    persistent: bool,
    last_active_at: Option<i64>,
    reauthenticated_at: Option<i64>,
    rotated_at: Option<i64>,
}

fn time(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(Timestamp::from_unix_millis)
}

/// A time as its slot keeps it.
fn slot(ms: Option<i64>) -> Option<Timestamp> {
    time(ms.map(|ms| ms.clamp(0, MAX_EXPIRY.as_unix_millis())))
}

fuzz_target!(|input: Input| {
    let id = SessionId::from_bytes(input.id);
    check_decode(&id, &input.value);

    let data: Value = serde_json::from_str(&input.data).unwrap_or(Value::Null);
    let mut session = Session::new(
        id,
        input.user_id,
        Timestamp::from_unix_millis(input.created_at),
        Timestamp::from_unix_millis(input.expires_at),
        data,
    );
    session.length = input.length_ms.map(Duration::from_millis);
    session.persistent = input.persistent;
    session.last_active_at = time(input.last_active_at);
    session.reauthenticated_at = time(input.reauthenticated_at);
    session.rotated_at = time(input.rotated_at);
    let (at, value) = encode_session(&session).expect("a JSON value always serializes");
    let expiry = input.expires_at.clamp(1, MAX_EXPIRY.as_unix_millis());
    let marker_end = session
        .rotated_at
        .map(|r| r.saturating_add(ROTATED_MARKER_TTL).as_unix_millis());
    assert_eq!(
        at,
        marker_end
            .map_or(expiry, |end| end.max(expiry))
            .clamp(1, MAX_EXPIRY.as_unix_millis())
    );
    let back: Session<Value> = decode_session(&id, &value).expect("what a save writes decodes");
    assert_eq!(back.expires_at.as_unix_millis(), expiry);
    assert_eq!(back.length, session.length);
    assert_eq!(back.persistent, session.persistent);
    assert_eq!(back.last_active_at, slot(input.last_active_at));
    assert_eq!(back.reauthenticated_at, slot(input.reauthenticated_at));
    assert_eq!(back.rotated_at, slot(input.rotated_at));
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
