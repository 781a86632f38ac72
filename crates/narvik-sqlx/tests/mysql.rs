//! `MySqlStore` against a real MariaDB (or MySQL): the conformance suite,
//! then what is specific to it. Each case uses its own table, dropped
//! afterwards.
//!
//! Server: `NARVIK_TEST_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306/test`. An unreachable server fails
//! the tests; nothing is skipped.

mod support;

use std::str::FromStr;
use std::time::Duration;

use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore};
use narvik_core::{Error, Timestamp};
use narvik_sqlx::MySqlStore;
use narvik_sqlx::sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use narvik_sqlx::sqlx::{self, AssertSqlSafe};
use narvik_testkit::TestData;
use support::{Cleanup, causes, session, unique_table};

const URL_VAR: &str = "NARVIK_TEST_MYSQL_URL";
const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306/test";
const HOUR: Duration = Duration::from_secs(3600);

fn url() -> String {
    support::server_url(URL_VAR, DEFAULT_URL)
}

async fn pool_with(options: MySqlPoolOptions, connect: MySqlConnectOptions) -> MySqlPool {
    let url = url();
    options
        .connect_with(connect)
        .await
        .unwrap_or_else(|e| panic!("{}", support::unreachable("MariaDB", &url, URL_VAR, &e)))
}

fn connect_options() -> MySqlConnectOptions {
    let url = url();
    MySqlConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("{URL_VAR}={url} is not a MySQL URL: {e}"))
}

async fn pool() -> MySqlPool {
    pool_with(
        MySqlPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10)),
        connect_options(),
    )
    .await
}

/// A store on a table of its own, migrated, dropped when the store is.
async fn store_on<D>(pool: MySqlPool) -> Cleanup<MySqlStore<D>> {
    let store = MySqlStore::<D>::new(pool).with_table_name(unique_table());
    store.migrate().await.expect("migrate");
    with_cleanup(store)
}

fn with_cleanup<D>(store: MySqlStore<D>) -> Cleanup<MySqlStore<D>> {
    let table = store.table_name().clone();
    Cleanup::new(store, move || {
        support::run_detached(async move {
            let Ok(pool) = MySqlPoolOptions::new()
                .max_connections(1)
                .connect_with(connect_options())
                .await
            else {
                eprintln!("could not connect to drop table {table}");
                return;
            };
            let drop = format!("DROP TABLE IF EXISTS `{table}`");
            if let Err(e) = sqlx::raw_sql(AssertSqlSafe(drop)).execute(&pool).await {
                eprintln!("could not drop table {table}: {e}");
            }
            pool.close().await;
        });
    })
}

async fn fresh_store() -> Cleanup<MySqlStore<TestData>> {
    store_on(pool().await).await
}

mod conformance {
    narvik_testkit::conformance_tests!(|| async { super::fresh_store().await });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_uses_millisecond_datetimes_and_exact_user_ids() {
    let store = fresh_store().await;
    let columns: Vec<(String, String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), \
         CAST(DATETIME_PRECISION AS SIGNED), CAST(COLLATION_NAME AS CHAR) \
         FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(store.inner().table_name().as_str())
    .fetch_all(store.inner().pool())
    .await
    .expect("read the schema");
    let summary: Vec<_> = columns
        .iter()
        .map(|(name, ty, precision, collation)| {
            (name.as_str(), ty.as_str(), *precision, collation.as_deref())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("id", "char", None, Some("ascii_bin")),
            ("user_id", "varchar", None, Some("utf8mb4_nopad_bin")),
            ("created_at", "datetime", Some(3), None),
            ("expires_at", "datetime", Some(3), None),
            ("data", "longtext", None, Some("utf8mb4_bin")),
        ]
    );

    // The stored instant is the session's, to the millisecond, in UTC.
    let s = session("times", Timestamp::from_unix_millis(1_764_000_000_123), ());
    let unit = MySqlStore::<()>::new(store.inner().pool().clone())
        .with_table_name(store.inner().table_name().clone());
    unit.save_session(&s).await.expect("save");
    let sql = format!(
        "SELECT CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', expires_at) DIV 1000 AS SIGNED) FROM `{}`",
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
    let store = with_cleanup(MySqlStore::<()>::new(pool().await).with_table_name(unique_table()));
    let id = session("u", Timestamp::now(), ()).id;
    match store.fetch_session(&id).await {
        Err(e @ Error::Store { .. }) => {
            assert!(causes(&e).contains("doesn't exist"), "{}", causes(&e));
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
    let unit = MySqlStore::<()>::new(store.inner().pool().clone())
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

/// Lookups queued for the only connection are served by one `IN (...)`
/// statement, each getting its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_lookups_are_served_together_and_each_gets_its_own_answer() {
    let pool = pool_with(
        MySqlPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10)),
        connect_options(),
    )
    .await;
    let store = store_on::<TestData>(pool).await;
    let unit = MySqlStore::<()>::new(store.inner().pool().clone())
        .with_table_name(store.inner().table_name().clone());
    let pool = store.inner().pool().clone();
    let hold = async move { pool.acquire().await.expect("the connection") };
    support::queued_lookups_each_get_their_own_answer(store.inner().clone(), unit, hold).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_is_an_error_not_no_session() {
    let pool = pool_with(
        MySqlPoolOptions::new()
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
async fn a_lock_wait_timeout_is_an_error_not_a_lost_update() {
    let pool = pool_with(
        MySqlPoolOptions::new()
            .max_connections(2)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::raw_sql("SET SESSION innodb_lock_wait_timeout = 1")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            }),
        connect_options(),
    )
    .await;
    let store = store_on::<()>(pool).await;
    let s = session("slow", Timestamp::now() + HOUR, ());
    store.save_session(&s).await.expect("save");
    // Another transaction holds the row, so the update waits until the
    // server's lock wait timeout ends it.
    let locker = pool_with(
        MySqlPoolOptions::new().max_connections(1),
        connect_options(),
    )
    .await;
    let mut tx = locker.begin().await.expect("begin");
    let lock = format!("SELECT id FROM `{}` FOR UPDATE", store.inner().table_name());
    sqlx::raw_sql(AssertSqlSafe(lock))
        .execute(&mut *tx)
        .await
        .expect("lock");
    match store
        .update_session_expiry(&s.id, Timestamp::now() + 2 * HOUR)
        .await
    {
        Err(e @ Error::Store { .. }) => {
            assert!(causes(&e).contains("Lock wait timeout"), "{}", causes(&e));
        }
        other => panic!("a timed-out update must be Error::Store, got {other:?}"),
    }
    tx.rollback().await.expect("rollback");
    assert_eq!(store.fetch_session(&s.id).await.expect("fetch"), Some(s));
}

/// Kills the store's connection on the server, then checks the next call:
/// it finds the session on a fresh connection, or fails with
/// `Error::Store`, never "no session"; the call after it succeeds.
async fn survives_a_killed_connection(test_before_acquire: bool) {
    let pool = pool_with(
        MySqlPoolOptions::new()
            .max_connections(1)
            .test_before_acquire(test_before_acquire),
        connect_options(),
    )
    .await;
    let store = store_on::<()>(pool).await;
    let s = session("killed", Timestamp::now() + HOUR, ());
    store.save_session(&s).await.expect("save");
    let connection: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(store.inner().pool())
        .await
        .expect("connection id");
    let admin = pool_with(
        MySqlPoolOptions::new().max_connections(1),
        connect_options(),
    )
    .await;
    // An integer from the server, so safe to write into the statement.
    sqlx::raw_sql(AssertSqlSafe(format!("KILL CONNECTION {connection}")))
        .execute(&admin)
        .await
        .expect("kill");
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
async fn a_killed_connection_is_replaced_by_a_fresh_one() {
    survives_a_killed_connection(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connection_in_use_is_a_clean_error_then_recovers() {
    survives_a_killed_connection(false).await;
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
