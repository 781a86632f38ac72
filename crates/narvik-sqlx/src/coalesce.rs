//! Coalescing of concurrent session lookups into one statement.
//!
//! Under load, most of what a validate costs is per statement, on both
//! sides of the connection: the round trip, the protocol messages, the
//! executor start-up. The row itself is cheap. So when validates queue up
//! for a connection, the task that gets one looks up every session queued
//! so far in a single `SELECT ... WHERE id IN (...)` and hands each waiting
//! task its row. A lone lookup with a connection free runs at once, as the
//! one-id statement, so nothing waits for a batch to fill.
//!
//! How a lookup goes:
//!
//! 1. It joins the queue.
//! 2. It waits for whichever comes first: its reply, or a connection from
//!    the pool.
//! 3. With a connection, it takes the front of the queue (its own entry,
//!    unless another task took it already), runs one statement for the
//!    batch and replies to every entry in it. Then it waits again.
//!
//! If the task serving a batch is cancelled (its request was dropped, say),
//! the replies it owed are dropped with it; each waiting task sees that and
//! queues again, so no lookup is lost. A task that stops waiting takes its
//! entry out of the queue, so a failing pool cannot grow the queue.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use narvik_core::{Error, SessionId};
use tokio::sync::oneshot;

/// Gets a connection for [`Coalescer::fetch`] without letting a
/// cancelled wait abort a connection halfway open.
///
/// A waiting lookup stops waiting for a connection as soon as another
/// task answers it, which drops its `acquire`. While the pool is still
/// opening connections, that `acquire` may be the one opening a new
/// connection: dropped mid-handshake, the server has started a backend for
/// nothing and the pool stays small, so lookups queue on too few
/// connections (seen as half the throughput and ten times the p99 under
/// load). So while the pool is below its size, the wait runs in a task of
/// its own, which finishes opening the connection and hands it back to the
/// pool if nobody wants it any more. A full pool only hands out idle
/// connections, and that wait is safe to drop.
pub(crate) fn acquire<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
) -> impl Future<Output = Result<sqlx::pool::PoolConnection<DB>, sqlx::Error>> + Send + 'static {
    let pool = pool.clone();
    async move {
        if pool.size() >= pool.options().get_max_connections() {
            return pool.acquire().await;
        }
        let opening = tokio::spawn(pool.acquire());
        match opening.await {
            Ok(result) => result,
            Err(e) => Err(sqlx::Error::Io(std::io::Error::other(e))),
        }
    }
}

/// The rows of a batch lookup, each with its session id from the `id`
/// column.
pub(crate) fn keyed_rows<R>(rows: Vec<R>) -> Result<Vec<(SessionId, R)>, sqlx::Error>
where
    R: sqlx::Row,
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    let mut keyed = Vec::with_capacity(rows.len());
    for row in rows {
        let id: &str = row.try_get("id")?;
        // Only ids that were asked for come back, and those all parse.
        if let Ok(id) = crate::columns::decode_id(id) {
            keyed.push((id, row));
        }
    }
    Ok(keyed)
}

/// The default for the most lookups one statement serves.
pub(crate) const DEFAULT_MAX_BATCH: usize = 32;

/// What a waiting lookup gets: its row, no row, or why the batch failed.
type Reply<R> = Result<Option<Arc<R>>, Arc<sqlx::Error>>;

/// A queued lookup.
struct Pending<R> {
    ticket: u64,
    id: SessionId,
    reply: oneshot::Sender<Reply<R>>,
}

struct Queue<R> {
    pending: VecDeque<Pending<R>>,
    next_ticket: u64,
}

/// Lookups waiting for a connection, shared by a store's clones.
pub(crate) struct Coalescer<R> {
    queue: Mutex<Queue<R>>,
    max_batch: usize,
}

impl<R> std::fmt::Debug for Coalescer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer")
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl<R: Send + Sync> Coalescer<R> {
    /// A coalescer that serves at most `max_batch` lookups per statement
    /// (at least 1).
    pub(crate) fn new(max_batch: usize) -> Self {
        Self {
            queue: Mutex::new(Queue {
                pending: VecDeque::new(),
                next_ticket: 0,
            }),
            max_batch: max_batch.max(1),
        }
    }

    /// The most lookups one statement serves.
    pub(crate) fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Looks up `id`, alone or in a batch with concurrent lookups.
    ///
    /// `acquire` gets a connection; `run` looks up a batch of ids (never
    /// empty) on it and returns the rows found, each with its id. `context`
    /// names the operation in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if no connection could be had or the statement
    /// serving this lookup failed.
    pub(crate) async fn fetch<C, A, AF, F, FF>(
        &self,
        id: SessionId,
        context: &'static str,
        acquire: A,
        run: F,
    ) -> Result<Option<Arc<R>>, Error>
    where
        A: Fn() -> AF,
        AF: Future<Output = Result<C, sqlx::Error>>,
        F: Fn(C, Vec<SessionId>) -> FF,
        FF: Future<Output = Result<Vec<(SessionId, R)>, sqlx::Error>>,
    {
        let mut entry = self.enqueue(id);
        loop {
            let reply = tokio::select! {
                biased;
                reply = &mut entry.reply => reply,
                conn = acquire() => {
                    let conn = conn.map_err(|e| Error::store(context, e))?;
                    let batch = self.take();
                    if batch.is_empty() {
                        // Another task is serving this lookup right now.
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
                    return reply.map_err(|e| Error::store(context, e));
                }
                // The task serving it was cancelled: queue again.
                Err(oneshot::error::RecvError { .. }) => {
                    entry.answered = true;
                    entry = self.enqueue(id);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue<R>> {
        // The lock is never held across user code that can panic, but a
        // poisoned queue is still a consistent queue.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enqueue(&self, id: SessionId) -> Entry<'_, R> {
        let (tx, rx) = oneshot::channel();
        let mut queue = self.lock();
        let ticket = queue.next_ticket;
        queue.next_ticket = ticket.wrapping_add(1);
        queue.pending.push_back(Pending {
            ticket,
            id,
            reply: tx,
        });
        Entry {
            coalescer: self,
            ticket,
            reply: rx,
            answered: false,
        }
    }

    /// The front of the queue, up to a batch.
    fn take(&self) -> Vec<Pending<R>> {
        let mut queue = self.lock();
        let n = queue.pending.len().min(self.max_batch);
        queue.pending.drain(..n).collect()
    }

    /// Runs one statement for `batch` and replies to every entry in it.
    async fn serve<C, F, FF>(&self, batch: Vec<Pending<R>>, conn: C, run: &F)
    where
        F: Fn(C, Vec<SessionId>) -> FF,
        FF: Future<Output = Result<Vec<(SessionId, R)>, sqlx::Error>>,
    {
        let ids = batch.iter().map(|p| p.id).collect();
        match run(conn, ids).await {
            Ok(rows) => {
                let rows: Vec<(SessionId, Arc<R>)> = rows
                    .into_iter()
                    .map(|(id, row)| (id, Arc::new(row)))
                    .collect();
                for pending in batch {
                    // Batches are small (a few per connection), so a scan
                    // beats building a map. The same id twice in a batch
                    // (one token in two requests) shares one row.
                    let row = rows
                        .iter()
                        .find(|(id, _)| *id == pending.id)
                        .map(|(_, row)| Arc::clone(row));
                    // A waiter that gave up has dropped its receiver.
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

/// A lookup's place in the queue; leaves the queue when dropped unanswered,
/// so a lookup that gave up (an error, or its caller went away) is not
/// served to nobody.
struct Entry<'a, R: Send + Sync> {
    coalescer: &'a Coalescer<R>,
    ticket: u64,
    reply: oneshot::Receiver<Reply<R>>,
    answered: bool,
}

impl<R: Send + Sync> Drop for Entry<'_, R> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::Semaphore;

    fn id(n: u8) -> SessionId {
        let hex: String = format!("{n:02x}").repeat(32);
        SessionId::parse(&hex).expect("valid id")
    }

    /// A fake database: `connections` permits, every id below 100 exists
    /// (its row is the id's first byte), a statement takes a millisecond.
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

        async fn lookup(&self, coalescer: &Coalescer<u8>, n: u8) -> Result<Option<u8>, Error> {
            let row = coalescer
                .fetch(
                    id(n),
                    "fetch session",
                    || async {
                        Arc::clone(&self.connections)
                            .acquire_owned()
                            .await
                            .map_err(|_| sqlx::Error::PoolClosed)
                    },
                    |permit, ids| async move {
                        self.statements.fetch_add(1, Ordering::SeqCst);
                        self.largest.fetch_max(ids.len(), Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        drop(permit);
                        Ok(ids
                            .into_iter()
                            .filter(|id| id.to_string().as_bytes()[0] < b'7')
                            .map(|id| {
                                (
                                    id,
                                    u8::from_str_radix(&id.to_string()[..2], 16).unwrap_or(0),
                                )
                            })
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
        let coalescer = Arc::new(Coalescer::new(DEFAULT_MAX_BATCH));
        let mut tasks = Vec::new();
        for n in 0..64u8 {
            let (fake, coalescer) = (Arc::clone(&fake), Arc::clone(&coalescer));
            tasks.push(tokio::spawn(async move {
                (n, fake.lookup(&coalescer, n).await)
            }));
        }
        for task in tasks {
            let (n, found) = task.await.expect("task");
            // Ids whose hex starts with 0-6 exist; the rest do not.
            let expected = (format!("{n:02x}").as_bytes()[0] < b'7').then_some(n);
            assert_eq!(found.expect("no error"), expected, "lookup {n}");
        }
        let statements = fake.statements.load(Ordering::SeqCst);
        assert!(statements < 64, "64 lookups took {statements} statements");
        assert!(fake.largest.load(Ordering::SeqCst) > 1);
        assert!(coalescer.lock().pending.is_empty());
    }

    #[tokio::test]
    async fn a_lone_lookup_runs_at_once_as_a_batch_of_one() {
        let fake = Fake::new(1);
        let coalescer = Coalescer::new(DEFAULT_MAX_BATCH);
        assert_eq!(fake.lookup(&coalescer, 5).await.expect("ok"), Some(5));
        assert_eq!(fake.lookup(&coalescer, 0x90).await.expect("ok"), None);
        assert_eq!(fake.statements.load(Ordering::SeqCst), 2);
        assert_eq!(fake.largest.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn batches_respect_the_limit() {
        let fake = Arc::new(Fake::new(1));
        let coalescer = Arc::new(Coalescer::new(4));
        let tasks: Vec<_> = (0..20u8)
            .map(|n| {
                let (fake, coalescer) = (Arc::clone(&fake), Arc::clone(&coalescer));
                tokio::spawn(async move { (n, fake.lookup(&coalescer, n).await) })
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
        let coalescer = Coalescer::<u8>::new(DEFAULT_MAX_BATCH);
        let err = coalescer
            .fetch(
                id(1),
                "fetch session",
                || async { Ok(()) },
                |(), _ids| async { Err(sqlx::Error::PoolTimedOut) },
            )
            .await
            .expect_err("the statement failed");
        assert!(matches!(err, Error::Store { .. }), "{err:?}");
        let err = coalescer
            .fetch(
                id(2),
                "fetch session",
                || async { Err::<(), _>(sqlx::Error::PoolTimedOut) },
                |(), _ids| async { Ok(Vec::new()) },
            )
            .await
            .expect_err("no connection");
        assert!(err.to_string().contains("fetch session"), "{err}");
        assert!(coalescer.lock().pending.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lookups_survive_the_serving_task_being_cancelled() {
        let coalescer = Arc::new(Coalescer::<u8>::new(DEFAULT_MAX_BATCH));
        let pause = || tokio::time::sleep(std::time::Duration::from_millis(20));
        // Lookup 2 never gets a connection itself: only a reply can end it.
        let waiting = {
            let coalescer = Arc::clone(&coalescer);
            tokio::spawn(async move {
                coalescer
                    .fetch(
                        id(2),
                        "fetch session",
                        std::future::pending::<Result<(), sqlx::Error>>,
                        |(), ids| async move { Ok(ids.into_iter().map(|id| (id, 2)).collect()) },
                    )
                    .await
            })
        };
        pause().await;
        // Lookup 1 takes the queue (1 and 2) and hangs in its statement.
        let hung = {
            let coalescer = Arc::clone(&coalescer);
            tokio::spawn(async move {
                coalescer
                    .fetch(
                        id(1),
                        "fetch session",
                        || async { Ok(()) },
                        |(), _ids| std::future::pending(),
                    )
                    .await
            })
        };
        pause().await;
        assert!(coalescer.lock().pending.is_empty(), "1 took the queue");
        hung.abort();
        pause().await;
        // Lookup 2 noticed and queued again; lookup 3 serves it.
        assert_eq!(coalescer.lock().pending.len(), 1, "2 queued again");
        let found = coalescer
            .fetch(
                id(3),
                "fetch session",
                || async { Ok(()) },
                |(), ids| async move { Ok(ids.into_iter().map(|id| (id, 3)).collect()) },
            )
            .await
            .expect("ok");
        assert_eq!(found.as_deref(), Some(&3));
        let found = waiting.await.expect("task").expect("ok");
        assert_eq!(found.as_deref(), Some(&3), "served by lookup 3's statement");
    }
}
