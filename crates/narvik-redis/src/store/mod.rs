//! [`RedisStore`]: the store and the three store traits. Reads are the
//! same on one server and in a cluster; writes are atomic scripts on one
//! server ([`one_server`]) and ordered one-key steps in a cluster
//! ([`cluster`]).

mod builder;
mod cluster;
mod one_server;
#[cfg(test)]
mod tests;
// The crate's fuzz entry points reach the value codec.
pub(crate) mod value;

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use futures_util::future::try_join_all;
use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore, rotation_marker_cutoff};
use narvik_core::{Error, SESSION_ID_LEN, Session, SessionId, SessionUpdate, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use builder::{DEFAULT_KEY_PREFIX, DEFAULT_READ_BATCH, DEFAULT_TIMEOUT, RedisStoreBuilder};
pub use value::MAX_EXPIRY;

use crate::connection::{Connection, ScanTarget};
use crate::keys::Keys;
use crate::scripts::INDEX_REMOVE;
use one_server::Replicated;
use value::{
    BAD_HEAD, UpdateArgs, decode_fixed, decode_owner, decode_session, encode_session, key_expiry,
};

/// Sessions and user indexes are changed this many keys at a time, so that
/// a user with very many sessions neither floods the connection nor
/// exceeds Lua's argument limit.
const BATCH: usize = 512;

/// A session store on Redis (one server) or Redis Cluster.
///
/// `D` is the sessions' data, stored as JSON. Cloning is cheap and clones
/// share connections. See the [crate docs](crate) for the key layout and
/// the guarantees.
pub struct RedisStore<D = ()> {
    conn: Connection,
    keys: Keys,
    timeout: Duration,
    // fn() -> D: the store holds no D, so it is Send + Sync whatever D is.
    _data: PhantomData<fn() -> D>,
}

impl<D> Clone for RedisStore<D> {
    fn clone(&self) -> Self {
        Self {
            conn: self.conn.clone(),
            keys: self.keys.clone(),
            timeout: self.timeout,
            _data: PhantomData,
        }
    }
}

impl<D> fmt::Debug for RedisStore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("key_prefix", &self.keys.prefix())
            .field("cluster", &self.conn.is_cluster())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn hex(id: &SessionId) -> String {
    let mut buf = [0u8; SESSION_ID_LEN];
    id.encode_hex(&mut buf).to_owned()
}

/// The owner a session's value names, or `None` if it does not decode
/// (logged): the session goes all the same, and its index entry, if any,
/// when its score passes. `action` is "deleting" or "purging".
fn owner_or_warn(id: &SessionId, value: &[u8], action: &str) -> Option<String> {
    decode_owner(id, value)
        .inspect_err(|e| {
            tracing::warn!(session_id = %id, error = %e,
                "{action} a session whose value does not decode");
        })
        .ok()
}

/// When a purge deletes a session (`purge_due!` in the scripts): its
/// expiry is at or before `now` (ms), and it is not a rotation marker
/// whose `rotated_at` is after `marker_cutoff` (ms; see
/// [`rotation_marker_cutoff`]).
#[derive(Debug, Clone, Copy)]
struct Due {
    now: i64,
    marker_cutoff: i64,
}

impl Due {
    fn at(now: Timestamp) -> Self {
        Self {
            now: now.as_unix_millis(),
            marker_cutoff: rotation_marker_cutoff(now).as_unix_millis(),
        }
    }
}

/// What a write to one session touches: its key, its user's index, and
/// its member in that index.
struct Entry {
    session_key: String,
    index_key: String,
    member: String,
}

impl Entry {
    fn new(keys: &Keys, id: &SessionId, user_id: &str) -> Self {
        Self {
            session_key: keys.session(id),
            index_key: keys.user(user_id),
            member: hex(id),
        }
    }
}

impl RedisStore<()> {
    /// A builder, to set the key prefix or the timeout before connecting.
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::default()
    }
}

impl<D> RedisStore<D> {
    /// Connects to one server with the default prefix and timeout; see
    /// [`RedisStoreBuilder::connect`].
    ///
    /// # Errors
    ///
    /// As [`RedisStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self, Error> {
        RedisStoreBuilder::default().connect(url).await
    }

    /// Connects to the master that Redis Sentinel names for `service`,
    /// with the default prefix and timeout; see
    /// [`RedisStoreBuilder::connect_sentinel`].
    ///
    /// # Errors
    ///
    /// As [`RedisStoreBuilder::connect_sentinel`].
    pub async fn connect_sentinel<I>(sentinels: I, service: &str) -> Result<Self, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        RedisStoreBuilder::default()
            .connect_sentinel(sentinels, service)
            .await
    }

    /// Connects to a cluster with the default prefix and timeout; see
    /// [`RedisStoreBuilder::connect_cluster`].
    ///
    /// # Errors
    ///
    /// As [`RedisStoreBuilder::connect_cluster`].
    pub async fn connect_cluster<I>(nodes: I) -> Result<Self, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        RedisStoreBuilder::default().connect_cluster(nodes).await
    }

    /// In a cluster, how many validation reads fell back from the direct
    /// path to the cluster client, and how many times the direct path's
    /// slot map was read. For tests; not a stable API.
    #[doc(hidden)]
    #[must_use]
    pub fn direct_read_counts(&self) -> Option<(u64, u64)> {
        self.conn.direct_counts()
    }

    /// How many batches of validation reads the store has sent, and how
    /// many reads they carried ([`RedisStoreBuilder::read_batch_size`];
    /// both 0 with batching off). For tests; not a stable API.
    #[doc(hidden)]
    #[must_use]
    pub fn read_batch_counts(&self) -> (u64, u64) {
        self.conn.read_batch_counts()
    }

    /// The prefix of every key this store writes.
    #[must_use]
    pub fn key_prefix(&self) -> &str {
        self.keys.prefix()
    }

    /// The Redis key that holds session `id`: `<prefix>:s:<id>`.
    #[must_use]
    pub fn session_key(&self, id: &SessionId) -> String {
        self.keys.session(id)
    }

    /// The Redis key of `user_id`'s index: `<prefix>:u:<hex SHA-256 of
    /// the user id>`.
    #[must_use]
    pub fn user_index_key(&self, user_id: &str) -> String {
        self.keys.user(user_id)
    }

    /// Deletes every key under this store's prefix, sessions and indexes
    /// alike (everyone is signed out), and returns how many keys it
    /// deleted. Meant for tests and for starting over, not for traffic: it
    /// scans the keyspace of every master.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if Redis fails or times out; some keys may then be
    /// left.
    pub async fn clear(&self) -> Result<u64, Error> {
        const CONTEXT: &str = "clear store";
        let mut deleted = 0;
        let mut conn = self.conn.clone();
        let pattern = self.keys.all_pattern();
        for target in conn.scan_targets().await.map_err(conn.error(CONTEXT))? {
            let mut cursor = 0;
            loop {
                let (next, keys) = conn
                    .scan_step(&target, cursor, &pattern, None)
                    .await
                    .map_err(conn.error(CONTEXT))?;
                let dels = keys.iter().map(|key| {
                    let mut conn = self.conn.clone();
                    async move {
                        redis::cmd("DEL")
                            .arg(key)
                            .query_async::<u64>(&mut conn)
                            .await
                            .map_err(conn.error(CONTEXT))
                    }
                });
                deleted += try_join_all(dels).await?.into_iter().sum::<u64>();
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(deleted)
    }

    /// The ids in `user_key`'s index. Members that are not session ids
    /// (not written by this store) are skipped.
    async fn index_members(
        &self,
        conn: &mut Connection,
        user_key: &str,
        context: &'static str,
    ) -> Result<Vec<SessionId>, Error> {
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(user_key)
            .arg(0)
            .arg(-1)
            .query_async(conn)
            .await
            .map_err(conn.error(context))?;
        Ok(members
            .iter()
            .filter_map(|m| SessionId::parse(m).ok())
            .collect())
    }

    /// Deletes `user_id`'s sessions except `keep`: reads the index, then
    /// deletes what it lists.
    async fn delete_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&SessionId>,
    ) -> Result<(), Error> {
        const CONTEXT: &str = "delete sessions for user";
        let mut conn = self.conn.clone();
        let index_key = self.keys.user(user_id);
        let ids = self.index_members(&mut conn, &index_key, CONTEXT).await?;
        let targets: Vec<&SessionId> = ids.iter().filter(|id| Some(*id) != keep).collect();
        if self.conn.is_cluster() {
            cluster::delete_many(&mut conn, &self.keys, &index_key, &targets).await
        } else {
            one_server::delete_many(&mut conn, &self.keys, &index_key, &targets).await
        }
    }

    /// Deletes the sessions among `keys` (from a `SCAN`) that are `due`,
    /// unindexes them, and returns how many it deleted.
    async fn purge_batch(&self, keys: &[String], due: Due) -> Result<u64, Error> {
        let cluster = self.conn.is_cluster();
        let work = keys.iter().filter_map(|key| {
            // Only keys that parse as ours: a stranger's key that happens to
            // match the pattern is left alone.
            let id = self.keys.id_of_session_key(key)?;
            let mut conn = self.conn.clone();
            Some(async move {
                let deleted = if cluster {
                    cluster::purge(&mut conn, &self.keys, key, &id, due).await
                } else {
                    one_server::purge(&mut conn, &self.keys, key, &id, due).await
                };
                deleted.map(u64::from)
            })
        });
        Ok(try_join_all(work).await?.into_iter().sum())
    }

    /// Trims every index under the prefix of entries that expired by the
    /// server's clock: stale entries no key expiry removes.
    async fn trim_indexes(
        &self,
        conn: &mut Connection,
        targets: &[ScanTarget],
    ) -> Result<(), Error> {
        const CONTEXT: &str = "trim user indexes";
        let pattern = self.keys.user_pattern();
        for target in targets {
            let mut cursor = 0;
            loop {
                let (next, keys) = conn
                    .scan_step(target, cursor, &pattern, Some("zset"))
                    .await
                    .map_err(conn.error(CONTEXT))?;
                let trims = keys.iter().map(|key| {
                    let mut conn = self.conn.clone();
                    async move {
                        INDEX_REMOVE
                            .key(key)
                            .invoke_async::<i64>(&mut conn)
                            .await
                            .map_err(conn.error(CONTEXT))
                    }
                });
                try_join_all(trims).await?;
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(())
    }
}

impl<D> RedisStore<D>
where
    D: DeserializeOwned,
{
    /// One `GET`: the value carries the expiry in its head, equal to the
    /// key's own expiry (both are written together, at save and by each
    /// extension's script), so no second command is needed.
    async fn fetch(&self, id: &SessionId) -> Result<Option<Session<D>>, Error> {
        const CONTEXT: &str = "fetch session";
        let value = self
            .conn
            .get(self.keys.session(id))
            .await
            .map_err(self.conn.error(CONTEXT))?;
        let Some(value) = value else {
            return Ok(None);
        };
        decode_session(id, &value).map(Some)
    }
}

impl<D> SessionStore for RedisStore<D>
where
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Data = D;

    /// One server: one script sets the key (`SET NX PXAT`) and adds its
    /// index entry. Cluster: the index entry, then the key.
    async fn save_session(&self, session: &Session<D>) -> Result<(), Error> {
        const CONTEXT: &str = "save session";
        let entry = Entry::new(&self.keys, &session.id, &session.user_id);
        // The same `at` in the head and in `PXAT`: the two start equal.
        let (at, value) = encode_session(session)?;
        let mut conn = self.conn.clone();
        if let Some(waiting) = self.conn.waiting() {
            return match one_server::save_replicated(waiting, &entry, at, value)
                .await
                .map_err(waiting.conn.error(CONTEXT))?
            {
                Replicated::Saved => Ok(()),
                Replicated::Duplicate => Err(Error::DuplicateSessionId(session.id)),
                Replicated::Short(acked) => {
                    // Nobody has its token; gone, it is not listed either.
                    // If this fails too, it expires in its time.
                    let _ = one_server::delete(&mut conn, &self.keys, &session.id).await;
                    Err(Error::store(
                        CONTEXT,
                        format!(
                            "{acked} of {} replicas acknowledged the new session within {:?}; \
                             it was not created",
                            waiting.replicas, waiting.timeout
                        ),
                    ))
                }
            };
        }
        let saved = if self.conn.is_cluster() {
            cluster::save(&mut conn, &entry, at, value).await
        } else {
            one_server::save(&mut conn, &entry, at, value).await
        }
        .map_err(conn.error(CONTEXT))?;
        if saved {
            Ok(())
        } else {
            Err(Error::DuplicateSessionId(session.id))
        }
    }

    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session<D>>, Error> {
        self.fetch(id).await
    }

    /// Reads the owner (to name the index), then applies every field of
    /// the update to the value, the key's expiry and the index score: one
    /// script on one server; in a cluster, the index raised first, then one
    /// script on the key (and for a rotation marker, the index lowered after
    /// it). Nothing is done to a key that is gone: a session deleted
    /// meanwhile stays deleted, and its index entry is not brought back.
    /// Times are written over their fixed-width slots; only new data
    /// rewrites the data.
    async fn update_session(
        &self,
        id: &SessionId,
        update: SessionUpdate<D>,
    ) -> Result<bool, Error> {
        const CONTEXT: &str = "update session";
        let key = self.keys.session(id);
        let mut conn = self.conn.clone();
        let value = conn.get(key.clone()).await.map_err(conn.error(CONTEXT))?;
        let Some(value) = value else {
            return Ok(false);
        };
        if update.expires_at.is_none() && update.is_expiry_only() {
            return Ok(true);
        }
        let fixed = decode_fixed(id, &value)?;
        let args = UpdateArgs::new(id, &fixed, &update)?;
        let entry = Entry {
            index_key: self.keys.user(&fixed.user_id),
            session_key: key,
            member: hex(id),
        };
        let (updated, _) = if self.conn.is_cluster() {
            // The key's expiry after the update, as far as this value
            // tells: the index is raised to it before the key moves.
            let expected = match (update.expires_at, update.rotated_at) {
                (None, None) => None,
                (expires_at, rotated_at) => {
                    let before: Session<serde::de::IgnoredAny> = decode_session(id, &value)?;
                    Some(key_expiry(
                        expires_at.unwrap_or(before.expires_at),
                        rotated_at.or(before.rotated_at),
                    ))
                }
            };
            cluster::update(
                &mut conn,
                &entry,
                &args,
                expected,
                update.rotated_at.is_some(),
            )
            .await
        } else {
            one_server::update(&mut conn, &entry, &args).await
        }
        .map_err(conn.error(CONTEXT))?;
        if updated < 0 {
            // The value lost its head after the `GET` above decoded it:
            // something other than this store rewrote the key.
            return Err(Error::data(*id, BAD_HEAD));
        }
        Ok(updated > 0)
    }

    /// Reads the owner (to name the index), then deletes the key and its
    /// index entry: one script on one server; `GETDEL`, then the entry, in
    /// a cluster.
    async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        if self.conn.is_cluster() {
            cluster::delete(&mut conn, &self.keys, id).await
        } else {
            one_server::delete(&mut conn, &self.keys, id).await
        }
    }
}

impl<D> UserSessionStore for RedisStore<D>
where
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Reads the index, then fetches each session (concurrently). Entries
    /// whose key is gone are skipped, and so is a session whose stored
    /// owner is not `user_id`.
    async fn fetch_sessions_for_user(&self, user_id: &str) -> Result<Vec<Session<D>>, Error> {
        const CONTEXT: &str = "fetch sessions for user";
        let mut conn = self.conn.clone();
        let ids = self
            .index_members(&mut conn, &self.keys.user(user_id), CONTEXT)
            .await?;
        let mut sessions = Vec::with_capacity(ids.len());
        for batch in ids.chunks(BATCH) {
            let fetches = batch.iter().map(|id| self.fetch(id));
            sessions.extend(
                try_join_all(fetches)
                    .await?
                    .into_iter()
                    .flatten()
                    .filter(|s| s.user_id == user_id),
            );
        }
        Ok(sessions)
    }

    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<(), Error> {
        self.delete_user_sessions(user_id, None).await
    }

    async fn delete_other_sessions_for_user(
        &self,
        user_id: &str,
        keep: &SessionId,
    ) -> Result<(), Error> {
        self.delete_user_sessions(user_id, Some(keep)).await
    }
}

impl<D> PurgeableStore for RedisStore<D>
where
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Scans every master for session keys and deletes those whose expiry
    /// is `<= now` (keys Redis has not expired yet, e.g. when `now` is
    /// ahead of the server's clock) with their index entries, except
    /// rotation markers rotated after [`rotation_marker_cutoff`]`(now)`, then
    /// trims every user index of entries that expired by the server's
    /// clock. Returns the number of sessions it deleted.
    async fn delete_all_expired_sessions(&self, now: Timestamp) -> Result<u64, Error> {
        const CONTEXT: &str = "purge expired sessions";
        let due = Due::at(now);
        let mut conn = self.conn.clone();
        let targets = conn.scan_targets().await.map_err(conn.error(CONTEXT))?;
        let pattern = self.keys.session_pattern();
        let mut deleted = 0;
        for target in &targets {
            let mut cursor = 0;
            loop {
                let (next, keys) = conn
                    .scan_step(target, cursor, &pattern, Some("string"))
                    .await
                    .map_err(conn.error(CONTEXT))?;
                deleted += self.purge_batch(&keys, due).await?;
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        self.trim_indexes(&mut conn, &targets).await?;
        Ok(deleted)
    }
}
