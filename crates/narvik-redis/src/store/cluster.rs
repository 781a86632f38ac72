//! Writes in a Redis Cluster. A session's key and its user's index hash to
//! different slots, and no script may touch both; so every step here is
//! one command or one one-key script (atomic on its own), and the steps
//! of a change are ordered so that every live session is in its user's
//! index, with a score at least its expiry, at every instant, whatever
//! crashes or races (the crate docs go through each).

use std::slice;

use futures_util::future::try_join_all;
use narvik_core::{Error, SessionId};
use redis::{RedisResult, Value};

use super::value::UpdateArgs;
use super::{BATCH, Due, Entry, hex, owner_or_warn};
use crate::connection::Connection;
use crate::keys::Keys;
use crate::scripts::{INDEX_ADD, INDEX_MOVE, INDEX_REMOVE, PURGE_SESSION, UPDATE_SESSION};

/// Index first (a script on the user's index), then `SET NX PXAT` on the
/// session key; a refused `SET` takes back the index entry it added. A
/// crash between the two leaves an index entry without a session (skipped
/// when listing, trimmed when it expires), never a session without an
/// index entry. `false` if the key existed.
pub(super) async fn save(
    conn: &mut Connection,
    entry: &Entry,
    at: i64,
    value: Vec<u8>,
) -> RedisResult<bool> {
    let added: i64 = INDEX_ADD
        .key(&entry.index_key)
        .arg(&entry.member)
        .arg(at)
        .invoke_async(conn)
        .await?;
    let reply: Value = redis::cmd("SET")
        .arg(&entry.session_key)
        .arg(value)
        .arg("NX")
        .arg("PXAT")
        .arg(at)
        .query_async(conn)
        .await?;
    if matches!(reply, Value::Nil) {
        if added == 1 {
            unindex(conn, &entry.index_key, slice::from_ref(&entry.member)).await?;
        }
        return Ok(false);
    }
    Ok(true)
}

/// If the update moves the key's expiry (to `expected`, as far as the
/// value read before tells), raises the index entry's score to it first
/// (only if the entry is still there); then one script on the session key
/// applies every part of the update and moves the key's expiry, doing
/// nothing to a key that is gone: a session deleted meanwhile stays
/// deleted, and its index entry is not brought back.
///
/// For a rotation (`marker`), the entry's score is then lowered to the
/// key's new expiry (a minute after the rotation), so that the index does
/// not list the marker until the session's old expiry. Lowering is safe
/// only there: a marker never grants access again, whatever later writes
/// do to its key, so an entry that a racing extension leaves below its
/// key's expiry costs nothing (the invariant is about live sessions), and
/// a crash before the lowering leaves the score high, the safe way.
/// Returns as `UPDATE_SESSION`.
pub(super) async fn update(
    conn: &mut Connection,
    entry: &Entry,
    args: &UpdateArgs,
    expected: Option<i64>,
    marker: bool,
) -> RedisResult<(i64, i64)> {
    if let Some(at) = expected {
        move_score(conn, entry, at, "GT").await?;
    }
    let mut script = UPDATE_SESSION.key(&entry.session_key);
    args.push(&mut script);
    let (updated, at): (i64, i64) = script.invoke_async(conn).await?;
    if marker && updated == 1 && at > 0 {
        move_score(conn, entry, at, "LT").await?;
    }
    Ok((updated, at))
}

/// Raises (`GT`) or lowers (`LT`) `entry`'s score to `at`, if the entry is
/// there.
async fn move_score(conn: &mut Connection, entry: &Entry, at: i64, way: &str) -> RedisResult<()> {
    INDEX_MOVE
        .key(&entry.index_key)
        .arg(&entry.member)
        .arg(at)
        .arg(way)
        .invoke_async::<i64>(conn)
        .await
        .map(drop)
}

/// `GETDEL` the session (which also says whose it was), then remove it
/// from that user's index.
pub(super) async fn delete(
    conn: &mut Connection,
    keys: &Keys,
    id: &SessionId,
) -> Result<(), Error> {
    const CONTEXT: &str = "delete session";
    let value: Option<Vec<u8>> = redis::cmd("GETDEL")
        .arg(keys.session(id))
        .query_async(conn)
        .await
        .map_err(conn.error(CONTEXT))?;
    let Some(value) = value else {
        return Ok(());
    };
    if let Some(owner) = owner_or_warn(id, &value, "deleting") {
        unindex(conn, &keys.user(&owner), &[hex(id)])
            .await
            .map_err(conn.error(CONTEXT))?;
    }
    Ok(())
}

/// Deletes the sessions `ids` of the index `index_key`: `DEL` each key,
/// then remove from the index exactly the ids whose `DEL` deleted
/// something. An entry whose key is already missing may belong to a save
/// in flight (index entry written, key not yet): removing it could leave
/// that session unindexed, so it stays until its score passes.
pub(super) async fn delete_many(
    conn: &mut Connection,
    keys: &Keys,
    index_key: &str,
    ids: &[&SessionId],
) -> Result<(), Error> {
    const CONTEXT: &str = "delete sessions for user";
    let mut deleted = Vec::new();
    for batch in ids.chunks(BATCH) {
        let dels = batch.iter().map(|id| {
            let mut conn = conn.clone();
            async move {
                let n: u64 = redis::cmd("DEL")
                    .arg(keys.session(id))
                    .query_async(&mut conn)
                    .await
                    .map_err(conn.error(CONTEXT))?;
                Ok::<_, Error>((n == 1).then(|| hex(id)))
            }
        });
        deleted.extend(try_join_all(dels).await?.into_iter().flatten());
    }
    unindex(conn, index_key, &deleted)
        .await
        .map_err(conn.error(CONTEXT))
}

/// Deletes session `id` (key `key`) if it is due for the purge at `due`
/// (see [`Due`]), in one script that also returns the value; then removes
/// the id from the index the value names. `true` if this call deleted it.
pub(super) async fn purge(
    conn: &mut Connection,
    keys: &Keys,
    key: &str,
    id: &SessionId,
    due: Due,
) -> Result<bool, Error> {
    const CONTEXT: &str = "purge expired sessions";
    let value: Option<Vec<u8>> = PURGE_SESSION
        .key(key)
        .arg(due.now)
        .arg(due.marker_cutoff)
        .invoke_async(conn)
        .await
        .map_err(conn.error(CONTEXT))?;
    let Some(value) = value else {
        return Ok(false);
    };
    if let Some(owner) = owner_or_warn(id, &value, "purging") {
        unindex(conn, &keys.user(&owner), &[hex(id)])
            .await
            .map_err(conn.error(CONTEXT))?;
    }
    Ok(true)
}

/// Removes `members` from the index `index_key` (and trims it), in
/// batches.
async fn unindex(conn: &mut Connection, index_key: &str, members: &[String]) -> RedisResult<()> {
    for batch in members.chunks(BATCH) {
        INDEX_REMOVE
            .key(index_key)
            .arg(batch)
            .invoke_async::<i64>(conn)
            .await?;
    }
    Ok(())
}
