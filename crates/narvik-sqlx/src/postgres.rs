//! The PostgreSQL store.
//!
//! # Schema
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS "narvik_sessions" (
//!     id         CHAR(64)       PRIMARY KEY,          -- lower-case hex SHA-256 of the token
//!     user_id    TEXT           NOT NULL,
//!     created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
//!     expires_at TIMESTAMPTZ(3) NOT NULL,
//!     data       JSONB          NOT NULL DEFAULT 'null'
//! );
//! CREATE INDEX IF NOT EXISTS "narvik_sessions_user_id_idx" ON "narvik_sessions" (user_id);
//! CREATE INDEX IF NOT EXISTS "narvik_sessions_expires_at_idx" ON "narvik_sessions" (expires_at);
//! ```
//!
//! Times are `TIMESTAMPTZ(3)`: milliseconds, like narvik's [`Timestamp`]
//! and JavaScript's `Date`. The defaults let a service that writes only
//! Narvik's columns (id, user id, expiry) share the table.
//!
//! The table is found through the connection's `search_path`; to keep it in
//! another schema, set `search_path` on the pool's connections.

use std::marker::PhantomData;
use std::sync::Arc;

use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore};
use narvik_core::{Error, Session, SessionId, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::types::time::OffsetDateTime;
use sqlx::{AssertSqlSafe, Row, SqlSafeStr, SqlStr};

use crate::coalesce::{self, Coalescer, DEFAULT_MAX_BATCH};
use crate::columns::{
    decode_data, decode_id, encode_data, from_datetime, insert_error, to_datetime,
};
use crate::{DEFAULT_PURGE_BATCH_SIZE, TableName};

/// A session store in a PostgreSQL table.
///
/// `D` is the session data type, stored as JSONB.
///
/// ```no_run
/// use narvik_core::Narvik;
/// use narvik_sqlx::PostgresStore;
///
/// # async fn demo() -> Result<(), narvik_core::Error> {
/// let store = PostgresStore::<()>::connect("postgres://postgres@127.0.0.1/app").await?;
/// store.migrate().await?;
/// let narvik = Narvik::new(store);
/// let created = narvik.create_session("user-1", ()).await?;
/// assert!(narvik.validate_session(created.token.as_str()).await?.is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PostgresStore<D = ()> {
    pool: PgPool,
    table: TableName,
    sql: Arc<Statements>,
    purge_batch_size: u32,
    lookups: Arc<Coalescer<PgRow>>,
    _data: PhantomData<fn() -> D>,
}

impl<D> Clone for PostgresStore<D> {
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

impl<D> PostgresStore<D> {
    /// Connects a pool built from [`pool_options`](Self::pool_options) to
    /// `url` (`postgres://user:password@host/database`). Run
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
            .map_err(|e| Error::store("connect to postgresql", e))?;
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
    pub fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new().test_before_acquire(false)
    }

    /// A store over a pool you built (see [`pool_options`](Self::pool_options)).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
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
    /// (up to `size`) with one `SELECT ... WHERE id = ANY($1)`. With a
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
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The statements [`migrate`](Self::migrate) runs, for your own
    /// migration tool.
    #[must_use]
    pub fn migration_sql(&self) -> Vec<String> {
        schema(&self.table)
    }

    /// Creates the table and its indexes if they do not exist, in one
    /// transaction. Safe to run on every start, from several processes at
    /// once: an advisory lock keyed on the table name serializes them.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a statement fails.
    pub async fn migrate(&self) -> Result<(), Error> {
        let fail = |e| Error::store("migrate postgresql session table", e);
        let mut tx = self.pool.begin().await.map_err(fail)?;
        // Concurrent CREATE TABLE IF NOT EXISTS can still collide in the
        // catalog (a unique violation on pg_type), hence the lock.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("narvik-sqlx migrate {}", self.table))
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        for statement in schema(&self.table) {
            sqlx::raw_sql(AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)
    }
}

/// The schema, one statement each; the table name is checked, so it is safe
/// to write into SQL.
fn schema(table: &TableName) -> Vec<String> {
    let t = table.ansi_quoted("");
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {t} (\n\
             \x20   id         CHAR(64)       PRIMARY KEY,\n\
             \x20   user_id    TEXT           NOT NULL,\n\
             \x20   created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),\n\
             \x20   expires_at TIMESTAMPTZ(3) NOT NULL,\n\
             \x20   data       JSONB          NOT NULL DEFAULT 'null'\n\
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

/// Every statement the store runs, built once per table name.
///
/// Ids are bound as text and cast to `bpchar`: compared with a text value,
/// a `CHAR(64)` column is cast to text instead, and the primary key index
/// goes unused (a sequential scan per validate).
#[derive(Debug)]
struct Statements {
    insert: SqlStr,
    fetch: SqlStr,
    fetch_many: SqlStr,
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
                "INSERT INTO {t} (id, user_id, created_at, expires_at, data) \
                 VALUES ($1::bpchar, $2, $3, $4, $5::jsonb)"
            )),
            fetch: sql(format!(
                "SELECT user_id, created_at, expires_at, data::text AS data FROM {t} WHERE id = $1::bpchar"
            )),
            fetch_many: sql(format!(
                "SELECT id::text AS id, user_id, created_at, expires_at, data::text AS data \
                 FROM {t} WHERE id = ANY($1::bpchar[])"
            )),
            update_expiry: sql(format!(
                "UPDATE {t} SET expires_at = $2 WHERE id = $1::bpchar"
            )),
            delete: sql(format!("DELETE FROM {t} WHERE id = $1::bpchar")),
            fetch_for_user: sql(format!(
                "SELECT id::text AS id, created_at, expires_at, data::text AS data FROM {t} WHERE user_id = $1"
            )),
            delete_for_user: sql(format!("DELETE FROM {t} WHERE user_id = $1")),
            delete_others: sql(format!(
                "DELETE FROM {t} WHERE user_id = $1 AND id <> $2::bpchar"
            )),
            // One bounded batch. SKIP LOCKED lets concurrent purges split the
            // work instead of queueing on the same rows, and skips rows a
            // validate is extending right now (the next purge gets them if
            // they are still expired).
            purge: sql(format!(
                "DELETE FROM {t} WHERE id IN \
                 (SELECT id FROM {t} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
            )),
        }
    }
}

fn session_from_row<D: DeserializeOwned>(
    id: SessionId,
    user_id: String,
    row: &PgRow,
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

/// Looks up a batch of sessions on one connection: the one-id statement
/// for one, `= ANY($1)` for more.
async fn fetch_rows(
    sql: &Statements,
    mut conn: PoolConnection<Postgres>,
    ids: Vec<SessionId>,
) -> Result<Vec<(SessionId, PgRow)>, sqlx::Error> {
    if let [id] = ids[..] {
        let mut hex = [0u8; 64];
        let row = sqlx::query(sql.fetch.clone())
            .bind(id.encode_hex(&mut hex))
            .fetch_optional(&mut *conn)
            .await?;
        return Ok(row.map(|row| (id, row)).into_iter().collect());
    }
    let hex: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let rows = sqlx::query(sql.fetch_many.clone())
        .bind(hex)
        .fetch_all(&mut *conn)
        .await?;
    coalesce::keyed_rows(rows)
}

impl<D> SessionStore for PostgresStore<D>
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
            .bind(id.encode_hex(&mut hex))
            .bind(expires_at)
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

impl<D> UserSessionStore for PostgresStore<D>
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

impl<D: Send + Sync + 'static> PurgeableStore for PostgresStore<D> {
    /// Deletes expired sessions in batches of the configured size, each its
    /// own statement and transaction, so no purge holds one huge
    /// transaction.
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
            // A short batch means nothing expired is left, or what is left
            // is locked by a concurrent purge, which will delete it.
            if removed < batch {
                return Ok(total);
            }
        }
    }
}
