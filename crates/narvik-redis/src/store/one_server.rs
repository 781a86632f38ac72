//! Writes on one Redis server: each change the store makes is one script
//! over both keys it touches, the session key and its user's index, so it
//! is atomic: no client ever sees it half done, and no crash leaves it
//! half done.
//!
//! A script must be given its keys, and the index key holds the SHA-256
//! of the owner's id, which Lua cannot compute and only the session's
//! value names. So a change that starts from a session id reads the
//! value first (a `GET`), then runs its script, which checks again what
//! it depends on (that the key exists, that its expiry is due). The owner
//! read first cannot have changed: a key is created only by `SET NX`, its
//! id is the hash of a random token, never reused, and an update rewrites
//! the expiry, the times and the data but never the owner (nor anything
//! else a save fixed: an update with new data re-encodes those fields
//! from that first read).

use futures_util::future::try_join_all;
use narvik_core::{Error, SessionId};
use redis::RedisResult;

use super::value::UpdateArgs;
use super::{BATCH, Due, Entry, hex, owner_or_warn};
use crate::connection::{Connection, Waiting};
use crate::keys::Keys;
use crate::scripts::{
    DELETE_INDEXED, DELETE_MANY_INDEXED, PURGE_INDEXED, PURGE_PEEK, PURGE_SESSION, SAVE_INDEXED,
    UPDATE_INDEXED,
};

/// `SET NX PXAT` and the index entry, in one script. `false` if the key
/// existed.
pub(super) async fn save(
    conn: &mut Connection,
    entry: &Entry,
    at: i64,
    value: Vec<u8>,
) -> RedisResult<bool> {
    let saved: i64 = SAVE_INDEXED
        .key(&entry.session_key)
        .key(&entry.index_key)
        .arg(value)
        .arg(at)
        .arg(&entry.member)
        .invoke_async(conn)
        .await?;
    Ok(saved == 1)
}

/// What [`save_replicated`] did.
pub(super) enum Replicated {
    /// Saved, and acknowledged by as many replicas as asked.
    Saved,
    /// The key existed: nothing was written.
    Duplicate,
    /// Saved on the master, but only this many replicas acknowledged it
    /// in time.
    Short(i64),
}

/// [`save`], then `WAIT`, in one pipeline on the waiting connection: one
/// pipeline goes over one connection, and `WAIT` counts the writes made
/// on the connection it is sent on. The script is loaded in the same
/// pipeline (`SCRIPT LOAD` is idempotent), so that no `NOSCRIPT` retry
/// can split the two.
pub(super) async fn save_replicated(
    waiting: &Waiting,
    entry: &Entry,
    at: i64,
    value: Vec<u8>,
) -> RedisResult<Replicated> {
    let mut invocation = SAVE_INDEXED.prepare_invoke();
    invocation
        .key(&entry.session_key)
        .key(&entry.index_key)
        .arg(value)
        .arg(at)
        .arg(&entry.member);
    let wait_ms = u64::try_from(waiting.timeout.as_millis()).unwrap_or(u64::MAX);
    let (saved, acked): (i64, i64) = redis::pipe()
        .load_script(&SAVE_INDEXED)
        .ignore()
        .invoke_script(&invocation)
        .cmd("WAIT")
        .arg(waiting.replicas)
        .arg(wait_ms)
        .query_async(&mut waiting.conn.clone())
        .await?;
    Ok(if saved != 1 {
        Replicated::Duplicate
    } else if acked < i64::from(waiting.replicas) {
        Replicated::Short(acked)
    } else {
        Replicated::Saved
    })
}

/// Every part of the update, the key's expiry and the index score, in one
/// script that does nothing to a key that is gone. Returns as
/// `UPDATE_SESSION`: `(1, the key's new expiry or 0)`, `(0, 0)` if the key
/// is gone, `(-1, 0)` if its value is not this store's.
pub(super) async fn update(
    conn: &mut Connection,
    entry: &Entry,
    args: &UpdateArgs,
) -> RedisResult<(i64, i64)> {
    let mut script = UPDATE_INDEXED.key(&entry.session_key);
    script.key(&entry.index_key);
    args.push(&mut script);
    script.arg(&entry.member).invoke_async(conn).await
}

/// Reads whose session `id` is, then deletes the key and its index entry
/// in one script.
pub(super) async fn delete(
    conn: &mut Connection,
    keys: &Keys,
    id: &SessionId,
) -> Result<(), Error> {
    const CONTEXT: &str = "delete session";
    let key = keys.session(id);
    let value = conn.get(key.clone()).await.map_err(conn.error(CONTEXT))?;
    let Some(value) = value else {
        return Ok(());
    };
    let deleted = match owner_or_warn(id, &value, "deleting") {
        Some(owner) => {
            DELETE_INDEXED
                .key(&key)
                .key(keys.user(&owner))
                .arg(hex(id))
                .invoke_async::<i64>(conn)
                .await
        }
        // No index can be named: the key goes alone.
        None => redis::cmd("DEL").arg(&key).query_async::<i64>(conn).await,
    };
    deleted.map(drop).map_err(conn.error(CONTEXT))
}

/// Deletes the sessions `ids` of the index `index_key` and the entries of
/// the keys it deleted, one script per batch (`DELETE_MANY_INDEXED` says
/// why an entry whose key is already gone stays).
pub(super) async fn delete_many(
    conn: &mut Connection,
    keys: &Keys,
    index_key: &str,
    ids: &[&SessionId],
) -> Result<(), Error> {
    const CONTEXT: &str = "delete sessions for user";
    let scripts = ids.chunks(BATCH).map(|batch| {
        let mut conn = conn.clone();
        let mut script = DELETE_MANY_INDEXED.prepare_invoke();
        script.key(index_key);
        for id in batch {
            script.key(keys.session(id)).arg(hex(id));
        }
        async move {
            script
                .invoke_async::<i64>(&mut conn)
                .await
                .map_err(conn.error(CONTEXT))
        }
    });
    try_join_all(scripts).await.map(drop)
}

/// If session `id` (key `key`) is due for the purge at `due` (see
/// [`Due`]): reads whose it is, then deletes the key and its index entry in
/// one script, if it is still due. `true` if this call deleted it.
pub(super) async fn purge(
    conn: &mut Connection,
    keys: &Keys,
    key: &str,
    id: &SessionId,
    due: Due,
) -> Result<bool, Error> {
    const CONTEXT: &str = "purge expired sessions";
    let value: Option<Vec<u8>> = PURGE_PEEK
        .key(key)
        .arg(due.now)
        .arg(due.marker_cutoff)
        .invoke_async(conn)
        .await
        .map_err(conn.error(CONTEXT))?;
    let Some(value) = value else {
        return Ok(false);
    };
    let deleted = match owner_or_warn(id, &value, "purging") {
        Some(owner) => PURGE_INDEXED
            .key(key)
            .key(keys.user(&owner))
            .arg(due.now)
            .arg(due.marker_cutoff)
            .arg(hex(id))
            .invoke_async::<i64>(conn)
            .await
            .map(|n| n == 1),
        // No index can be named: the key goes alone, if still due.
        None => PURGE_SESSION
            .key(key)
            .arg(due.now)
            .arg(due.marker_cutoff)
            .invoke_async::<Option<Vec<u8>>>(conn)
            .await
            .map(|value| value.is_some()),
    };
    deleted.map_err(conn.error(CONTEXT))
}
