//! [`RedisStore`]: the store, its builder, and the three store traits.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
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
use crate::direct::Direct;
use crate::keys::{Keys, MAX_PREFIX_LEN};
use crate::scripts::{EXTEND_SESSION, INDEX_ADD, INDEX_RAISE, INDEX_REMOVE, PURGE_SESSION};

/// The key prefix used unless [`RedisStoreBuilder::key_prefix`] sets one.
pub const DEFAULT_KEY_PREFIX: &str = "narvik";

/// How long one Redis round trip may take unless
/// [`RedisStoreBuilder::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// The most validations one pipeline of `GET`s serves, by default
/// ([`RedisStoreBuilder::read_batch_size`]).
pub const DEFAULT_READ_BATCH: usize = narvik_coalesce::DEFAULT_MAX_BATCH;

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
    read_batch: usize,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            read_batch: DEFAULT_READ_BATCH,
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

    /// The most validations one pipeline of `GET`s serves
    /// ([`DEFAULT_READ_BATCH`] by default; at least 1).
    ///
    /// Validations that arrive while a few pipelines are already in
    /// flight wait for the next one, which carries all of them. That is
    /// one round trip's client and server work for many reads, where the
    /// same reads one command at a time would each pay it: more reads per
    /// second under load, and a lone validate still goes at once. `1`
    /// sends every `GET` on its own.
    pub fn read_batch_size(mut self, size: usize) -> Self {
        self.read_batch = size.max(1);
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
        let mut conn = Connection::single(manager, self.timeout, self.read_batch);
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
            // The store's own bound (`Connection`) is the one overall
            // timeout of a call, retries and redirections included; a
            // second, equal one inside the client would only add a timer
            // to every call. `response_timeout` still bounds each attempt,
            // and the client's own slot refreshes and connection checks.
            .overall_response_timeout(None)
            .build()
            .map_err(|e| Error::store(context(), e))?;
        let connection = tokio::time::timeout(self.timeout, client.get_async_connection())
            .await
            .map_err(|_| Error::store(context(), timed_out(self.timeout)))?
            .map_err(|e| Error::store(context(), e))?;
        // The validation's direct read path: its first slot map now, so
        // that reads go direct from the start; if that fails, calls fall
        // back and a background refresh retries.
        let direct = nodes
            .first()
            .and_then(|first| redis::IntoConnectionInfo::into_connection_info(first.as_str()).ok())
            .and_then(|first| Direct::new(first, self.timeout, self.read_batch))
            .map(Arc::new);
        if let Some(direct) = &direct {
            let _ = direct.refresh(&mut connection.clone()).await;
        }
        Ok(self.store(Connection::cluster(connection, direct, self.timeout), keys))
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

/// The JSON part of a session value: everything but the id (the key) and
/// the expiry (the value's fixed-width head; see [`HEAD_LEN`]). Keeping the
/// expiry out of the JSON lets an extension rewrite it with one
/// `SETRANGE` of fixed size, without decoding (or re-encoding, which could
/// alter) the data.
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

/// Digits of the expiry at the head of a session value: ms since the
/// epoch, zero-padded. [`MAX_EXPIRY`] has 15, and every expiry written is
/// clamped to it, so every head has the same width.
const EXPIRY_DIGITS: usize = 15;

/// The head of a session value: [`EXPIRY_DIGITS`] digits and a space, then
/// the JSON. The extension script matches and rewrites exactly these bytes.
const HEAD_LEN: usize = EXPIRY_DIGITS + 1;

/// Why a session value does not decode, when its head is not right.
const BAD_HEAD: &str = "a session value must start with its expiry (15 digits, ms since the \
                        epoch) and a space; this one was not written by narvik-redis";

/// The head for expiry `at` (already [`expiry_millis`]-clamped, so it
/// has at most 15 digits).
fn head(at: i64) -> String {
    format!("{at:0EXPIRY_DIGITS$} ")
}

/// A session value: the expiry's head, then the JSON.
fn encode_value(at: i64, json: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(HEAD_LEN + json.len());
    value.extend_from_slice(head(at).as_bytes());
    value.extend_from_slice(json);
    value
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

/// The owner of a session value, to find its index without decoding `D`.
fn decode_owner(id: &SessionId, value: &[u8]) -> Result<String, Error> {
    let (_, json) = decode_value(value).map_err(|e| Error::data(*id, e))?;
    let owner: Owner = serde_json::from_slice(json).map_err(|e| Error::data(*id, e))?;
    Ok(owner.user_id)
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
                match decode_owner(&id, &value) {
                    Ok(owner) => {
                        let user_key = self.keys.user(&owner);
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
    /// One `GET`: the value carries the expiry in its head, equal to the
    /// key's own expiry (both are written together, at save and by each
    /// extension's script), so no second command is needed.
    async fn fetch(&self, id: &SessionId) -> Result<Option<Session<D>>, Error> {
        const CONTEXT: &str = "fetch session";
        let value = self
            .conn
            .get(self.keys.session(id))
            .await
            .map_err(store_error(CONTEXT))?;
        let Some(value) = value else {
            return Ok(None);
        };
        let (expires_at, json) = decode_value(&value).map_err(|e| Error::data(*id, e))?;
        let stored: Stored<D> = serde_json::from_slice(json).map_err(|e| Error::data(*id, e))?;
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
        let json = serde_json::to_vec(&StoredRef {
            user_id: &session.user_id,
            created_at: session.created_at,
            data: &session.data,
        })
        .map_err(|e| Error::data(session.id, e))?;
        let id = hex(&session.id);
        let user_key = self.keys.user(&session.user_id);
        let at = expiry_millis(session.expires_at);
        // The same `at` in the head and in `PXAT`: the two start equal.
        let value = encode_value(at, &json);
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
        self.fetch(id).await
    }

    /// Reads the owner, raises the index entry's score (only if the entry
    /// is still there), then one script on the session key rewrites the
    /// value's expiry and `PEXPIREAT`s the key together, doing nothing to a
    /// key that is gone: a session deleted meanwhile stays deleted, and its
    /// index entry is not brought back.
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
        let owner = decode_owner(id, &value)?;
        INDEX_RAISE
            .key(self.keys.user(&owner))
            .arg(hex(id))
            .arg(at)
            .invoke_async::<i64>(&mut conn)
            .await
            .map_err(store_error(CONTEXT))?;
        let extended: i64 = EXTEND_SESSION
            .key(&key)
            .arg(at)
            .arg(head(at))
            .invoke_async(&mut conn)
            .await
            .map_err(store_error(CONTEXT))?;
        if extended < 0 {
            // The value lost its head after the `GET` above decoded it:
            // something other than this store rewrote the key.
            return Err(Error::data(*id, BAD_HEAD));
        }
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
        match decode_owner(id, &value) {
            Ok(owner) => {
                let user_key = self.keys.user(&owner);
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
