//! The PostgreSQL store.
//!
//! # Schema
//!
//! `sql/postgres/v1.sql` then `sql/postgres/v2.sql` (see
//! [`Migration`](crate::Migration)), for the default table name; `id` is
//! the lower-case hex SHA-256 of the token:
//!
//! ```sql
#![doc = include_str!("../sql/postgres/v1.sql")]
#![doc = include_str!("../sql/postgres/v2.sql")]
//! ```
//!
//! and `sql/postgres/migrations.sql`, the record of versions applied:
//!
//! ```sql
#![doc = include_str!("../sql/postgres/migrations.sql")]
//! ```
//!
//! Times are `TIMESTAMPTZ(3)`: milliseconds, like narvik's [`Timestamp`]
//! and JavaScript's `Date`. The defaults let a service that writes only
//! Narvik's columns (id, user id, expiry, data) share the table.
//!
//! The table is found through the connection's `search_path`; to keep it in
//! another schema, set `search_path` on the pool's connections.
//!
//! `migrate()` runs in one transaction holding an advisory lock keyed on
//! the table name: a second migration waits, then finds the table at the
//! latest version (concurrent `CREATE TABLE IF NOT EXISTS` would otherwise
//! still collide in the catalog, a unique violation on `pg_type`). The
//! DDL is transactional: a migration that fails leaves nothing half done.
//!
//! # Bounds on the server
//!
//! A store that connects itself ([`SqlStore::connect`],
//! [`SqlStore::builder`]) opens every connection with `statement_timeout`
//! set to the session calls' bound ([`DEFAULT_TIMEOUT`],
//! 500 ms, by default; a startup parameter, so no round trip of its own):
//! a statement the store stopped waiting for is cancelled by the server
//! too, by the time the bound has passed since it started, instead of
//! holding its locks and its backend. A purge batch and the migration run
//! in transactions that raise it (`SET LOCAL statement_timeout`) to their
//! own bounds. A store over your own pool ([`SqlStore::new`]) keeps the
//! pool's `statement_timeout`; set it with
//! `PgConnectOptions::options([("statement_timeout", "500")])`.
//!
//! The server's "canceling statement" error (SQLSTATE `57014`) counts as
//! a timeout ([`Error::is_timeout`]).

use std::borrow::Cow;
use std::time::Duration;

use narvik_core::{Error, SessionId, Timestamp};
use sqlx::Connection;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgQueryResult, PgRow, Postgres};
use sqlx::types::time::OffsetDateTime;

use crate::columns::{from_datetime, to_datetime};
use crate::schema::Plan;
use crate::statements::Statements;
use crate::{DEFAULT_TIMEOUT, SqlStore, TableName, bound, coalesce, dialect, schema};

/// A session store in a PostgreSQL table: [`SqlStore`] on
/// [`sqlx::Postgres`].
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
pub type PostgresStore<D = ()> = SqlStore<Postgres, D>;

/// Ids are bound as text and cast to `bpchar`: compared with a text value,
/// a `CHAR(64)` column is cast to text instead, and the primary key index
/// goes unused (a sequential scan per validate). JSONB and `bpchar` are
/// read back as text, which the generic row decoding takes.
impl dialect::private::Server for Postgres {
    fn limit_connections(options: PgConnectOptions, after: Duration) -> PgConnectOptions {
        options.options([("statement_timeout", statement_timeout(after))])
    }
}

/// `statement_timeout` for `after`: whole milliseconds, rounded up, within
/// what the server takes (a 32-bit count).
fn statement_timeout(after: Duration) -> String {
    bound::millis(after, i32::MAX.unsigned_abs().into()).to_string()
}

/// Limits the rest of the transaction's statements to `after` each (an
/// integer, so safe to write into the statement).
fn set_local_statement_timeout(after: Duration) -> String {
    format!("SET LOCAL statement_timeout = {}", statement_timeout(after))
}

impl dialect::private::Sealed for Postgres {
    type Time = OffsetDateTime;

    const VERSIONS: &'static [&'static str] = &[
        include_str!("../sql/postgres/v1.sql"),
        include_str!("../sql/postgres/v2.sql"),
    ];
    const LEDGER: &'static str = include_str!("../sql/postgres/migrations.sql");
    const DEFAULT_LOOKUP_BATCH: usize = narvik_coalesce::DEFAULT_MAX_BATCH;
    const DEFAULT_TIMEOUT: Duration = DEFAULT_TIMEOUT;

    fn quote(name: &str) -> String {
        format!("\"{name}\"")
    }

    fn param(n: usize) -> Cow<'static, str> {
        Cow::Owned(format!("${n}"))
    }

    fn id_param(n: usize) -> Cow<'static, str> {
        Cow::Owned(format!("${n}::bpchar"))
    }

    fn data_param(n: usize) -> Cow<'static, str> {
        Cow::Owned(format!("${n}::jsonb"))
    }

    fn text_column(column: &'static str) -> Cow<'static, str> {
        Cow::Owned(format!("{column}::text AS {column}"))
    }

    fn batch_lookups(t: &str, columns: &str) -> Vec<String> {
        vec![format!(
            "SELECT {columns} FROM {t} WHERE id = ANY($1::bpchar[])"
        )]
    }

    fn purge(t: &str) -> String {
        // SKIP LOCKED lets concurrent purges split the work instead of
        // queueing on the same rows, and skips rows a validate is
        // extending right now (the next purge gets them if they are still
        // expired).
        format!(
            "DELETE FROM {t} WHERE id IN \
             (SELECT id FROM {t} WHERE expires_at <= $1 \
             AND (rotated_at IS NULL OR rotated_at <= $2) LIMIT $3 FOR UPDATE SKIP LOCKED)"
        )
    }

    fn column_names(table: &TableName) -> (String, String) {
        // `to_regclass` finds the table through the `search_path`, as the
        // store's statements do; NULL (no table) matches no column.
        (
            "SELECT attname::text AS name FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped"
                .to_owned(),
            Self::quote(table.as_str()),
        )
    }

    fn limit_transaction(after: Duration) -> Option<String> {
        Some(set_local_statement_timeout(after))
    }

    fn cancelled_at_limit(err: &dyn sqlx::error::DatabaseError) -> bool {
        // query_canceled: the statement timeout, or a cancel request (which
        // this crate never sends).
        err.code().as_deref() == Some("57014")
    }

    fn to_time(t: Timestamp, what: &'static str) -> Result<OffsetDateTime, Error> {
        to_datetime(t, what)
    }

    fn from_time(t: OffsetDateTime) -> Result<Timestamp, Error> {
        from_datetime(t)
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    async fn fetch_batch(
        sql: &Statements,
        mut conn: PoolConnection<Self>,
        ids: Vec<SessionId>,
    ) -> Result<Vec<(SessionId, PgRow)>, sqlx::Error> {
        let hex: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let rows = sqlx::query(sql.fetch_many[0].clone())
            .bind(hex)
            .fetch_all(&mut *conn)
            .await?;
        coalesce::keyed_rows(rows)
    }

    async fn migrate(
        conn: &mut PoolConnection<Self>,
        table: &TableName,
        plan: &Plan,
        after: Duration,
    ) -> Result<(), sqlx::Error> {
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(set_local_statement_timeout(after)))
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("narvik-sqlx migrate {table}"))
            .execute(&mut *tx)
            .await?;
        schema::apply::<Self>(&mut tx, plan).await?;
        tx.commit().await
    }
}
