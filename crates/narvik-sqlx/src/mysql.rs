//! The MySQL and MariaDB store.
//!
//! # Schema
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS `narvik_sessions` (
//!     id         CHAR(64)      CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
//!     user_id    VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
//!     created_at DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
//!     expires_at DATETIME(3)   NOT NULL,
//!     data       JSON          NOT NULL DEFAULT 'null',
//!     PRIMARY KEY (id),
//!     INDEX `narvik_sessions_user_id_idx` (user_id(255)),
//!     INDEX `narvik_sessions_expires_at_idx` (expires_at)
//! ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
//! ```
//!
//! Times are `DATETIME(3)` in UTC: milliseconds, like narvik's
//! [`Timestamp`] and JavaScript's `Date`, and no time-zone conversion on
//! the way in or out (sqlx also sets each connection's `time_zone` to UTC,
//! which the `created_at` default uses). `JSON` is MariaDB's checked
//! `LONGTEXT`.
//!
//! User ids compare byte for byte (`utf8mb4_nopad_bin`): the default
//! collations would match `Alice` with `alice ` and let one user's "sign
//! out everywhere" reach another's sessions. They are at most 1024
//! characters; the index covers the first 255, which InnoDB's key size
//! allows, and the full value is compared.
//!
//! Tested on MariaDB 10.11; MySQL 8 accepts the same statements.

use std::marker::PhantomData;
use std::sync::Arc;

use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore};
use narvik_core::{Error, Session, SessionId, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::mysql::{MySql, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::pool::PoolConnection;
use sqlx::types::time::OffsetDateTime;
use sqlx::{AssertSqlSafe, Row, SqlSafeStr, SqlStr};

use crate::coalesce::{self, Coalescer, DEFAULT_MAX_BATCH};
use crate::columns::{
    decode_data, decode_id, encode_data, from_datetime, insert_error, to_datetime,
};
use crate::{DEFAULT_PURGE_BATCH_SIZE, TableName};

/// A session store in a MySQL or MariaDB table.
///
/// `D` is the session data type, stored as JSON.
///
/// ```no_run
/// use narvik_core::Narvik;
/// use narvik_sqlx::MySqlStore;
///
/// # async fn demo() -> Result<(), narvik_core::Error> {
/// let store = MySqlStore::<()>::connect("mysql://root@127.0.0.1/app").await?;
/// store.migrate().await?;
/// let narvik = Narvik::new(store);
/// let created = narvik.create_session("user-1", ()).await?;
/// assert!(narvik.validate_session(created.token.as_str()).await?.is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MySqlStore<D = ()> {
    pool: MySqlPool,
    table: TableName,
    sql: Arc<Statements>,
    purge_batch_size: u32,
    lookups: Arc<Coalescer<MySqlRow>>,
    _data: PhantomData<fn() -> D>,
}

impl<D> Clone for MySqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            table: self.table.clone(),
            sql: Arc::clone(&self.sql),
            purge_batch_size: self.purge_batch_size,
            lookups: Arc::clone(&self.lookups),
            _data: PhantomData,
        }
    }
}

impl<D> MySqlStore<D> {
    /// Connects a pool built from [`pool_options`](Self::pool_options) to
    /// `url` (`mysql://user:password@host/database`). Run
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
            .map_err(|e| Error::store("connect to mysql", e))?;
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
    pub fn pool_options() -> MySqlPoolOptions {
        MySqlPoolOptions::new().test_before_acquire(false)
    }

    /// A store over a pool you built (see [`pool_options`](Self::pool_options)).
    #[must_use]
    pub fn new(pool: MySqlPool) -> Self {
        let table = TableName::default();
        Self {
            pool,
            sql: Arc::new(Statements::new(&table)),
            table,
            purge_batch_size: DEFAULT_PURGE_BATCH_SIZE,
            lookups: Arc::new(Coalescer::new(DEFAULT_MAX_BATCH)),
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

    /// Looks up at most `size` sessions per statement when validates queue
    /// for a connection (0 counts as 1). The default is 32; 1 turns
    /// coalescing off.
    ///
    /// When all of the pool's connections are busy, lookups wait in a
    /// queue, and the next one to get a connection serves the whole queue
    /// (up to `size`) with one `SELECT ... WHERE id IN (...)`. With a
    /// connection free, a lookup runs at once on its own, so this adds no
    /// latency; under load it saves the per-statement cost that dominates a
    /// primary-key lookup.
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

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The statements [`migrate`](Self::migrate) runs, for your own
    /// migration tool.
    #[must_use]
    pub fn migration_sql(&self) -> Vec<String> {
        schema(&self.table)
    }

    /// Creates the table and its indexes if they do not exist. Safe to run
    /// on every start and from several processes (MySQL's DDL takes a
    /// metadata lock; `IF NOT EXISTS` makes the loser a no-op).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a statement fails.
    pub async fn migrate(&self) -> Result<(), Error> {
        for statement in schema(&self.table) {
            sqlx::raw_sql(AssertSqlSafe(statement))
                .execute(&self.pool)
                .await
                .map_err(|e| Error::store("migrate mysql session table", e))?;
        }
        Ok(())
    }
}

/// The schema, one statement each; the table name is checked, so it is safe
/// to write into SQL.
fn schema(table: &TableName) -> Vec<String> {
    let t = table.backtick_quoted("");
    vec![format!(
        "CREATE TABLE IF NOT EXISTS {t} (\n\
         \x20   id         CHAR(64)      CHARACTER SET ascii COLLATE ascii_bin NOT NULL,\n\
         \x20   user_id    VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,\n\
         \x20   created_at DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),\n\
         \x20   expires_at DATETIME(3)   NOT NULL,\n\
         \x20   data       JSON          NOT NULL DEFAULT 'null',\n\
         \x20   PRIMARY KEY (id),\n\
         \x20   INDEX {} (user_id(255)),\n\
         \x20   INDEX {} (expires_at)\n\
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        table.backtick_quoted("_user_id_idx"),
        table.backtick_quoted("_expires_at_idx"),
    )]
}

/// Every statement the store runs, built once per table name.
#[derive(Debug)]
struct Statements {
    insert: SqlStr,
    fetch: SqlStr,
    /// `fetch_many[k]` looks up `2^(k+1)` ids: batches are padded to a
    /// power of two, so each connection prepares a handful of statements
    /// instead of one per batch size.
    fetch_many: Vec<SqlStr>,
    update_expiry: SqlStr,
    delete: SqlStr,
    fetch_for_user: SqlStr,
    delete_for_user: SqlStr,
    delete_others: SqlStr,
    purge: SqlStr,
}

impl Statements {
    fn new(table: &TableName) -> Self {
        let t = table.backtick_quoted("");
        let sql = |s: String| AssertSqlSafe(Arc::<str>::from(s)).into_sql_str();
        Self {
            insert: sql(format!(
                "INSERT INTO {t} (id, user_id, created_at, expires_at, data) VALUES (?, ?, ?, ?, ?)"
            )),
            fetch: sql(format!(
                "SELECT user_id, created_at, expires_at, data FROM {t} WHERE id = ?"
            )),
            fetch_many: (1..=MAX_BATCH_BITS)
                .map(|bits| {
                    let marks = vec!["?"; 1 << bits].join(", ");
                    sql(format!(
                        "SELECT id, user_id, created_at, expires_at, data FROM {t} WHERE id IN ({marks})"
                    ))
                })
                .collect(),
            update_expiry: sql(format!("UPDATE {t} SET expires_at = ? WHERE id = ?")),
            delete: sql(format!("DELETE FROM {t} WHERE id = ?")),
            fetch_for_user: sql(format!(
                "SELECT id, created_at, expires_at, data FROM {t} WHERE user_id = ?"
            )),
            delete_for_user: sql(format!("DELETE FROM {t} WHERE user_id = ?")),
            delete_others: sql(format!("DELETE FROM {t} WHERE user_id = ? AND id <> ?")),
            // One bounded batch, walking the expires_at index.
            purge: sql(format!("DELETE FROM {t} WHERE expires_at <= ? LIMIT ?")),
        }
    }
}

fn session_from_row<D: DeserializeOwned>(
    id: SessionId,
    user_id: String,
    row: &MySqlRow,
) -> Result<Session<D>, Error> {
    let created_at: OffsetDateTime = row
        .try_get("created_at")
        .map_err(|e| Error::store("read created_at column", e))?;
    let expires_at: OffsetDateTime = row
        .try_get("expires_at")
        .map_err(|e| Error::store("read expires_at column", e))?;
    let data: &str = row.try_get("data").map_err(|e| Error::data(id, e))?;
    Ok(Session {
        id,
        user_id,
        created_at: from_datetime(created_at)?,
        expires_at: from_datetime(expires_at)?,
        data: decode_data(id, data)?,
    })
}

/// Batches up to `2^MAX_BATCH_BITS` ids share a statement; a larger batch
/// (a lookup batch size above that) runs as several.
const MAX_BATCH_BITS: u32 = 6;

/// Looks up a batch of sessions on one connection: the one-id statement
/// for one, `IN (...)` for more.
async fn fetch_rows(
    sql: &Statements,
    mut conn: PoolConnection<MySql>,
    ids: Vec<SessionId>,
) -> Result<Vec<(SessionId, MySqlRow)>, sqlx::Error> {
    if let [id] = ids[..] {
        let mut hex = [0u8; 64];
        let row = sqlx::query(sql.fetch.clone())
            .bind(id.encode_hex(&mut hex))
            .fetch_optional(&mut *conn)
            .await?;
        return Ok(row.map(|row| (id, row)).into_iter().collect());
    }
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1 << MAX_BATCH_BITS) {
        // The smallest statement that fits, padded with the last id.
        let bits = chunk.len().next_power_of_two().trailing_zeros().max(1);
        let size = 1usize << bits;
        let statement = &sql.fetch_many[(bits - 1) as usize];
        let mut query = sqlx::query(statement.clone());
        for i in 0..size {
            let id = chunk[i.min(chunk.len() - 1)];
            query = query.bind(id.to_string());
        }
        found.extend(coalesce::keyed_rows(query.fetch_all(&mut *conn).await?)?);
    }
    Ok(found)
}

impl<D> SessionStore for MySqlStore<D>
where
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Data = D;

    async fn save_session(&self, session: &Session<D>) -> Result<(), Error> {
        let data = encode_data(session.id, &session.data)?;
        let created_at = to_datetime(session.created_at, "save session: created_at out of range")?;
        let expires_at = to_datetime(session.expires_at, "save session: expires_at out of range")?;
        let mut id = [0u8; 64];
        sqlx::query(self.sql.insert.clone())
            .bind(session.id.encode_hex(&mut id))
            .bind(session.user_id.as_str())
            .bind(created_at)
            .bind(expires_at)
            .bind(data)
            .execute(&self.pool)
            .await
            .map_err(|e| insert_error(session.id, e))?;
        Ok(())
    }

    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session<D>>, Error> {
        let row = coalesce::fetch_row(
            &self.pool,
            &self.lookups,
            self.sql.fetch.clone(),
            *id,
            |conn, ids| fetch_rows(&self.sql, conn, ids),
        )
        .await?;
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
        let expires_at = to_datetime(expires_at, "update session expiry: out of range")?;
        let mut hex = [0u8; 64];
        sqlx::query(self.sql.update_expiry.clone())
            .bind(expires_at)
            .bind(id.encode_hex(&mut hex))
            .execute(&self.pool)
            .await
            .map_err(|e| Error::store("update session expiry", e))?;
        Ok(())
    }

    async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
        let mut hex = [0u8; 64];
        sqlx::query(self.sql.delete.clone())
            .bind(id.encode_hex(&mut hex))
            .execute(&self.pool)
            .await
            .map_err(|e| Error::store("delete session", e))?;
        Ok(())
    }
}

impl<D> UserSessionStore for MySqlStore<D>
where
    D: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    async fn fetch_sessions_for_user(&self, user_id: &str) -> Result<Vec<Session<D>>, Error> {
        let rows = sqlx::query(self.sql.fetch_for_user.clone())
            .bind(user_id)
            .fetch_all(&self.pool)
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
            .execute(&self.pool)
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
            .execute(&self.pool)
            .await
            .map_err(|e| Error::store("delete other sessions for user", e))?;
        Ok(())
    }
}

impl<D: Send + Sync + 'static> PurgeableStore for MySqlStore<D> {
    /// Deletes expired sessions in batches of the configured size, each its
    /// own statement and transaction, so no purge holds one huge
    /// transaction or its locks.
    async fn delete_all_expired_sessions(&self, now: Timestamp) -> Result<u64, Error> {
        let now = to_datetime(now, "purge expired sessions: now out of range")?;
        let batch = u64::from(self.purge_batch_size);
        let mut total = 0;
        loop {
            let removed = sqlx::query(self.sql.purge.clone())
                .bind(now)
                .bind(i64::from(self.purge_batch_size))
                .execute(&self.pool)
                .await
                .map_err(|e| Error::store("purge expired sessions", e))?
                .rows_affected();
            total += removed;
            // A short batch means nothing expired is left (rows a
            // concurrent purge deleted first are not counted here).
            if removed < batch {
                return Ok(total);
            }
        }
    }
}
