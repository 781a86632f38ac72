//! The MySQL and MariaDB store.
//!
//! # Schema
//!
//! `sql/mysql/v1.sql` then `sql/mysql/v2.sql` (see
//! [`Migration`](crate::Migration)), for the default table name:
//!
//! ```sql
#![doc = include_str!("../sql/mysql/v1.sql")]
#![doc = include_str!("../sql/mysql/v2.sql")]
//! ```
//!
//! and `sql/mysql/migrations.sql`, the record of versions applied:
//!
//! ```sql
#![doc = include_str!("../sql/mysql/migrations.sql")]
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
//! `migrate()` holds a named lock (`GET_LOCK`) keyed on the table name
//! while it runs: a second migration waits, then finds the table at the
//! latest version. MySQL's DDL commits as it goes; the version a table is
//! at is read from its columns, so a migration that stopped halfway is
//! finished by the next, not applied twice. `persistent` is a `BOOLEAN`
//! (`TINYINT(1)`).
//!
//! # Bounds on the server
//!
//! Each statement carries its own limit in its text, so it follows the
//! store's bounds whoever built the pool, with no round trip of its own:
//!
//! - MariaDB runs every statement (session calls, purge batches, the
//!   migration's) as `SET STATEMENT max_statement_time = <bound in
//!   seconds> FOR ...`, written in a MariaDB-only comment (`/*M! ... */`)
//!   that MySQL skips. A statement waiting for a lock is ended at the
//!   bound as well (error 1969).
//! - MySQL limits only `SELECT`s (`max_execution_time`): lookups and
//!   listings carry the optimizer hint `/*+ MAX_EXECUTION_TIME(<ms>) */`
//!   (error 3024), which MariaDB before 12 reads as a comment. MySQL's
//!   writes have no such limit: a write waiting for a row lock ends at
//!   `innodb_lock_wait_timeout` (50 s by default; lower it on the pool's
//!   connections), while the store's call has failed at its bound.
//!
//! Both errors count as timeouts ([`Error::is_timeout`]).
//!
//! Tested on MariaDB 10.11; MySQL 8 accepts the same statements.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use narvik_core::{Error, SessionId, Timestamp};
use sqlx::mysql::{MySql, MySqlDatabaseError, MySqlQueryResult, MySqlRow};
use sqlx::pool::PoolConnection;
use sqlx::types::time::OffsetDateTime;

use crate::columns::{from_datetime, to_datetime};
use crate::schema::Plan;
use crate::statements::Statements;
use crate::{DEFAULT_TIMEOUT, SqlStore, TableName, bound, coalesce, dialect, schema};

/// A session store in a MySQL or MariaDB table: [`SqlStore`] on
/// [`sqlx::MySql`].
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
pub type MySqlStore<D = ()> = SqlStore<MySql, D>;

impl dialect::private::Server for MySql {}

impl dialect::private::Sealed for MySql {
    type Time = OffsetDateTime;

    const VERSIONS: &'static [&'static str] = &[
        include_str!("../sql/mysql/v1.sql"),
        include_str!("../sql/mysql/v2.sql"),
    ];
    const LEDGER: &'static str = include_str!("../sql/mysql/migrations.sql");
    const DEFAULT_LOOKUP_BATCH: usize = narvik_coalesce::DEFAULT_MAX_BATCH;
    const DEFAULT_TIMEOUT: Duration = DEFAULT_TIMEOUT;

    fn quote(name: &str) -> String {
        format!("`{name}`")
    }

    fn param(_: usize) -> Cow<'static, str> {
        Cow::Borrowed("?")
    }

    fn batch_lookups(t: &str, columns: &str) -> Vec<String> {
        coalesce::in_list_lookups(t, columns, Self::param)
    }

    fn purge(t: &str) -> String {
        // One bounded batch, walking the expires_at index.
        format!(
            "DELETE FROM {t} WHERE expires_at <= ? \
             AND (rotated_at IS NULL OR rotated_at <= ?) LIMIT ?"
        )
    }

    fn column_names(table: &TableName) -> (String, String) {
        (
            "SELECT CAST(COLUMN_NAME AS CHAR) AS name FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
                .to_owned(),
            table.as_str().to_owned(),
        )
    }

    fn limit_statement(sql: String, after: Duration) -> String {
        // MySQL's limit is in milliseconds, a 32-bit count; MariaDB's in
        // seconds, to the microsecond, at most a year. Both are numbers,
        // so safe to write into the statement; 0 would mean no limit, so
        // at least 1 ms.
        let sql = match sql.strip_prefix("SELECT ") {
            Some(rest) => format!(
                "SELECT /*+ MAX_EXECUTION_TIME({}) */ {rest}",
                bound::millis(after, u32::MAX.into())
            ),
            None => sql,
        };
        let ms = bound::millis(after, 31_536_000_000);
        format!(
            "/*M! SET STATEMENT max_statement_time = {}.{:03} FOR */ {sql}",
            ms / 1000,
            ms % 1000
        )
    }

    fn cancelled_at_limit(err: &dyn sqlx::error::DatabaseError) -> bool {
        // MariaDB's ER_STATEMENT_TIMEOUT, MySQL's ER_QUERY_TIMEOUT.
        err.try_downcast_ref::<MySqlDatabaseError>()
            .is_some_and(|e| matches!(e.number(), 1969 | 3024))
    }

    fn to_time(t: Timestamp, what: &'static str) -> Result<OffsetDateTime, Error> {
        to_datetime(t, what)
    }

    fn from_time(t: OffsetDateTime) -> Result<Timestamp, Error> {
        from_datetime(t)
    }

    fn rows_affected(result: &MySqlQueryResult) -> u64 {
        result.rows_affected()
    }

    fn fetch_batch(
        sql: &Statements,
        conn: PoolConnection<Self>,
        ids: Vec<SessionId>,
    ) -> impl Future<Output = Result<Vec<(SessionId, MySqlRow)>, sqlx::Error>> + Send {
        coalesce::fetch_in_lists(sql, conn, ids)
    }

    async fn migrate(
        conn: &mut PoolConnection<Self>,
        table: &TableName,
        plan: &Plan,
        after: Duration,
    ) -> Result<(), sqlx::Error> {
        // The named lock belongs to the connection: should this call be
        // cut short at its bound before it releases it, closing the
        // connection releases it, where going back to the pool would keep
        // it held.
        conn.close_on_drop();
        // The server's names are at most 64 characters: the table name's
        // 48 fit.
        let name = format!("narvik-sqlx {table}");
        // GET_LOCK waits whole seconds; the store's bound ends the call
        // first.
        let wait = i64::try_from(after.as_secs().saturating_add(1)).unwrap_or(i64::MAX);
        let locked: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(Self::limit_statement(
            "SELECT GET_LOCK(?, ?)".to_owned(),
            after,
        )))
        .bind(&name)
        .bind(wait)
        .fetch_one(&mut **conn)
        .await?;
        if locked != Some(1) {
            return Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "another migration held the migration lock",
            )));
        }
        let applied = schema::apply::<Self>(conn, plan).await;
        let released = sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&name)
            .execute(&mut **conn)
            .await;
        applied.and(released.map(drop))
    }
}
