//! SQL session stores for [narvik](https://docs.rs/narvik), on
//! [sqlx](https://docs.rs/sqlx): SQLite, PostgreSQL and MySQL/MariaDB, one
//! feature each.
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use narvik_core::Narvik;
//! use narvik_sqlx::SqliteStore;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Device {
//!     user_agent: String,
//! }
//!
//! // A file in production (`SqliteStore::open("sessions.db")`).
//! let store = SqliteStore::<Device>::open_in_memory().await?;
//! store.migrate().await?; // creates the table if it is missing
//!
//! let narvik = Narvik::new(store);
//! let device = Device { user_agent: "Firefox".into() };
//! let created = narvik.create_session("user-42", device).await?;
//! let valid = narvik.validate_session(created.token.as_str()).await?;
//! assert_eq!(valid.expect("just created").session.data.user_agent, "Firefox");
//! # Ok::<(), narvik_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Features
//!
//! | feature | store | times stored as | data stored as |
//! |---|---|---|---|
//! | `sqlite` | [`SqliteStore`] | `INTEGER` unix milliseconds | `TEXT` (JSON) |
//! | `postgres` | [`PostgresStore`] | `TIMESTAMPTZ(3)` | `JSONB` |
//! | `mysql` | [`MySqlStore`] (MySQL and MariaDB) | `DATETIME(3)`, UTC | `JSON` |
//!
//! The three are one implementation, [`SqlStore<DB, D>`](SqlStore), over
//! a sealed [`Dialect`] that supplies only what each database spells
//! differently (as sqlx has one `Pool<DB>` with `PgPool` as an alias);
//! the names above are its aliases. Each implements all three of narvik's
//! store traits
//! ([`SessionStore`](narvik_core::store::SessionStore),
//! [`UserSessionStore`](narvik_core::store::UserSessionStore),
//! [`PurgeableStore`](narvik_core::store::PurgeableStore)) for any session
//! data type `D: Serialize + DeserializeOwned`, and passes the
//! `narvik-testkit` conformance suite against the real database.
//!
//! # The table
//!
//! Each store's module shows its schema, from the files `sql/<db>/v<N>.sql`
//! that `migrate()` applies; all share the columns `id` (the 64-character
//! hex session id, primary key), `user_id` (indexed), `created_at`,
//! `expires_at` (indexed, millisecond precision) and `data` (version 1),
//! and the session lifecycle's `length_ms`, `persistent`,
//! `last_active_at`, `reauthenticated_at` and `rotated_at` (version 2,
//! each `NULL` or with a default, so that rows written by a service that
//! names only Narvik's columns read as plain sessions).
//!
//! `migrate()` brings the table to [`SCHEMA_VERSION`]: it creates a
//! missing table and upgrades in place, rows intact, a table at an
//! earlier version (one the previous release's `migrate()` created
//! included), recording each version in `<table>_migrations`; it is safe
//! to run on every start and from several processes at once.
//! `migration_sql()` returns each version's statements ([`Migration`])
//! for your own migration tool. The table name is configurable with a
//! checked [`TableName`] (`narvik_sessions` by default).
//!
//! # Behaviour
//!
//! - Each operation is one statement: saving is an `INSERT` that fails
//!   with [`Error::DuplicateSessionId`](narvik_core::Error::DuplicateSessionId)
//!   on an existing id (nothing is overwritten); an update (an extension,
//!   activity, re-authentication, rotation, new data: any of them at once)
//!   is one `UPDATE` that never re-creates a deleted row, and reports
//!   whether the row was there (rows matched, also on MySQL); deleting a user's sessions, or all
//!   but one, is one `DELETE`.
//! - Purging deletes `expires_at <= now` (narvik's `now`, never the
//!   database's clock), except rotation markers rotated after
//!   [`rotation_marker_cutoff`](narvik_core::store::rotation_marker_cutoff),
//!   in batches of [`DEFAULT_PURGE_BATCH_SIZE`] rows
//!   (configurable), each its own statement, and returns the total.
//!   [`PurgeTask`] runs it in the background on a period.
//! - Under load, concurrent lookups share statements: when all of the
//!   pool's connections are busy, the next lookup to get one serves every
//!   lookup queued by then with one `SELECT` (see
//!   [`PostgresStore::with_lookup_batch_size`]). A lookup with a connection
//!   free runs at once, alone.
//! - `connect()` does not ping a connection before each use (sqlx's default
//!   does, doubling the round trips); see [`PostgresStore::pool_options`].
//! - Every failure (pool exhausted or timed out, connection dropped, table
//!   missing) is an `Err` with the driver's error as its source, never "no
//!   session" and never a panic. A row whose data does not decode into `D`
//!   is [`Error::Data`](narvik_core::Error::Data) naming the session.
//! - Every call is bounded in time (next section): a dead or stalled
//!   database costs a prompt error, not a hung request.
//!
//! # Bounds
//!
//! Each call has a bound that covers the wait for a pooled connection and
//! the statement together, enforced on the client with a tokio timer.
//! Past it the call fails with
//! [`Error::Store`](narvik_core::Error::Store) whose source is a
//! [`TimedOut`](narvik_core::TimedOut), so
//! [`Error::is_timeout`](narvik_core::Error::is_timeout) is true; so is it
//! when the pool gave up waiting for a connection first or the server
//! cancelled the statement at its own limit. A timed-out call is an
//! error, never "no session"; a write may or may not have been made.
//!
//! | call | bound | default | set with |
//! |---|---|---|---|
//! | each session call: lookup, save, update, delete, list or delete a user's sessions | the call bound | [`DEFAULT_TIMEOUT`] (500 ms) on PostgreSQL and MySQL/MariaDB; [`sqlite::DEFAULT_TIMEOUT`] (5 s, the busy timeout) on SQLite | [`SqlStore::builder`]`().timeout(..)` (servers), [`SqlStore::with_timeout`] |
//! | each purge batch (one `DELETE` of at most the batch size) | the purge bound | [`DEFAULT_PURGE_TIMEOUT`] (10 s) | [`SqlStore::with_purge_timeout`] |
//! | `migrate()`, whole (it may wait for another process's migration) | the migration bound | [`DEFAULT_MIGRATE_TIMEOUT`] (60 s) | [`SqlStore::with_migrate_timeout`] |
//!
//! The call bound includes queueing for a connection: size the pool for
//! the load (a thousand writes at once on eight connections wait longer
//! than 500 ms), or raise the bound. Pools the crate builds
//! ([`SqlStore::connect`], the builder, `SqliteStore::open`) wait for a
//! connection no longer than the default bound.
//!
//! The server is told the same bounds where it can be, so that a
//! statement the store stopped waiting for does not run on holding its
//! locks (each module has the details):
//!
//! - PostgreSQL: `statement_timeout` on every connection a store that
//!   connects opens (so set the call bound on the builder, before it
//!   connects); purge batches and the migration raise it in their
//!   transaction (`SET LOCAL`). Over your own pool, set it on the pool's
//!   connections yourself.
//! - MariaDB: `SET STATEMENT max_statement_time = ... FOR` in each
//!   statement's text, whoever built the pool. MySQL: the
//!   `MAX_EXECUTION_TIME` hint on `SELECT`s only; its writes run until
//!   `innodb_lock_wait_timeout` at most.
//! - SQLite: no statement timeout; the busy timeout ends a wait for
//!   another process's lock, and the client bound covers the rest.
//!
//! # Sharing a table with TypeScript Narvik
//!
//! A TypeScript service on Narvik, with the callbacks in this crate's
//! README, writes rows the Rust side reads: a session without additional
//! fields has data `{}`, which `D = ()` reads as it reads `null` (see
//! [`narvik_core::store::json`]); camelCase fields need
//! `#[serde(rename_all = "camelCase")]` on `D`; `created_at` defaults to
//! the insert time.
//!
//! # Layout
//!
//! - [`SqlStore`] (`store.rs`): the store traits, written once.
//! - `bound.rs`: the bounds, their defaults, and the one place a call
//!   runs under its bound; [`SqlStoreBuilder`] (`builder.rs`): a server
//!   store's bound and pool, before it connects.
//! - [`Dialect`] (`dialect.rs`): what a database supplies; implemented in
//!   [`sqlite`], [`postgres`] and [`mysql`], beside each store's
//!   constructors, schema docs and the `sql/<db>.sql` schema file.
//! - `statements.rs`: every statement's text, spelled by the dialect;
//!   `schema.rs`: the schema's versions ([`Migration`]) and how
//!   `migrate()` applies them;
//!   `columns.rs`: rows into sessions; `coalesce.rs`: batched lookups.
//! - [`TableName`]: the checked table name.
//! - [`PurgeTask`]: the background purge.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The store and what it is built from; without a database feature there
// is no dialect to build it for.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod bound;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod builder;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod coalesce;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod columns;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod dialect;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod schema;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod statements;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod store;
mod table;
// Not part of the API: the fuzz targets' entry points.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;

#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub mod mysql;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

#[cfg(feature = "mysql")]
pub use mysql::MySqlStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use bound::{DEFAULT_MIGRATE_TIMEOUT, DEFAULT_PURGE_TIMEOUT, DEFAULT_TIMEOUT};
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use builder::SqlStoreBuilder;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use dialect::Dialect;
/// The background purge: the same type as `narvik_core::PurgeTask`, which
/// serves any store; re-exported here so code that imports it from this
/// crate keeps working.
pub use narvik_core::PurgeTask;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use schema::{Migration, SCHEMA_VERSION};
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use store::SqlStore;
pub use table::{InvalidTableName, TableName};

/// Rows a purge deletes per statement unless configured otherwise: small
/// enough that one batch holds its locks for milliseconds, large enough
/// that a million expired rows take a few hundred statements.
pub const DEFAULT_PURGE_BATCH_SIZE: u32 = 5_000;

/// The sqlx this crate is built on, for building pools and options.
pub use sqlx;
