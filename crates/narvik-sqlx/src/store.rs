//! [`SqlStore`]: the one implementation of narvik's store traits for SQL,
//! over any [`Dialect`].
//!
//! The generic code needs sqlx to bind and decode `&str`, bind `i64` and
//! run statements on a connection; every dialect does, and the `where`
//! clauses below say so (Rust does not carry such bounds on a trait).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore, rotation_marker_cutoff};
use narvik_core::{Error, Session, SessionId, SessionUpdate, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::pool::PoolOptions;
use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, Pool, Row, Type};

use crate::bound::{Bound, Timeouts};
use crate::builder::SqlStoreBuilder;
use crate::coalesce::{self, Coalescer};
use crate::columns::{decode_id, encode_data, insert_error, length_to_millis, session_from_row};
use crate::dialect::{Dialect, private};
use crate::schema::Migration;
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
/// Every call is bounded in time (see [`with_timeout`](Self::with_timeout)):
/// past its bound it fails with a store error for which
/// [`Error::is_timeout`] is true, never "no session".
///
/// Cloning is cheap: clones share the pools, the statements and the
/// lookup queue.
pub struct SqlStore<DB: Dialect, D = ()> {
    reader: Pool<DB>,
    writer: Pool<DB>,
    table: TableName,
    timeouts: Timeouts,
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
            timeouts: self.timeouts,
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
            .field("timeout", &self.timeouts.call)
            .field("purge_timeout", &self.timeouts.purge)
            .field("migrate_timeout", &self.timeouts.migrate)
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
        let timeouts = Timeouts::defaults::<DB>();
        Self {
            reader,
            writer,
            sql: Arc::new(Statements::new::<DB>(&table, &timeouts)),
            table,
            timeouts,
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
        self.table = table;
        self.rebuild_statements()
    }

    /// Bounds each session call (a lookup, a save, an extension, a delete,
    /// listing or deleting a user's sessions) to `timeout`: the wait for a
    /// connection and the statement together. Past it the call fails with
    /// [`Error::Store`], [`Error::is_timeout`] true.
    ///
    /// The default is [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT) (500 ms)
    /// on PostgreSQL and MySQL/MariaDB and
    /// [`sqlite::DEFAULT_TIMEOUT`](crate::sqlite::DEFAULT_TIMEOUT) (5 s,
    /// the busy timeout) on SQLite.
    ///
    /// This bounds the wait on the client. The server's own limit, which
    /// ends the statement there too, is set as each database allows (see
    /// the crate docs): MySQL/MariaDB's is in the statements, so this sets
    /// it; PostgreSQL's is set on each connection when it opens, so set
    /// the bound with [`SqlStore::builder`] for a store that connects, or
    /// on your own pool's connections.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.call = timeout;
        self.rebuild_statements()
    }

    /// Bounds each batch of a purge (one `DELETE` of at most the purge
    /// batch size's rows) to `timeout`, on the client and on the server
    /// (PostgreSQL, MariaDB). The default is
    /// [`DEFAULT_PURGE_TIMEOUT`](crate::DEFAULT_PURGE_TIMEOUT) (10 s).
    #[must_use]
    pub fn with_purge_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.purge = timeout;
        self.rebuild_statements()
    }

    /// Bounds [`migrate`](Self::migrate), whole, to `timeout`, on the
    /// client; on the server each of its statements, the wait for another
    /// process's migration included (PostgreSQL, MariaDB). The default is
    /// [`DEFAULT_MIGRATE_TIMEOUT`](crate::DEFAULT_MIGRATE_TIMEOUT) (60 s).
    #[must_use]
    pub fn with_migrate_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.migrate = timeout;
        self
    }

    /// Each session call's bound ([`with_timeout`](Self::with_timeout)).
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeouts.call
    }

    /// Each purge batch's bound ([`with_purge_timeout`](Self::with_purge_timeout)).
    #[must_use]
    pub fn purge_timeout(&self) -> Duration {
        self.timeouts.purge
    }

    /// The migration's bound ([`with_migrate_timeout`](Self::with_migrate_timeout)).
    #[must_use]
    pub fn migrate_timeout(&self) -> Duration {
        self.timeouts.migrate
    }

    /// The statements again, for the current table and bounds.
    fn rebuild_statements(mut self) -> Self {
        self.sql = Arc::new(Statements::new::<DB>(&self.table, &self.timeouts));
        self
    }

    /// A session call named `context`, under the call bound.
    fn call(&self, context: &'static str) -> Bound {
        Bound::new(context, self.timeouts.call)
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

    /// The schema's versions, from 1 to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION), each with
    /// the statements that bring a table at the version before to it, for
    /// this store's table name: what [`migrate`](Self::migrate) applies,
    /// for your own migration tool. Apply them in order; `migrate()`
    /// later recognises the version a table is at from its columns (see
    /// [`Migration`]).
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use narvik_sqlx::{SCHEMA_VERSION, SqliteStore};
    ///
    /// let store = SqliteStore::<()>::open_in_memory().await?;
    /// let migrations = store.migration_sql();
    /// assert_eq!(migrations.len(), SCHEMA_VERSION as usize);
    /// assert_eq!(migrations[0].version(), 1); // CREATE TABLE ...
    /// assert!(migrations[1].sql().contains("ADD COLUMN rotated_at"));
    /// # Ok::<(), narvik_core::Error>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn migration_sql(&self) -> Vec<Migration> {
        schema::migrations::<DB>(&self.table)
    }
}

/// Migrations.
impl<DB, D> SqlStore<DB, D>
where
    DB: Dialect,
    for<'q> &'q str: Encode<'q, DB> + Decode<'q, DB> + Type<DB> + ColumnIndex<DB::Row>,
    i64: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Brings the table to the latest schema version
    /// ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)): creates it and its indexes if missing, and
    /// upgrades in place, rows intact, a table at an earlier version
    /// (one the previous release's `migrate()` created included); records
    /// each version in `<table>_migrations`. Safe to run on every start,
    /// and from several processes at once: each holds a lock for the
    /// table while it runs (each module says which), so the second finds
    /// the table up to date. Bounded by
    /// [`with_migrate_timeout`](Self::with_migrate_timeout), not by the
    /// session calls' bound: waiting for another process's migration is
    /// normal here.
    ///
    /// The version a table is at is read from its columns (each version
    /// adds one), so a table brought up to date by your own migration
    /// tool ([`migration_sql`](Self::migration_sql)) is left as it is; a
    /// table at a later version than this release knows is left as it
    /// is too.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a connection cannot be had or a statement fails;
    /// with [`Error::is_timeout`] true if that takes longer than the bound.
    pub async fn migrate(&self) -> Result<(), Error> {
        let bound = Bound::new("migrate session table", self.timeouts.migrate);
        let plan = schema::Plan::new::<DB>(&self.table, self.timeouts.migrate);
        bound
            .run::<DB, _>(async {
                let mut conn = self
                    .writer
                    .acquire()
                    .await
                    .map_err(|e| bound.error::<DB, _>(e))?;
                DB::migrate(&mut conn, &self.table, &plan, self.timeouts.migrate)
                    .await
                    .map_err(|e| bound.error::<DB, _>(e))
            })
            .await
    }
}

impl<DB: Dialect, D> SqlStore<DB, D> {
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
    /// `mysql://user:password@host/database`), with the default bounds:
    /// [`SqlStore::builder`]`().connect(url)`. Run
    /// [`migrate`](Self::migrate) before first use.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the URL does not parse, or the server cannot be
    /// reached or refuses the connection.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder().connect(url).await
    }

    /// Sets a store's bound and pool before it connects, so that the
    /// server's limit on each connection is the store's bound too:
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")]
    /// # async fn demo() -> Result<(), narvik_core::Error> {
    /// use std::time::Duration;
    /// use narvik_sqlx::PostgresStore;
    ///
    /// let store = PostgresStore::<()>::builder()
    ///     .timeout(Duration::from_millis(250))
    ///     .pool_options(PostgresStore::<()>::pool_options().max_connections(32))
    ///     .connect("postgres://app@127.0.0.1/app")
    ///     .await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> SqlStoreBuilder<DB, D> {
        SqlStoreBuilder::new()
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

    /// A store over a pool you built (see [`pool_options`](Self::pool_options)),
    /// with the default bounds on the client. The server's limits are
    /// your pool's: on PostgreSQL, set `statement_timeout` on its
    /// connections (or use [`builder`](Self::builder), which does).
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

/// What the store traits' calls share.
impl<DB, D> SqlStore<DB, D>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Runs `query` on the write pool, under `bound`.
    async fn execute(
        &self,
        bound: Bound,
        query: sqlx::query::Query<'_, DB, DB::Arguments>,
    ) -> Result<DB::QueryResult, Error> {
        bound
            .run::<DB, _>(async {
                query
                    .execute(&self.writer)
                    .await
                    .map_err(|e| bound.error::<DB, _>(e))
            })
            .await
    }

    /// One batch of the purge. Where the server limits statements per
    /// connection (PostgreSQL), in a transaction that raises the limit to
    /// the purge bound for this one statement.
    async fn purge_batch(
        &self,
        now: DB::Time,
        cutoff: DB::Time,
    ) -> Result<DB::QueryResult, sqlx::Error>
    where
        i64: for<'q> Encode<'q, DB> + Type<DB>,
    {
        let query = sqlx::query(self.sql.purge.clone())
            .bind(now)
            .bind(cutoff)
            .bind(i64::from(self.purge_batch_size));
        let Some(limit) = DB::limit_transaction(self.timeouts.purge) else {
            return query.execute(&self.writer).await;
        };
        let mut tx = self.writer.begin().await?;
        sqlx::raw_sql(AssertSqlSafe(limit))
            .execute(&mut *tx)
            .await?;
        let result = query.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(result)
    }
}

impl<DB, D> SessionStore for SqlStore<DB, D>
where
    DB: Dialect,
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
    for<'q> &'q str: Encode<'q, DB> + Decode<'q, DB> + Type<DB> + ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<DB::Time>: Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Data = D;

    async fn save_session(&self, session: &Session<D>) -> Result<(), Error> {
        let data = encode_data(session.id, &session.data)?;
        let created_at = DB::to_time(session.created_at, "save session: created_at out of range")?;
        let expires_at = DB::to_time(session.expires_at, "save session: expires_at out of range")?;
        let length_ms = session.length.map(length_to_millis).transpose()?;
        let last_active_at = optional_time::<DB>(
            session.last_active_at,
            "save session: last_active_at out of range",
        )?;
        let reauthenticated_at = optional_time::<DB>(
            session.reauthenticated_at,
            "save session: reauthenticated_at out of range",
        )?;
        let rotated_at =
            optional_time::<DB>(session.rotated_at, "save session: rotated_at out of range")?;
        let bound = self.call("save session");
        bound
            .run::<DB, _>(async move {
                let mut id = [0u8; 64];
                sqlx::query(self.sql.insert.clone())
                    .bind(session.id.encode_hex(&mut id))
                    .bind(session.user_id.as_str())
                    .bind(created_at)
                    .bind(expires_at)
                    .bind(data.as_str())
                    .bind(length_ms)
                    .bind(session.persistent)
                    .bind(last_active_at)
                    .bind(reauthenticated_at)
                    .bind(rotated_at)
                    .execute(&self.writer)
                    .await
                    .map_err(|e| insert_error::<DB>(session.id, bound, e))
            })
            .await?;
        Ok(())
    }

    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session<D>>, Error> {
        let bound = self.call("fetch session");
        let row = bound
            .run::<DB, _>(coalesce::fetch_row(
                &self.reader,
                &self.lookups,
                self.sql.fetch.clone(),
                *id,
                |conn, ids| DB::fetch_batch(&self.sql, conn, ids),
                bound,
            ))
            .await?;
        row.map(|row| {
            let user_id: &str = row
                .try_get("user_id")
                .map_err(|e| Error::store("read user_id column", e))?;
            session_from_row::<DB, D>(*id, user_id.to_owned(), &row)
        })
        .transpose()
    }

    async fn update_session(
        &self,
        id: &SessionId,
        update: SessionUpdate<D>,
    ) -> Result<bool, Error> {
        let expires_at =
            optional_time::<DB>(update.expires_at, "update session: expires_at out of range")?;
        let last_active_at = optional_time::<DB>(
            update.last_active_at,
            "update session: last_active_at out of range",
        )?;
        let reauthenticated_at = optional_time::<DB>(
            update.reauthenticated_at,
            "update session: reauthenticated_at out of range",
        )?;
        let rotated_at =
            optional_time::<DB>(update.rotated_at, "update session: rotated_at out of range")?;
        let data = update
            .data
            .as_ref()
            .map(|data| encode_data(*id, data))
            .transpose()?;
        let mut hex = [0u8; 64];
        let query = sqlx::query(self.sql.update.clone())
            .bind(expires_at)
            .bind(last_active_at)
            .bind(reauthenticated_at)
            .bind(rotated_at)
            .bind(data.as_deref())
            .bind(id.encode_hex(&mut hex));
        // Rows matched, not rows changed, on every database (sqlx asks
        // MySQL for found rows): an update that writes what is there
        // already still finds the session.
        self.execute(self.call("update session"), query)
            .await
            .map(|done| DB::rows_affected(&done) > 0)
    }

    async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
        let mut hex = [0u8; 64];
        let query = sqlx::query(self.sql.delete.clone()).bind(id.encode_hex(&mut hex));
        self.execute(self.call("delete session"), query)
            .await
            .map(drop)
    }
}

impl<DB, D> UserSessionStore for SqlStore<DB, D>
where
    DB: Dialect,
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
    for<'q> &'q str: Encode<'q, DB> + Decode<'q, DB> + Type<DB> + ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<DB::Time>: Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    async fn fetch_sessions_for_user(&self, user_id: &str) -> Result<Vec<Session<D>>, Error> {
        let bound = self.call("fetch sessions for user");
        let rows = bound
            .run::<DB, _>(async {
                sqlx::query(self.sql.fetch_for_user.clone())
                    .bind(user_id)
                    .fetch_all(&self.reader)
                    .await
                    .map_err(|e| bound.error::<DB, _>(e))
            })
            .await?;
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
        let query = sqlx::query(self.sql.delete_for_user.clone()).bind(user_id);
        self.execute(self.call("delete sessions for user"), query)
            .await
            .map(drop)
    }

    async fn delete_other_sessions_for_user(
        &self,
        user_id: &str,
        keep: &SessionId,
    ) -> Result<(), Error> {
        let mut hex = [0u8; 64];
        let query = sqlx::query(self.sql.delete_others.clone())
            .bind(user_id)
            .bind(keep.encode_hex(&mut hex));
        self.execute(self.call("delete other sessions for user"), query)
            .await
            .map(drop)
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
    /// transaction or its locks, and writers wait at most one batch. Each
    /// batch is bounded by the purge bound
    /// ([`SqlStore::with_purge_timeout`]). Rotation markers rotated after
    /// [`rotation_marker_cutoff`] stay until then.
    async fn delete_all_expired_sessions(&self, now: Timestamp) -> Result<u64, Error> {
        let cutoff = DB::to_time(
            rotation_marker_cutoff(now),
            "purge expired sessions: now out of range",
        )?;
        let now = DB::to_time(now, "purge expired sessions: now out of range")?;
        let batch = u64::from(self.purge_batch_size);
        let bound = Bound::new("purge expired sessions", self.timeouts.purge);
        let mut total = 0;
        loop {
            let removed = bound
                .run::<DB, _>(async move {
                    self.purge_batch(now, cutoff)
                        .await
                        .map_err(|e| bound.error::<DB, _>(e))
                })
                .await?;
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

/// An optional time in the time column's type.
///
/// # Errors
///
/// [`Error::Store`] naming `what` for a time the column cannot hold.
fn optional_time<DB: Dialect>(
    t: Option<Timestamp>,
    what: &'static str,
) -> Result<Option<DB::Time>, Error> {
    t.map(|t| DB::to_time(t, what)).transpose()
}
