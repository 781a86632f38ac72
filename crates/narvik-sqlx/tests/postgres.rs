//! `PostgresStore` against a real PostgreSQL: the conformance suite, the
//! suite every SQL store answers, then what is specific to PostgreSQL.
//! Each case uses its own table, dropped afterwards.
//!
//! Server: `NARVIK_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`. An unreachable server fails
//! the tests; nothing is skipped.

mod support;

use std::time::Duration;

use narvik_core::store::SessionStore;
use narvik_core::{Error, Timestamp};
use narvik_sqlx::sqlx::pool::PoolOptions;
use narvik_sqlx::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, Postgres};
use narvik_sqlx::sqlx::{self, AssertSqlSafe};
use narvik_sqlx::{PostgresStore, TableName};
use narvik_testkit::TestData;
use support::suite::{Backend, Server};
use support::{Cleanup, TestServer, causes, session};

const SERVER: TestServer = TestServer {
    name: "PostgreSQL",
    var: "NARVIK_TEST_POSTGRES_URL",
    default: "postgres://postgres@127.0.0.1:5432/test",
};
const HOUR: Duration = Duration::from_secs(3600);

fn connect_options() -> PgConnectOptions {
    SERVER.connect_options()
}

async fn pool_with(options: PgPoolOptions, connect: PgConnectOptions) -> PgPool {
    SERVER.pool_with(options, connect).await
}

struct Pg;

impl Backend for Pg {
    type DB = Postgres;

    const MISSING_TABLE: &'static str = "does not exist";

    async fn pool(options: PoolOptions<Postgres>) -> PgPool {
        pool_with(options, connect_options()).await
    }

    async fn another_pool(_: &PgPool) -> PgPool {
        pool_with(PgPoolOptions::new().max_connections(4), connect_options()).await
    }

    fn store<D>(pool: PgPool) -> PostgresStore<D> {
        PostgresStore::new(pool)
    }

    async fn connect<D>(timeout: Duration) -> PostgresStore<D> {
        PostgresStore::builder()
            .timeout(timeout)
            .connect(&SERVER.url())
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {}", SERVER.url(), causes(&e)))
    }

    type Lock = sqlx::Transaction<'static, Postgres>;

    const LOCK_STALLS_READS: bool = true;

    async fn lock<D>(store: &PostgresStore<D>) -> Self::Lock {
        let locker = pool_with(PgPoolOptions::new().max_connections(1), connect_options()).await;
        let mut tx = locker.begin().await.expect("begin");
        let lock = format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            Self::quote(store.table_name())
        );
        sqlx::raw_sql(AssertSqlSafe(lock))
            .execute(&mut *tx)
            .await
            .expect("lock");
        tx
    }

    async fn unlock(lock: Self::Lock) {
        lock.rollback().await.expect("rollback");
    }

    async fn running_on<D>(store: &PostgresStore<D>) -> Option<Vec<String>> {
        let admin = pool_with(PgPoolOptions::new().max_connections(1), connect_options()).await;
        let running = sqlx::query_scalar(
            "SELECT query FROM pg_stat_activity \
             WHERE state = 'active' AND pid <> pg_backend_pid() AND strpos(query, $1) > 0",
        )
        .bind(store.table_name().as_str())
        .fetch_all(&admin)
        .await
        .expect("pg_stat_activity");
        admin.close().await;
        Some(running)
    }

    fn cleanup<D>(store: PostgresStore<D>) -> Cleanup<PostgresStore<D>> {
        let tables = vec![
            Self::quote(store.table_name()),
            Self::quote(&support::migrations_table(store.table_name())),
        ];
        support::drop_tables_on_drop::<Postgres, _>(store, tables, connect_options())
    }

    fn quote(table: &TableName) -> String {
        format!("\"{table}\"")
    }

    /// node-postgres sends its parameters as untyped text, which the server
    /// converts to the column types: the `Date` to `TIMESTAMPTZ`,
    /// `JSON.stringify(data)` to `JSONB`.
    const TYPESCRIPT_VALUES: &'static str = "($1, $2, to_timestamp($3::float8 / 1000), $4::jsonb)";
    const DATA_PARAM: &'static str = "$1::jsonb";
}

impl Server for Pg {
    async fn kill_connection(pool: &PgPool) {
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(pool)
            .await
            .expect("backend pid");
        let admin = pool_with(PgPoolOptions::new().max_connections(1), connect_options()).await;
        let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&admin)
            .await
            .expect("terminate");
        assert!(killed, "pg_terminate_backend found no backend {pid}");
        for _ in 0..100 {
            let alive: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)")
                    .bind(pid)
                    .fetch_one(&admin)
                    .await
                    .expect("pg_stat_activity");
            if !alive {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("backend {pid} still alive");
    }
}

support::suite::sql_store_tests!(super::Pg);
support::suite::server_tests!(super::Pg);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_uses_native_millisecond_timestamps_and_jsonb() {
    let store = sql_store::store::<TestData>(2, Duration::from_secs(10)).await;
    let columns: Vec<(String, String, Option<i32>)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, datetime_precision::int4 \
         FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
    )
    .bind(store.inner().table_name().as_str())
    .fetch_all(store.inner().pool())
    .await
    .expect("read the schema");
    let expected = [
        ("id", "character", None),
        ("user_id", "text", None),
        ("created_at", "timestamp with time zone", Some(3)),
        ("expires_at", "timestamp with time zone", Some(3)),
        ("data", "jsonb", None),
        ("length_ms", "bigint", None),
        ("persistent", "boolean", None),
        ("last_active_at", "timestamp with time zone", Some(3)),
        ("reauthenticated_at", "timestamp with time zone", Some(3)),
        ("rotated_at", "timestamp with time zone", Some(3)),
    ];
    for ((name, ty, precision), (want_name, want_ty, want_precision)) in
        columns.iter().zip(expected)
    {
        assert_eq!((name.as_str(), ty.as_str()), (want_name, want_ty));
        if want_precision.is_some() {
            assert_eq!(*precision, want_precision, "{name} precision");
        }
    }
    assert_eq!(columns.len(), expected.len());

    // The stored instant is the session's, to the millisecond.
    let s = session("times", Timestamp::from_unix_millis(1_764_000_000_123), ());
    let unit = PostgresStore::<()>::new(store.inner().pool().clone())
        .with_table_name(store.inner().table_name().clone());
    unit.save_session(&s).await.expect("save");
    let sql = format!(
        "SELECT (extract(epoch FROM expires_at) * 1000)::int8 FROM \"{}\"",
        store.inner().table_name()
    );
    let millis: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
        .fetch_one(store.inner().pool())
        .await
        .expect("read expires_at");
    assert_eq!(millis, 1_764_000_000_123);
}

/// A lookup that stops waiting (answered by another task, or its caller
/// gone) must not abort a connection the pool was opening for it: the
/// pool would stay small under load while the server starts backends for
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_lookup_does_not_abort_a_connection_being_opened() {
    let pool = Pg::pool(PgPoolOptions::new().max_connections(2).min_connections(0)).await;
    let store = sql_store::store_on::<()>(pool).await;
    let pool = store.inner().pool().clone();
    // Hold every open connection, so a lookup has to open a new one. A
    // connection goes back to the pool in a task of its own after use:
    // wait until every one is idle, so none is on its way back.
    for _ in 0..200 {
        if pool.num_idle() == usize::try_from(pool.size()).expect("small") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut held = Vec::new();
    while let Some(conn) = pool.try_acquire() {
        held.push(conn);
    }
    assert_eq!(held.len(), usize::try_from(pool.size()).expect("small"));
    assert!(pool.size() < 2, "the pool must have room to grow");
    let before = pool.size();
    let id = session("u", Timestamp::now() + HOUR, ()).id;
    // Polled exactly once, then dropped: the lookup has started waiting for
    // a connection and gives up at once.
    let polled_once = tokio::select! {
        biased;
        _ = store.inner().fetch_session(&id) => false,
        () = std::future::ready(()) => true,
    };
    assert!(
        polled_once,
        "the lookup cannot have finished on its first poll"
    );
    for _ in 0..200 {
        if pool.size() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pool.size(), before + 1, "the connection was opened anyway");
    drop(held);
    assert_eq!(store.fetch_session(&id).await.expect("fetch"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_timeout_is_an_error_not_no_session() {
    let pool = pool_with(
        PgPoolOptions::new().max_connections(2),
        connect_options().options([("statement_timeout", "300")]),
    )
    .await;
    let store = sql_store::store_on::<()>(pool).await;
    let s = session("slow", Timestamp::now() + HOUR, ());
    store.save_session(&s).await.expect("save");
    // Another session locks the table, so the fetch waits until the
    // server's statement timeout cancels it.
    let locker = pool_with(PgPoolOptions::new().max_connections(1), connect_options()).await;
    let mut tx = locker.begin().await.expect("begin");
    let lock = format!(
        "LOCK TABLE \"{}\" IN ACCESS EXCLUSIVE MODE",
        store.inner().table_name()
    );
    sqlx::raw_sql(AssertSqlSafe(lock))
        .execute(&mut *tx)
        .await
        .expect("lock");
    match store.fetch_session(&s.id).await {
        Err(e @ Error::Store { .. }) => {
            assert!(causes(&e).contains("statement timeout"), "{}", causes(&e));
        }
        other => panic!("a timed-out fetch must be Error::Store, got {other:?}"),
    }
    tx.rollback().await.expect("rollback");
    assert_eq!(store.fetch_session(&s.id).await.expect("fetch"), Some(s));
}

/// A migration waits for another process's migration (its advisory lock)
/// past the session calls' bound, which is also the connections'
/// `statement_timeout`: the migration has its own bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_waits_for_another_past_the_call_bound() {
    const CALL: Duration = Duration::from_millis(200);
    let store = Pg::cleanup(
        <Pg as Backend>::connect::<()>(CALL)
            .await
            .with_table_name(support::unique_table()),
    );
    let other = pool_with(PgPoolOptions::new().max_connections(1), connect_options()).await;
    let mut tx = other.begin().await.expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!(
            "narvik-sqlx migrate {}",
            store.inner().table_name()
        ))
        .execute(&mut *tx)
        .await
        .expect("the migration lock");
    let migrate = tokio::spawn({
        let store = store.inner().clone();
        async move { store.migrate().await }
    });
    tokio::time::sleep(5 * CALL).await;
    tx.rollback().await.expect("release the lock");
    migrate
        .await
        .expect("task")
        .unwrap_or_else(|e| panic!("migrate: {}", causes(&e)));
    let s = session("after", Timestamp::now() + HOUR, ());
    store.save_session(&s).await.expect("save");
}
