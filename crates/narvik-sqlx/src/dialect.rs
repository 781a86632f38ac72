//! What differs between the databases: the sealed [`Dialect`] trait.
//!
//! [`SqlStore`](crate::SqlStore) is written once, over any `DB: Dialect`;
//! a dialect supplies only what its database spells differently: the
//! schema's versions, placeholders and casts in the statements, how a column
//! holds a time, the batched lookup, the purge statement, how to list a table's columns, the lock
//! that serializes migrations, and how the server is told a call's bound. sqlx's `Postgres`, `MySql` and `Sqlite`
//! are the dialects, each behind its feature, in the way sqlx itself has
//! one `Pool<DB>` with `PgPool` as an alias.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use narvik_core::{Error, SessionId, Timestamp};
use sqlx::pool::PoolConnection;
use sqlx::{Decode, Encode, Type};

use crate::TableName;
use crate::schema::Plan;
use crate::statements::Statements;

/// A database narvik-sqlx has a store for: [`sqlx::Postgres`],
/// [`sqlx::MySql`] or [`sqlx::Sqlite`], each behind its feature.
///
/// Sealed: the crate implements it for those three and nothing else, so
/// what a dialect must supply can grow without breaking anyone.
pub trait Dialect: private::Sealed {}

impl<DB: private::Sealed> Dialect for DB {}

pub(crate) mod private {
    use super::*;

    /// What a dialect supplies; in a private module, so that no other
    /// crate can name it, let alone implement it.
    pub trait Sealed: sqlx::Database<Arguments: sqlx::IntoArguments<Self>> {
        /// How the time columns hold a time: native timestamps, or unix
        /// milliseconds where the database has no timestamp type.
        type Time: for<'q> Encode<'q, Self> + for<'r> Decode<'r, Self> + Type<Self> + Copy + Send;

        /// The schema's versions for the default table name, from
        /// version 1, one statement per `;`-terminated line group:
        /// `sql/<db>/v<N>.sql`, which the module docs show too.
        const VERSIONS: &'static [&'static str];

        /// The table that records the versions applied:
        /// `sql/<db>/migrations.sql`.
        const LEDGER: &'static str;

        /// Lookups per batched statement unless configured otherwise (1:
        /// coalescing off).
        const DEFAULT_LOOKUP_BATCH: usize;

        /// A session call's bound unless configured otherwise.
        const DEFAULT_TIMEOUT: Duration;

        /// `name` quoted as an identifier. Only ever given checked names
        /// ([`TableName`]: no quote characters), so this is exact.
        fn quote(name: &str) -> String;

        /// The `n`th bind parameter (from 1).
        fn param(n: usize) -> Cow<'static, str>;

        /// The `n`th bind parameter where it holds a session id.
        fn id_param(n: usize) -> Cow<'static, str> {
            Self::param(n)
        }

        /// The `n`th bind parameter where it holds the data's JSON text.
        fn data_param(n: usize) -> Cow<'static, str> {
            Self::param(n)
        }

        /// A text column in a select list, read back as text under its
        /// own name.
        fn text_column(column: &'static str) -> Cow<'static, str> {
            Cow::Borrowed(column)
        }

        /// The batched lookup's statements for the table `t` (quoted),
        /// selecting `columns`: however many the dialect's
        /// [`fetch_batch`](Self::fetch_batch) uses.
        fn batch_lookups(t: &str, columns: &str) -> Vec<String>;

        /// One bounded batch of the purge: deletes at most the third
        /// parameter's rows with `expires_at <=` the first, except
        /// rotation markers whose `rotated_at` is later than the second.
        fn purge(t: &str) -> String;

        /// A statement with one parameter that lists `table`'s column
        /// names in a column `name` (no rows: no table), and the
        /// parameter.
        fn column_names(table: &TableName) -> (String, String);

        /// `sql` with the server told to end it after `after`, where the
        /// statement's text can say so (MariaDB; MySQL for a `SELECT`).
        fn limit_statement(sql: String, _after: Duration) -> String {
            sql
        }

        /// The statement that limits the rest of a transaction's statements
        /// to `after` each, where the server limits statements per
        /// connection instead (PostgreSQL): how purges and migrations run
        /// past the connection's limit for session calls.
        fn limit_transaction(_after: Duration) -> Option<String> {
            None
        }

        /// Whether the server's error says it ended the statement at its
        /// limit.
        fn cancelled_at_limit(_err: &dyn sqlx::error::DatabaseError) -> bool {
            false
        }

        /// `t` in the time column's type.
        ///
        /// # Errors
        ///
        /// [`Error::Store`] naming `what` for a time the column cannot hold.
        fn to_time(t: Timestamp, what: &'static str) -> Result<Self::Time, Error>;

        /// A time read back from a time column.
        ///
        /// # Errors
        ///
        /// [`Error::Store`] for a value outside narvik's range.
        fn from_time(t: Self::Time) -> Result<Timestamp, Error>;

        /// The rows a statement changed.
        fn rows_affected(result: &Self::QueryResult) -> u64;

        /// Looks up several sessions on one connection, with the
        /// statements from [`batch_lookups`](Self::batch_lookups); rows
        /// come back with the ids read from their `id` column, ids not
        /// found are absent.
        fn fetch_batch(
            sql: &Statements,
            conn: PoolConnection<Self>,
            ids: Vec<SessionId>,
        ) -> impl Future<Output = Result<Vec<(SessionId, Self::Row)>, sqlx::Error>> + Send;

        /// Brings `table` to the latest version on `conn` with `plan`
        /// (`schema::apply`), holding whatever
        /// lock keeps concurrent migrations from colliding, each
        /// statement (the lock's wait included) limited to `after` on the
        /// server where it can be.
        fn migrate<'c>(
            conn: &'c mut PoolConnection<Self>,
            table: &'c TableName,
            plan: &'c Plan,
            after: Duration,
        ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c;
    }

    /// A database behind a server, reached through one pool by URL
    /// (PostgreSQL and MySQL; SQLite opens files).
    pub trait Server: Sealed {
        /// `options` for connections whose statements the server ends
        /// after `after`, where the limit is per connection (PostgreSQL).
        fn limit_connections(
            options: <Self::Connection as sqlx::Connection>::Options,
            _after: Duration,
        ) -> <Self::Connection as sqlx::Connection>::Options {
            options
        }
    }
}
