//! Validation `GET`s over one multiplexed connection, coalesced into
//! pipelines.
//!
//! A multiplexed connection pipelines concurrent commands anyway, but one
//! command at a time: each pays a task hand-off, a reply channel and a
//! wake-up on the client. Here only a few pipelines are out at once
//! ([`SERVER_IN_FLIGHT`], [`MASTER_IN_FLIGHT`]), and `GET`s that arrive
//! meanwhile wait for the next pipeline,
//! which carries all of them (up to the store's read batch size; 1 turns
//! this off). A lone `GET` goes at once, in a pipeline of one. The queue
//! is [`narvik_coalesce`]'s.

use std::io;
use std::sync::Arc;

use narvik_coalesce::Coalescer;
use redis::aio::ConnectionLike;
use redis::{RedisError, RedisResult, Value};
use tokio::sync::Semaphore;

/// Pipelines in flight at once to a lone server. One leaves the server
/// idle while the client hands out a batch's replies; many make batches
/// too small to save anything. 1, 2, 4 and 8 were measured (BENCHMARKS.md).
pub(crate) const SERVER_IN_FLIGHT: usize = 4;

/// Pipelines in flight at once to each master of a cluster. One each: the
/// masters' pipelines overlap one another, so no server idles while the
/// client hands out a batch's replies, and each batch is as large as it
/// can be. Measured: 1 per master did best; at 8 reads were slower than
/// with no batching at all.
pub(crate) const MASTER_IN_FLIGHT: usize = 1;

/// The coalesced `GET`s of one connection (one server, or one cluster
/// master).
pub(crate) struct Reads {
    lookups: Coalescer<String, Value, RedisError>,
    in_flight: Arc<Semaphore>,
}

impl Reads {
    /// At most `max_batch` `GET`s per pipeline (1: each on its own), and
    /// at most `in_flight` pipelines out at once.
    pub(crate) fn new(max_batch: usize, in_flight: usize) -> Self {
        Self {
            lookups: Coalescer::new(max_batch),
            in_flight: Arc::new(Semaphore::new(in_flight.max(1))),
        }
    }

    /// Pipelines sent so far, and the `GET`s they carried.
    pub(crate) fn counts(&self) -> (u64, u64) {
        self.lookups.counts()
    }

    /// `GET key` on `conn`, in whichever pipeline comes first. An error
    /// reply for this key is its own (a [`Value::ServerError`], as from a
    /// lone `GET`); a pipeline that fails (an I/O error) fails each `GET`
    /// in it.
    pub(crate) async fn get<C>(&self, conn: &C, key: String) -> RedisResult<Value>
    where
        C: ConnectionLike + Clone + Send,
    {
        if self.lookups.max_batch() == 1 {
            let mut cmd = redis::cmd("GET");
            cmd.arg(key);
            return conn.clone().req_packed_command(&cmd).await;
        }
        let reply = self
            .lookups
            .fetch(
                key,
                || async {
                    Arc::clone(&self.in_flight)
                        .acquire_owned()
                        .await
                        .map_err(|_| RedisError::from(io::Error::other("read slots closed")))
                },
                |permit, keys| async move {
                    let mut pipe = redis::pipe();
                    for key in &keys {
                        pipe.cmd("GET").arg(key);
                    }
                    let values = conn
                        .clone()
                        .req_packed_commands(&pipe, 0, keys.len())
                        .await?;
                    drop(permit);
                    Ok(keys.into_iter().zip(values).collect())
                },
            )
            .await
            .map_err(Arc::unwrap_or_clone)?;
        Ok(reply.map_or(Value::Nil, Arc::unwrap_or_clone))
    }
}
