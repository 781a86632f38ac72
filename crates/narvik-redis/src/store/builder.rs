//! [`RedisStoreBuilder`]: key prefix, timeout, read batching and
//! replicated creation, then the connection to one server, a cluster, or
//! the master that Redis Sentinel names.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use narvik_core::{Error, TimedOut};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;

use super::RedisStore;
use crate::connection::{BACKEND, Connection, Waiting, store_error};
use crate::direct::Direct;
use crate::keys::{Keys, MAX_PREFIX_LEN};
use crate::sentinel::Master;

/// The key prefix used unless [`RedisStoreBuilder::key_prefix`] sets one.
pub const DEFAULT_KEY_PREFIX: &str = "narvik";

/// How long one Redis round trip may take unless
/// [`RedisStoreBuilder::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// The most validations one pipeline of `GET`s serves, by default
/// ([`RedisStoreBuilder::read_batch_size`]).
pub const DEFAULT_READ_BATCH: usize = narvik_coalesce::DEFAULT_MAX_BATCH;

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
    /// `WAIT replicas timeout` after each creation.
    wait: Option<(u32, Duration)>,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            read_batch: DEFAULT_READ_BATCH,
            wait: None,
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
    /// [`Error::Store`] ([`DEFAULT_TIMEOUT`] by default), a timeout
    /// ([`Error::is_timeout`]). Also bounds
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

    /// Session creation returns only once `replicas` replicas have the
    /// new session (`WAIT replicas timeout` after the write), so that a
    /// failover to one of them keeps it; off by default. See [Failover
    /// and replication](crate#failover-and-replication) for what
    /// replication can lose without it.
    ///
    /// If fewer replicas acknowledge the write within `timeout`, creation
    /// fails with [`Error::Store`] and the store deletes the session it
    /// wrote (whose token nobody has). Creation then takes a replication
    /// round trip longer, bounded by the store's timeout plus `timeout`;
    /// the creations of one store share one connection for this, since
    /// `WAIT` blocks the connection it is sent on, so validations never
    /// queue behind it. `WAIT` makes a write durable on replicas, not
    /// atomic: a failed creation may still have reached some.
    ///
    /// One server and Sentinel only: [`connect_cluster`](Self::connect_cluster)
    /// refuses it (a session's key and its user's index live on different
    /// masters there).
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.wait = Some((replicas, timeout));
        self
    }

    /// Connects to one Redis server (7.0 or later), e.g.
    /// `redis://127.0.0.1:6379`.
    ///
    /// "One server" means one keyspace: every write is one script over a
    /// session key and its user's index, which a server in cluster mode
    /// (even one holding every slot) or a proxy that spreads keys over
    /// several servers refuses. Use
    /// [`connect_cluster`](Self::connect_cluster) for those.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the key prefix is invalid, the URL does not
    /// parse, the server does not answer a `PING` within the timeout, or
    /// it runs in cluster mode (`INFO cluster`).
    pub async fn connect<D>(self, url: &str) -> Result<RedisStore<D>, Error> {
        let keys = self.keys()?;
        let client = redis::Client::open(url).map_err(|e| Error::store("parse redis url", e))?;
        let addr = client.get_connection_info().addr().to_string();
        let context = format!("connect to redis at {addr}");
        let manager = |timeout: Duration| {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(timeout))
                // Reconnect quickly: while Redis is down every call fails
                // within the timeout anyway, and when it is back the next
                // attempt should not be seconds away. A failed round of
                // attempts is restarted by the next call.
                .set_min_delay(Duration::from_millis(10))
                .set_max_delay(self.timeout)
                .set_number_of_retries(4);
            ConnectionManager::new_lazy_with_config(client.clone(), config)
                .map_err(|e| Error::store(context.clone(), e))
        };
        let conn = self.waiting(
            Connection::single(manager(self.timeout)?, self.timeout, self.read_batch),
            |total| Ok(Connection::single(manager(total)?, total, 1)),
        )?;
        let conn = one_keyspace(conn, &context).await?;
        Ok(self.store(conn, keys))
    }

    /// Connects to the master that Redis Sentinel names for `service`
    /// (its `sentinel monitor <service> ...`), asking any of `sentinels`,
    /// e.g. `["redis://127.0.0.1:26379", "redis://127.0.0.1:26380"]`; the
    /// store then works as on one server.
    ///
    /// The store follows failovers: a call that finds the master gone (a
    /// dropped connection, `READONLY` from a demoted master, no answer
    /// within the timeout) fails with [`Error::Store`], and the next one
    /// asks the sentinels again and connects to the master they name, after
    /// checking with `ROLE` that it is one. While a failover is under way,
    /// every call is an error or a correct answer, never "no session" for
    /// a live one; see [Failover and replication](crate#failover-and-replication)
    /// for what asynchronous replication can still lose, and
    /// [`wait_for_replicas`](Self::wait_for_replicas) against it.
    ///
    /// Authentication and TLS to the master or the sentinels are not
    /// configurable here yet.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the key prefix is invalid, no sentinel URL is
    /// given or one does not parse, or no master for `service` answers
    /// within the timeout, or the master runs in cluster mode.
    pub async fn connect_sentinel<D, I>(
        self,
        sentinels: I,
        service: &str,
    ) -> Result<RedisStore<D>, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let keys = self.keys()?;
        let sentinels: Vec<String> = sentinels
            .into_iter()
            .map(|n| n.as_ref().to_owned())
            .collect();
        let context = format!(
            "connect to the master of {service:?} named by the sentinels at {}",
            sentinels.join(", ")
        );
        let master = |timeout| {
            Master::new(&sentinels, service, self.timeout, timeout)
                .map_err(|e| Error::store(context.clone(), e))
        };
        let conn = self.waiting(
            Connection::sentinel(master(self.timeout)?, self.timeout, self.read_batch),
            |total| Ok(Connection::sentinel(master(total)?, total, 1)),
        )?;
        let conn = one_keyspace(conn, &context).await?;
        Ok(self.store(conn, keys))
    }

    /// Connects to a Redis Cluster (7.0 or later) through any of its
    /// nodes, e.g. `["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the key prefix is invalid, a URL does not parse,
    /// the cluster's slot map cannot be read within the timeout, or
    /// [`wait_for_replicas`](Self::wait_for_replicas) was set.
    pub async fn connect_cluster<D, I>(self, nodes: I) -> Result<RedisStore<D>, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let keys = self.keys()?;
        let nodes: Vec<String> = nodes.into_iter().map(|n| n.as_ref().to_owned()).collect();
        let context = || format!("connect to redis cluster at {}", nodes.join(", "));
        if self.wait.is_some() {
            return Err(Error::store(
                context(),
                "wait_for_replicas is for one server or Sentinel: in a cluster a session's \
                 key and its user's index live on different masters",
            ));
        }
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
            .map_err(|_| Error::store(context(), TimedOut::new(BACKEND, self.timeout)))?
            .map_err(|e| store_error(context(), self.timeout, e))?;
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

    /// `conn`, with creation that waits for replicas if
    /// [`wait_for_replicas`](Self::wait_for_replicas) asked for it, over a
    /// second connection from `open`, whose calls may take the store's
    /// timeout plus the wait (given to `open`).
    fn waiting(
        &self,
        conn: Connection,
        open: impl FnOnce(Duration) -> Result<Connection, Error>,
    ) -> Result<Connection, Error> {
        let Some((replicas, timeout)) = self.wait else {
            return Ok(conn);
        };
        Ok(conn.with_waiting(Waiting {
            conn: open(self.timeout + timeout)?,
            replicas,
            timeout,
        }))
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

/// Checks that `conn` answers (`PING`) and is one keyspace: a server that
/// says it is a cluster node would refuse every write (`CROSSSLOT`), so
/// say so now rather than at the first one. A server that does not answer
/// `INFO` (some proxies) is taken at its word.
async fn one_keyspace(mut conn: Connection, context: &str) -> Result<Connection, Error> {
    redis::cmd("PING")
        .query_async::<()>(&mut conn)
        .await
        .map_err(|e| store_error(context.to_owned(), conn.timeout(), e))?;
    let info: Option<String> = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut conn)
        .await
        .ok();
    if info.is_some_and(|info| info.lines().any(|l| l.trim() == "cluster_enabled:1")) {
        return Err(Error::store(
            context.to_owned(),
            "this server runs in cluster mode: connect with \
             RedisStoreBuilder::connect_cluster",
        ));
    }
    Ok(conn)
}
