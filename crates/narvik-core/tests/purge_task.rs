//! `PurgeTask` against `MemoryStore` and against stores that record or fail
//! their purges. Tokio's clock is paused: a test moves time with `sleep`,
//! which returns as soon as every task is idle, so nothing waits for real
//! time and runs are counted exactly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use narvik_core::store::{MemoryStore, PurgeableStore, SessionStore};
use narvik_core::{Clock, Error, ManualClock, PurgeTask, Session, Timestamp, Token};

const PERIOD: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Sleeps to half a period past the next `periods` ticks, so the test
/// never wakes at the same instant as the task.
async fn let_pass(periods: u32) {
    tokio::time::sleep(PERIOD * periods).await;
}

/// Moves from time zero to the middle of the first period: the task has
/// made its first run (at once) and no other.
async fn past_the_first_run() {
    tokio::time::sleep(PERIOD / 2).await;
}

fn session(expires_at: Timestamp) -> Session {
    Session::new(
        Token::generate().expect("os rng").session_id(),
        "user-1",
        Timestamp::from_unix_millis(0),
        expires_at,
        (),
    )
}

/// Records the `now` of every purge; fails each one while `failing` is
/// set; takes `slow` of tokio time per purge.
#[derive(Default)]
struct Recorder {
    runs: Mutex<Vec<Timestamp>>,
    failing: AtomicBool,
    slow: Option<Duration>,
}

impl Recorder {
    fn runs(&self) -> Vec<Timestamp> {
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl PurgeableStore for Recorder {
    async fn delete_all_expired_sessions(&self, now: Timestamp) -> Result<u64, Error> {
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(now);
        if let Some(slow) = self.slow {
            tokio::time::sleep(slow).await;
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::store(
                "purge",
                std::io::Error::other("the backend is down"),
            ));
        }
        Ok(0)
    }
}

#[tokio::test(start_paused = true)]
async fn the_purge_task_purges_on_its_period_with_its_clock_and_shuts_down() {
    let store = Arc::new(MemoryStore::<()>::new());
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_700_000_000_000));
    let s = session(clock.now() + HOUR);
    store.save_session(&s).await.expect("save");
    let task = PurgeTask::spawn_with_clock(Arc::clone(&store), PERIOD, clock.clone());
    // Not expired on the task's clock: several periods pass, it stays.
    past_the_first_run().await;
    let_pass(3).await;
    assert!(store.fetch_session(&s.id).await.expect("fetch").is_some());
    // Expired at exactly expires_at (narvik's boundary): the next run
    // removes it.
    clock.set(s.expires_at);
    let_pass(1).await;
    assert!(store.fetch_session(&s.id).await.expect("fetch").is_none());
    assert!(!task.is_finished());
    tokio::time::timeout(PERIOD, task.shutdown())
        .await
        .expect("shutdown must finish without waiting for a period");
}

#[tokio::test(start_paused = true)]
async fn the_purge_task_runs_at_once_then_once_a_period_at_its_clocks_now() {
    let store = Arc::new(Recorder::default());
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_700_000_000_000));
    let task = PurgeTask::spawn_with_clock(Arc::clone(&store), PERIOD, clock.clone());
    past_the_first_run().await;
    let mut expected = vec![clock.now()];
    assert_eq!(store.runs(), expected);
    for _ in 0..3 {
        clock.advance(PERIOD);
        let_pass(1).await;
        expected.push(clock.now());
        assert_eq!(store.runs(), expected);
    }
    task.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_purge_task_survives_store_errors() {
    let store = Arc::new(Recorder::default());
    store.failing.store(true, Ordering::SeqCst);
    let task = PurgeTask::spawn(Arc::clone(&store), PERIOD);
    past_the_first_run().await;
    let_pass(4).await;
    assert!(!task.is_finished(), "a failed purge ended the task");
    assert_eq!(store.runs().len(), 5, "every period retries");
    // The store comes back: the task is still purging.
    store.failing.store(false, Ordering::SeqCst);
    let_pass(1).await;
    assert_eq!(store.runs().len(), 6);
    task.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_stops_the_task() {
    let store = Arc::new(Recorder::default());
    let task = PurgeTask::spawn(Arc::clone(&store), PERIOD);
    past_the_first_run().await;
    drop(task);
    let_pass(5).await;
    assert_eq!(store.runs().len(), 1);
    // The task held the only other reference to the store.
    assert_eq!(Arc::strong_count(&store), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_a_purge_in_progress_finish() {
    let store = Arc::new(Recorder {
        slow: Some(PERIOD / 4),
        ..Recorder::default()
    });
    let task = PurgeTask::spawn(Arc::clone(&store), PERIOD);
    // Inside the first, slow, purge.
    tokio::time::sleep(PERIOD / 8).await;
    let started = tokio::time::Instant::now();
    task.shutdown().await;
    assert_eq!(started.elapsed(), PERIOD / 8, "waited for the purge to end");
    assert_eq!(store.runs().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn after_a_slow_purge_the_next_waits_a_whole_period() {
    // Each purge takes two and a half periods.
    let store = Arc::new(Recorder {
        slow: Some(PERIOD * 5 / 2),
        ..Recorder::default()
    });
    let task = PurgeTask::spawn(Arc::clone(&store), PERIOD);
    // First run from 0 to 2.5 periods; the next starts no sooner than 3.5.
    tokio::time::sleep(PERIOD * 3).await;
    assert_eq!(store.runs().len(), 1, "a missed tick ran back to back");
    tokio::time::sleep(PERIOD).await;
    assert_eq!(store.runs().len(), 2);
    drop(task);
}

/// A store whose purge panics.
struct Panicking;

impl PurgeableStore for Panicking {
    async fn delete_all_expired_sessions(&self, _now: Timestamp) -> Result<u64, Error> {
        panic!("the store's purge panicked");
    }
}

#[tokio::test(start_paused = true)]
async fn a_task_that_died_says_it_is_finished() {
    let task = PurgeTask::spawn(Arc::new(Panicking), PERIOD);
    past_the_first_run().await;
    assert!(task.is_finished(), "the task panicked in its first run");
    // Shutting down a dead task still returns.
    task.shutdown().await;
}
