//! The SQL stores' row decoder: the `id` column (narvik-sqlx's
//! `decode_id`), the timestamp columns of PostgreSQL and MySQL
//! (`to_datetime` / `from_datetime`, through `__fuzz`) and the `data`
//! column (narvik-core's `store::json::decode_data`, which every SQL store
//! reads it with). Whatever a row holds, none panics; an id is exactly 64
//! lower-case hex characters (the CHAR padding aside); times round-trip to
//! the millisecond and fail only outside the columns' range; data decodes
//! as serde_json reads it, under the documented `{}` / `null` rules, and a
//! failure is `Error::Data` naming the row's session.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use narvik_core::store::json::{decode_data, encode_data};
use narvik_core::{Error, SessionId, Timestamp};
use narvik_sqlx::__fuzz::{decode_id, from_datetime, to_datetime};
use narvik_sqlx::sqlx::types::time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Arbitrary)]
struct Input {
    id_column: String,
    data_column: String,
    millis: i64,
    nanos: i128,
    offset_secs: i32,
}

/// Session data a TypeScript service might have written: one field.
#[derive(Debug, PartialEq, Deserialize)]
struct Device {
    #[serde(rename = "userAgent")]
    user_agent: String,
}

/// Data that holds nothing, as an app may declare it.
#[derive(Debug, PartialEq, Deserialize)]
struct Marker;

fuzz_target!(|input: Input| {
    check_id(&input.id_column);
    check_times(input.millis, input.nanos, input.offset_secs);
    check_data(&input.data_column);
});

fn check_id(text: &str) {
    // CHAR(64) columns pad with spaces: trailing whitespace is dropped.
    let trimmed = text.trim_end();
    let is_id = trimmed.len() == 64
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match decode_id(text) {
        Ok(id) => {
            assert!(is_id, "{text:?} read as an id");
            assert_eq!(id.to_string(), trimmed);
        }
        Err(Error::Store { .. }) => assert!(!is_id, "{text:?} refused"),
        Err(other) => panic!("not a store error: {other:?}"),
    }
}

fn check_times(millis: i64, nanos: i128, offset_secs: i32) {
    let min = PrimitiveDateTime::MIN.assume_utc().unix_timestamp_nanos();
    let max = PrimitiveDateTime::MAX.assume_utc().unix_timestamp_nanos();
    let t = Timestamp::from_unix_millis(millis);
    let in_range = (min..=max).contains(&(i128::from(millis) * 1_000_000));
    match to_datetime(t) {
        Ok(dt) => {
            assert!(in_range, "{millis} ms converted");
            assert_eq!(dt.offset(), UtcOffset::UTC);
            assert_eq!(
                from_datetime(dt).ok(),
                Some(t),
                "{millis} ms does not round-trip"
            );
        }
        Err(Error::Store { .. }) => assert!(!in_range, "{millis} ms refused"),
        Err(other) => panic!("not a store error: {other:?}"),
    }

    // Any date-time a driver might hand back, in any offset: the instant's
    // milliseconds, floored, whatever the offset.
    let Ok(dt) = OffsetDateTime::from_unix_timestamp_nanos(nanos.clamp(min, max)) else {
        return;
    };
    let expected = dt.unix_timestamp_nanos().div_euclid(1_000_000);
    let read = from_datetime(dt).map(Timestamp::as_unix_millis);
    assert_eq!(read.as_ref().ok().map(|&ms| i128::from(ms)), Some(expected));
    if let Ok(offset) = UtcOffset::from_whole_seconds(offset_secs % 86_400)
        && let Some(shifted) = dt.checked_to_offset(offset)
    {
        assert_eq!(
            from_datetime(shifted).ok(),
            read.ok().map(Timestamp::from_unix_millis)
        );
    }
}

fn check_data(text: &str) {
    let id = SessionId::from_bytes([7; 32]);
    let json = serde_json::from_str::<Value>(text).ok();
    let is_object = json.as_ref().is_some_and(Value::is_object);
    let is_empty_object = json
        .as_ref()
        .is_some_and(|v| v.as_object().is_some_and(|o| o.is_empty()));
    let is_null = json.as_ref().is_some_and(Value::is_null);

    // A type that holds everything reads exactly what serde_json reads.
    let value = decode_data::<Value>(id, text);
    assert_eq!(value.as_ref().ok(), json.as_ref());
    if let Ok(value) = &value {
        // And what is written back reads back the same.
        let written = encode_data(id, value).expect("a JSON value serializes");
        assert_eq!(
            decode_data::<Value>(id, &written).ok().as_ref(),
            Some(value)
        );
    }
    // Types that hold nothing read `null` and any object, and only those.
    // (An object that serde_json's `Value` refuses, with a number out of
    // f64's range, is still a JSON object: for an acceptance, only "is an
    // object" is checked.)
    let looks_like_object = text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{');
    let nothing = [
        ("()", decode_data::<()>(id, text).is_ok()),
        ("Marker", decode_data::<Marker>(id, text).is_ok()),
    ];
    for (what, ok) in nothing {
        if is_null || is_object {
            assert!(ok, "{what} refused {text:?}");
        }
        if ok {
            assert!(is_null || looks_like_object, "{what} from {text:?}");
        }
    }
    // `{}` is "no data" wherever `null` is; a full object is never
    // swallowed as none.
    match decode_data::<Option<Device>>(id, text) {
        Ok(None) => assert!(is_null || is_empty_object, "None from {text:?}"),
        Ok(Some(device)) => {
            // serde reads a struct from an object or from an array of its
            // fields in order.
            let field = json
                .as_ref()
                .and_then(|v| v.get("userAgent").or_else(|| v.get(0)));
            let agent = field.and_then(Value::as_str);
            assert_eq!(agent, Some(device.user_agent.as_str()));
        }
        Err(err) => {
            assert!(!is_null && !is_empty_object, "{text:?} refused");
            assert_data_error(&id, &err);
        }
    }
    if let Err(err) = decode_data::<String>(id, text) {
        assert_data_error(&id, &err);
    }
    if let Err(err) = &value {
        assert_data_error(&id, err);
    }
}

fn assert_data_error(id: &SessionId, err: &Error) {
    match err {
        Error::Data { id: named, .. } => assert_eq!(named, id),
        other => panic!("not a data error: {other:?}"),
    }
}
