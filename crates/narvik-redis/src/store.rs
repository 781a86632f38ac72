//! [`RedisStore`]: the store, its builder, and the three store traits.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use futures_util::future::try_join_all;
use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore};
use narvik_core::{Error, SESSION_ID_LEN, Session, SessionId, Timestamp};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::{RedisError, Value};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::connection::{Connection, ScanTarget};
use crate::keys::{Keys, MAX_PREFIX_LEN};
use crate::scripts::{INDEX_ADD, INDEX_RAISE, INDEX_REMOVE, PURGE_SESSION};

/// The key prefix used unless [`RedisStoreBuilder::key_prefix`] sets one.
pub const DEFAULT_KEY_PREFIX: &str = "narvik";

/// How long one Redis round trip may take unless
/// [`RedisStoreBuilder::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// The latest expiry written to Redis: 9999-12-31T23:59:59.999Z. Later
/// ones are stored as this (Redis refuses expiries near `i64::MAX`).
pub const MAX_EXPIRY: Timestamp = Timestamp::from_unix_millis(253_402_300_799_999);

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

/// Builds a [`RedisStore`]: key prefix, timeout, then the server(s).
///
/// ```
/// use std::time::Duration;
///
/// let builder = narvik_redis::RedisStore::builder()
///     .key_prefix("my-app")
///     .timeout(Duration::from_millis(250));
/// # let _ = builder;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisStoreBuilder {
    prefix: String,
    timeout: Duration,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl RedisStoreBuilder {
    /// The prefix of every key the store writes ([`DEFAULT_KEY_PREFIX`]
    /// by default): 1 to 64 characters of `A-Z a-z 0-9 . _ -`. Give each
    /// application (and each test run) its own.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one Redis round trip may take before the call fails with
    /// [`Error::Store`] ([`DEFAULT_TIMEOUT`] by default). Also bounds
    /// connecting, and the wait for a reconnection.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects to one Redis server (7.0 or later), e.g.
    /// `redis://127.0.0.1:6379`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the key prefix is invalid, the URL does not
    /// parse, or the server does not answer a `PING` within the timeout.
    pub async fn connect<D>(self, url: &str) -> Result<RedisStore<D>, Error> {
        let keys = self.keys()?;
        let client = redis::Client::open(url).map_err(|e| Error::store("parse redis url", e))?;
        let addr = client.get_connection_info().addr().to_string();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            // Reconnect quickly: while Redis is down every call fails within
            // the timeout anyway, and when it is back the next attempt
            // should not be seconds away. A failed round of attempts is
            // restarted by the next call.
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(self.timeout)
            .set_number_of_retries(4);
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| Error::store(format!("connect to redis at {addr}"), e))?;
        let mut conn = Connection::single(manager, self.timeout);
        redis::cmd("PING")
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| Error::store(format!("connect to redis at {addr}"), e))?;
        Ok(self.store(conn, keys))
    }

    /// Connects to a Redis Cluster (7.0 or later) through any of its
    /// nodes, e.g. `["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the key prefix is invalid, a URL does not parse,
    /// or the cluster's slot map cannot be read within the timeout.
    pub async fn connect_cluster<D, I>(self, nodes: I) -> Result<RedisStore<D>, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let keys = self.keys()?;
        let nodes: Vec<String> = nodes.into_iter().map(|n| n.as_ref().to_owned()).collect();
        let context = || format!("connect to redis cluster at {}", nodes.join(", "));
        let timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        let client = ClusterClient::builder(nodes.clone())
            .connection_timeout(self.timeout)
            .response_timeout(self.timeout)
            // Few, quick retries: the store's timeout is the real bound.
            .retries(3)
            .min_retry_wait(10)
            .max_retry_wait(timeout_ms)
            .build()
            .map_err(|e| Error::store(context(), e))?;
        let connection = tokio::time::timeout(self.timeout, client.get_async_connection())
            .await
            .map_err(|_| Error::store(context(), timed_out(self.timeout)))?
            .map_err(|e| Error::store(context(), e))?;
        Ok(self.store(Connection::cluster(connection, self.timeout), keys))
    }

    fn keys(&self) -> Result<Keys, Error> {
        Keys::new(&self.prefix).ok_or_else(|| {
            Error::store(
                "check key prefix",
                format!(
                    "a key prefix is 1 to {MAX_PREFIX_LEN} characters of A-Z a-z 0-9 . _ - \
                     (got {:?})",
                    self.prefix
                ),
            )
        })
    }

    fn store<D>(&self, conn: Connection, keys: Keys) -> RedisStore<D> {
        RedisStore {
            conn,
            keys,
            timeout: self.timeout,
            _data: PhantomData,
        }
    }
}

fn timed_out(after: Duration) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no answer from redis within {after:?}"),
    )
}

/// What a session key holds: everything but the id (the key) and the
/// expiry (the key's own expiry, read back with `PEXPIRETIME`). Keeping the
/// expiry out of the value makes an extension a single `PEXPIREAT`, which
/// cannot re-create a deleted key.
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

fn store_error(context: &'static str) -> impl Fn(RedisError) -> Error {
    move |e| Error::store(context, e)
}

fn hex(id: &SessionId) -> String {
    let mut buf = [0u8; SESSION_ID_LEN];
    id.encode_hex(&mut buf).to_owned()
}

/// The expiry as Redis takes it: ms since the epoch, at least 1 (an expiry
/// in the past deletes the key at once, as an expired session should be)
/// and at most [`MAX_EXPIRY`].
fn expiry_millis(at: Timestamp) -> i64 {
    at.as_unix_millis().clamp(1, MAX_EXPIRY.as_unix_millis())
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
        for target in conn.scan_targets().await.map_err(store_error(CONTEXT))? {
            let mut cursor = 0;
            loop {
                let (next, keys) = conn
                    .scan_step(&target, cursor, &pattern, None)
                    .await
                    .map_err(store_error(CONTEXT))?;
                let dels = keys.iter().map(|key| {
                    let mut conn = self.conn.clone();
                    async move {
                        redis::cmd("DEL")
                            .arg(key)
                            .query_async::<u64>(&mut conn)
                            .await
                            .map_err(store_error(CONTEXT))
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
            .map_err(store_error(context))?;
        Ok(members
            .iter()
            .filter_map(|m| SessionId::parse(m).ok())
            .collect())
    }

    /// Removes `ids` from `user_key`'s index (and trims it), in batches.
    async fn unindex(
        &self,
        conn: &mut Connection,
        user_key: &str,
        ids: &[String],
        context: &'static str,
    ) -> Result<(), Error> {
        for batch in ids.chunks(BATCH) {
            INDEX_REMOVE
                .key(user_key)
                .arg(batch)
                .invoke_async::<i64>(conn)
                .await
                .map_err(store_error(context))?;
        }
        Ok(())
    }

    /// Deletes `user_id`'s sessions except `keep`.
    ///
    /// Index entries go only for keys this call actually deleted (`DEL`
    /// answered 1). An entry whose key is missing may belong to a save in
    /// flight (index entry written, key not yet): removing it could leave
    /// that session unindexed, so it stays until its score passes.
    async fn delete_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&SessionId>,
    ) -> Result<(), Error> {
        const CONTEXT: &str = "delete sessions for user";
        let mut conn = self.conn.clone();
        let user_key = self.keys.user(user_id);
        let ids = self.index_members(&mut conn, &user_key, CONTEXT).await?;
        let targets: Vec<&SessionId> = ids.iter().filter(|id| Some(*id) != keep).collect();
        let mut deleted = Vec::new();
        for batch in targets.chunks(BATCH) {
            let dels = batch.iter().map(|id| {
                let mut conn = self.conn.clone();
                async move {
                    let n: u64 = redis::cmd("DEL")
                        .arg(self.keys.session(id))
                        .query_async(&mut conn)
                        .await
                        .map_err(store_error(CONTEXT))?;
                    Ok::<_, Error>((n == 1).then(|| hex(id)))
                }
            });
            deleted.extend(try_join_all(dels).await?.into_iter().flatten());
        }
        self.unindex(&mut conn, &user_key, &deleted, CONTEXT).await
    }

    /// Deletes the sessions among `keys` (from a `SCAN`) that expire at or
    /// before `now`, unindexes them, and returns how many it deleted.
    async fn purge_batch(&self, keys: &[String], now: i64) -> Result<u64, Error> {
        const CONTEXT: &str = "purge expired sessions";
        let work = keys.iter().filter_map(|key| {
            // Only keys that parse as ours: a stranger's key that happens to
            // match the pattern is left alone.
            let id = self.keys.id_of_session_key(key)?;
            let mut conn = self.conn.clone();
            Some(async move {
                let value: Option<Vec<u8>> = PURGE_SESSION
                    .key(key)
                    .arg(now)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(store_error(CONTEXT))?;
                let Some(value) = value else {
                    return Ok::<u64, Error>(0);
                };
                match serde_json::from_slice::<Owner>(&value) {
                    Ok(owner) => {
                        let user_key = self.keys.user(&owner.user_id);
                        self.unindex(&mut conn, &user_key, &[hex(&id)], CONTEXT)
                            .await?;
                    }
                    // Deleted all the same; its entry, if any, goes when
                    // its score passes.
                    Err(e) => tracing::warn!(session_id = %id, error = %e,
                        "purged a session whose value does not decode"),
                }
                Ok(1)
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
                    .map_err(store_error(CONTEXT))?;
                let trims = keys.iter().map(|key| {
                    let mut conn = self.conn.clone();
                    async move {
                        INDEX_REMOVE
                            .key(key)
                            .invoke_async::<i64>(&mut conn)
                            .await
                            .map_err(store_error(CONTEXT))
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
    /// `GET` and `PEXPIRETIME` of one key, pipelined: one round trip.
    ///
    /// Not atomic, and need not be: a value never changes after the save,
    /// so a read racing an extension sees the one value with the old or the
    /// new expiry, and one racing a delete sees `-2` (gone) or nothing.
    async fn fetch(
        &self,
        conn: &mut Connection,
        id: &SessionId,
    ) -> Result<Option<Session<D>>, Error> {
        const CONTEXT: &str = "fetch session";
        let key = self.keys.session(id);
        let (value, expires_at): (Option<Vec<u8>>, i64) = redis::pipe()
            .cmd("GET")
            .arg(&key)
            .cmd("PEXPIRETIME")
            .arg(&key)
            .query_async(conn)
            .await
            .map_err(store_error(CONTEXT))?;
        let Some(value) = value else {
            return Ok(None);
        };
        let expires_at = match expires_at {
            // Deleted between the GET and the PEXPIRETIME.
            -2 => return Ok(None),
            // Not a key this store wrote: every session key has an expiry.
            at if at < 0 => {
                return Err(Error::store(
                    CONTEXT,
                    format!("session key {key} has no expiry; it was not written by narvik-redis"),
                ));
            }
            at => Timestamp::from_unix_millis(at),
        };
        let stored: Stored<D> = serde_json::from_slice(&value).map_err(|e| Error::data(*id, e))?;
        Ok(Some(Session {
            id: *id,
            user_id: stored.user_id,
            created_at: stored.created_at,
            expires_at,
            data: stored.data,
        }))
    }
}

impl<D> SessionStore for RedisStore<D>
where
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Data = D;

    /// Index first (a script on the user's index), then `SET NX PXAT` on
    /// the session key; a refused `SET` takes back the index entry it
    /// added. A crash between the two leaves an index entry without a
    /// session (skipped when listing, trimmed when it expires), never a
    /// session without an index entry.
    async fn save_session(&self, session: &Session<D>) -> Result<(), Error> {
        const CONTEXT: &str = "save session";
        let value = serde_json::to_vec(&StoredRef {
            user_id: &session.user_id,
            created_at: session.created_at,
            data: &session.data,
        })
        .map_err(|e| Error::data(session.id, e))?;
        let id = hex(&session.id);
        let user_key = self.keys.user(&session.user_id);
        let at = expiry_millis(session.expires_at);
        let mut conn = self.conn.clone();
        let added: i64 = INDEX_ADD
            .key(&user_key)
            .arg(&id)
            .arg(at)
            .invoke_async(&mut conn)
            .await
            .map_err(store_error(CONTEXT))?;
        let reply: Value = redis::cmd("SET")
            .arg(self.keys.session(&session.id))
            .arg(value)
            .arg("NX")
            .arg("PXAT")
            .arg(at)
            .query_async(&mut conn)
            .await
            .map_err(store_error(CONTEXT))?;
        if matches!(reply, Value::Nil) {
            if added == 1 {
                self.unindex(&mut conn, &user_key, &[id], CONTEXT).await?;
            }
            return Err(Error::DuplicateSessionId(session.id));
        }
        Ok(())
    }

    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session<D>>, Error> {
        self.fetch(&mut self.conn.clone(), id).await
    }

    /// Reads the owner, raises the index entry's score (only if the entry
    /// is still there), then `PEXPIREAT` on the session key, which does
    /// nothing to a key that is gone: a session deleted meanwhile stays
    /// deleted, and its index entry is not brought back.
    async fn update_session_expiry(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> Result<(), Error> {
        const CONTEXT: &str = "update session expiry";
        let key = self.keys.session(id);
        let at = expiry_millis(expires_at);
        let mut conn = self.conn.clone();
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(store_error(CONTEXT))?;
        let Some(value) = value else {
            return Ok(());
        };
        let owner: Owner = serde_json::from_slice(&value).map_err(|e| Error::data(*id, e))?;
        INDEX_RAISE
            .key(self.keys.user(&owner.user_id))
            .arg(hex(id))
            .arg(at)
            .invoke_async::<i64>(&mut conn)
            .await
            .map_err(store_error(CONTEXT))?;
        redis::cmd("PEXPIREAT")
            .arg(&key)
            .arg(at)
            .query_async::<i64>(&mut conn)
            .await
            .map_err(store_error(CONTEXT))?;
        Ok(())
    }

    /// `GETDEL` the session (which also says whose it was), then remove it
    /// from that user's index.
    async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
        const CONTEXT: &str = "delete session";
        let mut conn = self.conn.clone();
        let value: Option<Vec<u8>> = redis::cmd("GETDEL")
            .arg(self.keys.session(id))
            .query_async(&mut conn)
            .await
            .map_err(store_error(CONTEXT))?;
        let Some(value) = value else {
            return Ok(());
        };
        match serde_json::from_slice::<Owner>(&value) {
            Ok(owner) => {
                let user_key = self.keys.user(&owner.user_id);
                self.unindex(&mut conn, &user_key, &[hex(id)], CONTEXT)
                    .await
            }
            // The session is gone, which is what was asked; its index entry
            // (if any) goes when its score passes.
            Err(e) => {
                tracing::warn!(session_id = %id, error = %e,
                    "deleted a session whose value does not decode");
                Ok(())
            }
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
            let fetches = batch.iter().map(|id| {
                let mut conn = self.conn.clone();
                async move { self.fetch(&mut conn, id).await }
            });
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
    /// Scans every master for session keys and deletes, with one atomic
    /// script per key, those whose expiry is `<= now` (keys Redis has not
    /// expired yet, e.g. when `now` is ahead of the server's clock), then
    /// trims every user index of entries that expired by the server's
    /// clock. Returns the number of sessions it deleted.
    async fn delete_all_expired_sessions(&self, now: Timestamp) -> Result<u64, Error> {
        const CONTEXT: &str = "purge expired sessions";
        let now = now.as_unix_millis();
        let mut conn = self.conn.clone();
        let targets = conn.scan_targets().await.map_err(store_error(CONTEXT))?;
        let pattern = self.keys.session_pattern();
        let mut deleted = 0;
        for target in &targets {
            let mut cursor = 0;
            loop {
                let (next, keys) = conn
                    .scan_step(target, cursor, &pattern, Some("string"))
                    .await
                    .map_err(store_error(CONTEXT))?;
                deleted += self.purge_batch(&keys, now).await?;
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
