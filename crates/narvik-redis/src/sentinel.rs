//! The master that Redis Sentinel names, followed through failovers.
//!
//! [`Master`] is a connection to whichever server the sentinels call the
//! master of a service, found the way the Sentinel client guidelines ask:
//! ask the sentinels for the master's address, connect, and check with
//! `ROLE`, on that very connection, that the server says it is a master.
//! The connection is kept until it fails: a dropped connection, a
//! `READONLY` or `MASTERDOWN` reply (the server is now a replica), or no
//! answer within the store's timeout forget it, and the next call asks
//! the sentinels again. So after a failover calls fail (never hang past
//! the timeout) until the sentinels name the new master, then reach it.
//!
//! When the sentinels turn a master into a replica (a failed-over master
//! that comes back), they disconnect its clients in the same transaction
//! (`SLAVEOF` then `CLIENT KILL TYPE normal`, in one `MULTI`; Redis's
//! `sentinelSendSlaveOf`), so that clients ask again on reconnection: no
//! command of ours is answered by it as a replica. A server demoted by
//! hand (`REPLICAOF` without Sentinel) keeps its clients; against that,
//! a validation read that finds no session is only believed once `ROLE`,
//! on the same connection, still says master (see
//! [`crate::connection::Connection::get`]).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Role,
    ServerErrorKind, Value,
};
use tokio::sync::Mutex;

/// After a failed attempt to find the master, calls fail at once for
/// this long instead of asking the sentinels again: under load, a down
/// master would otherwise cost a sentinel round trip per call.
const RETRY_AFTER: Duration = Duration::from_millis(20);

/// The current master connection.
struct Current {
    /// Increases with each new connection; see [`Master::generation`].
    generation: u64,
    conn: MultiplexedConnection,
}

struct Link {
    /// The sentinels. The lock also makes one call at a time look for the
    /// master; the others wait for its answer.
    sentinels: Mutex<Sentinels>,
    current: ArcSwapOption<Current>,
    generations: AtomicU64,
    config: AsyncConnectionConfig,
}

struct Sentinels {
    client: SentinelClient,
    /// When the last attempt failed, and how.
    failed: Option<(Instant, String)>,
}

/// A connection to the master the sentinels name; clones share it.
#[derive(Clone)]
pub(crate) struct Master(Arc<Link>);

impl Master {
    /// Asks `sentinels` (URLs of Sentinel servers) for the master of
    /// `service`. Connects lazily, on the first command, within `connect`;
    /// each reply within `respond`.
    pub(crate) fn new(
        sentinels: &[String],
        service: &str,
        connect: Duration,
        respond: Duration,
    ) -> RedisResult<Self> {
        let client = SentinelClient::build(
            sentinels.to_vec(),
            service.to_owned(),
            None,
            SentinelServerType::Master,
        )?;
        Ok(Self(Arc::new(Link {
            sentinels: Mutex::new(Sentinels {
                client,
                failed: None,
            }),
            current: ArcSwapOption::empty(),
            generations: AtomicU64::new(0),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(connect))
                .set_response_timeout(Some(respond)),
        })))
    }

    /// The current connection's generation: it changes whenever a new
    /// connection replaces a forgotten one, so two equal readings mean
    /// every command between them went over one connection. `None` while
    /// there is none.
    pub(crate) fn generation(&self) -> Option<u64> {
        self.0.current.load().as_ref().map(|c| c.generation)
    }

    /// Drops the connection of `generation`, if it is still the current
    /// one: the next command asks the sentinels again.
    pub(crate) fn forget(&self, generation: Option<u64>) {
        let Some(generation) = generation else { return };
        self.0.current.rcu(|current| match current {
            Some(c) if c.generation == generation => None,
            other => other.clone(),
        });
    }

    /// Whether the server behind connection `generation` still says it
    /// is the master. An error if the connection changed since, if the
    /// server is no master (the connection is then forgotten), or if it
    /// does not answer.
    pub(crate) async fn confirm(&self, generation: Option<u64>) -> RedisResult<()> {
        let current = self.0.current.load_full();
        let Some(current) = current.filter(|c| Some(c.generation) == generation) else {
            return Err(not_master(
                "the connection to the master changed during the call",
            ));
        };
        let role: RedisResult<Role> = redis::cmd("ROLE")
            .query_async(&mut current.conn.clone())
            .await;
        match role {
            Ok(Role::Primary { .. }) => Ok(()),
            Ok(_) => {
                self.forget(generation);
                Err(not_master("the server is no longer the master"))
            }
            Err(e) => {
                self.check(&current, &e);
                Err(e)
            }
        }
    }

    /// The current connection, or a new one to the master the sentinels
    /// name now.
    async fn connection(&self) -> RedisResult<Arc<Current>> {
        if let Some(current) = self.0.current.load_full() {
            return Ok(current);
        }
        let mut sentinels = self.0.sentinels.lock().await;
        // Another call may have connected while this one waited.
        if let Some(current) = self.0.current.load_full() {
            return Ok(current);
        }
        if let Some((at, why)) = &sentinels.failed
            && at.elapsed() < RETRY_AFTER
        {
            return Err(not_master(&format!(
                "no master (asked the sentinels {:?} ago: {why})",
                at.elapsed()
            )));
        }
        match self.discover(&mut sentinels.client).await {
            Ok(conn) => {
                sentinels.failed = None;
                let current = Arc::new(Current {
                    generation: self.0.generations.fetch_add(1, Ordering::SeqCst) + 1,
                    conn,
                });
                self.0.current.store(Some(Arc::clone(&current)));
                Ok(current)
            }
            Err(e) => {
                sentinels.failed = Some((Instant::now(), e.to_string()));
                Err(e)
            }
        }
    }

    /// Asks the sentinels for the master, connects, and checks its role
    /// on the new connection itself.
    async fn discover(&self, sentinels: &mut SentinelClient) -> RedisResult<MultiplexedConnection> {
        let mut conn = sentinels
            .get_async_connection_with_config(&self.0.config)
            .await?;
        match redis::cmd("ROLE").query_async::<Role>(&mut conn).await? {
            Role::Primary { .. } => Ok(conn),
            _ => Err(not_master(
                "the server the sentinels named says it is not a master",
            )),
        }
    }

    /// Forgets `current` after an error that says it is no longer a
    /// connection to the master.
    fn check(&self, current: &Current, error: &RedisError) {
        if lost_master(error) {
            self.forget(Some(current.generation));
        }
    }
}

/// An error that means the connection no longer reaches the master: it
/// broke, timed out, or the server is a replica now.
fn lost_master(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_unrecoverable_error()
        || error.is_timeout()
        || matches!(
            error.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}

fn not_master(why: &str) -> RedisError {
    RedisError::from(io::Error::new(io::ErrorKind::NotConnected, why.to_owned()))
}

impl ConnectionLike for Master {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let current = self.connection().await?;
            let reply = current.conn.clone().req_packed_command(cmd).await;
            match &reply {
                Err(e) => self.check(&current, e),
                Ok(Value::ServerError(e)) => self.check(&current, &e.clone().into()),
                Ok(_) => {}
            }
            reply
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let current = self.connection().await?;
            let replies = current
                .conn
                .clone()
                .req_packed_commands(pipeline, offset, count)
                .await;
            match &replies {
                Err(e) => self.check(&current, e),
                Ok(values) => {
                    for value in values {
                        if let Value::ServerError(e) = value {
                            self.check(&current, &e.clone().into());
                        }
                    }
                }
            }
            replies
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}
