//! The validation's `GET` in a cluster, sent straight to its slot's master.
//!
//! Through [`ClusterConnection`] a command goes to the client's driver
//! task, then to the node's own pipeline task, then to the socket: two
//! task hand-offs per call, which at high concurrency cost more than the
//! round trip itself. Here the store keeps its own copy of the slot map
//! (from `CLUSTER SLOTS`, read through the cluster connection) and one
//! [`MultiplexedConnection`] per master, and sends the `GET` there: one
//! hand-off, as on one server.
//!
//! The copy is only a shortcut: whenever it may be wrong (a `MOVED` or
//! `ASK` reply, any other error, an I/O failure, a slot with no known
//! master, a call that timed out on it) that one call goes through the
//! cluster connection instead, which follows redirects and reconnects,
//! and the copy is marked stale. A background task then re-reads the map,
//! one refresh at a time and at most one per [`REFRESH_GAP`], so a burst
//! of failures cannot stampede the cluster with `CLUSTER SLOTS`.
//! Everything else the store does goes through the cluster connection.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::future::join_all;
use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, RedisError, RedisResult, Value,
};

use crate::reads::{MASTER_IN_FLIGHT, Reads};

/// Slots in a Redis Cluster.
const SLOTS: usize = 16384;
/// A slot no known master serves (in [`Table::slots`]).
const NONE: u16 = u16::MAX;
/// The least time between the starts of two refreshes.
const REFRESH_GAP: Duration = Duration::from_millis(100);

/// The key's cluster slot, per the cluster spec: CRC16 (XMODEM) of the
/// key, or of its hash tag (the text between the first `{` and the next
/// `}`, if not empty), mod 16384. redis-rs computes the same
/// (`Slot::for_key`) but does not expose the number; the CRC is the
/// `crc16` crate's, which redis-rs itself uses for this.
pub(crate) fn slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            Some(&rest[..close])
        })
        .filter(|tag| !tag.is_empty());
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(key)) % SLOTS as u16
}

/// Sends the read `cmd` of a key in `slot` through the cluster client,
/// routed as the client itself would route it (the slot's master; no
/// replica reads are configured) and by value, where `query_async` would
/// copy the command and work out its route first. `MOVED` and `ASK` are
/// followed inside, as for any command.
pub(crate) async fn cluster_read(
    cluster: &ClusterConnection,
    cmd: redis::Cmd,
    slot: u16,
) -> RedisResult<Value> {
    let route = Route::new(slot, SlotAddr::ReplicaOptional);
    let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
    cluster.clone().route_command(cmd, routing).await
}

/// A master and the store's own connection to it.
struct Master {
    host: String,
    port: u16,
    conn: MultiplexedConnection,
    /// The validation `GET`s on `conn`.
    reads: Reads,
    /// Set when a call on `conn` failed or timed out: the next refresh
    /// opens a new connection rather than reusing this one (a multiplexed
    /// connection does not reconnect by itself).
    broken: AtomicBool,
}

/// One copy of the slot map.
struct Table {
    /// For each slot, its master's index in `masters`, or [`NONE`].
    slots: Vec<u16>,
    /// `None`: a master that could not be connected to (its slots fall
    /// back until a refresh connects).
    masters: Vec<Option<Arc<Master>>>,
}

impl Table {
    fn empty() -> Self {
        Self {
            slots: vec![NONE; SLOTS],
            masters: Vec::new(),
        }
    }

    fn master(&self, slot: u16) -> Option<&Arc<Master>> {
        self.masters
            .get(usize::from(self.slots[usize::from(slot)]))?
            .as_ref()
    }
}

/// The direct read path of one store (shared by its clones).
pub(crate) struct Direct {
    /// The first node's settings (credentials, database), used for every
    /// master with that master's address.
    base: ConnectionInfo,
    config: AsyncConnectionConfig,
    timeout: Duration,
    /// Read on every `GET`, replaced by a refresh: `ArcSwap` reads it
    /// without a lock or a reference-count update, which would otherwise
    /// be a write to one shared cache line per call from every thread.
    table: ArcSwap<Table>,
    /// A call found the table possibly wrong since the last refresh began.
    stale: AtomicBool,
    /// A refresh task is running (at most one).
    refreshing: AtomicBool,
    /// Calls that went through the cluster connection instead.
    fallbacks: AtomicU64,
    /// Refreshes that read the map.
    refreshes: AtomicU64,
    /// The most `GET`s per pipeline to a master.
    read_batch: usize,
}

impl Direct {
    /// `None` if the first node is not a plain TCP address (the direct
    /// path then stays off and every call uses the cluster connection).
    pub(crate) fn new(
        first_node: ConnectionInfo,
        timeout: Duration,
        read_batch: usize,
    ) -> Option<Self> {
        if !matches!(first_node.addr(), ConnectionAddr::Tcp(..)) {
            return None;
        }
        Some(Self {
            base: first_node,
            // No response timeout of the connection's own: the store's
            // timeout bounds every direct `GET` (one timer per call, not
            // two), and a connection that stops answering is marked
            // broken when it runs out, so the refresh replaces it.
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(None),
            timeout,
            table: ArcSwap::from_pointee(Table::empty()),
            stale: AtomicBool::new(false),
            refreshing: AtomicBool::new(false),
            fallbacks: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            read_batch,
        })
    }

    /// (fallbacks, refreshes) so far, for tests.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.fallbacks.load(Ordering::Relaxed),
            self.refreshes.load(Ordering::Relaxed),
        )
    }

    /// See [`crate::RedisStore::read_batch_counts`]: summed over the
    /// connections of the current slot map.
    pub(crate) fn read_batch_counts(&self) -> (u64, u64) {
        self.table()
            .masters
            .iter()
            .flatten()
            .map(|master| master.reads.counts())
            .fold((0, 0), |(b, s), (mb, ms)| (b + mb, s + ms))
    }

    /// `GET key`: on the slot's master if the table knows it and it
    /// answers with a value or nil, else through `cluster`. On the
    /// master's connection the `GET` is coalesced with the others waiting
    /// for that master ([`Reads`]). The caller bounds the whole call,
    /// fallback included, by the store's timeout.
    pub(crate) async fn get(
        self: &Arc<Self>,
        cluster: &ClusterConnection,
        key: String,
    ) -> RedisResult<Value> {
        let slot = slot(key.as_bytes());
        // Not held across the round trip: a table guard is cheap only
        // while few are live at once.
        let master = self.table().master(slot).cloned();
        if let Some(master) = &master {
            // Armed until the master answers with a value or nil; dropped
            // armed (an error reply, a failure, or the caller's timeout
            // dropping this future) it marks the table stale.
            let mut miss = Miss {
                direct: self,
                cluster,
                broken: Some(master),
                armed: true,
            };
            match master.reads.get(&master.conn, key.clone()).await {
                // MOVED, ASK, CLUSTERDOWN, ...: the connection itself is fine.
                Ok(Value::ServerError(_)) => miss.broken = None,
                Ok(reply) => {
                    miss.armed = false;
                    return Ok(reply);
                }
                Err(e) if !(e.is_io_error() || e.is_unrecoverable_error()) => miss.broken = None,
                Err(_) => {}
            }
        } else {
            self.mark_stale(cluster);
        }
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        cluster_read(cluster, cmd, slot).await
    }

    fn table(&self) -> arc_swap::Guard<Arc<Table>> {
        self.table.load()
    }

    /// Asks for a refresh; starts the refresh task unless one is running.
    fn mark_stale(self: &Arc<Self>, cluster: &ClusterConnection) {
        self.stale.store(true, Ordering::Release);
        if self
            .refreshing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return; // the running task sees `stale` and goes again
        }
        // Calls may be dropped outside a runtime (a timed-out future held
        // past shutdown); then no refresh, and the next miss asks again.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.refreshing.store(false, Ordering::Release);
            return;
        };
        let this = Arc::clone(self);
        let mut cluster = cluster.clone();
        runtime.spawn(async move {
            // Refreshes only on demand: a failed or incomplete one leaves
            // misses, and the next miss asks again.
            while this.stale.swap(false, Ordering::AcqRel) {
                let started = tokio::time::Instant::now();
                let _ = this.refresh(&mut cluster).await;
                tokio::time::sleep_until(started + REFRESH_GAP).await;
            }
            this.refreshing.store(false, Ordering::Release);
        });
    }

    /// Reads the slot map through `cluster` and swaps in a new table,
    /// reusing the connections to masters that are still masters and
    /// whose connection has not failed. A master that cannot be reached
    /// is left out: its slots fall back, and a read of one of them asks
    /// for another refresh. An error if the map could not be read (the
    /// table is then unchanged) or a master was left out.
    pub(crate) async fn refresh(&self, cluster: &mut ClusterConnection) -> RedisResult<()> {
        let reply: Value = tokio::time::timeout(
            self.timeout,
            redis::cmd("CLUSTER").arg("SLOTS").query_async(cluster),
        )
        .await
        .map_err(|_| timed_out())??;
        let ranges = parse_slots(reply)?;
        let old = self.table.load_full();

        let mut addrs: Vec<(String, u16)> = Vec::new();
        let mut slots = vec![NONE; SLOTS];
        for (first, last, host, port) in ranges {
            let index = match addrs.iter().position(|(h, p)| *h == host && *p == port) {
                Some(i) => i,
                None => {
                    addrs.push((host, port));
                    addrs.len() - 1
                }
            };
            let index = u16::try_from(index).unwrap_or(NONE);
            for s in first..=last.min(SLOTS as u16 - 1) {
                slots[usize::from(s)] = index;
            }
        }
        let masters = join_all(addrs.into_iter().map(|(host, port)| {
            let reusable = old
                .masters
                .iter()
                .flatten()
                .find(|m| m.host == host && m.port == port && !m.broken.load(Ordering::Acquire))
                .cloned();
            async move {
                if let Some(master) = reusable {
                    return Some(master);
                }
                let info = self
                    .base
                    .clone()
                    .set_addr(ConnectionAddr::Tcp(host.clone(), port));
                let conn = tokio::time::timeout(self.timeout, async {
                    Client::open(info)?
                        .get_multiplexed_async_connection_with_config(&self.config)
                        .await
                })
                .await
                .ok()?
                .ok()?;
                Some(Arc::new(Master {
                    host,
                    port,
                    conn,
                    reads: Reads::new(self.read_batch, MASTER_IN_FLIGHT),
                    broken: AtomicBool::new(false),
                }))
            }
        }))
        .await;

        let complete = masters.iter().all(Option::is_some);
        self.table.store(Arc::new(Table { slots, masters }));
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        if complete { Ok(()) } else { Err(timed_out()) }
    }
}

/// See [`Direct::get`].
struct Miss<'a> {
    direct: &'a Arc<Direct>,
    cluster: &'a ClusterConnection,
    /// The master whose connection to replace, if the failure was its.
    broken: Option<&'a Master>,
    armed: bool,
}

impl Drop for Miss<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Some(master) = self.broken {
                master.broken.store(true, Ordering::Release);
            }
            self.direct.mark_stale(self.cluster);
        }
    }
}

fn timed_out() -> RedisError {
    RedisError::from(io::Error::new(
        io::ErrorKind::TimedOut,
        "cluster slot map refresh incomplete",
    ))
}

/// `CLUSTER SLOTS`: `[[first, last, [host, port, id, ...], replicas...], ...]`.
/// Ranges whose master has no usable host (empty or `?`) are left out:
/// their slots fall back.
fn parse_slots(reply: Value) -> RedisResult<Vec<(u16, u16, String, u16)>> {
    let ranges: Vec<Vec<Value>> = redis::from_redis_value(reply)?;
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges {
        let mut fields = range.into_iter();
        let (Some(first), Some(last), Some(master)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let mut master = redis::from_redis_value::<Vec<Value>>(master)?.into_iter();
        let (Some(host), Some(port)) = (master.next(), master.next()) else {
            continue;
        };
        let host: String = redis::from_redis_value(host)?;
        if host.is_empty() || host == "?" {
            continue;
        }
        out.push((
            redis::from_redis_value(first)?,
            redis::from_redis_value(last)?,
            host,
            redis::from_redis_value(port)?,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_matches_the_spec_and_redis_rs() {
        // The cluster spec's CRC16 check value, and `CLUSTER KEYSLOT`s.
        assert_eq!(slot(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
        assert_eq!(slot(b"foo{bar}{zap}"), slot(b"bar"));
        for key in [
            "narvik:s:00ff",
            "",
            "{",
            "}{",
            "a{}b",
            "a{b}c",
            "narvik:s:4e2f9c1a7b3d5e6f8091a2b3c4d5e6f7",
        ] {
            assert_eq!(
                Route::with_key(key, SlotAddr::Master),
                Route::new(slot(key.as_bytes()), SlotAddr::Master),
                "{key:?}"
            );
        }
    }

    #[test]
    fn cluster_slots_reply_is_read() {
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("127.0.0.1", 30001),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(10922),
                node("10.0.0.2", 30002),
                node("10.0.0.5", 30005),
            ]),
            Value::Array(vec![Value::Int(10923), Value::Int(16383), node("?", 30003)]),
        ]);
        assert_eq!(
            parse_slots(reply).expect("parses"),
            [
                (0, 5460, "127.0.0.1".to_owned(), 30001),
                (5461, 10922, "10.0.0.2".to_owned(), 30002),
            ]
        );
    }
}
