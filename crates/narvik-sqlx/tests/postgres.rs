//! `PostgresStore` against a real PostgreSQL: the conformance suite, then
//! what is specific to PostgreSQL. Each case uses its own table, dropped
//! afterwards.
//!
//! Server: `NARVIK_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`. An unreachable server fails
//! the tests; nothing is skipped.

mod support;

use std::str::FromStr;
use std::time::Duration;

use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore};
use narvik_core::{Error, Timestamp};
use narvik_sqlx::PostgresStore;
use narvik_sqlx::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use narvik_sqlx::sqlx::{self, AssertSqlSafe};
use narvik_testkit::TestData;
use support::{Cleanup, causes, session, unique_table};

const URL_VAR: &str = "NARVIK_TEST_POSTGRES_URL";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const HOUR: Duration = Duration::from_secs(3600);

fn url() -> String {
    support::server_url(URL_VAR, DEFAULT_URL)
}

async fn pool_with(options: PgPoolOptions, connect: PgConnectOptions) -> PgPool {
    let url = url();
    options
        .connect_with(connect)
        .await
        .unwrap_or_else(|e| panic!("{}", support::unreachable("PostgreSQL", &url, URL_VAR, &e)))
}

fn connect_options() -> PgConnectOptions {
    let url = url();
    PgConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("{URL_VAR}={url} is not a PostgreSQL URL: {e}"))
}

async fn pool() -> PgPool {
    pool_with(
        PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10)),
        connect_options(),
    )
    .await
}

/// A store on a table of its own, migrated, dropped when the store is.
async fn store_on<D>(pool: PgPool) -> Cleanup<PostgresStore<D>> {
    let store = PostgresStore::<D>::new(pool).with_table_name(unique_table());
    store.migrate().await.expect("migrate");
    with_cleanup(store)
}

fn with_cleanup<D>(store: PostgresStore<D>) -> Cleanup<PostgresStore<D>> {
    let table = store.table_name().clone();
    Cleanup::new(store, move || {
        support::run_detached(async move {
            let Ok(pool) = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(connect_options())
                .await
            else {
                eprintln!("could not connect to drop table {table}");
                return;
            };
            let drop = format!("DROP TABLE IF EXISTS \"{table}\"");
            if let Err(e) = sqlx::raw_sql(AssertSqlSafe(drop)).execute(&pool).await {
                eprintln!("could not drop table {table}: {e}");
            }
            pool.close().await;
        });
    })
}

async fn fresh_store() -> Cleanup<PostgresStore<TestData>> {
    store_on(pool().await).await
}

mod conformance {
    narvik_testkit::conformance_tests!(|| async { super::fresh_store().await });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_uses_native_millisecond_timestamps_and_jsonb() {
    let store = fresh_store().await;
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
    ];
    for ((name, ty, precision), (want_name, want_ty, want_precision)) in
        columns.iter().zip(expected)
    {
        assert_eq!((name.as_str(), ty.as_str()), (want_name, want_ty));
        if want_precision.is_some() {
            assert_eq!(*precision, want_precision, "{name} precision");
        }
    }
    assert_eq!(columns.len(), 5);

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_is_idempotent_and_safe_to_run_concurrently() {
    let store = fresh_store().await;
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let s = store.inner().clone();
            tokio::spawn(async move { s.migrate().await })
        })
        .collect();
    for run in runs {
        run.await.expect("task").expect("migrate again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_an_error_with_its_cause_not_no_session() {
    let store =
        with_cleanup(PostgresStore::<()>::new(pool().await).with_table_name(unique_table()));
    let id = session("u", Timestamp::now(), ()).id;
    match store.fetch_session(&id).await {
        Err(e @ Error::Store { .. }) => {
            assert!(causes(&e).contains("does not exist"), "{}", causes(&e));
        }
        other => panic!("a missing table must be Error::Store, got {other:?}"),
    }
    assert!(matches!(
        store.delete_all_expired_sessions(Timestamp::now()).await,
        Err(Error::Store { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_that_does_not_fit_the_type_is_a_data_error_naming_the_session() {
    let store = fresh_store().await;
    let s = session("bad-data", Timestamp::now() + HOUR, ());
    // Written as D = (), read as TestData: the JSON `null` is not a TestData.
    let unit = PostgresStore::<()>::new(store.inner().pool().clone())
        .with_table_name(store.inner().table_name().clone());
    unit.save_session(&s).await.expect("save");
    match store.fetch_session(&s.id).await {
        Err(Error::Data { id, .. }) => assert_eq!(id, s.id),
        other => panic!("expected Error::Data for {}, got {other:?}", s.id),
    }
    match store.fetch_sessions_for_user("bad-data").await {
        Err(Error::Data { id, .. }) => assert_eq!(id, s.id),
        other => panic!("expected Error::Data for {}, got {other:?}", s.id),
    }
}

/// Lookups queued for the only connection are served by one `= ANY($1)`
/// statement, each getting its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_lookups_are_served_together_and_each_gets_its_own_answer() {
    let pool = pool_with(
        PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10)),
        connect_options(),
    )
    .await;
    let store = store_on::<TestData>(pool).await;
    let unit = PostgresStore::<()>::new(store.inner().pool().clone())
        .with_table_name(store.inner().table_name().clone());
    let pool = store.inner().pool().clone();
    let hold = async move { pool.acquire().await.expect("the connection") };
    support::queued_lookups_each_get_their_own_answer(store.inner().clone(), unit, hold).await;
}

/// A lookup that stops waiting (answered by another task, or its caller
/// gone) must not abort a connection the pool was opening for it: the
/// pool would stay small under load while the server starts backends for
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_lookup_does_not_abort_a_connection_being_opened() {
    let pool = pool_with(
        PgPoolOptions::new().max_connections(2).min_connections(0),
        connect_options(),
    )
    .await;
    let store = store_on::<()>(pool).await;
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
async fn an_exhausted_pool_is_an_error_not_no_session() {
    let pool = pool_with(
        PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_millis(200)),
        connect_options(),
    )
    .await;
    let store = store_on::<()>(pool).await;
    let s = session("pool", Timestamp::now() + HOUR, ());
    store.save_session(&s).await.expect("save");
    let held = store
        .inner()
        .pool()
        .acquire()
        .await
        .expect("take the only connection");
    let result = tokio::time::timeout(Duration::from_secs(5), store.fetch_session(&s.id))
        .await
        .expect("the pool's acquire timeout must end the wait");
    match result {
        Err(e @ Error::Store { .. }) => {
            assert!(causes(&e).contains("timed out"), "{}", causes(&e));
        }
        other => panic!("an exhausted pool must be Error::Store, got {other:?}"),
    }
    drop(held);
    assert_eq!(store.fetch_session(&s.id).await.expect("fetch"), Some(s));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_timeout_is_an_error_not_no_session() {
    let pool = pool_with(
        PgPoolOptions::new().max_connections(2),
        connect_options().options([("statement_timeout", "300")]),
    )
    .await;
    let store = store_on::<()>(pool).await;
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

/// Kills the store's connection on the server, then checks the next call:
/// it finds the session on a fresh connection, or fails with
/// `Error::Store`, never "no session"; the call after it succeeds.
async fn survives_a_terminated_backend(test_before_acquire: bool) {
    let pool = pool_with(
        PgPoolOptions::new()
            .max_connections(1)
            .test_before_acquire(test_before_acquire),
        connect_options(),
    )
    .await;
    let store = store_on::<()>(pool).await;
    let s = session("terminated", Timestamp::now() + HOUR, ());
    store.save_session(&s).await.expect("save");
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(store.inner().pool())
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
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match store.fetch_session(&s.id).await {
        Ok(found) => assert_eq!(found, Some(s.clone()), "a live session read as missing"),
        Err(Error::Store { .. }) => {}
        Err(other) => panic!("a dropped connection must be Error::Store, got {other:?}"),
    }
    assert_eq!(
        store
            .fetch_session(&s.id)
            .await
            .expect("the pool reconnects"),
        Some(s)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_backend_is_replaced_by_a_fresh_connection() {
    survives_a_terminated_backend(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_backend_in_use_is_a_clean_error_then_recovers() {
    survives_a_terminated_backend(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_in_small_batches_removes_and_counts_every_expired_session() {
    let pool = pool().await;
    let store = store_on::<()>(pool).await;
    let small = store.inner().clone().with_purge_batch_size(7);
    let now = Timestamp::now();
    for i in 0..50 {
        let s = session("batch", now - Duration::from_millis(i), ());
        store.save_session(&s).await.expect("save");
    }
    let live = session("batch", now + Duration::from_millis(1), ());
    store.save_session(&live).await.expect("save");
    assert_eq!(
        small.delete_all_expired_sessions(now).await.expect("purge"),
        50
    );
    assert_eq!(
        small.delete_all_expired_sessions(now).await.expect("purge"),
        0
    );
    assert_eq!(
        store.fetch_session(&live.id).await.expect("fetch"),
        Some(live)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_ids_compare_exactly() {
    let store = fresh_store().await;
    let now = Timestamp::now();
    let exact = ["alice", "Alice", "alice ", "alicé"];
    for user in exact {
        store
            .save_session(&session(user, now + HOUR, TestData::default()))
            .await
            .expect("save");
    }
    store
        .delete_sessions_for_user("alice")
        .await
        .expect("delete");
    for user in &exact[1..] {
        let listed = store.fetch_sessions_for_user(user).await.expect("fetch");
        assert_eq!(listed.len(), 1, "{user:?} lost its session to \"alice\"");
    }
}
