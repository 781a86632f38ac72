//! What the database test files share: the suite every SQL store answers
//! ([`suite`]), unique table names, server URLs from the environment, and
//! a store wrapper that drops its table when the case is done.

// Each test file uses a different part of this module.
#![allow(dead_code, unreachable_pub)]

pub mod suite;

use std::future::Future;
use std::time::Duration;

use narvik_core::{Session, Timestamp, Token};
use narvik_sqlx::TableName;
use narvik_sqlx::sqlx;

/// A table name no other case or test run uses.
pub fn unique_table() -> TableName {
    let token = Token::generate().expect("os rng");
    TableName::new(&format!("narvik_test_{}", &token.as_str()[..16])).expect("valid table name")
}

/// A database server the tests talk to: at the URL in `var`, or at
/// `default` when it is unset.
pub struct TestServer {
    /// What it is, for messages.
    pub name: &'static str,
    /// The variable that points elsewhere.
    pub var: &'static str,
    /// The local server's URL.
    pub default: &'static str,
}

impl TestServer {
    /// The URL to connect to.
    pub fn url(&self) -> String {
        std::env::var(self.var).unwrap_or_else(|_| self.default.to_owned())
    }

    /// The connect options of [`url`](Self::url).
    pub fn connect_options<O>(&self) -> O
    where
        O: std::str::FromStr<Err: std::fmt::Display>,
    {
        let url = self.url();
        O::from_str(&url)
            .unwrap_or_else(|e| panic!("{}={url} is not a {} URL: {e}", self.var, self.name))
    }

    /// A pool with `options` on `connect`; a server that does not answer
    /// fails the test with the URL tried and the variable that points
    /// elsewhere. Tests never skip.
    pub async fn pool_with<DB: sqlx::Database>(
        &self,
        options: sqlx::pool::PoolOptions<DB>,
        connect: <DB::Connection as sqlx::Connection>::Options,
    ) -> sqlx::Pool<DB> {
        options.connect_with(connect).await.unwrap_or_else(|e| {
            panic!(
                "{} at {} did not answer: {e}\n\
                 Start it (scripts/services.sh starts the local PostgreSQL and MariaDB) \
                 or set {} to a server to test against.",
                self.name,
                self.url(),
                self.var
            )
        })
    }
}

/// Runs `cleanup` to completion on a thread of its own with its own
/// runtime: it is called from `Drop`, inside the case's runtime, which
/// cannot be blocked on.
pub fn run_detached<F>(cleanup: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let thread = std::thread::spawn(move || {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(async {
                if tokio::time::timeout(Duration::from_secs(30), cleanup)
                    .await
                    .is_err()
                {
                    eprintln!("narvik-sqlx tests: cleanup timed out");
                }
            }),
            Err(e) => eprintln!("narvik-sqlx tests: no runtime for cleanup: {e}"),
        }
    });
    if thread.join().is_err() {
        eprintln!("narvik-sqlx tests: cleanup panicked");
    }
}

/// A store that runs a cleanup (dropping its table) when it is dropped,
/// so each case leaves nothing behind, even when it fails: the testkit's
/// wrapper with a drop hook.
pub type Cleanup<S> = narvik_testkit::wrap::Wrapped<S>;

/// The table where `migrate()` records `table`'s versions.
pub fn migrations_table(table: &TableName) -> TableName {
    TableName::new(&format!("{table}_migrations")).expect("a test table's name is short")
}

/// `store`, dropping `tables` (each quoted) through a connection of its
/// own, made with `connect`, when the store is dropped.
pub fn drop_tables_on_drop<DB, S>(
    store: S,
    tables: Vec<String>,
    connect: <DB::Connection as sqlx::Connection>::Options,
) -> Cleanup<S>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    Cleanup::new(store).on_drop(move || {
        run_detached(async move {
            let pool = match sqlx::pool::PoolOptions::<DB>::new()
                .max_connections(1)
                .connect_with(connect)
                .await
            {
                Ok(pool) => pool,
                Err(e) => return eprintln!("could not connect to drop tables {tables:?}: {e}"),
            };
            for quoted in tables {
                let drop = format!("DROP TABLE IF EXISTS {quoted}");
                if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                    .execute(&pool)
                    .await
                {
                    eprintln!("could not drop table {quoted}: {e}");
                }
            }
            pool.close().await;
        });
    })
}

/// A session for `user_id` expiring at `expires_at`, with typed data.
pub fn session<D>(user_id: &str, expires_at: Timestamp, data: D) -> Session<D> {
    Session::new(
        Token::generate().expect("os rng").session_id(),
        user_id,
        Timestamp::now(),
        expires_at,
        data,
    )
}

/// The chain of an error's sources, as one string, for assertions on the
/// cause.
pub fn causes(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}
