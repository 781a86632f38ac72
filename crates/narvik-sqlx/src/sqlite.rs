//! The SQLite store.
//!
//! # Schema
//!
//! `sql/sqlite/v1.sql` then `sql/sqlite/v2.sql` (see
//! [`Migration`](crate::Migration)), for the default table name:
//!
//! ```sql
#![doc = include_str!("../sql/sqlite/v1.sql")]
#![doc = include_str!("../sql/sqlite/v2.sql")]
//! ```
//!
//! and `sql/sqlite/migrations.sql`, the record of versions applied:
//!
//! ```sql
#![doc = include_str!("../sql/sqlite/migrations.sql")]
//! ```
//!
//! SQLite has no timestamp type, so times are INTEGER unix milliseconds
//! (what narvik's [`Timestamp`] and JavaScript's `Date.getTime()` hold):
//! exact, compared numerically, and indexable; `persistent` is 0 or 1. The
//! defaults let a service that writes only Narvik's columns (id, user id,
//! expiry, data) share the table.
//!
//! # Concurrency
//!
//! The database runs in WAL mode, so readers never wait for the writer.
//! SQLite allows one writer at a time; rather than let many connections
//! race for the write lock (and sleep in SQLite's busy handler), a store
//! opened with [`SqliteStore::open`] sends every write through a pool of
//! one connection, where writers queue fairly and asynchronously, and
//! reads through a separate pool. The busy timeout still covers other
//! processes writing the same file. An in-memory database uses one
//! connection for everything (it lives only as long as a connection to it
//! is open).
//!
//! # Bounds
//!
//! SQLite has no statement timeout, and a local file cannot go silent the
//! way a server or its network can; its long wait is for another
//! process's write lock, which SQLite itself ends at the busy timeout
//! ("database is locked"). So a session call's bound is the busy timeout
//! by default ([`DEFAULT_TIMEOUT`], 5 s): a shorter one would give up on
//! writes SQLite still makes afterwards. It is enforced on the client all
//! the same, for what nothing else bounds (a disk or network filesystem
//! that stops answering); a statement it gives up on runs on in SQLite's
//! worker thread until it ends. Lower both together: the busy timeout in
//! [`SqliteStore::open_with`]'s options, the bound with
//! [`with_timeout`](SqlStore::with_timeout). The pools [`SqliteStore::open`]
//! and [`SqliteStore::open_in_memory`] build wait at most the default
//! bound for a connection.

use std::borrow::Cow;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use narvik_core::{Error, SessionId, Timestamp};
use sqlx::Connection;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteQueryResult, SqliteRow, SqliteSynchronous,
};

use crate::schema::Plan;
use crate::statements::Statements;
use crate::{SqlStore, TableName, coalesce, dialect, schema};

/// How long a statement waits for another process's write lock before it
/// fails with "database is locked".
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A session call's bound on SQLite unless configured otherwise
/// ([`SqlStore::with_timeout`]): the busy timeout (see [Bounds](self#bounds)).
pub const DEFAULT_TIMEOUT: Duration = DEFAULT_BUSY_TIMEOUT;

/// Connections in the read pool of a file database.
pub const DEFAULT_READ_CONNECTIONS: u32 = 8;

/// A session store in a SQLite database, a file or memory: [`SqlStore`]
/// on [`sqlx::Sqlite`].
///
/// `D` is the session data type, stored as JSON text.
///
/// ```
/// use narvik_core::Narvik;
/// use narvik_sqlx::SqliteStore;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = SqliteStore::<()>::open_in_memory().await?;
/// store.migrate().await?;
/// let narvik = Narvik::new(store);
/// let created = narvik.create_session("user-1", ()).await?;
/// assert!(narvik.validate_session(created.token.as_str()).await?.is_some());
/// # Ok::<(), narvik_core::Error>(())
/// # }).unwrap();
/// ```
pub type SqliteStore<D = ()> = SqlStore<Sqlite, D>;

impl<D> SqlStore<Sqlite, D> {
    /// Opens (creating if missing) the database file at `path` in WAL mode
    /// with [`DEFAULT_BUSY_TIMEOUT`]: one write connection and
    /// [`DEFAULT_READ_CONNECTIONS`] read connections. Run
    /// [`migrate`](Self::migrate) before first use.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the file cannot be opened or created.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL is durable against application crashes and
            // keeps the database consistent through power loss; FULL's fsync
            // on every commit is what would cost most here.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(DEFAULT_BUSY_TIMEOUT);
        Self::open_with(options, DEFAULT_READ_CONNECTIONS).await
    }

    /// Opens a database with your connect options, `read_connections` read
    /// connections and one write connection. Set WAL mode and a busy
    /// timeout in `options` unless you know why not.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the database cannot be opened.
    pub async fn open_with(
        options: SqliteConnectOptions,
        read_connections: u32,
    ) -> Result<Self, Error> {
        // The writer connects first: switching to WAL takes a lock that the
        // busy timeout does not cover, so it must not race the readers.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(DEFAULT_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(|e| Error::store("open sqlite database (write pool)", e))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(read_connections.max(1))
            .acquire_timeout(DEFAULT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| Error::store("open sqlite database (read pool)", e))?;
        Ok(Self::from_pools(reader, writer))
    }

    /// Opens a private in-memory database, for tests and demos. It lives as
    /// long as the store (and its clones), on one connection that is never
    /// recycled, and it is gone afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if SQLite cannot open it.
    pub async fn open_in_memory() -> Result<Self, Error> {
        // A unique name per store: a shared-cache in-memory database is
        // visible process-wide under its name.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "file:narvik-memory-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let options = SqliteConnectOptions::new()
            .filename(name)
            .in_memory(true)
            .shared_cache(true)
            .busy_timeout(DEFAULT_BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            // One connection: the database dies with its last connection,
            // and shared-cache locking between several connections answers
            // "table is locked" without waiting for the busy timeout.
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(DEFAULT_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| Error::store("open in-memory sqlite database", e))?;
        Ok(Self::from_pool(pool))
    }

    /// A store over a pool you built, used for reads and writes alike.
    /// Configure WAL mode and a busy timeout on it (or use
    /// [`open`](Self::open), which does).
    #[must_use]
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self::from_pools(pool.clone(), pool)
    }

    /// A store over separate read and write pools you built; give the write
    /// pool one connection.
    #[must_use]
    pub fn from_pools(reader: SqlitePool, writer: SqlitePool) -> Self {
        Self::from_parts(reader, writer)
    }
}

/// SQLite has no timestamp type: times are INTEGER unix milliseconds.
impl dialect::private::Sealed for Sqlite {
    type Time = i64;

    const VERSIONS: &'static [&'static str] = &[
        include_str!("../sql/sqlite/v1.sql"),
        include_str!("../sql/sqlite/v2.sql"),
    ];
    const LEDGER: &'static str = include_str!("../sql/sqlite/migrations.sql");
    // In-process lookups: there is no round trip for a batch to save.
    const DEFAULT_LOOKUP_BATCH: usize = 1;
    const DEFAULT_TIMEOUT: Duration = DEFAULT_TIMEOUT;

    fn quote(name: &str) -> String {
        format!("\"{name}\"")
    }

    fn param(n: usize) -> Cow<'static, str> {
        Cow::Owned(format!("?{n}"))
    }

    fn batch_lookups(t: &str, columns: &str) -> Vec<String> {
        coalesce::in_list_lookups(t, columns, Self::param)
    }

    fn purge(t: &str) -> String {
        // SQLite's DELETE ... LIMIT is a compile-time option, so the batch
        // is chosen by a subquery on the expires_at index.
        format!(
            "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE expires_at <= ?1 \
             AND (rotated_at IS NULL OR rotated_at <= ?2) LIMIT ?3)"
        )
    }

    fn column_names(table: &TableName) -> (String, String) {
        (
            "SELECT name FROM pragma_table_info(?1)".to_owned(),
            table.as_str().to_owned(),
        )
    }

    fn to_time(t: Timestamp, _: &'static str) -> Result<i64, Error> {
        Ok(t.as_unix_millis())
    }

    fn from_time(t: i64) -> Result<Timestamp, Error> {
        Ok(Timestamp::from_unix_millis(t))
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn fetch_batch(
        sql: &Statements,
        conn: PoolConnection<Self>,
        ids: Vec<SessionId>,
    ) -> impl Future<Output = Result<Vec<(SessionId, SqliteRow)>, sqlx::Error>> + Send {
        coalesce::fetch_in_lists(sql, conn, ids)
    }

    async fn migrate(
        conn: &mut PoolConnection<Self>,
        _table: &TableName,
        plan: &Plan,
        // No statement timeout in SQLite: the store's bound is the
        // client's, and the busy timeout ends a wait for a lock.
        _after: Duration,
    ) -> Result<(), sqlx::Error> {
        // The write lock, taken up front (`IMMEDIATE`) and held to the
        // commit, serializes migrations across connections and processes:
        // the second finds the table at the latest version. SQLite's DDL
        // is transactional, so a migration that fails leaves nothing half
        // done.
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        schema::apply::<Self>(&mut tx, plan).await?;
        tx.commit().await
    }
}
