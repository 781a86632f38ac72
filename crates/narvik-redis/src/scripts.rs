//! The Lua scripts. Each touches exactly one key, so each is atomic on one
//! server and in a cluster alike (one key is always one slot).
//!
//! Index scripts trim by the server's clock (`TIME`), the same clock that
//! fires the session keys' expiries, and end by setting the index's own
//! expiry to its latest member's score, so an index never outlives its
//! sessions by more than the time to the next write.

use std::sync::LazyLock;

use redis::Script;

/// The common tail of the index scripts: drop members whose score (an
/// expiry in ms) is `<=` the server's now, then keep the key alive until
/// its latest member's expiry, or let it go if it is empty.
macro_rules! trim_and_expire {
    () => {
        r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] then
  redis.call('PEXPIREAT', KEYS[1], top[2])
end
"
    };
}

/// `KEYS[1]` = user index, `ARGV[1]` = session id, `ARGV[2]` = its expiry (ms).
/// Adds the id, or raises its score if it is there (`GT`: a score never
/// drops below the session key's expiry). Returns 1 if the id was new.
pub(crate) static INDEX_ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"local added = redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])",
        trim_and_expire!(),
        "return added"
    ))
});

/// `KEYS[1]` = user index, `ARGV[1]` = session id, `ARGV[2]` = its new expiry.
/// Raises the id's score, but only if the id is still there (`XX`): an
/// index entry removed by a concurrent delete is not brought back.
pub(crate) static INDEX_RAISE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"redis.call('ZADD', KEYS[1], 'XX', 'GT', ARGV[2], ARGV[1])",
        trim_and_expire!(),
        "return 1"
    ))
});

/// `KEYS[1]` = user index, ARGV = session ids (maybe none). Removes them,
/// then trims. With no ids it only trims (the purge uses that).
pub(crate) static INDEX_REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"if #ARGV > 0 then redis.call('ZREM', KEYS[1], unpack(ARGV)) end",
        trim_and_expire!(),
        "return 1"
    ))
});

/// `KEYS[1]` = session key, `ARGV[1]` = its new expiry (ms), `ARGV[2]` = the
/// same expiry as the value's head (15 digits and a space). Rewrites the
/// head and moves the key's expiry together, so the two never disagree.
/// Returns 1 if extended, 0 if the key is gone (nothing is re-created:
/// `SETRANGE` alone would create a missing key), -1 if the value has no
/// head (not written by this store; left untouched).
///
/// `SETRANGE` keeps the key's expiry (it alters the value in place rather
/// than replacing it) and rewrites only the head, whatever the size of the
/// data. It runs before `PEXPIREAT` because an expiry in the past deletes
/// the key at once, and a `SETRANGE` after that would bring it back.
pub(crate) static EXTEND_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
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
return 1
",
    )
});

/// `KEYS[1]` = session key, `ARGV[1]` = the purge's now (ms). Deletes the
/// session if its expiry is `<=` now and returns its value (so the caller
/// can find the user's index), else nil. Atomic, so concurrent purges
/// delete, and count, each session once. It reads the key's expiry rather
/// than the value's head: the two are equal (written together at save and
/// at each extension), and a key with no expiry is not this store's.
pub(crate) static PURGE_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local at = redis.call('PEXPIRETIME', KEYS[1])
if at >= 0 and at <= tonumber(ARGV[1]) then
  return redis.call('GETDEL', KEYS[1])
end
return false
",
    )
});
