//! A background task that purges expired sessions on a period (feature
//! `tokio`).
//!
//! Works with any [`PurgeableStore`]: [`MemoryStore`](crate::store::MemoryStore),
//! the SQL and Redis stores, a store of your own. Each run calls
//! [`PurgeableStore::delete_all_expired_sessions`] with the clock's `now`
//! (never the database's clock, so the boundary is narvik's: `expires_at <=
//! now` is expired). A failed run is logged with `tracing` and retried on
//! the next tick: a database blip must not end the task.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::store::PurgeableStore;
use crate::{Clock, SystemClock};

/// The handle of a running purge task.
///
/// [`shutdown`](Self::shutdown) stops it and waits for it; dropping the
/// handle stops it too, without waiting. A purge in progress is never cut
/// off mid-statement: the task stops between runs.
///
/// The task needs a tokio runtime with its time driver (tokio's `time`
/// feature, on in any `#[tokio::main]` runtime).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use narvik_core::{Narvik, PurgeTask, store::MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = Arc::new(MemoryStore::<()>::new());
/// let narvik = Narvik::new(Arc::clone(&store));
/// let purge = PurgeTask::spawn(store, Duration::from_secs(600));
/// // ... serve requests with `narvik` ...
/// # let _ = narvik;
/// purge.shutdown().await;
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug)]
#[must_use = "dropping the handle stops the task"]
pub struct PurgeTask {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl PurgeTask {
    /// Spawns a task on the current tokio runtime that purges `store` every
    /// `period`, the first time right away, using the system clock. The
    /// period is counted from the end of each run, so a purge slower than
    /// the period is never followed by another at once.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or if `period` is zero (both from
    /// `tokio`).
    pub fn spawn<S>(store: Arc<S>, period: Duration) -> Self
    where
        S: PurgeableStore + ?Sized + 'static,
    {
        Self::spawn_with_clock(store, period, SystemClock)
    }

    /// Like [`spawn`](Self::spawn), reading `now` from `clock`.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or if `period` is zero (both from
    /// `tokio`).
    pub fn spawn_with_clock<S, C>(store: Arc<S>, period: Duration, clock: C) -> Self
    where
        S: PurgeableStore + ?Sized + 'static,
        C: Clock,
    {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let mut ticks = tokio::time::interval(period);
        // A stalled runtime catches up with one run, not a burst.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    // A send or a dropped handle both mean stop.
                    _ = &mut stopped => break,
                    _ = ticks.tick() => {}
                }
                match store.delete_all_expired_sessions(clock.now()).await {
                    Ok(removed) => tracing::debug!(removed, "purged expired sessions"),
                    Err(error) => {
                        tracing::warn!(
                            error = &error as &dyn std::error::Error,
                            "session purge failed; retrying next period"
                        );
                    }
                }
                // The next run is a whole period after this one ended: a
                // purge slower than the period must not run back to back
                // (which the missed tick alone would do once).
                ticks.reset();
            }
        });
        Self {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the task and waits until it has finished; a purge in progress
    /// completes first.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // The task may already be gone (it never exits on its own, but
            // the runtime may be shutting down): nothing to tell it then.
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
            && error.is_panic()
        {
            tracing::error!("session purge task panicked");
        }
    }

    /// True once the task has stopped.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }
}
