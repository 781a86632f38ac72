//! [`SqlStoreBuilder`]: a server store's bound and pool, set before it
//! connects.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use narvik_core::Error;
use sqlx::pool::PoolOptions;

use crate::SqlStore;
use crate::dialect::{Dialect, private};

/// The connect options of `DB`'s connections.
type Options<DB> = <<DB as sqlx::Database>::Connection as sqlx::Connection>::Options;

/// Builds a [`PostgresStore`](crate::PostgresStore) or
/// [`MySqlStore`](crate::MySqlStore) that connects itself: the session
/// calls' bound and the pool options, then the server. Start it with
/// [`SqlStore::builder`].
///
/// The builder sets the pool's acquire timeout to at most the bound, and,
/// on PostgreSQL, `statement_timeout` on every connection to the bound,
/// so that the server ends a statement when the store stops waiting for
/// it. The purge and migration bounds are set on the store
/// ([`SqlStore::with_purge_timeout`], [`SqlStore::with_migrate_timeout`]).
#[must_use]
pub struct SqlStoreBuilder<DB: Dialect, D = ()> {
    timeout: Duration,
    pool: PoolOptions<DB>,
    _data: PhantomData<fn() -> D>,
}

impl<DB: Dialect, D> fmt::Debug for SqlStoreBuilder<DB, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStoreBuilder")
            .field("database", &<DB as sqlx::Database>::NAME)
            .field("timeout", &self.timeout)
            .field("pool", &self.pool)
            .finish()
    }
}

impl<DB: Dialect + private::Server, D> SqlStoreBuilder<DB, D> {
    pub(crate) fn new() -> Self {
        Self {
            timeout: DB::DEFAULT_TIMEOUT,
            pool: SqlStore::<DB, D>::pool_options(),
            _data: PhantomData,
        }
    }

    /// Bounds each session call to `timeout`
    /// ([`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT), 500 ms, by default):
    /// see [`SqlStore::with_timeout`]. Here it also bounds the server's
    /// statements (PostgreSQL's `statement_timeout` on each connection)
    /// and the pool's wait for a connection.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The pool to build ([`SqlStore::pool_options`] by default); its
    /// acquire timeout is lowered to the bound if it is longer.
    pub fn pool_options(mut self, options: PoolOptions<DB>) -> Self {
        self.pool = options;
        self
    }

    /// Connects to `url` (`postgres://user:password@host/database`,
    /// `mysql://user:password@host/database`). Run
    /// [`migrate`](SqlStore::migrate) before first use.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the URL does not parse, or the server cannot be
    /// reached or refuses the connection within the bound.
    pub async fn connect(self, url: &str) -> Result<SqlStore<DB, D>, Error> {
        let options = url
            .parse::<Options<DB>>()
            .map_err(|e| Error::store(format!("parse {} url", <DB as sqlx::Database>::NAME), e))?;
        self.connect_with(options).await
    }

    /// Connects with `options` (the server, credentials, TLS and the
    /// like).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the server cannot be reached or refuses the
    /// connection within the bound.
    pub async fn connect_with(self, options: Options<DB>) -> Result<SqlStore<DB, D>, Error> {
        let acquire = self.pool.get_acquire_timeout().min(self.timeout);
        let pool = self
            .pool
            .acquire_timeout(acquire)
            .connect_with(DB::limit_connections(options, self.timeout))
            .await
            .map_err(|e| Error::store(format!("connect to {}", <DB as sqlx::Database>::NAME), e))?;
        Ok(SqlStore::new(pool).with_timeout(self.timeout))
    }
}
