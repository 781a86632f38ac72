//! How long a store call may take: the bounds, their defaults, and the
//! one place a call is run under its bound.
//!
//! A call's bound covers the wait for a connection and the statements
//! together, on the client (a tokio timer around the whole call). Past
//! it, the call fails with [`Error::Store`] whose source is
//! [`TimedOut`] ([`Error::is_timeout`]). The server is told the same
//! bound where it can be, so that a statement the client gave up on does
//! not run on: each dialect says how (see [`Dialect`]'s implementations
//! and the crate docs).

use std::borrow::Borrow;
use std::future::Future;
use std::time::Duration;

use narvik_core::{BoxError, Error, TimedOut};

use crate::dialect::Dialect;

/// How long each session call (a lookup, a save, an extension, a delete,
/// listing or deleting a user's sessions) may take on PostgreSQL and
/// MySQL/MariaDB unless configured otherwise: the wait for a connection
/// and the statement together. Redis's store uses the same.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// How long each batch of a purge (one `DELETE` of at most the purge
/// batch size's rows) may take unless configured otherwise. A purge runs
/// in the background, and a batch of thousands of rows can take a while
/// on a busy server; a stalled one still ends.
pub const DEFAULT_PURGE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `migrate()` may take, whole, unless configured otherwise. It
/// runs at start-up and may wait for another process's migration (a lock)
/// or for a table in use; a dead server still fails it.
pub const DEFAULT_MIGRATE_TIMEOUT: Duration = Duration::from_secs(60);

/// A store's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// Each session call.
    pub(crate) call: Duration,
    /// Each purge batch.
    pub(crate) purge: Duration,
    /// The whole migration.
    pub(crate) migrate: Duration,
}

impl Timeouts {
    /// The defaults for `DB`.
    pub(crate) fn defaults<DB: Dialect>() -> Self {
        Self {
            call: DB::DEFAULT_TIMEOUT,
            purge: DEFAULT_PURGE_TIMEOUT,
            migrate: DEFAULT_MIGRATE_TIMEOUT,
        }
    }
}

/// One store call: what it does, for its errors, and its bound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound {
    context: &'static str,
    after: Duration,
}

impl Bound {
    pub(crate) fn new(context: &'static str, after: Duration) -> Self {
        Self { context, after }
    }

    /// Runs `call` (connection wait and statements), failing with a
    /// [`TimedOut`] store error if it is not done within the bound. The
    /// call's own errors are made with [`error`](Self::error).
    ///
    /// Dropping `call` at the bound hands its connection back to the pool
    /// mid-statement: sqlx then waits for the statement's end (a ping)
    /// before lending it again, which the server's own limit brings.
    pub(crate) async fn run<DB: Dialect, T>(
        self,
        call: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.after, call).await {
            Ok(result) => result,
            Err(_) => Err(Error::store(
                self.context,
                TimedOut::new(DB::NAME, self.after),
            )),
        }
    }

    /// A driver error of this call: a [`TimedOut`] store error when it is
    /// a timeout too (the pool gave up waiting for a connection, or the
    /// server cancelled the statement at its limit), else a plain store
    /// error with the driver's error as its source.
    pub(crate) fn error<DB: Dialect, E>(self, err: E) -> Error
    where
        E: Borrow<sqlx::Error> + Into<BoxError>,
    {
        let timed_out = match err.borrow() {
            sqlx::Error::PoolTimedOut => true,
            sqlx::Error::Database(db) => DB::cancelled_at_limit(db.as_ref()),
            _ => false,
        };
        if timed_out {
            Error::store(
                self.context,
                TimedOut::new(DB::NAME, self.after).with_cause(err),
            )
        } else {
            Error::store(self.context, err)
        }
    }
}

/// `after` in whole milliseconds, rounded up, at least 1 and at most
/// `max`: what a server's limit in milliseconds is set to (0 would mean
/// "no limit"). SQLite has no server limit to set.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn millis(after: Duration, max: u64) -> u64 {
    let ms = after.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).clamp(1, max)
}

#[cfg(all(test, any(feature = "postgres", feature = "mysql")))]
mod tests {
    use super::*;

    #[test]
    fn limits_in_milliseconds_round_up_and_never_mean_no_limit() {
        assert_eq!(millis(Duration::ZERO, 100), 1);
        assert_eq!(millis(Duration::from_micros(1), 100), 1);
        assert_eq!(millis(Duration::from_micros(1_001), 100), 2);
        assert_eq!(millis(Duration::from_millis(500), 1_000), 500);
        assert_eq!(millis(Duration::MAX, 1_000), 1_000);
    }

    /// A pool that gave up waiting for a connection ran out of the
    /// call's time: a timeout, naming the bound. Other driver errors are
    /// not.
    #[cfg(feature = "postgres")]
    #[test]
    fn a_pool_timeout_is_a_timeout_and_other_errors_are_not() {
        let bound = Bound::new("fetch session", Duration::from_millis(500));
        let err = bound.error::<sqlx::Postgres, _>(sqlx::Error::PoolTimedOut);
        assert!(err.is_timeout(), "{err:?}");
        let Error::Store { source, .. } = &err else {
            panic!("{err:?} is not a store error");
        };
        let timed_out = source.downcast_ref::<TimedOut>().expect("a TimedOut");
        assert_eq!(timed_out.after(), Duration::from_millis(500));
        let err = bound.error::<sqlx::Postgres, _>(sqlx::Error::RowNotFound);
        assert!(!err.is_timeout(), "{err:?}");
    }
}
