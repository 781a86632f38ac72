//! [`SqlStore`]: the one implementation of narvik's store traits for SQL,
//! over any [`Dialect`].
//!
//! The generic code needs sqlx to bind and decode `&str`, bind `i64` and
//! run statements on a connection; every dialect does, and the `where`
//! clauses below say so (Rust does not carry such bounds on a trait).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore};
use narvik_core::{Error, Session, SessionId, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::pool::PoolOptions;
use sqlx::{ColumnIndex, Decode, Encode, Executor, Pool, Row, Type};

use crate::coalesce::{self, Coalescer};
use crate::columns::{decode_id, encode_data, insert_error, session_from_row};
use crate::dialect::{Dialect, private};
use crate::statements::Statements;
use crate::{DEFAULT_PURGE_BATCH_SIZE, TableName, schema};

/// A session store in a SQL table, on sqlx. Use it by its database's name:
/// [`SqliteStore`](crate::SqliteStore), [`PostgresStore`](crate::PostgresStore)
/// or [`MySqlStore`](crate::MySqlStore); each module documents its
/// constructors and schema.
///
/// `DB` is the database ([`sqlx::Sqlite`], [`sqlx::Postgres`],
/// [`sqlx::MySql`]); `D` is the session data type, stored as JSON.
///
/// Cloning is cheap: clones share the pools, the statements and the
/// lookup queue.
pub struct SqlStore<DB: Dialect, D = ()> {
    reader: Pool<DB>,
    writer: Pool<DB>,
    table: TableName,
    sql: Arc<Statements>,
    purge_batch_size: u32,
    lookups: Arc<Coalescer<DB::Row>>,
    _data: PhantomData<fn() -> D>,
}

impl<DB: Dialect, D> Clone for SqlStore<DB, D> {
    fn clone(&self) -> Self {
        Self {
            reader: self.reader.clone(),
            writer: self.writer.clone(),
            table: self.table.clone(),
            sql: Arc::clone(&self.sql),
            purge_batch_size: self.purge_batch_size,
            lookups: Arc::clone(&self.lookups),
            _data: PhantomData,
        }
    }
}

impl<DB: Dialect, D> fmt::Debug for SqlStore<DB, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("database", &<DB as sqlx::Database>::NAME)
            .field("table", &self.table)
            .field("purge_batch_size", &self.purge_batch_size)
            .field("lookup_batch_size", &self.lookups.max_batch())
            .finish_non_exhaustive()
    }
}

impl<DB: Dialect, D> SqlStore<DB, D> {
    /// A store over separate read and write pools (the same pool twice
    /// where the database needs no split), on the default table.
    pub(crate) fn from_parts(reader: Pool<DB>, writer: Pool<DB>) -> Self {
        let table = TableName::default();
        Self {
            reader,
            writer,
            sql: Arc::new(Statements::new::<DB>(&table)),
            table,
            purge_batch_size: DEFAULT_PURGE_BATCH_SIZE,
            lookups: Arc::new(Coalescer::new(DB::DEFAULT_LOOKUP_BATCH)),
            _data: PhantomData,
        }
    }

    /// The pool reads go through: for SQLite, a pool of its own beside the
    /// one writer; for the others, the one pool.
    #[must_use]
    pub fn read_pool(&self) -> &Pool<DB> {
        &self.reader
    }

    /// The pool writes go through.
    #[must_use]
    pub fn write_pool(&self) -> &Pool<DB> {
        &self.writer
    }

    /// Uses `table` instead of `narvik_sessions`.
    #[must_use]
    pub fn with_table_name(mut self, table: TableName) -> Self {
        self.sql = Arc::new(Statements::new::<DB>(&table));
        self.table = table;
        self
    }

    /// Deletes at most `size` rows per statement when purging (0 counts as
    /// 1). The default is [`DEFAULT_PURGE_BATCH_SIZE`].
    #[must_use]
    pub fn with_purge_batch_size(mut self, size: u32) -> Self {
        self.purge_batch_size = size.max(1);
        self
    }

    /// Looks up at most `size` sessions per statement when validates queue
    /// for a connection (0 counts as 1; 1 turns coalescing off). The
    /// default is 32 for PostgreSQL and MySQL, 1 for SQLite, whose
    /// lookups do not cross a network.
    ///
    /// When all of the read pool's connections are busy, lookups wait in a
    /// queue, and the next one to get a connection serves the whole queue
    /// (up to `size`) with one `SELECT ... WHERE id = ANY($1)` (PostgreSQL)
    /// or `... WHERE id IN (...)`. With a connection free, a lookup runs at
    /// once on its own, so this adds no latency; under load it saves the
    /// per-statement cost that dominates a primary-key lookup.
    #[must_use]
    pub fn with_lookup_batch_size(mut self, size: usize) -> Self {
        self.lookups = Arc::new(Coalescer::new(size));
        self
    }

    /// The table this store uses.
    #[must_use]
    pub fn table_name(&self) -> &TableName {
        &self.table
    }

    /// The statements [`migrate`](Self::migrate) runs, for your own
    /// migration tool: the module's schema, for this store's table name.
    #[must_use]
    pub fn migration_sql(&self) -> Vec<String> {
        schema::statements::<DB>(&self.table)
    }

    /// Creates the table and its indexes if they do not exist. Safe to run
    /// on every start, and from several processes at once (each module
    /// says how its database keeps them apart).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a connection cannot be had or a statement fails.
    pub async fn migrate(&self) -> Result<(), Error> {
        let fail = |e| Error::store("migrate session table", e);
        let mut conn = self.writer.acquire().await.map_err(fail)?;
        DB::migrate(&mut conn, &self.table, &self.migration_sql())
            .await
            .map_err(fail)
    }

    /// Closes the pools, waiting for statements in progress.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// The constructors of the stores on a database server
/// ([`PostgresStore`](crate::PostgresStore), [`MySqlStore`](crate::MySqlStore)):
/// one pool, for reads and writes alike.
impl<DB: Dialect + private::Server, D> SqlStore<DB, D> {
    /// Connects a pool built from [`pool_options`](Self::pool_options) to
    /// `url` (`postgres://user:password@host/database`,
    /// `mysql://user:password@host/database`). Run
    /// [`migrate`](Self::migrate) before first use.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the server cannot be reached or refuses the
    /// connection.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let pool = Self::pool_options()
            .connect(url)
            .await
            .map_err(|e| Error::store(format!("connect to {}", <DB as sqlx::Database>::NAME), e))?;
        Ok(Self::new(pool))
    }

    /// The pool options [`connect`](Self::connect) uses, to start your own
    /// pool from: sqlx's defaults, except that a connection is not pinged
    /// each time it is taken from the pool.
    ///
    /// sqlx's default pings before every use, which doubles the round trips
    /// of a validate. Without it, a connection the server has dropped fails
    /// the one statement that finds it dropped, with an
    /// [`Error::Store`]; sqlx then discards it and the next call opens a
    /// fresh one.
    #[must_use]
    pub fn pool_options() -> PoolOptions<DB> {
        PoolOptions::new().test_before_acquire(false)
    }

    /// A store over a pool you built (see [`pool_options`](Self::pool_options)).
    #[must_use]
    pub fn new(pool: Pool<DB>) -> Self {
        Self::from_parts(pool.clone(), pool)
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &Pool<DB> {
        &self.writer
    }
}

impl<DB, D> SessionStore for SqlStore<DB, D>
where
    DB: Dialect,
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
    for<'q> &'q str: Encode<'q, DB> + Decode<'q, DB> + Type<DB> + ColumnIndex<DB::Row>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Data = D;

    async fn save_session(&self, session: &Session<D>) -> Result<(), Error> {
        let data = encode_data(session.id, &session.data)?;
        let created_at = DB::to_time(session.created_at, "save session: created_at out of range")?;
        let expires_at = DB::to_time(session.expires_at, "save session: expires_at out of range")?;
        let mut id = [0u8; 64];
        sqlx::query(self.sql.insert.clone())
            .bind(session.id.encode_hex(&mut id))
            .bind(session.user_id.as_str())
            .bind(created_at)
            .bind(expires_at)
            .bind(data.as_str())
            .execute(&self.writer)
            .await
            .map_err(|e| insert_error(session.id, e))?;
        Ok(())
    }

    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session<D>>, Error> {
        let row = coalesce::fetch_row(
            &self.reader,
            &self.lookups,
            self.sql.fetch.clone(),
            *id,
            |conn, ids| DB::fetch_batch(&self.sql, conn, ids),
        )
        .await?;
        row.map(|row| {
            let user_id: &str = row
                .try_get("user_id")
                .map_err(|e| Error::store("read user_id column", e))?;
            session_from_row::<DB, D>(*id, user_id.to_owned(), &row)
        })
        .transpose()
    }

    async fn update_session_expiry(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> Result<(), Error> {
        let expires_at = DB::to_time(expires_at, "update session expiry: out of range")?;
        let mut hex = [0u8; 64];
        sqlx::query(self.sql.update_expiry.clone())
            .bind(expires_at)
            .bind(id.encode_hex(&mut hex))
            .execute(&self.writer)
            .await
            .map_err(|e| Error::store("update session expiry", e))?;
        Ok(())
    }

    async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
        let mut hex = [0u8; 64];
        sqlx::query(self.sql.delete.clone())
            .bind(id.encode_hex(&mut hex))
            .execute(&self.writer)
            .await
            .map_err(|e| Error::store("delete session", e))?;
        Ok(())
    }
}

impl<DB, D> UserSessionStore for SqlStore<DB, D>
where
    DB: Dialect,
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
    for<'q> &'q str: Encode<'q, DB> + Decode<'q, DB> + Type<DB> + ColumnIndex<DB::Row>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    async fn fetch_sessions_for_user(&self, user_id: &str) -> Result<Vec<Session<D>>, Error> {
        let rows = sqlx::query(self.sql.fetch_for_user.clone())
            .bind(user_id)
            .fetch_all(&self.reader)
            .await
            .map_err(|e| Error::store("fetch sessions for user", e))?;
        rows.iter()
            .map(|row| {
                let id: &str = row
                    .try_get("id")
                    .map_err(|e| Error::store("read id column", e))?;
                session_from_row::<DB, D>(decode_id(id)?, user_id.to_owned(), row)
            })
            .collect()
    }

    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<(), Error> {
        sqlx::query(self.sql.delete_for_user.clone())
            .bind(user_id)
            .execute(&self.writer)
            .await
            .map_err(|e| Error::store("delete sessions for user", e))?;
        Ok(())
    }

    async fn delete_other_sessions_for_user(
        &self,
        user_id: &str,
        keep: &SessionId,
    ) -> Result<(), Error> {
        let mut hex = [0u8; 64];
        sqlx::query(self.sql.delete_others.clone())
            .bind(user_id)
            .bind(keep.encode_hex(&mut hex))
            .execute(&self.writer)
            .await
            .map_err(|e| Error::store("delete other sessions for user", e))?;
        Ok(())
    }
}

impl<DB, D> PurgeableStore for SqlStore<DB, D>
where
    DB: Dialect,
    D: Send + Sync + 'static,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Deletes expired sessions in batches of the configured size, each its
    /// own statement and transaction, so no purge holds one huge
    /// transaction or its locks, and writers wait at most one batch.
    async fn delete_all_expired_sessions(&self, now: Timestamp) -> Result<u64, Error> {
        let now = DB::to_time(now, "purge expired sessions: now out of range")?;
        let batch = u64::from(self.purge_batch_size);
        let mut total = 0;
        loop {
            let removed = sqlx::query(self.sql.purge.clone())
                .bind(now)
                .bind(i64::from(self.purge_batch_size))
                .execute(&self.writer)
                .await
                .map_err(|e| Error::store("purge expired sessions", e))?;
            let removed = DB::rows_affected(&removed);
            total += removed;
            // A short batch means nothing expired is left, or what is left
            // is locked by a concurrent purge (PostgreSQL skips locked
            // rows), which will delete it.
            if removed < batch {
                return Ok(total);
            }
        }
    }
}
