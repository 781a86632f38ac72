//! The SQLite store.
//!
//! # Schema
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS "narvik_sessions" (
//!     id         CHAR(64) PRIMARY KEY NOT NULL,  -- lower-case hex SHA-256 of the token
//!     user_id    TEXT     NOT NULL,
//!     created_at INTEGER  NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
//!     expires_at INTEGER  NOT NULL,              -- unix milliseconds
//!     data       TEXT     NOT NULL DEFAULT 'null' -- JSON of the session data
//! );
//! CREATE INDEX IF NOT EXISTS "narvik_sessions_user_id_idx" ON "narvik_sessions" (user_id);
//! CREATE INDEX IF NOT EXISTS "narvik_sessions_expires_at_idx" ON "narvik_sessions" (expires_at);
//! ```
//!
//! SQLite has no timestamp type, so times are INTEGER unix milliseconds
//! (what narvik's [`Timestamp`] and JavaScript's `Date.getTime()` hold):
//! exact, compared numerically, and indexable. The defaults let a service
//! that writes only Narvik's columns (id, user id, expiry) share the table.
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

use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore};
use narvik_core::{Error, Session, SessionId, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqlSafeStr, SqlStr};

use crate::columns::{decode_data, decode_id, encode_data, insert_error};
use crate::{DEFAULT_PURGE_BATCH_SIZE, TableName};

/// How long a statement waits for another process's write lock before it
/// fails with "database is locked".
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the read pool of a file database.
pub const DEFAULT_READ_CONNECTIONS: u32 = 8;

/// A session store in a SQLite database: a file, or memory.
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
#[derive(Debug)]
pub struct SqliteStore<D = ()> {
    reader: SqlitePool,
    writer: SqlitePool,
    table: TableName,
    sql: Arc<Statements>,
    purge_batch_size: u32,
    _data: PhantomData<fn() -> D>,
}

impl<D> Clone for SqliteStore<D> {
    fn clone(&self) -> Self {
        Self {
            reader: self.reader.clone(),
            writer: self.writer.clone(),
            table: self.table.clone(),
            sql: Arc::clone(&self.sql),
            purge_batch_size: self.purge_batch_size,
            _data: PhantomData,
        }
    }
}

impl<D> SqliteStore<D> {
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
            .connect_with(options.clone())
            .await
            .map_err(|e| Error::store("open sqlite database (write pool)", e))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(read_connections.max(1))
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
        let table = TableName::default();
        Self {
            reader,
            writer,
            sql: Arc::new(Statements::new(&table)),
            table,
            purge_batch_size: DEFAULT_PURGE_BATCH_SIZE,
            _data: PhantomData,
        }
    }

    /// Uses `table` instead of `narvik_sessions`.
    #[must_use]
    pub fn with_table_name(mut self, table: TableName) -> Self {
        self.sql = Arc::new(Statements::new(&table));
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

    /// The table this store uses.
    #[must_use]
    pub fn table_name(&self) -> &TableName {
        &self.table
    }

    /// The pool reads go through.
    #[must_use]
    pub fn read_pool(&self) -> &SqlitePool {
        &self.reader
    }

    /// The pool writes go through.
    #[must_use]
    pub fn write_pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// The statements [`migrate`](Self::migrate) runs, for your own
    /// migration tool.
    #[must_use]
    pub fn migration_sql(&self) -> Vec<String> {
        schema(&self.table)
    }

    /// Creates the table and its indexes if they do not exist. Safe to run
    /// on every start and from several processes.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a statement fails.
    pub async fn migrate(&self) -> Result<(), Error> {
        for statement in schema(&self.table) {
            sqlx::raw_sql(AssertSqlSafe(statement))
                .execute(&self.writer)
                .await
                .map_err(|e| Error::store("migrate sqlite session table", e))?;
        }
        Ok(())
    }

    /// Closes both pools, waiting for statements in progress.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// The schema, one statement each; the table name is checked, so it is safe
/// to write into SQL.
fn schema(table: &TableName) -> Vec<String> {
    let t = table.ansi_quoted("");
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {t} (\n\
             \x20   id         CHAR(64) PRIMARY KEY NOT NULL,\n\
             \x20   user_id    TEXT     NOT NULL,\n\
             \x20   created_at INTEGER  NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),\n\
             \x20   expires_at INTEGER  NOT NULL,\n\
             \x20   data       TEXT     NOT NULL DEFAULT 'null'\n\
             )"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {t} (user_id)",
            table.ansi_quoted("_user_id_idx")
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {t} (expires_at)",
            table.ansi_quoted("_expires_at_idx")
        ),
    ]
}

/// Every statement the store runs, built once per table name. `SqlStr`
/// clones share the text, and sqlx caches each connection's prepared
/// statement by it.
#[derive(Debug)]
struct Statements {
    insert: SqlStr,
    fetch: SqlStr,
    update_expiry: SqlStr,
    delete: SqlStr,
    fetch_for_user: SqlStr,
    delete_for_user: SqlStr,
    delete_others: SqlStr,
    purge: SqlStr,
}

impl Statements {
    fn new(table: &TableName) -> Self {
        let t = table.ansi_quoted("");
        let sql = |s: String| AssertSqlSafe(Arc::<str>::from(s)).into_sql_str();
        Self {
            insert: sql(format!(
                "INSERT INTO {t} (id, user_id, created_at, expires_at, data) VALUES (?1, ?2, ?3, ?4, ?5)"
            )),
            fetch: sql(format!(
                "SELECT user_id, created_at, expires_at, data FROM {t} WHERE id = ?1"
            )),
            update_expiry: sql(format!("UPDATE {t} SET expires_at = ?2 WHERE id = ?1")),
            delete: sql(format!("DELETE FROM {t} WHERE id = ?1")),
            fetch_for_user: sql(format!(
                "SELECT id, created_at, expires_at, data FROM {t} WHERE user_id = ?1"
            )),
            delete_for_user: sql(format!("DELETE FROM {t} WHERE user_id = ?1")),
            delete_others: sql(format!("DELETE FROM {t} WHERE user_id = ?1 AND id <> ?2")),
            // SQLite's DELETE ... LIMIT is a compile-time option, so the
            // batch is chosen by a subquery on the expires_at index.
            purge: sql(format!(
                "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE expires_at <= ?1 LIMIT ?2)"
            )),
        }
    }
}

fn session_from_row<D: DeserializeOwned>(
    id: SessionId,
    user_id: String,
    row: &SqliteRow,
) -> Result<Session<D>, Error> {
    let created_at: i64 = row
        .try_get("created_at")
        .map_err(|e| Error::store("read created_at column", e))?;
    let expires_at: i64 = row
        .try_get("expires_at")
        .map_err(|e| Error::store("read expires_at column", e))?;
    let data: &str = row.try_get("data").map_err(|e| Error::data(id, e))?;
    Ok(Session {
        id,
        user_id,
        created_at: Timestamp::from_unix_millis(created_at),
        expires_at: Timestamp::from_unix_millis(expires_at),
        data: decode_data(id, data)?,
    })
}

impl<D> SessionStore for SqliteStore<D>
where
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Data = D;

    async fn save_session(&self, session: &Session<D>) -> Result<(), Error> {
        let data = encode_data(session.id, &session.data)?;
        let mut id = [0u8; 64];
        sqlx::query(self.sql.insert.clone())
            .bind(session.id.encode_hex(&mut id))
            .bind(session.user_id.as_str())
            .bind(session.created_at.as_unix_millis())
            .bind(session.expires_at.as_unix_millis())
            .bind(data)
            .execute(&self.writer)
            .await
            .map_err(|e| insert_error(session.id, e))?;
        Ok(())
    }

    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session<D>>, Error> {
        let mut hex = [0u8; 64];
        let row = sqlx::query(self.sql.fetch.clone())
            .bind(id.encode_hex(&mut hex))
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| Error::store("fetch session", e))?;
        row.map(|row| {
            let user_id = row
                .try_get("user_id")
                .map_err(|e| Error::store("read user_id column", e))?;
            session_from_row(*id, user_id, &row)
        })
        .transpose()
    }

    async fn update_session_expiry(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> Result<(), Error> {
        let mut hex = [0u8; 64];
        sqlx::query(self.sql.update_expiry.clone())
            .bind(id.encode_hex(&mut hex))
            .bind(expires_at.as_unix_millis())
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

impl<D> UserSessionStore for SqliteStore<D>
where
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
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
                session_from_row(decode_id(id)?, user_id.to_owned(), row)
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

impl<D: Send + Sync + 'static> PurgeableStore for SqliteStore<D> {
    /// Deletes expired sessions in batches of the configured size, each its
    /// own statement and transaction, so writers wait at most one batch.
    async fn delete_all_expired_sessions(&self, now: Timestamp) -> Result<u64, Error> {
        let batch = u64::from(self.purge_batch_size);
        let mut total = 0;
        loop {
            let removed = sqlx::query(self.sql.purge.clone())
                .bind(now.as_unix_millis())
                .bind(i64::from(self.purge_batch_size))
                .execute(&self.writer)
                .await
                .map_err(|e| Error::store("purge expired sessions", e))?
                .rows_affected();
            total += removed;
            if removed < batch {
                return Ok(total);
            }
        }
    }
}
