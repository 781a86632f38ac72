//! A [narvik](https://docs.rs/narvik) session store on Redis: one server,
//! one server under Redis Sentinel, or Redis Cluster (Redis 7.0 or later).
//!
//! ```no_run
//! use narvik_core::Narvik;
//! use narvik_redis::RedisStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), narvik_core::Error> {
//! // One server; for a cluster, `.connect_cluster(["redis://10.0.0.1:7000", ...])`;
//! // under Sentinel, `.connect_sentinel(["redis://10.0.0.1:26379", ...], "mymaster")`.
//! let store: RedisStore<()> = RedisStore::builder()
//!     .key_prefix("my-app")
//!     .connect("redis://127.0.0.1:6379")
//!     .await?;
//! let narvik = Narvik::new(store);
//!
//! let created = narvik.create_session("user-42", ()).await?;
//! let valid = narvik.validate_session(created.token.as_str()).await?;
//! assert_eq!(valid.map(|v| v.session.user_id).as_deref(), Some("user-42"));
//!
//! narvik.delete_sessions_for_user("user-42").await?; // sign out everywhere
//! # Ok(())
//! # }
//! ```
//!
//! [`RedisStore<D>`] implements all three store traits
//! ([`SessionStore`](narvik_core::store::SessionStore),
//! [`UserSessionStore`](narvik_core::store::UserSessionStore),
//! [`PurgeableStore`](narvik_core::store::PurgeableStore)) for any `D:
//! Serialize + DeserializeOwned`, and passes narvik's conformance suite on
//! one server and on a 3-master cluster.
//!
//! # Keys
//!
//! Every key starts with the store's prefix (default `narvik`; letters,
//! digits, `.`, `_`, `-`), so the store never touches another
//! application's keys (the namespace clash of CVE-2011-4136). The prefix
//! has no `:`, so the first `:` of a key ends it and two prefixes never
//! share a key.
//!
//! | key | type | holds | expires |
//! |---|---|---|---|
//! | `<prefix>:s:<session id>` | string | `<expires_at> <JSON>`: the session's `expires_at` as 15 zero-padded digits (ms since the epoch), a space, then the JSON of everything else (below) | at the same `expires_at` (`PXAT`/`PEXPIREAT`); a rotation marker [`ROTATED_MARKER_TTL`](narvik_core::ROTATED_MARKER_TTL) after its `rotated_at` if that is later |
//! | `<prefix>:u:<hex SHA-256 of user id>` | sorted set | member: session id, score: its key's expiry (ms) | at its latest member's score |
//!
//! The JSON, layout 2 (`"v":2`), puts the session lifecycle's times first,
//! each in a slot of fixed width (15 bytes: the time in ms, or `null`,
//! padded with spaces, which JSON allows after a value), then the fields
//! that never change after the save, then the data:
//!
//! ```text
//! 001767225600000 {"v":2,"last_active_at":1767139200000  ,"reauthenticated_at":null           ,
//! "rotated_at":null           ,"user_id":"user-42","created_at":1767139200000,"length_ms":null,
//! "persistent":true,"data":null}
//! ```
//!
//! (one line in Redis) for a session expiring at 2026-01-01T00:00:00Z.
//! `length_ms` is the session's own length (remember-me) in ms, or `null`
//! for the configured one. The times are clamped to `0 ..=`
//! [`MAX_EXPIRY`], as they must fit their slots.
//!
//! A session is fetched by id alone, so its key is derived from the id
//! alone; validation is one command, a `GET` of that key. The expiry is
//! stored twice, always equal (but for a rotation marker, below): in the
//! value's head, which that `GET` reads, and as the key's own expiry, so
//! Redis deletes an expired session by itself. Both are set together: by
//! the `SET` that saves the session, and by each update's script, which
//! rewrites the head with `SETRANGE` (fixed width, so the JSON is neither
//! decoded nor rewritten) and `PEXPIREAT`s the key, atomically, and does
//! nothing if the key is gone, so it cannot re-create a session deleted
//! meanwhile. In the same way the script writes a recorded time over its
//! slot: activity and re-authentication never touch the data. Only an
//! update with new data rewrites the rest of the value (the client encodes
//! it with the fields that never change; the script keeps the head and the
//! slots as they are in Redis). Every expiry written is clamped to
//! 1 ms ..= [`MAX_EXPIRY`] (the latest with 15 digits).
//!
//! A rotation marker (a session with `rotated_at`: its `expires_at` is
//! the rotation's time) must outlive that expiry, to answer requests in
//! flight with the old cookie as
//! [`Validation::Rotated`](narvik_core::Validation::Rotated): its key
//! expires [`ROTATED_MARKER_TTL`](narvik_core::ROTATED_MARKER_TTL) after
//! `rotated_at` (or at `expires_at`, if later), and its index score follows
//! (so it leaves the index then, not at the session's old expiry). The
//! purge keeps a marker until
//! [`rotation_marker_cutoff`](narvik_core::store::rotation_marker_cutoff)
//! has passed its `rotated_at`, whatever its `expires_at` says.
//!
//! ## Earlier values: readable forever, upgraded in place
//!
//! narvik-redis before the session lifecycle wrote layout 1:
//! `<expires_at> {"user_id":...,"created_at":...,"data":...}`. Such values
//! stay readable forever, by the same decoder, as sessions with
//! [`Session::new`](narvik_core::Session::new)'s defaults (the configured
//! length, a persistent cookie, no activity, re-authentication or
//! rotation), which is what they were. Nothing has to be run to migrate:
//! the first update that records a time or new data in a layout-1 value
//! upgrades it in place, in the same script, to layout 2 with no times
//! (its `{` replaced by layout 2's opening; the rest is a valid tail as it
//! is). An extension alone rewrites only the head, which both layouts
//! share. A value of a layout newer than this crate knows is
//! [`Error::Data`](narvik_core::Error::Data), never misread.
//!
//! The other way round, layout 2 stays readable by layout-1 readers (an
//! earlier narvik-redis during a rolling deploy, or another language
//! reading the JSON after the head): they ignore the fields they do not
//! know. An earlier release does not know rotation markers, and sees one as
//! the expired session its `expires_at` says (and deletes it): finish the
//! rollout before rotating sessions.
//!
//! User ids are arbitrary strings (unicode, kilobytes), so the index key
//! holds their SHA-256; the user id itself is in each session's value.
//!
//! # The per-user index: atomic on one server, ordered in a cluster
//!
//! Every change to a session also changes its user's index: save adds
//! the entry, an update that moves the key's expiry moves its score,
//! deletes and the purge remove it. One invariant holds at every instant, whatever crashes or races:
//!
//! > every live session is in its user's index, with a score at least its
//! > expiry.
//!
//! **On one server** ([`RedisStoreBuilder::connect`]), each change the
//! store makes is one Lua script over both keys, so it is atomic: no
//! client ever sees a save, an update or a delete half done, and no
//! crash leaves one half done. (An entry can still outlive its key by
//! design: a key that expires by itself keeps its entry until the next
//! write to that index or the next purge.)
//! The index key is derived from the owner, which only the session's value
//! names (Lua cannot compute SHA-256), so a change that starts from a
//! session id (update, delete, purge) first reads the value with a `GET`,
//! then runs its script, which checks again what it depends on (the key
//! still exists; its expiry is still due).
//!
//! - **save**: `SET key value NX PXAT expires_at` and, only if that set
//!   it, `ZADD GT` the entry; if the id exists nothing changes and the call
//!   fails with [`Error::DuplicateSessionId`](narvik_core::Error::DuplicateSessionId).
//! - **update**: write each part the update has (head, time slots, new
//!   data), `PEXPIREAT` the key and set the entry's score to the key's
//!   expiry; nothing at all if the key is gone.
//! - **delete**: `DEL` the key and `ZREM` the entry.
//! - **delete for user / delete others**: read the index, then one script
//!   per 512 sessions deletes the keys, and the entries of the keys it
//!   deleted. A session saved after the read is kept (and indexed, so a
//!   later call finds it). An entry whose key was already gone stays until
//!   its score passes, as in a cluster: it could be a save in flight from
//!   a writer that saves in two steps (a cluster-mode store, or an older
//!   version of this store during a rolling deploy).
//! - **purge**: for each key whose expiry is due, delete it and its entry.
//!
//! **In a cluster**, a session key and its user's index hash to different
//! slots, and no script may touch both. Hash tags cannot help: a session is
//! fetched by id alone, so its key is derived from the id alone, and a
//! user's sessions would all pile into one slot if they shared a tag. So
//! every script there touches exactly one key (no hash tags are needed,
//! and the prefix may not contain `{` or `}`, so keys spread over all
//! slots), and the two steps of each change are ordered to keep the
//! invariant:
//!
//! - **save**: a script adds the id to the index (`ZADD GT`), *then*
//!   `SET key value NX PXAT expires_at`. If the `SET` is refused the entry
//!   it added is removed.
//! - **update**: read the owner from the value; if the key's expiry moves,
//!   raise the index score with `ZADD XX GT` (`XX`: an entry removed by a
//!   concurrent delete is not re-added); *then* one script on the key
//!   writes every part of the update and `PEXPIREAT`s it (does nothing if
//!   it is gone). A score only ever rises, so concurrent extensions cannot
//!   leave it below the key's expiry. The one exception: a rotation then
//!   lowers the score to the marker's key expiry (`ZADD XX LT`), which is
//!   safe because a marker never grants access again, whatever happens to
//!   its key.
//! - **delete**: `GETDEL` the key (its value names the owner), *then*
//!   remove the id from the index.
//! - **delete for user / delete others**: read the index, `DEL` each key,
//!   then remove from the index exactly the ids whose `DEL` deleted
//!   something. Every session saved before the call is in the index, so it
//!   is deleted; a save racing the call either lands before the read
//!   (deleted) or after it (kept, and still indexed). An entry whose key is
//!   already missing is left alone, because it may be a save in flight
//!   between its two steps.
//! - **purge**: one script per key deletes it if its expiry is due and
//!   returns the value, *then* the id leaves its user's index.
//!
//! A crash between a cluster change's two steps leaves at worst an index
//! entry without a session, which listing skips and which goes when its
//! score passes.
//!
//! Common to both:
//!
//! - **list for user**: read the index, fetch each key; entries whose key
//!   is gone are skipped.
//! - **purge** ([`PurgeableStore::delete_all_expired_sessions`](narvik_core::store::PurgeableStore::delete_all_expired_sessions)):
//!   `SCAN` every master for session keys; a key is due if its value's
//!   expiry (the head) is `<= now`, which includes keys Redis has not
//!   expired yet when `now` is ahead of the server, and it is not a
//!   rotation marker younger than the cutoff (above); each
//!   deletion is a script, so concurrent purges count each session once.
//!   Then every index is trimmed of entries that expired by the server's
//!   clock: the stale entries no key expiry removes. Returns the sessions
//!   deleted.
//! - Every index script trims entries whose score (expiry) has passed by
//!   the server's clock and sets the index key's own expiry to its latest
//!   score.
//!
//! So the index never loses a live session, drops revoked ones as they are
//! revoked, and cannot grow without bound: entries leave when their
//! session is deleted or expires (on the next write to the index, or the
//! next purge), and the index key itself expires with its latest session.
//! The only entries that linger are those whose key vanished without this
//! store (eviction, a manual `DEL`; in a cluster, a crash between a
//! delete's two steps), those whose session was extended to an earlier
//! expiry than it had (in a cluster a score never drops), and in a cluster
//! a marker's whose rotation raced an extension; listing skips them
//! and they go when their score passes. The tests check all of this under
//! concurrent writers, and on one server that snapshots taken among them
//! (with no session expiring meanwhile) always show the same sessions in
//! the index as in the keys, each score at least its key's expiry.
//!
//! # Reads under load
//!
//! Validation is one `GET`. When many validations run at once, the store
//! sends their `GET`s in batches: at most four batches are in flight to
//! one server (one per master, in a cluster), and validations that arrive
//! meanwhile wait for the next batch, which takes all of them (up to
//! [`DEFAULT_READ_BATCH`]; [`RedisStoreBuilder::read_batch_size`]). A
//! batch is one pipeline, so the client's per-command work (a task
//! hand-off, a reply channel, a wake-up) is paid once per batch instead of
//! once per read.
//! Each validation still gets its own reply, including its own error
//! reply; a batch that fails (a dropped connection) fails each read in
//! it, as it would have failed alone. A lone validation goes at once, in a
//! batch of one. The batching itself is the `narvik-coalesce` crate,
//! shared with the SQL stores.
//!
//! # Reads in a cluster
//!
//! Validation is one `GET`, and in a cluster it does not go through the
//! cluster client: that client hands every command to its driver task,
//! which hands it to the node's connection task, and at high concurrency
//! those hand-offs cost more than the round trip. Instead the store keeps
//! its own copy of the slot map (`CLUSTER SLOTS`, read through the cluster
//! client) and one multiplexed connection per master, computes the key's
//! slot (CRC16 of the key, or of its `{hash tag}`, mod 16384) and sends
//! the `GET` straight to that master: one hand-off, as on one server, and
//! batched per master as above.
//!
//! The copy is a shortcut, never the authority. A `GET` that gets
//! anything but a value or nil from it (`MOVED` or `ASK` during a slot
//! migration, `CLUSTERDOWN`, a dropped connection, a slot with no known
//! master, or no answer in time) is sent again through the cluster
//! client, which follows redirects and reconnects, within the same
//! timeout; so a stale copy costs a round trip, never a wrong answer. The
//! failure marks the copy stale, and one background task at a time (at
//! most one every 100 ms) re-reads the map and reopens the connections
//! that failed; then reads go direct again. Every other command goes
//! through the cluster client.
//!
//! # Failures
//!
//! Every Redis round trip is bounded by the store's timeout
//! ([`DEFAULT_TIMEOUT`], 500 ms; [`RedisStoreBuilder::timeout`]). With
//! Redis unreachable, calls fail with
//! [`Error::Store`](narvik_core::Error::Store) within it: never a hang, and
//! never "no session". A call that ran out of time (no answer, or a
//! reconnection still backing off) is an [`Error::Store`](narvik_core::Error::Store)
//! whose source is a [`TimedOut`](narvik_core::TimedOut), so
//! [`Error::is_timeout`](narvik_core::Error::is_timeout) tells it from a
//! refused connection or an error reply, as with the SQL stores. The connection heals by itself: on one server a
//! [`redis::aio::ConnectionManager`] reconnects in the background; in a
//! cluster the client reconnects to nodes and refreshes its slot map, and
//! the direct read path falls back to it and then refreshes its own
//! (see above). The timeout bounds a whole call: a direct read that gets
//! no answer and its fallback share it.
//!
//! # Sentinel
//!
//! [`RedisStoreBuilder::connect_sentinel`] asks the sentinels for the
//! master of a service, connects to it, and checks with `ROLE`, on that
//! connection, that it is a master; from then on the store works exactly
//! as on one server (the same atomic scripts, the same batched reads).
//! A call that finds the connection broken, gets `READONLY` or
//! `MASTERDOWN` (the server is a replica now), or gets no answer within
//! the timeout fails with [`Error::Store`](narvik_core::Error::Store) and
//! drops the connection; the next call asks the sentinels again (at most
//! one call at a time asks; after a failed attempt, calls fail at once for
//! 20 ms rather than each asking). So during a failover every call is an
//! error, until the sentinels name the new master; then calls reach it.
//! The test kills a primary under load: the store answers from the
//! promoted replica about 1.7 s later (sentinels with a 400 ms
//! `down-after-milliseconds`), and no validation in between answers "no
//! session" for a live one.
//!
//! "No session" is only believed from a master. A failed-over master that
//! comes back is made a replica by the sentinels in a transaction that
//! also disconnects its clients (`SLAVEOF`, then `CLIENT KILL TYPE
//! normal`), so no command of the store is answered by it as a replica.
//! A master demoted by hand (`REPLICAOF`) keeps its clients, and as a
//! replica lacks whatever its new master has not sent it yet; so behind
//! Sentinel a validation (and the read that a delete or an extension
//! starts with) that finds no key confirms with `ROLE`, on the same
//! connection, that the server is still the master, and is an error
//! otherwise. That costs a round trip on misses only.
//!
//! # Failover and replication
//!
//! Redis replicates asynchronously: a write is acknowledged by the master
//! before any replica has it. A failover promotes a replica, and whatever
//! the old master acknowledged but had not yet sent is lost: the writes of
//! the last moments before the failover, as many as the replica lagged
//! behind. For sessions that means:
//!
//! - a session **created** then is gone: its user is signed out at the
//!   next request (an error would have been better, but the store cannot
//!   know);
//! - an **extension** is lost: the session keeps its earlier expiry, and
//!   ends sooner than the user was told;
//! - a **delete** is lost: a session signed out (or deleted for its user)
//!   comes back until it expires. Applications that must not allow this
//!   should also record sign-outs elsewhere, or shorten sessions.
//!
//! Against the first, [`RedisStoreBuilder::wait_for_replicas`] makes
//! creation return only once the given number of replicas have the new
//! session (`WAIT`); if they do not acknowledge it in time, creation fails
//! and the session is deleted again. With as many replicas acknowledging
//! as the sentinels could promote, a session that was created survives a
//! failover (the test creates its sessions so, and checks that all of them
//! validate on the new master). `WAIT` does not make a write atomic or
//! transactional: a failover can still promote a replica that missed it
//! when fewer replicas acknowledge than could be promoted. Extensions and
//! deletes do not wait: an extension happens inside a validation, which
//! stays one round trip.
//!
//! # The client: redis-rs
//!
//! The store is built on `redis` (redis-rs), not `fred`. Both are
//! maintained, async, and handle Redis Cluster (`MOVED`/`ASK`, slot map
//! refreshes, reconnecting to nodes). What decided it:
//!
//! - **Scripts.** Every index change is a Lua script (on one server,
//!   with the session key's change in the same script); redis-rs' `Script`
//!   sends `EVALSHA` and falls back to `EVAL` when the server has
//!   not cached it (after a restart or a failover), which the failure
//!   tests exercise.
//! - **Reconnection you can bound.** `ConnectionManager` reconnects in the
//!   background with a configurable backoff, and every call is bounded by
//!   the store's own timeout, so a down server is an error within the
//!   timeout, never a hang; the cluster client is set up the same way.
//! - **Pipelining** is there on both: redis-rs multiplexes concurrent
//!   commands on one connection, and its pipelines are what the batched
//!   reads above send.
//! - redis-rs is the more widely used client, published by the Redis
//!   organisation; fred brings its own pool and more moving parts.
//!
//! The cost, measured (BENCHMARKS.md): one command at a time, fred's
//! multiplexed path is cheaper on the client. With batched reads narvik
//! reads at least as fast as tower-sessions' fred-based store on one server
//! and on a cluster.
//!
//! # Encoding
//!
//! Session data is JSON (`serde_json`): self-describing, so `D` can gain
//! fields (`#[serde(default)]`) without invalidating stored sessions;
//! readable with `redis-cli`; and readable from other languages (a
//! TypeScript Narvik service can share the sessions, reading the JSON after
//! the 16-byte expiry head; TypeScript Narvik itself has no Redis layout,
//! its storage is the application's callbacks). A value that does not decode (a missing or
//! malformed head, or JSON that is not a session of `D`) is
//! [`Error::Data`](narvik_core::Error::Data) naming the session id.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod connection;
mod direct;
// Not part of the API: the fuzz targets' entry points.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;
mod keys;
mod reads;
mod scripts;
mod sentinel;
mod store;

pub use keys::MAX_PREFIX_LEN;
pub use store::{
    DEFAULT_KEY_PREFIX, DEFAULT_READ_BATCH, DEFAULT_TIMEOUT, MAX_EXPIRY, RedisStore,
    RedisStoreBuilder,
};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
