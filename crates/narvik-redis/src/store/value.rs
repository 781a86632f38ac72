//! A session's value in Redis: its expiry as a fixed-width head, then
//! JSON of everything else.

use narvik_core::{Error, Session, SessionId, Timestamp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The latest expiry written to Redis: 9999-12-31T23:59:59.999Z. Later
/// ones are stored as this (Redis refuses expiries near `i64::MAX`).
pub const MAX_EXPIRY: Timestamp = Timestamp::from_unix_millis(253_402_300_799_999);

/// The JSON part of a session value: everything but the id (the key) and
/// the expiry (the value's fixed-width head; see [`HEAD_LEN`]). Keeping the
/// expiry out of the JSON lets an extension rewrite it with one
/// `SETRANGE` of fixed size, without decoding (or re-encoding, which could
/// alter) the data.
#[derive(Serialize)]
struct StoredRef<'a, D> {
    user_id: &'a str,
    created_at: Timestamp,
    data: &'a D,
}

#[derive(Deserialize)]
struct Stored<D> {
    user_id: String,
    created_at: Timestamp,
    data: D,
}

/// The owner alone, to find a session's index without decoding `D`.
#[derive(Deserialize)]
struct Owner {
    user_id: String,
}

/// Digits of the expiry at the head of a session value: ms since the
/// epoch, zero-padded. [`MAX_EXPIRY`] has 15, and every expiry written is
/// clamped to it, so every head has the same width.
const EXPIRY_DIGITS: usize = 15;

/// The head of a session value: [`EXPIRY_DIGITS`] digits and a space, then
/// the JSON. The extension script matches and rewrites exactly these bytes.
const HEAD_LEN: usize = EXPIRY_DIGITS + 1;

/// Why a session value does not decode, when its head is not right.
pub(super) const BAD_HEAD: &str = "a session value must start with its expiry (15 digits, ms since the \
                        epoch) and a space; this one was not written by narvik-redis";

/// The head for expiry `at` (already [`expiry_millis`]-clamped, so it
/// has at most 15 digits).
pub(super) fn head(at: i64) -> String {
    format!("{at:0EXPIRY_DIGITS$} ")
}

/// A session value: the expiry's head, then the JSON.
fn encode_value(at: i64, json: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(HEAD_LEN + json.len());
    value.extend_from_slice(head(at).as_bytes());
    value.extend_from_slice(json);
    value
}

/// Splits a session value into its expiry and its JSON.
fn decode_value(value: &[u8]) -> Result<(Timestamp, &[u8]), &'static str> {
    let (head, json) = value.split_at_checked(HEAD_LEN).ok_or(BAD_HEAD)?;
    let (digits, space) = head.split_at(EXPIRY_DIGITS);
    if space != b" " || !digits.iter().all(u8::is_ascii_digit) {
        return Err(BAD_HEAD);
    }
    // 15 decimal digits stay far below i64::MAX: no overflow.
    let ms = digits
        .iter()
        .fold(0_i64, |ms, d| ms * 10 + i64::from(d - b'0'));
    Ok((Timestamp::from_unix_millis(ms), json))
}

/// A session's value and the expiry it is written with (the head's, and
/// the key's `PXAT`): `session.expires_at` clamped by [`expiry_millis`].
///
/// # Errors
///
/// [`Error::Data`] naming the session if its data does not serialize.
pub(crate) fn encode_session<D: Serialize>(session: &Session<D>) -> Result<(i64, Vec<u8>), Error> {
    let json = serde_json::to_vec(&StoredRef {
        user_id: &session.user_id,
        created_at: session.created_at,
        data: &session.data,
    })
    .map_err(|e| Error::data(session.id, e))?;
    let at = expiry_millis(session.expires_at);
    Ok((at, encode_value(at, &json)))
}

/// Session `id` from its value, as `GET` returns it.
///
/// # Errors
///
/// [`Error::Data`] naming the session if the value has no expiry head
/// ([`BAD_HEAD`]) or its JSON is not a session of `D`.
pub(crate) fn decode_session<D: DeserializeOwned>(
    id: &SessionId,
    value: &[u8],
) -> Result<Session<D>, Error> {
    let (expires_at, json) = decode_value(value).map_err(|e| Error::data(*id, e))?;
    let stored: Stored<D> = serde_json::from_slice(json).map_err(|e| Error::data(*id, e))?;
    Ok(Session::new(
        *id,
        stored.user_id,
        stored.created_at,
        expires_at,
        stored.data,
    ))
}

/// The owner of a session value, to find its index without decoding `D`.
pub(crate) fn decode_owner(id: &SessionId, value: &[u8]) -> Result<String, Error> {
    let (_, json) = decode_value(value).map_err(|e| Error::data(*id, e))?;
    let owner: Owner = serde_json::from_slice(json).map_err(|e| Error::data(*id, e))?;
    Ok(owner.user_id)
}

/// The expiry as Redis takes it: ms since the epoch, at least 1 (an expiry
/// in the past deletes the key at once, as an expired session should be)
/// and at most [`MAX_EXPIRY`].
pub(super) fn expiry_millis(at: Timestamp) -> i64 {
    at.as_unix_millis().clamp(1, MAX_EXPIRY.as_unix_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_head_is_fixed_width_and_round_trips() {
        for at in [1, 1_700_000_000_123, MAX_EXPIRY.as_unix_millis()] {
            let value = encode_value(at, br#"{"user_id":"u"}"#);
            assert_eq!(head(at).len(), HEAD_LEN, "head of {at}");
            let (expires_at, json) = decode_value(&value).expect("decodes");
            assert_eq!(expires_at.as_unix_millis(), at);
            assert_eq!(json, br#"{"user_id":"u"}"#);
        }
        assert_eq!(head(1_700_000_000_123), "001700000000123 ");
        // The clamp keeps every expiry written within the head's width.
        assert_eq!(
            expiry_millis(Timestamp::from_unix_millis(i64::MAX)),
            MAX_EXPIRY.as_unix_millis()
        );
        assert_eq!(expiry_millis(Timestamp::from_unix_millis(i64::MIN)), 1);
    }

    /// Found by the `redis_value` fuzz target: a float in the data read
    /// back one place off until serde_json's `float_roundtrip` was on.
    #[test]
    fn a_saved_session_reads_back_as_saved() {
        let session = Session::new(
            SessionId::from_token("t"),
            "ada",
            Timestamp::from_unix_millis(1_700_000_000_000),
            Timestamp::from_unix_millis(1_700_086_400_000),
            serde_json::json!({ "score": 4.444_444_444_444_443_6e38_f64, "note": "x" }),
        );
        let (at, value) = encode_session(&session).expect("encodes");
        assert_eq!(at, session.expires_at.as_unix_millis());
        let back: Session<serde_json::Value> =
            decode_session(&session.id, &value).expect("decodes");
        assert_eq!(back, session);
        assert_eq!(decode_owner(&session.id, &value).expect("owner"), "ada");
    }

    #[test]
    fn values_without_a_head_do_not_decode() {
        for bad in [
            &b""[..],
            b"{not json",
            b"001700000000123",
            b"001700000000123{}",
            b"00170000000012x {}",
            b"-01700000000123 {}",
            br#"{"user_id":"u","created_at":1,"data":null}"#,
        ] {
            assert_eq!(decode_value(bad).err(), Some(BAD_HEAD), "{bad:?}");
        }
    }
}
