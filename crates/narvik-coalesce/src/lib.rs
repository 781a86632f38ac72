//! Coalescing of concurrent session lookups into one round trip.
//!
//! Under load, most of what a validate costs is per round trip, on both
//! sides of the connection: the request and reply framing, the client's
//! hand-offs between tasks, the server's per-command work. The session
//! itself is cheap. So when validates queue up for a connection (or for a
//! slot on a shared one), the task that gets it looks up every session
//! queued so far in one round trip (`SELECT ... WHERE id IN (...)`, a Redis
//! pipeline) and hands each waiting task its own answer. A lone lookup with
//! a connection free runs at once, as a batch of one, so nothing ever waits
//! for a batch to fill.
//!
//! How a lookup goes:
//!
//! 1. It joins the queue.
//! 2. It waits for whichever comes first: its reply, or a connection.
//! 3. With a connection, it takes the front of the queue (its own entry,
//!    unless another task took it already), runs one round trip for the
//!    batch and replies to every entry in it. Then it waits again.
//!
//! If the task serving a batch is cancelled (its request was dropped, say),
//! the replies it owed are dropped with it; each waiting task sees that and
//! queues again, so no lookup is lost. A task that stops waiting takes its
//! entry out of the queue, so a failing store cannot grow the queue.
//!
//! ```
//! use std::sync::Arc;
//! use narvik_coalesce::Coalescer;
//! use tokio::sync::Semaphore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // The "connection" is a permit: two round trips in flight at most.
//! let slots = Arc::new(Semaphore::new(2));
//! let lookups: Coalescer<u32, String, std::io::Error> = Coalescer::new(32);
//! let found = lookups
//!     .fetch(
//!         7,
//!         || async { Ok(Arc::clone(&slots).acquire_owned().await.expect("open")) },
//!         // One round trip answers every key of the batch; a key left
//!         // out of the answer has no row.
//!         |_permit, keys| async move {
//!             Ok(keys.into_iter().map(|k| (k, format!("row {k}"))).collect())
//!         },
//!     )
//!     .await
//!     .expect("no error");
//! assert_eq!(found.as_deref().map(String::as_str), Some("row 7"));
//! # }
//! ```
//!
//! # Why a crate of its own
//!
//! Two store crates use it, `narvik-sqlx` (a `SELECT ... IN (...)` per
//! batch) and `narvik-redis` (a pipeline of `GET`s per batch), and either
//! can be used without the other, so it cannot live in one of them. The
//! other shared home, `narvik-core`, was weighed and turned down:
//!
//! - It would be public API of the crate every user adds: `narvik`
//!   re-exports the core whole, and a type two other crates call must be
//!   public. A tool for store authors does not belong among sessions,
//!   tokens and cookies, and each change to its generic signature would be
//!   a breaking release of the core, which every store and framework
//!   crate depends on.
//! - It knows nothing of narvik: it is generic over the key, the row and
//!   the error, and depends only on tokio's `sync` (a oneshot channel) and
//!   `select!`, with no runtime, timer or I/O. Any store can use it,
//!   including one outside this repository, without taking the core.
//!
//! What it costs is one more crate to version and publish; it changes
//! rarely, and its version moves on its own.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

/// A sensible most lookups one round trip serves: enough to take the
/// per-trip cost out of the picture, few enough that one slow batch holds
/// up little.
pub const DEFAULT_MAX_BATCH: usize = 32;

/// What a waiting lookup gets: its row, no row, or why the batch failed.
type Reply<R, E> = Result<Option<Arc<R>>, Arc<E>>;

/// A queued lookup.
struct Pending<K, R, E> {
    ticket: u64,
    key: K,
    reply: oneshot::Sender<Reply<R, E>>,
}

struct Queue<K, R, E> {
    pending: VecDeque<Pending<K, R, E>>,
    next_ticket: u64,
}

/// Lookups by key `K` of rows `R`, waiting for a connection; round trips
/// fail with `E`. Share one per store (behind an `Arc`) between its clones.
pub struct Coalescer<K, R, E> {
    queue: Mutex<Queue<K, R, E>>,
    max_batch: usize,
    /// Round trips run, and the lookups they served (once per batch each).
    batches: AtomicU64,
    served: AtomicU64,
}

impl<K, R, E> std::fmt::Debug for Coalescer<K, R, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer")
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl<K, R, E> Coalescer<K, R, E>
where
    K: PartialEq + Clone,
{
    /// A coalescer that serves at most `max_batch` lookups per round trip
    /// (at least 1).
    pub fn new(max_batch: usize) -> Self {
        Self {
            queue: Mutex::new(Queue {
                pending: VecDeque::new(),
                next_ticket: 0,
            }),
            max_batch: max_batch.max(1),
            batches: AtomicU64::new(0),
            served: AtomicU64::new(0),
        }
    }

    /// How many round trips `run` has made so far, and how many lookups
    /// they served between them: the second over the first is the mean
    /// batch size.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.batches.load(Ordering::Relaxed),
            self.served.load(Ordering::Relaxed),
        )
    }

    /// The most lookups one round trip serves.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Looks up `key`: queues it, then waits for its answer or for a
    /// connection from `acquire`, whichever comes first. With a
    /// connection, serves the front of the queue with one call of `run`,
    /// which gets the connection and the batch's keys (each at most once
    /// per entry; the same key may appear twice) and returns the rows it
    /// found, each with its key. A key with no row in the answer is
    /// `Ok(None)`.
    ///
    /// Rows are shared: each waiter gets an `Arc` of the row for its key.
    ///
    /// # Errors
    ///
    /// The error of `acquire` if this lookup's own wait for a connection
    /// failed, or the error of the `run` that served it (shared by every
    /// lookup in that batch).
    pub async fn fetch<C, A, AF, F, FF>(&self, key: K, acquire: A, run: F) -> Reply<R, E>
    where
        A: Fn() -> AF,
        AF: Future<Output = Result<C, E>>,
        F: Fn(C, Vec<K>) -> FF,
        FF: Future<Output = Result<Vec<(K, R)>, E>>,
    {
        let mut entry = self.enqueue(key.clone());
        loop {
            let reply = tokio::select! {
                biased;
                reply = &mut entry.reply => reply,
                conn = acquire() => {
                    let conn = conn.map_err(Arc::new)?;
                    let batch = self.take();
                    if batch.is_empty() {
                        drop(conn);
                        (&mut entry.reply).await
                    } else {
                        self.serve(batch, conn, &run).await;
                        continue;
                    }
                }
            };
            match reply {
                Ok(reply) => {
                    entry.answered = true;
                    return reply;
                }
                Err(oneshot::error::RecvError { .. }) => {
                    entry.answered = true;
                    entry = self.enqueue(key.clone());
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue<K, R, E>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enqueue(&self, key: K) -> Entry<'_, K, R, E> {
        let (tx, rx) = oneshot::channel();
        let mut queue = self.lock();
        let ticket = queue.next_ticket;
        queue.next_ticket = ticket.wrapping_add(1);
        queue.pending.push_back(Pending {
            ticket,
            key,
            reply: tx,
        });
        Entry {
            coalescer: self,
            ticket,
            reply: rx,
            answered: false,
        }
    }

    fn take(&self) -> Vec<Pending<K, R, E>> {
        let mut queue = self.lock();
        let n = queue.pending.len().min(self.max_batch);
        queue.pending.drain(..n).collect()
    }

    async fn serve<C, F, FF>(&self, batch: Vec<Pending<K, R, E>>, conn: C, run: &F)
    where
        F: Fn(C, Vec<K>) -> FF,
        FF: Future<Output = Result<Vec<(K, R)>, E>>,
    {
        let keys = batch.iter().map(|p| p.key.clone()).collect();
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.served.fetch_add(batch.len() as u64, Ordering::Relaxed);
        match run(conn, keys).await {
            Ok(rows) => {
                let rows: Vec<(K, Arc<R>)> = rows
                    .into_iter()
                    .map(|(key, row)| (key, Arc::new(row)))
                    .collect();
                for (i, pending) in batch.into_iter().enumerate() {
                    // Answers that keep the batch's order (a pipeline's)
                    // are found at once; others (a query's rows) by search.
                    let row = rows
                        .get(i)
                        .filter(|(key, _)| *key == pending.key)
                        .or_else(|| rows.iter().find(|(key, _)| *key == pending.key))
                        .map(|(_, row)| Arc::clone(row));
                    let _ = pending.reply.send(Ok(row));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for pending in batch {
                    let _ = pending.reply.send(Err(Arc::clone(&e)));
                }
            }
        }
    }
}

struct Entry<'a, K: PartialEq + Clone, R, E> {
    coalescer: &'a Coalescer<K, R, E>,
    ticket: u64,
    reply: oneshot::Receiver<Reply<R, E>>,
    answered: bool,
}

impl<K: PartialEq + Clone, R, E> Drop for Entry<'_, K, R, E> {
    fn drop(&mut self) {
        if !self.answered {
            let ticket = self.ticket;
            self.coalescer
                .lock()
                .pending
                .retain(|pending| pending.ticket != ticket);
        }
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::Semaphore;

    /// Why a fake round trip failed.
    #[derive(Debug, PartialEq)]
    enum Failure {
        NoConnection,
        Statement,
    }

    type Lookups = Coalescer<u8, u8, Failure>;

    /// Keys below this have a row (the key itself); the rest have none.
    const ROWS: u8 = 0x70;

    /// A fake database: `connections` permits, and a statement that takes
    /// a millisecond and counts itself.
    struct Fake {
        connections: Arc<Semaphore>,
        statements: AtomicUsize,
        largest: AtomicUsize,
    }

    impl Fake {
        fn new(connections: usize) -> Self {
            Self {
                connections: Arc::new(Semaphore::new(connections)),
                statements: AtomicUsize::new(0),
                largest: AtomicUsize::new(0),
            }
        }

        async fn lookup(&self, lookups: &Lookups, n: u8) -> Result<Option<u8>, Arc<Failure>> {
            let row = lookups
                .fetch(
                    n,
                    || async {
                        Arc::clone(&self.connections)
                            .acquire_owned()
                            .await
                            .map_err(|_| Failure::NoConnection)
                    },
                    |permit, keys| async move {
                        self.statements.fetch_add(1, Ordering::SeqCst);
                        self.largest.fetch_max(keys.len(), Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        drop(permit);
                        Ok(keys
                            .into_iter()
                            .filter(|&k| k < ROWS)
                            .map(|k| (k, k))
                            .collect())
                    },
                )
                .await?;
            Ok(row.map(|r| *r))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_share_statements_and_each_gets_its_own_row() {
        let fake = Arc::new(Fake::new(2));
        let lookups = Arc::new(Lookups::new(DEFAULT_MAX_BATCH));
        let mut tasks = Vec::new();
        // 0x50..0x90: half with a row, half without, and each key twice.
        for n in (0x50..0x90u8).chain(0x50..0x90u8) {
            let (fake, lookups) = (Arc::clone(&fake), Arc::clone(&lookups));
            tasks.push(tokio::spawn(
                async move { (n, fake.lookup(&lookups, n).await) },
            ));
        }
        for task in tasks {
            let (n, found) = task.await.expect("task");
            let expected = (n < ROWS).then_some(n);
            assert_eq!(found.expect("no error"), expected, "lookup {n}");
        }
        let statements = fake.statements.load(Ordering::SeqCst);
        assert!(statements < 128, "128 lookups took {statements} statements");
        assert_eq!(lookups.counts(), (statements as u64, 128));
        assert!(fake.largest.load(Ordering::SeqCst) > 1);
        assert!(lookups.lock().pending.is_empty());
    }

    #[tokio::test]
    async fn a_lone_lookup_runs_at_once_as_a_batch_of_one() {
        let fake = Fake::new(1);
        let lookups = Lookups::new(DEFAULT_MAX_BATCH);
        assert_eq!(fake.lookup(&lookups, 5).await.expect("ok"), Some(5));
        assert_eq!(fake.lookup(&lookups, 0x90).await.expect("ok"), None);
        assert_eq!(fake.statements.load(Ordering::SeqCst), 2);
        assert_eq!(fake.largest.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn batches_respect_the_limit() {
        let fake = Arc::new(Fake::new(1));
        let lookups = Arc::new(Lookups::new(4));
        let tasks: Vec<_> = (0..20u8)
            .map(|n| {
                let (fake, lookups) = (Arc::clone(&fake), Arc::clone(&lookups));
                tokio::spawn(async move { (n, fake.lookup(&lookups, n).await) })
            })
            .collect();
        for task in tasks {
            let (n, found) = task.await.expect("task");
            assert_eq!(found.expect("ok"), Some(n));
        }
        assert!(fake.largest.load(Ordering::SeqCst) <= 4);
        assert!(fake.statements.load(Ordering::SeqCst) >= 5);
    }

    #[tokio::test]
    async fn a_failed_statement_fails_every_lookup_in_it_and_leaves_no_entry() {
        let lookups = Lookups::new(DEFAULT_MAX_BATCH);
        let err = lookups
            .fetch(
                1,
                || async { Ok(()) },
                |(), _keys| async { Err(Failure::Statement) },
            )
            .await
            .expect_err("the statement failed");
        assert_eq!(*err, Failure::Statement);
        let err = lookups
            .fetch(
                2,
                || async { Err::<(), _>(Failure::NoConnection) },
                |(), _keys| async { Ok(Vec::new()) },
            )
            .await
            .expect_err("no connection");
        assert_eq!(*err, Failure::NoConnection);
        assert!(lookups.lock().pending.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lookups_survive_the_serving_task_being_cancelled() {
        let lookups = Arc::new(Lookups::new(DEFAULT_MAX_BATCH));
        let pause = || tokio::time::sleep(std::time::Duration::from_millis(20));
        // Lookup 2 never gets a connection itself: only a reply can end it.
        let waiting = {
            let lookups = Arc::clone(&lookups);
            tokio::spawn(async move {
                lookups
                    .fetch(
                        2,
                        std::future::pending::<Result<(), Failure>>,
                        |(), keys| async move { Ok(keys.into_iter().map(|k| (k, 2)).collect()) },
                    )
                    .await
            })
        };
        pause().await;
        // Lookup 1 takes the queue (1 and 2) and hangs in its statement.
        let hung = {
            let lookups = Arc::clone(&lookups);
            tokio::spawn(async move {
                lookups
                    .fetch(1, || async { Ok(()) }, |(), _keys| std::future::pending())
                    .await
            })
        };
        pause().await;
        assert!(lookups.lock().pending.is_empty(), "1 took the queue");
        hung.abort();
        pause().await;
        // Lookup 2 noticed and queued again; lookup 3 serves it.
        assert_eq!(lookups.lock().pending.len(), 1, "2 queued again");
        let found = lookups
            .fetch(
                3,
                || async { Ok(()) },
                |(), keys| async move { Ok(keys.into_iter().map(|k| (k, 3)).collect()) },
            )
            .await
            .expect("ok");
        assert_eq!(found.as_deref(), Some(&3));
        let found = waiting.await.expect("task").expect("ok");
        assert_eq!(found.as_deref(), Some(&3), "served by lookup 3's statement");
    }

    #[tokio::test]
    async fn a_lookup_that_gives_up_leaves_the_queue() {
        let lookups = Lookups::new(DEFAULT_MAX_BATCH);
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(10),
            lookups.fetch(
                1,
                std::future::pending::<Result<(), Failure>>,
                |(), _keys| async { Ok(Vec::new()) },
            ),
        )
        .await;
        assert!(gave_up.is_err(), "it had no way to finish");
        assert!(lookups.lock().pending.is_empty());
    }
}
