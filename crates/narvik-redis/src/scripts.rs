//! The Lua scripts, in two sets.
//!
//! - **One key each** (cluster): each touches exactly one key, so each is
//!   atomic on one server and in a cluster alike (one key is always one
//!   slot). A change that touches a session key and its index is two of
//!   them, in the order the crate docs explain.
//! - **Two keys** (`*_INDEXED`, one server only): each changes a session
//!   key and its user's index in one script, so no client ever sees one
//!   changed without the other. In a cluster the two keys are in
//!   different slots, where such a script is refused (`CROSSSLOT`).
//!
//! Index scripts trim by the server's clock (`TIME`), the same clock that
//! fires the session keys' expiries, and end by setting the index's own
//! expiry to its latest member's score, so an index never outlives its
//! sessions by more than the time to the next write.
//!
//! Scripts that read or write a session value's fixed part name its
//! offsets as `@NAME@`, filled in from [`crate::store::value`] by
//! [`with_layout`], so that the layout is defined once.

use std::sync::LazyLock;

use redis::Script;

use crate::store::value::{
    FIXED_LEN, HEAD_LEN, LAST_ACTIVE_AT, MAX_EXPIRY, REAUTHENTICATED_AT, ROTATED_AT, SLOT_WIDTH,
    V2_OPEN, upgrade,
};

/// `lua` with the value layout's `@NAME@`s filled in: offsets are 0-based
/// (for `GETRANGE` and `SETRANGE`), `..._FROM` and `..._TO` 1-based and
/// inclusive (for `string.sub`).
fn with_layout(lua: &str) -> String {
    let open_from = HEAD_LEN + 1;
    let rotated_from = ROTATED_AT + 1;
    [
        ("@FIXED_LAST@", (FIXED_LEN - 1).to_string()),
        ("@OPEN_FROM@", open_from.to_string()),
        ("@OPEN_TO@", (open_from + V2_OPEN.len() - 1).to_string()),
        ("@OPEN@", V2_OPEN.to_owned()),
        ("@UPGRADE@", upgrade()),
        ("@HEAD_LEN@", HEAD_LEN.to_string()),
        ("@LAST_ACTIVE_AT@", LAST_ACTIVE_AT.to_string()),
        ("@REAUTHENTICATED_AT@", REAUTHENTICATED_AT.to_string()),
        ("@ROTATED_AT@", ROTATED_AT.to_string()),
        ("@ROTATED_FROM@", rotated_from.to_string()),
        ("@ROTATED_TO@", (rotated_from + SLOT_WIDTH - 1).to_string()),
        ("@MAX_EXPIRY@", MAX_EXPIRY.as_unix_millis().to_string()),
    ]
    .iter()
    .fold(lua.to_owned(), |lua, (name, value)| {
        lua.replace(name, value)
    })
}

/// The common tail of the index scripts, on the key in the local `index`:
/// drop members whose score (an expiry in ms) is `<=` the server's now,
/// then keep the key alive until its latest member's expiry, or let it go
/// if it is empty.
macro_rules! trim_and_expire {
    () => {
        r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
local top = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
if top[2] then
  redis.call('PEXPIREAT', index, top[2])
end
"
    };
}

/// Applies an update to session key `KEYS[1]`. `ARGV[1]` = how long a
/// rotation marker's key outlives its `rotated_at` (ms); then, each `''`
/// when the update leaves it alone: `ARGV[2]` = the new expiry (ms),
/// `ARGV[3]` = the same as the value's head (15 digits and a space),
/// `ARGV[4]`, `ARGV[5]`, `ARGV[6]` = the new `last_active_at`,
/// `reauthenticated_at`, `rotated_at` slots, `ARGV[7]` = the value's new
/// tail (new data).
///
/// Returns `{0, 0}` if the key is gone (nothing is re-created: `SETRANGE`
/// alone would create a missing key), `{-1, 0}` if the value is not this
/// store's (left untouched); else goes on, with the local `at` set to the
/// key's new expiry if the update moved it (an expiry or a rotation), nil
/// otherwise.
///
/// A layout-1 value that gets a time or data is first upgraded in place to
/// layout 2 (its `{` replaced by layout 2's opening with no times). Then
/// each given part is written over its bytes (`SETRANGE` keeps the key's
/// expiry, and rewrites nothing else, whatever the size of the data); new
/// data replaces the tail after the fixed part (`SET KEEPTTL`). The key's
/// expiry is the head's, or for a rotation marker its `rotated_at` plus
/// `ARGV[1]` if later (as `key_expiry` computes for a save); it is set
/// last, because an expiry in the past deletes the key at once, and a
/// write after that would bring it back.
macro_rules! update_session_key {
    () => {
        r#"
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then
  return {0, 0}
end
local fixed = redis.call('GETRANGE', key, 0, @FIXED_LAST@)
if not string.find(fixed, '^%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d ') then
  return {-1, 0}
end
local v2 = string.sub(fixed, @OPEN_FROM@, @OPEN_TO@) == '@OPEN@'
if not v2 then
  if string.sub(fixed, @OPEN_FROM@, @OPEN_FROM@ + 1) ~= '{"' then
    return {-1, 0}
  end
  if ARGV[4] ~= '' or ARGV[5] ~= '' or ARGV[6] ~= '' or ARGV[7] ~= '' then
    local old = redis.call('GET', key)
    redis.call('SET', key, string.sub(old, 1, @HEAD_LEN@) .. '@UPGRADE@' .. string.sub(old, @HEAD_LEN@ + 2), 'KEEPTTL')
  end
end
local rotated = ARGV[6]
if rotated == '' and v2 then
  rotated = string.sub(fixed, @ROTATED_FROM@, @ROTATED_TO@)
end
if ARGV[7] ~= '' then
  redis.call('SET', key, redis.call('GETRANGE', key, 0, @FIXED_LAST@) .. ARGV[7], 'KEEPTTL')
end
if ARGV[3] ~= '' then redis.call('SETRANGE', key, 0, ARGV[3]) end
if ARGV[4] ~= '' then redis.call('SETRANGE', key, @LAST_ACTIVE_AT@, ARGV[4]) end
if ARGV[5] ~= '' then redis.call('SETRANGE', key, @REAUTHENTICATED_AT@, ARGV[5]) end
if ARGV[6] ~= '' then redis.call('SETRANGE', key, @ROTATED_AT@, ARGV[6]) end
local at = nil
if ARGV[2] ~= '' or ARGV[6] ~= '' then
  local ms = tonumber(ARGV[2] ~= '' and ARGV[2] or string.sub(fixed, 1, 15))
  local rot = tonumber((string.gsub(rotated, ' ', '')))
  if rot then
    ms = math.min(math.max(ms, rot + tonumber(ARGV[1])), @MAX_EXPIRY@)
  end
  -- As an integer: a Lua number may print with an exponent.
  at = string.format('%d', ms)
  redis.call('PEXPIREAT', key, at)
end
"#
    };
}

/// Sets the local `due`: whether session key `KEYS[1]` is for the purge
/// at `ARGV[1]` (ms): its value's expiry (the head) is at or before it,
/// unless the value is a rotation marker whose `rotated_at` is later than
/// `ARGV[2]` (the purge's cutoff for markers). A value without a head (not
/// written by this store, but under its prefix) is due by its key's
/// expiry; and a key with no expiry is not this store's.
macro_rules! purge_due {
    () => {
        r#"
local purge_at = tonumber(ARGV[1])
local due = redis.call('PEXPIRETIME', KEYS[1]) >= 0
if due then
  local fixed = redis.call('GETRANGE', KEYS[1], 0, @FIXED_LAST@)
  local expiry = string.match(fixed, '^(%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d) ')
  if not expiry then
    due = redis.call('PEXPIRETIME', KEYS[1]) <= purge_at
  else
    due = tonumber(expiry) <= purge_at
    if due and string.sub(fixed, @OPEN_FROM@, @OPEN_TO@) == '@OPEN@' then
      local rot = tonumber((string.gsub(string.sub(fixed, @ROTATED_FROM@, @ROTATED_TO@), ' ', '')))
      if rot and rot > tonumber(ARGV[2]) then
        due = false
      end
    end
  end
end
"#
    };
}

// ---- One key each: anywhere, and the only kind a cluster gets. ----

/// `KEYS[1]` = user index, `ARGV[1]` = session id, `ARGV[2]` = its expiry (ms).
/// Adds the id, or raises its score if it is there (`GT`: a score never
/// drops below the session key's expiry). Returns 1 if the id was new.
pub(crate) static INDEX_ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"local index = KEYS[1]
local added = redis.call('ZADD', index, 'GT', ARGV[2], ARGV[1])",
        trim_and_expire!(),
        "return added"
    ))
});

/// `KEYS[1]` = user index, `ARGV[1]` = session id, `ARGV[2]` = its new
/// expiry, `ARGV[3]` = `GT` or `LT`. Raises (`GT`) or lowers (`LT`) the
/// id's score, but only if the id is still there (`XX`): an index entry
/// removed by a concurrent delete is not brought back.
pub(crate) static INDEX_MOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"local index = KEYS[1]
redis.call('ZADD', index, 'XX', ARGV[3], ARGV[2], ARGV[1])",
        trim_and_expire!(),
        "return 1"
    ))
});

/// `KEYS[1]` = user index, ARGV = session ids (maybe none). Removes them,
/// then trims. With no ids it only trims (the purge uses that).
pub(crate) static INDEX_REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"local index = KEYS[1]
if #ARGV > 0 then redis.call('ZREM', index, unpack(ARGV)) end",
        trim_and_expire!(),
        "return 1"
    ))
});

/// `KEYS[1]` = session key, ARGV as `update_session_key!`. Returns `{1,
/// at}` if updated, with `at` the key's new expiry (ms; 0 if the update
/// did not move it), or as `update_session_key!`.
pub(crate) static UPDATE_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&with_layout(concat!(
        update_session_key!(),
        "return {1, tonumber(at or '0')}"
    )))
});

/// `KEYS[1]` = session key, `ARGV[1]` = the purge's now (ms), `ARGV[2]` =
/// its cutoff for rotation markers. Deletes the session if it is due (see
/// `purge_due!`) and returns its value (so the caller can find the user's
/// index), else nil. Atomic, so concurrent purges delete, and count, each
/// session once.
pub(crate) static PURGE_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&with_layout(concat!(
        purge_due!(),
        r"
if due then
  return redis.call('GETDEL', KEYS[1])
end
return false
"
    )))
});

// ---- Two keys: one server only. `KEYS[1]` is the session key and
// `KEYS[2]` its user's index, except in `DELETE_MANY_INDEXED`. ----

/// `ARGV[1]` = the value, `ARGV[2]` = its expiry (ms), `ARGV[3]` = the
/// session id. `SET NX PXAT` and, only if that set the key, adds the id
/// to the index (`GT`, as `INDEX_ADD`). Returns 1 if saved, 0 if the key
/// existed (nothing changed).
pub(crate) static SAVE_INDEXED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"local index = KEYS[2]
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then
  return 0
end
redis.call('ZADD', index, 'GT', ARGV[2], ARGV[3])",
        trim_and_expire!(),
        "return 1"
    ))
});

/// ARGV as `update_session_key!`, and `ARGV[8]` = the session id. Updates
/// the key as `UPDATE_SESSION` does and, if that moved its expiry, sets
/// the id's score in the index to the key's new expiry, exactly (adding
/// the id if something outside the store had removed it: the key is
/// live). Exactly, rather than only ever raising it as in a cluster: here
/// the two change together, so the score can follow the key down too (a
/// rotation marker's key ends a minute after the rotation, and so does
/// its entry). Returns as `UPDATE_SESSION`.
pub(crate) static UPDATE_INDEXED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&with_layout(concat!(
        update_session_key!(),
        r"local index = KEYS[2]
if at then
  redis.call('ZADD', index, at, ARGV[8])",
        trim_and_expire!(),
        r"end
return {1, tonumber(at or '0')}"
    )))
});

/// `ARGV[1]` = the session id. Deletes the key and its index entry.
/// Returns 1.
pub(crate) static DELETE_INDEXED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"local index = KEYS[2]
redis.call('DEL', KEYS[1])
redis.call('ZREM', index, ARGV[1])",
        trim_and_expire!(),
        "return 1"
    ))
});

/// `KEYS[1]` = a user's index, `KEYS[2..]` = session keys, ARGV = their
/// ids, in the same order. Deletes the keys, and the index entries of the
/// keys it deleted; an entry whose key was already gone stays until its
/// score passes (it may be a save in flight from a writer that saves in
/// two steps: a cluster-mode store, or an older version of this one during
/// a rolling deploy). Returns the number of keys deleted.
pub(crate) static DELETE_MANY_INDEXED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"local index = KEYS[1]
local deleted = 0
for i = 2, #KEYS do
  if redis.call('DEL', KEYS[i]) == 1 then
    redis.call('ZREM', index, ARGV[i - 1])
    deleted = deleted + 1
  end
end",
        trim_and_expire!(),
        "return deleted"
    ))
});

/// `ARGV[1]` = the purge's now (ms), `ARGV[2]` = its cutoff for rotation
/// markers. The session's value if it is due (see `purge_due!`), else
/// nil; changes nothing. The purge reads the owner from it, then
/// `PURGE_INDEXED` deletes.
pub(crate) static PURGE_PEEK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&with_layout(concat!(
        purge_due!(),
        r"
if due then
  return redis.call('GET', KEYS[1])
end
return false
"
    )))
});

/// `ARGV[1]` = the purge's now (ms), `ARGV[2]` = its cutoff for rotation
/// markers, `ARGV[3]` = the session id. If the session is still due (an
/// extension may have come since `PURGE_PEEK`), deletes the key and its
/// index entry and returns 1, else 0. Atomic, so concurrent purges count
/// each session once.
pub(crate) static PURGE_INDEXED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&with_layout(concat!(
        purge_due!(),
        r"
if not due then
  return 0
end
local index = KEYS[2]
redis.call('DEL', KEYS[1])
redis.call('ZREM', index, ARGV[3])",
        trim_and_expire!(),
        "return 1"
    )))
});
