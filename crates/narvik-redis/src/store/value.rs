//! A session's value in Redis: its expiry as a fixed-width head, then
//! JSON of everything else.

use narvik_core::{Error, SessionId, Timestamp};
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
pub(super) struct StoredRef<'a, D> {
    pub(super) user_id: &'a str,
    pub(super) created_at: Timestamp,
    pub(super) data: &'a D,
}

#[derive(Deserialize)]
pub(super) struct Stored<D> {
    pub(super) user_id: String,
    pub(super) created_at: Timestamp,
    pub(super) data: D,
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
pub(super) fn encode_value(at: i64, json: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(HEAD_LEN + json.len());
    value.extend_from_slice(head(at).as_bytes());
    value.extend_from_slice(json);
    value
}

/// Splits a session value into its expiry and its JSON.
pub(super) fn decode_value(value: &[u8]) -> Result<(Timestamp, &[u8]), &'static str> {
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

/// The owner of a session value, to find its index without decoding `D`.
pub(super) fn decode_owner(id: &SessionId, value: &[u8]) -> Result<String, Error> {
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
