//! A session's value in Redis: its expiry as a fixed-width head, then
//! JSON of everything else, in one of two layouts.
//!
//! - **Layout 1** (narvik-redis before the session lifecycle):
//!   `<expiry> {"user_id":...,"created_at":...,"data":...}`.
//! - **Layout 2** (written now): `<expiry> {"v":2,"last_active_at":<slot>,
//!   "reauthenticated_at":<slot>,"rotated_at":<slot>,"user_id":...,
//!   "created_at":...,"length_ms":...,"persistent":...,"data":...}`, where
//!   each slot is [`SLOT_WIDTH`] bytes: the time in ms, or `null`,
//!   left-aligned and padded with spaces (JSON allows blanks after a value),
//!   so that an update rewrites a time with one `SETRANGE` at a fixed offset,
//!   without decoding (or re-encoding, which could alter) the data.
//!
//! Both stay readable forever: one decoder reads both, a layout-1 value as
//! [`Session::new`]'s defaults for the lifecycle's fields (which is what
//! such a session had). The update script upgrades a layout-1 value in
//! place to layout 2 (see [`UPGRADE`]) when it first writes a lifecycle
//! field or new data; an extension alone rewrites only the head, the same
//! in both. A layout-2 value stays readable by code that reads layout 1
//! (an earlier narvik-redis, another language reading the JSON after the
//! head): they ignore the fields they do not know.

use std::time::Duration;

use narvik_core::{Error, Session, SessionId, SessionUpdate, Timestamp, UserId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The latest expiry written to Redis: 9999-12-31T23:59:59.999Z. Later
/// ones are stored as this (Redis refuses expiries near `i64::MAX`).
pub const MAX_EXPIRY: Timestamp = Timestamp::from_unix_millis(253_402_300_799_999);

/// Digits of the expiry at the head of a session value: ms since the
/// epoch, zero-padded. [`MAX_EXPIRY`] has 15, and every expiry written is
/// clamped to it, so every head has the same width.
const EXPIRY_DIGITS: usize = 15;

/// The head of a session value: [`EXPIRY_DIGITS`] digits and a space, then
/// the JSON. The update script matches and rewrites exactly these bytes.
pub(crate) const HEAD_LEN: usize = EXPIRY_DIGITS + 1;

/// How layout 2's JSON starts, right after the head; layout 1's starts
/// with `{"user_id"`.
pub(crate) const V2_OPEN: &str = r#"{"v":2,"#;

/// The width of a time slot: a time in ms (at most 15 digits, as
/// [`MAX_EXPIRY`]) or `null`, padded with spaces.
pub(crate) const SLOT_WIDTH: usize = 15;

/// The time slots of layout 2, in order, right after [`V2_OPEN`].
const SLOT_NAMES: [&str; 3] = ["last_active_at", "reauthenticated_at", "rotated_at"];

/// Where slot `i` of [`SLOT_NAMES`] starts in a layout-2 value (0-based):
/// after the head, [`V2_OPEN`], the slots before it (`"name":`, the slot,
/// `,`) and its own `"name":`.
const fn slot_offset(i: usize) -> usize {
    let mut at = HEAD_LEN + V2_OPEN.len();
    let mut j = 0;
    while j < i {
        at += SLOT_NAMES[j].len() + 3 + SLOT_WIDTH + 1;
        j += 1;
    }
    at + SLOT_NAMES[i].len() + 3
}

/// Offset of the `last_active_at` slot.
pub(crate) const LAST_ACTIVE_AT: usize = slot_offset(0);
/// Offset of the `reauthenticated_at` slot.
pub(crate) const REAUTHENTICATED_AT: usize = slot_offset(1);
/// Offset of the `rotated_at` slot.
pub(crate) const ROTATED_AT: usize = slot_offset(2);
/// Length of layout 2's fixed part (head, [`V2_OPEN`], the slots and
/// their commas); the rest (the tail) is written whole, at save or with
/// new data.
pub(crate) const FIXED_LEN: usize = ROTATED_AT + SLOT_WIDTH + 1;

/// What the update script puts in place of a layout-1 value's `{` to make
/// it layout 2 with no times recorded: the rest of the value (`"user_id"`
/// on) is a valid tail as it is, whose missing `length_ms` and
/// `persistent` read as their defaults.
pub(crate) fn upgrade() -> String {
    let mut fixed = V2_OPEN.to_owned();
    for name in SLOT_NAMES {
        fixed.push_str(&format!("\"{name}\":{}", slot(None)));
        fixed.push(',');
    }
    fixed
}

/// The JSON tail of a layout-2 value: everything but the id (the key),
/// the expiry (the head) and the times (the slots). `length_ms` and
/// `persistent` come before the data so that they stay near the slots
/// whatever the data's size.
#[derive(Serialize)]
struct TailRef<'a, D> {
    user_id: &'a str,
    created_at: Timestamp,
    length_ms: Option<u64>,
    persistent: bool,
    data: &'a D,
}

/// A value of either layout, decoded; the lifecycle's fields default to
/// [`Session::new`]'s.
#[derive(Deserialize)]
struct Stored<D> {
    #[serde(default = "layout_1")]
    v: u64,
    user_id: UserId,
    created_at: Timestamp,
    #[serde(default)]
    length_ms: Option<u64>,
    #[serde(default = "persistent_by_default")]
    persistent: bool,
    #[serde(default)]
    last_active_at: Option<Timestamp>,
    #[serde(default)]
    reauthenticated_at: Option<Timestamp>,
    #[serde(default)]
    rotated_at: Option<Timestamp>,
    data: D,
}

fn layout_1() -> u64 {
    1
}

fn persistent_by_default() -> bool {
    true
}

/// What a session value fixes once and for all (written by the save,
/// never changed by an update), read without decoding `D`: the owner, to
/// find the index; and, for an update with new data, the rest of the tail.
#[derive(Deserialize)]
pub(crate) struct Fixed {
    #[serde(default = "layout_1")]
    v: u64,
    pub(crate) user_id: String,
    created_at: Timestamp,
    #[serde(default)]
    length_ms: Option<u64>,
    #[serde(default = "persistent_by_default")]
    persistent: bool,
}

/// Why a session value does not decode, when its head is not right.
pub(super) const BAD_HEAD: &str = "a session value must start with its expiry (15 digits, ms since the \
                        epoch) and a space; this one was not written by narvik-redis";

/// Why a session value does not decode, when its layout is unknown.
const NEWER_LAYOUT: &str = "this session value's layout is newer than this narvik-redis reads \
                            (written by a later release)";

/// The head for expiry `at` (already [`expiry_millis`]-clamped, so it
/// has at most 15 digits).
pub(super) fn head(at: i64) -> String {
    format!("{at:0EXPIRY_DIGITS$} ")
}

/// A time slot's text: `t` in ms (clamped to `0 ..= MAX_EXPIRY`, so at
/// most 15 digits), or `null`, padded to [`SLOT_WIDTH`].
pub(super) fn slot(t: Option<Timestamp>) -> String {
    match t {
        Some(t) => {
            let ms = t.as_unix_millis().clamp(0, MAX_EXPIRY.as_unix_millis());
            format!("{ms:<SLOT_WIDTH$}")
        }
        None => format!("{:<SLOT_WIDTH$}", "null"),
    }
}

/// A length in ms, as stored (saturating; narvik's lengths are ms too).
fn length_millis(length: Duration) -> u64 {
    u64::try_from(length.as_millis()).unwrap_or(u64::MAX)
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

/// Layout 2's tail for a session of `user_id` etc. with `data`: the JSON
/// of [`TailRef`] without its opening `{` (the fixed part before it ends
/// with a `,`).
fn encode_tail<D: Serialize>(
    id: &SessionId,
    user_id: &str,
    created_at: Timestamp,
    length_ms: Option<u64>,
    persistent: bool,
    data: &D,
) -> Result<Vec<u8>, Error> {
    let mut json = serde_json::to_vec(&TailRef {
        user_id,
        created_at,
        length_ms,
        persistent,
        data,
    })
    .map_err(|e| Error::data(*id, e))?;
    // A struct serializes as an object, which starts with `{`.
    json.remove(0);
    Ok(json)
}

/// The expiry session `session` is kept by Redis until: its `expires_at`,
/// or, for a rotation marker, [`narvik_core::ROTATED_MARKER_TTL`] after
/// `rotated_at` if that is later (a marker's `expires_at` is the rotation's
/// time, and the key must outlive it to answer as a marker). Clamped by
/// [`expiry_millis`]. The update script computes the same.
pub(super) fn key_expiry(expires_at: Timestamp, rotated_at: Option<Timestamp>) -> i64 {
    let marker_end = rotated_at.map(|r| r.saturating_add(narvik_core::ROTATED_MARKER_TTL));
    expiry_millis(marker_end.map_or(expires_at, |end| end.max(expires_at)))
}

/// A session's value (layout 2) and the expiry its key is written with
/// (`PXAT`, and its index score): [`key_expiry`]. The head holds
/// `session.expires_at` clamped by [`expiry_millis`].
///
/// # Errors
///
/// [`Error::Data`] naming the session if its data does not serialize.
pub(crate) fn encode_session<D: Serialize>(session: &Session<D>) -> Result<(i64, Vec<u8>), Error> {
    let tail = encode_tail(
        &session.id,
        &session.user_id,
        session.created_at,
        session.length.map(length_millis),
        session.persistent,
        &session.data,
    )?;
    let mut value = Vec::with_capacity(FIXED_LEN + tail.len());
    value.extend_from_slice(head(expiry_millis(session.expires_at)).as_bytes());
    value.extend_from_slice(V2_OPEN.as_bytes());
    let times = [
        session.last_active_at,
        session.reauthenticated_at,
        session.rotated_at,
    ];
    for (name, t) in SLOT_NAMES.iter().zip(times) {
        value.extend_from_slice(format!("\"{name}\":{},", slot(t)).as_bytes());
    }
    debug_assert_eq!(value.len(), FIXED_LEN);
    value.extend_from_slice(&tail);
    Ok((key_expiry(session.expires_at, session.rotated_at), value))
}

/// Session `id` from its value (either layout), as `GET` returns it.
///
/// # Errors
///
/// [`Error::Data`] naming the session if the value has no expiry head
/// ([`BAD_HEAD`]), its JSON is not a session of `D`, or its layout is
/// newer than this crate knows.
pub(crate) fn decode_session<D: DeserializeOwned>(
    id: &SessionId,
    value: &[u8],
) -> Result<Session<D>, Error> {
    let (expires_at, json) = decode_value(value).map_err(|e| Error::data(*id, e))?;
    let stored: Stored<D> = serde_json::from_slice(json).map_err(|e| Error::data(*id, e))?;
    known_layout(id, stored.v)?;
    let mut session = Session::new(
        *id,
        stored.user_id,
        stored.created_at,
        expires_at,
        stored.data,
    );
    session.length = stored.length_ms.map(Duration::from_millis);
    session.persistent = stored.persistent;
    session.last_active_at = stored.last_active_at;
    session.reauthenticated_at = stored.reauthenticated_at;
    session.rotated_at = stored.rotated_at;
    Ok(session)
}

fn known_layout(id: &SessionId, v: u64) -> Result<(), Error> {
    if matches!(v, 1 | 2) {
        Ok(())
    } else {
        Err(Error::data(*id, NEWER_LAYOUT))
    }
}

/// What session `id`'s value fixes (its owner and the rest of its tail
/// but the data), without decoding `D`.
///
/// # Errors
///
/// As [`decode_session`], for the fields it reads.
pub(crate) fn decode_fixed(id: &SessionId, value: &[u8]) -> Result<Fixed, Error> {
    let (_, json) = decode_value(value).map_err(|e| Error::data(*id, e))?;
    let fixed: Fixed = serde_json::from_slice(json).map_err(|e| Error::data(*id, e))?;
    known_layout(id, fixed.v)?;
    Ok(fixed)
}

/// The owner of a session value, to find its index without decoding `D`.
///
/// # Errors
///
/// As [`decode_fixed`].
pub(crate) fn decode_owner(id: &SessionId, value: &[u8]) -> Result<String, Error> {
    decode_fixed(id, value).map(|fixed| fixed.user_id)
}

/// The tail of session `id`'s value with `data` in place of its data: what
/// an update with new data writes after the value's fixed part. The rest of
/// the tail is `fixed`, which no update changes.
///
/// # Errors
///
/// [`Error::Data`] naming the session if `data` does not serialize.
pub(crate) fn encode_new_data<D: Serialize>(
    id: &SessionId,
    fixed: &Fixed,
    data: &D,
) -> Result<Vec<u8>, Error> {
    encode_tail(
        id,
        &fixed.user_id,
        fixed.created_at,
        fixed.length_ms,
        fixed.persistent,
        data,
    )
}

/// An update as the update scripts take it (`update_session_key!` in
/// the scripts): each part the update sets, encoded, or empty.
pub(crate) struct UpdateArgs {
    expires_at: String,
    head: String,
    last_active_at: String,
    reauthenticated_at: String,
    rotated_at: String,
    tail: Vec<u8>,
}

impl UpdateArgs {
    /// The parts of an update of session `id` (whose value fixes `fixed`):
    /// its times, and its data as a new tail.
    ///
    /// # Errors
    ///
    /// [`Error::Data`] naming the session if the data does not serialize.
    pub(crate) fn new<D: Serialize>(
        id: &SessionId,
        fixed: &Fixed,
        update: &SessionUpdate<D>,
    ) -> Result<Self, Error> {
        let some_slot = |t: Option<Timestamp>| t.map(|t| slot(Some(t))).unwrap_or_default();
        let at = update.expires_at.map(expiry_millis);
        Ok(Self {
            expires_at: at.map(|at| at.to_string()).unwrap_or_default(),
            head: at.map(head).unwrap_or_default(),
            last_active_at: some_slot(update.last_active_at),
            reauthenticated_at: some_slot(update.reauthenticated_at),
            rotated_at: some_slot(update.rotated_at),
            tail: match &update.data {
                Some(data) => encode_new_data(id, fixed, data)?,
                None => Vec::new(),
            },
        })
    }

    /// Adds `ARGV[1]` to `ARGV[7]` to `script`.
    pub(crate) fn push(&self, script: &mut redis::ScriptInvocation<'_>) {
        let marker_ttl =
            u64::try_from(narvik_core::ROTATED_MARKER_TTL.as_millis()).unwrap_or(u64::MAX);
        script
            .arg(marker_ttl)
            .arg(&self.expires_at)
            .arg(&self.head)
            .arg(&self.last_active_at)
            .arg(&self.reauthenticated_at)
            .arg(&self.rotated_at)
            .arg(&self.tail);
    }
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

    /// A value as narvik-redis wrote it before the lifecycle (layout 1,
    /// commit 3d663c6), frozen: such values are still in Redis after an
    /// upgrade, and must keep decoding. It is [`ada`], saved then.
    const ADA_LAYOUT_1: &[u8] = br#"001700086400000 {"user_id":"ada","created_at":1700000000000,"data":{"n":[1,2],"org":"o-1"}}"#;

    fn ada() -> Session<serde_json::Value> {
        Session::new(
            SessionId::from_token("t"),
            "ada",
            Timestamp::from_unix_millis(1_700_000_000_000),
            Timestamp::from_unix_millis(1_700_086_400_000),
            serde_json::json!({ "org": "o-1", "n": [1, 2] }),
        )
    }

    #[test]
    fn value_head_is_fixed_width_and_round_trips() {
        for at in [1, 1_700_000_000_123, MAX_EXPIRY.as_unix_millis()] {
            let mut value = head(at).into_bytes();
            value.extend_from_slice(br#"{"user_id":"u"}"#);
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
    fn every_lifecycle_field_reads_back_as_saved() {
        let mut session = ada();
        session.length = Some(Duration::from_secs(30 * 86_400));
        session.persistent = false;
        session.last_active_at = Some(Timestamp::from_unix_millis(1_700_000_001_000));
        session.reauthenticated_at = Some(Timestamp::from_unix_millis(1_700_000_002_000));
        session.rotated_at = Some(Timestamp::from_unix_millis(1_700_000_003_000));
        let (at, value) = encode_session(&session).expect("encodes");
        let back: Session<serde_json::Value> =
            decode_session(&session.id, &value).expect("decodes");
        assert_eq!(back, session);
        // The key lives until the later of its expiry and the marker's end.
        assert_eq!(at, session.expires_at.as_unix_millis());
        let rotated = Timestamp::from_unix_millis(1_700_000_003_000);
        assert_eq!(key_expiry(rotated, Some(rotated)), 1_700_000_063_000);
        assert_eq!(key_expiry(rotated, None), 1_700_000_003_000);
        let fixed = decode_fixed(&session.id, &value).expect("fixed");
        assert_eq!(
            (fixed.user_id.as_str(), fixed.length_ms, fixed.persistent),
            ("ada", Some(30 * 86_400_000), false)
        );
    }

    /// The slots sit where the scripts write them, whatever the data.
    #[test]
    fn the_slots_are_at_their_offsets() {
        let mut session = ada();
        session.last_active_at = Some(Timestamp::from_unix_millis(111));
        session.reauthenticated_at = Some(Timestamp::from_unix_millis(222));
        let (_, value) = encode_session(&session).expect("encodes");
        let text = std::str::from_utf8(&value).expect("utf-8");
        assert_eq!(&text[HEAD_LEN..HEAD_LEN + V2_OPEN.len()], V2_OPEN);
        let at = |offset: usize| &text[offset..offset + SLOT_WIDTH];
        assert_eq!(at(LAST_ACTIVE_AT), "111            ");
        assert_eq!(at(REAUTHENTICATED_AT), "222            ");
        assert_eq!(at(ROTATED_AT), "null           ");
        assert_eq!(&text[FIXED_LEN - 1..FIXED_LEN + 10], r#","user_id":"#);
        assert_eq!(slot(Some(MAX_EXPIRY)).len(), SLOT_WIDTH);
        assert_eq!(
            slot(Some(Timestamp::from_unix_millis(i64::MAX))).len(),
            SLOT_WIDTH
        );
        // What the update script writes over a slot is a valid value there.
        let mut rewritten = value.clone();
        rewritten[ROTATED_AT..ROTATED_AT + SLOT_WIDTH]
            .copy_from_slice(slot(Some(Timestamp::from_unix_millis(333))).as_bytes());
        let back: Session<serde_json::Value> =
            decode_session(&session.id, &rewritten).expect("decodes");
        assert_eq!(back.rotated_at, Some(Timestamp::from_unix_millis(333)));
    }

    /// Layout 1, as the previous release wrote it, reads as a session with
    /// the lifecycle's defaults; the upgrade the script makes (its `{`
    /// replaced by [`upgrade`]) reads the same, now in layout 2.
    #[test]
    fn layout_1_values_read_with_the_defaults_and_upgrade_in_place() {
        let session = ada();
        let old = ADA_LAYOUT_1;
        let back: Session<serde_json::Value> = decode_session(&session.id, old).expect("decodes");
        assert_eq!(back, session, "a layout-1 value is Session::new's defaults");
        assert_eq!(decode_owner(&session.id, old).expect("owner"), "ada");

        let mut upgraded = old[..HEAD_LEN].to_vec();
        upgraded.extend_from_slice(upgrade().as_bytes());
        upgraded.extend_from_slice(&old[HEAD_LEN + 1..]);
        assert_eq!(
            &upgraded[..FIXED_LEN],
            &encode_session(&session).expect("encodes").1[..FIXED_LEN]
        );
        let back: Session<serde_json::Value> =
            decode_session(&session.id, &upgraded).expect("decodes");
        assert_eq!(back, session);
    }

    /// What an earlier narvik-redis (layout 1's decoder, frozen here) reads
    /// from a layout-2 value: the same session, without the lifecycle.
    #[test]
    fn layout_2_values_stay_readable_by_layout_1_readers() {
        #[derive(Deserialize)]
        struct Layout1 {
            user_id: String,
            created_at: Timestamp,
            data: serde_json::Value,
        }
        let mut session = ada();
        session.rotated_at = Some(Timestamp::from_unix_millis(1_700_000_003_000));
        let (_, value) = encode_session(&session).expect("encodes");
        let old: Layout1 = serde_json::from_slice(&value[HEAD_LEN..]).expect("layout 1 reads it");
        assert_eq!(
            (old.user_id.as_str(), old.created_at, &old.data),
            ("ada", session.created_at, &session.data)
        );
    }

    #[test]
    fn a_newer_layout_is_refused() {
        let id = SessionId::from_token("t");
        let value = br#"001700086400000 {"v":3,"user_id":"ada","created_at":1,"data":null}"#;
        assert!(matches!(
            decode_session::<()>(&id, value),
            Err(Error::Data { .. })
        ));
        assert!(matches!(decode_owner(&id, value), Err(Error::Data { .. })));
    }

    #[test]
    fn new_data_keeps_the_rest_of_the_tail() {
        let mut session = ada();
        session.length = Some(Duration::from_secs(3600));
        session.persistent = false;
        let (_, value) = encode_session(&session).expect("encodes");
        let fixed = decode_fixed(&session.id, &value).expect("fixed");
        let data = serde_json::json!({ "org": "o-2" });
        let mut updated = value[..FIXED_LEN].to_vec();
        updated.extend_from_slice(&encode_new_data(&session.id, &fixed, &data).expect("tail"));
        let back: Session<serde_json::Value> =
            decode_session(&session.id, &updated).expect("decodes");
        session.data = data;
        assert_eq!(back, session);
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
