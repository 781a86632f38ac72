//! One server, a cluster, or the master Sentinel names, behind one type,
//! every round trip bounded by the store's timeout.

use std::borrow::Cow;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::direct::{self, Direct};
use crate::reads::{Reads, SERVER_IN_FLIGHT};
use crate::sentinel::Master;
use narvik_core::{Error, TimedOut};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

/// Where a `SCAN` runs: the one server, or one master of a cluster.
#[derive(Debug, Clone)]
pub(crate) enum ScanTarget {
    /// The single server.
    Server,
    /// A cluster master at this address.
    Master { host: String, port: u16 },
}

#[derive(Clone)]
enum Inner {
    /// Reconnects by itself: a dropped connection fails the calls in
    /// flight and starts a new connection in the background. With the
    /// coalesced read path ([`Reads`]) for `GET`.
    Single(ConnectionManager, Arc<Reads>),
    /// Keeps a connection per node, follows `MOVED`/`ASK` and refreshes
    /// the slot map, reconnecting to nodes as needed. With the direct read
    /// path ([`Direct`]) for `GET`, which falls back to it.
    Cluster(ClusterConnection, Option<Arc<Direct>>),
    /// The master the sentinels name, asked for again whenever the
    /// connection to it fails ([`Master`]). With the coalesced read path,
    /// as on one server.
    Sentinel(Master, Arc<Reads>),
}

/// Session creation that waits for replicas
/// ([`crate::RedisStoreBuilder::wait_for_replicas`]): its own connection,
/// since `WAIT` blocks the connection it is sent on and counts the writes
/// made on it.
pub(crate) struct Waiting {
    /// To the same server (or master) as the store's, for these writes
    /// only; its timeout is the store's plus [`Waiting::timeout`].
    pub(crate) conn: Connection,
    /// How many replicas must acknowledge the write.
    pub(crate) replicas: u32,
    /// How long `WAIT` waits for them.
    pub(crate) timeout: Duration,
}

/// A cheap-to-clone handle; clones share the underlying connections.
#[derive(Clone)]
pub(crate) struct Connection {
    inner: Inner,
    timeout: Duration,
    waiting: Option<Arc<Waiting>>,
}

impl Connection {
    pub(crate) fn single(manager: ConnectionManager, timeout: Duration, read_batch: usize) -> Self {
        Self {
            inner: Inner::Single(manager, Arc::new(Reads::new(read_batch, SERVER_IN_FLIGHT))),
            timeout,
            waiting: None,
        }
    }

    pub(crate) fn sentinel(master: Master, timeout: Duration, read_batch: usize) -> Self {
        Self {
            inner: Inner::Sentinel(master, Arc::new(Reads::new(read_batch, SERVER_IN_FLIGHT))),
            timeout,
            waiting: None,
        }
    }

    /// Session creation goes through `waiting` from now on.
    pub(crate) fn with_waiting(mut self, waiting: Waiting) -> Self {
        self.waiting = Some(Arc::new(waiting));
        self
    }

    /// The connection and settings of creation that waits for replicas,
    /// if the store was built with it.
    pub(crate) fn waiting(&self) -> Option<&Waiting> {
        self.waiting.as_deref()
    }

    pub(crate) fn cluster(
        connection: ClusterConnection,
        direct: Option<Arc<Direct>>,
        timeout: Duration,
    ) -> Self {
        Self {
            inner: Inner::Cluster(connection, direct),
            timeout,
            waiting: None,
        }
    }

    /// The bound of each call on this connection.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Turns a failure of a call on this connection into a store error
    /// ([`store_error`] with this connection's bound).
    pub(crate) fn error(&self, context: &'static str) -> impl Fn(RedisError) -> Error + use<> {
        let after = self.timeout;
        move |err| store_error(context, after, err)
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.inner, Inner::Cluster(..))
    }

    /// The direct read path's (fallbacks, slot map refreshes), in a cluster.
    pub(crate) fn direct_counts(&self) -> Option<(u64, u64)> {
        match &self.inner {
            Inner::Cluster(_, Some(direct)) => Some(direct.counts()),
            _ => None,
        }
    }

    /// See [`crate::RedisStore::read_batch_counts`].
    pub(crate) fn read_batch_counts(&self) -> (u64, u64) {
        match &self.inner {
            Inner::Single(_, reads) | Inner::Sentinel(_, reads) => reads.counts(),
            Inner::Cluster(_, Some(direct)) => direct.read_batch_counts(),
            Inner::Cluster(_, None) => (0, 0),
        }
    }

    /// `GET key`: the hot path, one per validation. In a cluster it goes
    /// straight to the key's master ([`Direct`]), falling back to the
    /// cluster client; one timeout bounds the whole call, fallback
    /// included. By `&self`: the direct path clones no cluster handle
    /// unless it falls back.
    ///
    /// Behind Sentinel, "no such key" is only believed from a master: a
    /// nil reply is followed by `ROLE` on the connection that gave it
    /// (see [`Master::confirm`]), within the same timeout, and is an error
    /// if the server is no longer the master or the connection changed
    /// meanwhile. A replica that lacks a session must not sign anyone out.
    pub(crate) async fn get(&self, key: String) -> RedisResult<Option<Vec<u8>>> {
        let reply = match &self.inner {
            Inner::Single(c, reads) => bounded(self.timeout, reads.get(c, key)).await?,
            Inner::Sentinel(master, reads) => {
                following(master, self.timeout, async {
                    let generation = master.generation();
                    let reply = reads.get(master, key).await?;
                    if matches!(reply, Value::Nil) {
                        master.confirm(generation).await?;
                    }
                    Ok(reply)
                })
                .await?
            }
            Inner::Cluster(c, Some(direct)) => bounded(self.timeout, direct.get(c, key)).await?,
            Inner::Cluster(c, None) => {
                let mut cmd = redis::cmd("GET");
                cmd.arg(&key);
                let slot = direct::slot(key.as_bytes());
                bounded(self.timeout, direct::cluster_read(c, cmd, slot)).await?
            }
        };
        // As `query_async`: an error reply is an error.
        Ok(redis::from_redis_value(reply.extract_error()?)?)
    }

    /// Where to run `SCAN` so that it sees every key: the server, or each
    /// master that serves slots (from `CLUSTER NODES`).
    pub(crate) async fn scan_targets(&mut self) -> RedisResult<Vec<ScanTarget>> {
        if !self.is_cluster() {
            return Ok(vec![ScanTarget::Server]);
        }
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query_async(self).await?;
        Ok(masters(&nodes))
    }

    /// One `SCAN` step on `target`: the next cursor and a batch of keys.
    pub(crate) async fn scan_step(
        &mut self,
        target: &ScanTarget,
        cursor: u64,
        pattern: &str,
        kind: Option<&str>,
    ) -> RedisResult<(u64, Vec<String>)> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000);
        if let Some(kind) = kind {
            cmd.arg("TYPE").arg(kind);
        }
        let reply = match (target, &mut self.inner) {
            (ScanTarget::Master { host, port }, Inner::Cluster(cluster, _)) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                bounded(self.timeout, cluster.route_command(cmd, routing)).await?
            }
            _ => cmd.query_async::<Value>(self).await?,
        };
        Ok(redis::from_redis_value(reply)?)
    }
}

/// The masters that serve slots, from `CLUSTER NODES` output: one line
/// per node, `<id> <ip:port@cport[,hostname]> <flags> <master> ...
/// <slots>...`.
fn masters(nodes: &str) -> Vec<ScanTarget> {
    nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            let serves_slots = fields.len() > 8;
            if !flags.split(',').any(|f| f == "master")
                || flags.contains("fail")
                || flags.contains("noaddr")
                || !serves_slots
            {
                return None;
            }
            let addr = fields.get(1)?.split(['@', ',']).next()?;
            let (host, port) = addr.rsplit_once(':')?;
            Some(ScanTarget::Master {
                host: host.to_owned(),
                port: port.parse().ok()?,
            })
        })
        .collect()
}

/// Runs `fut`, failing with a timeout error if it takes longer than
/// `timeout`: the client's own timeouts do not cover a reconnection that
/// is still backing off, and a session check must never hang.
async fn bounded<T>(
    timeout: Duration,
    fut: impl Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(timeout)),
    }
}

/// [`bounded`] for a command to the Sentinel master: a call that times
/// out forgets the connection it started on, so that the next one asks
/// the sentinels again (a hung master that they fail over answers no
/// command that could report it).
async fn following<T>(
    master: &Master,
    timeout: Duration,
    fut: impl Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    let generation = master.generation();
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result,
        Err(_) => {
            master.forget(generation);
            Err(timed_out(timeout))
        }
    }
}

/// What a [`TimedOut`] of this crate names.
pub(crate) const BACKEND: &str = "Redis";

/// The store error of a call bounded by `after` that failed with `err`:
/// one whose source is a [`TimedOut`] (so [`Error::is_timeout`]) when the
/// call ran out of time, by the store's own bound or by the client's
/// response or connection timeout (both set to the same bound), else a
/// plain one with `err` as its source.
pub(crate) fn store_error(
    context: impl Into<Cow<'static, str>>,
    after: Duration,
    err: RedisError,
) -> Error {
    if err.is_timeout() {
        Error::store(context, TimedOut::new(BACKEND, after).with_cause(err))
    } else {
        Error::store(context, err)
    }
}

fn timed_out(timeout: Duration) -> RedisError {
    RedisError::from(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no answer from redis within {timeout:?}"),
    ))
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let timeout = self.timeout;
        match &mut self.inner {
            Inner::Single(c, _) => Box::pin(bounded(timeout, c.req_packed_command(cmd))),
            Inner::Cluster(c, _) => Box::pin(bounded(timeout, c.req_packed_command(cmd))),
            Inner::Sentinel(m, _) => {
                let master = m.clone();
                Box::pin(
                    async move { following(&master, timeout, m.req_packed_command(cmd)).await },
                )
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let timeout = self.timeout;
        match &mut self.inner {
            Inner::Single(c, _) => Box::pin(bounded(
                timeout,
                c.req_packed_commands(pipeline, offset, count),
            )),
            Inner::Cluster(c, _) => Box::pin(bounded(
                timeout,
                c.req_packed_commands(pipeline, offset, count),
            )),
            Inner::Sentinel(m, _) => {
                let master = m.clone();
                Box::pin(async move {
                    following(
                        &master,
                        timeout,
                        m.req_packed_commands(pipeline, offset, count),
                    )
                    .await
                })
            }
        }
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Single(c, _) => c.get_db(),
            Inner::Cluster(c, _) => c.get_db(),
            Inner::Sentinel(m, _) => m.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_are_read_from_cluster_nodes() {
        let nodes = "\
a1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:30002@40002,host-b master - 0 1 2 connected 5461-10922
c3 127.0.0.1:30003@40003 slave b2 0 1 2 connected
d4 127.0.0.1:30004@40004 master,fail - 0 1 4 disconnected 10923-16383
e5 127.0.0.1:30005@40005 master - 0 1 5 connected
";
        let found: Vec<String> = masters(nodes)
            .into_iter()
            .map(|t| match t {
                ScanTarget::Master { host, port } => format!("{host}:{port}"),
                ScanTarget::Server => "server".to_owned(),
            })
            .collect();
        assert_eq!(found, ["127.0.0.1:30001", "127.0.0.1:30002"]);
    }
}
