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

use std::sync::LazyLock;

use redis::Script;

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

/// Extends the session key `KEYS[1]` to `ARGV[1]` (ms), with `ARGV[2]` the
/// same expiry as the value's head (15 digits and a space): rewrites the
/// head and moves the key's expiry together, so the two never disagree.
/// Returns 0 if the key is gone (nothing is re-created: `SETRANGE` alone
/// would create a missing key), -1 if the value has no head (not written
/// by this store; left untouched); else goes on.
///
/// `SETRANGE` keeps the key's expiry (it alters the value in place rather
/// than replacing it) and rewrites only the head, whatever the size of the
/// data. It runs before `PEXPIREAT` because an expiry in the past deletes
/// the key at once, and a `SETRANGE` after that would bring it back.
macro_rules! extend_session_key {
    () => {
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local head = redis.call('GETRANGE', KEYS[1], 0, 15)
if not string.find(head, '^%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d $') then
  return -1
end
redis.call('SETRANGE', KEYS[1], 0, ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
"
    };
}

/// Sets the local `due`: whether session key `KEYS[1]` expires at or
/// before `ARGV[1]` (the purge's now, ms). It reads the key's expiry
/// rather than the value's head: the two are equal (written together at
/// save and at each extension), and a key with no expiry is not this
/// store's.
macro_rules! purge_due {
    () => {
        r"
local at = redis.call('PEXPIRETIME', KEYS[1])
local due = at >= 0 and at <= tonumber(ARGV[1])
"
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

/// `KEYS[1]` = user index, `ARGV[1]` = session id, `ARGV[2]` = its new expiry.
/// Raises the id's score, but only if the id is still there (`XX`): an
/// index entry removed by a concurrent delete is not brought back.
pub(crate) static INDEX_RAISE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"local index = KEYS[1]
redis.call('ZADD', index, 'XX', 'GT', ARGV[2], ARGV[1])",
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

/// `KEYS[1]` = session key, `ARGV[1]` = its new expiry (ms), `ARGV[2]` = the
/// same expiry as the value's head. Returns 1 if extended, 0 if the key
/// is gone, -1 if the value has no head (see `extend_session_key!`).
pub(crate) static EXTEND_SESSION: LazyLock<Script> =
    LazyLock::new(|| Script::new(concat!(extend_session_key!(), "return 1")));

/// `KEYS[1]` = session key, `ARGV[1]` = the purge's now (ms). Deletes the
/// session if its expiry is `<=` now and returns its value (so the caller
/// can find the user's index), else nil. Atomic, so concurrent purges
/// delete, and count, each session once.
pub(crate) static PURGE_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        purge_due!(),
        r"
if due then
  return redis.call('GETDEL', KEYS[1])
end
return false
"
    ))
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

/// `ARGV[1]` = the new expiry (ms), `ARGV[2]` = the same as the value's
/// head, `ARGV[3]` = the session id. Extends the key as `EXTEND_SESSION`
/// does and, only if it did, raises the id's score in the index (adding
/// it if something outside the store had removed it: the key is live).
/// Returns as `EXTEND_SESSION`.
pub(crate) static EXTEND_INDEXED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        extend_session_key!(),
        r"local index = KEYS[2]
redis.call('ZADD', index, 'GT', ARGV[1], ARGV[3])",
        trim_and_expire!(),
        "return 1"
    ))
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

/// `ARGV[1]` = the purge's now (ms). The session's value if its expiry is
/// `<=` now, else nil; changes nothing. The purge reads the owner from it,
/// then `PURGE_INDEXED` deletes.
pub(crate) static PURGE_PEEK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        purge_due!(),
        r"
if due then
  return redis.call('GET', KEYS[1])
end
return false
"
    ))
});

/// `ARGV[1]` = the purge's now (ms), `ARGV[2]` = the session id. If the
/// session's expiry is still `<=` now (an extension may have come since
/// `PURGE_PEEK`), deletes the key and its index entry and returns 1, else
/// 0. Atomic, so concurrent purges count each session once.
pub(crate) static PURGE_INDEXED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        purge_due!(),
        r"
if not due then
  return 0
end
local index = KEYS[2]
redis.call('DEL', KEYS[1])
redis.call('ZREM', index, ARGV[2])",
        trim_and_expire!(),
        "return 1"
    ))
});
