//! `MySqlStore` against a real MariaDB (or MySQL): the conformance suite,
//! the suite every SQL store answers, then what is specific to it. Each
//! case uses its own table, dropped afterwards.
//!
//! Server: `NARVIK_TEST_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306/test`. An unreachable server fails
//! the tests; nothing is skipped.

mod support;

use std::time::Duration;

use narvik_core::store::SessionStore;
use narvik_core::{Error, Timestamp};
use narvik_sqlx::sqlx::mysql::{MySql, MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use narvik_sqlx::sqlx::pool::{PoolConnection, PoolOptions};
use narvik_sqlx::sqlx::{self, AssertSqlSafe};
use narvik_sqlx::{MySqlStore, TableName};
use narvik_testkit::TestData;
use support::suite::{Backend, Server};
use support::{Cleanup, TestServer, causes, session};

const SERVER: TestServer = TestServer {
    name: "MariaDB",
    var: "NARVIK_TEST_MYSQL_URL",
    default: "mysql://root@127.0.0.1:3306/test",
};
const HOUR: Duration = Duration::from_secs(3600);

fn connect_options() -> MySqlConnectOptions {
    SERVER.connect_options()
}

async fn pool_with(options: MySqlPoolOptions, connect: MySqlConnectOptions) -> MySqlPool {
    SERVER.pool_with(options, connect).await
}

struct My;

impl Backend for My {
    type DB = MySql;

    const MISSING_TABLE: &'static str = "doesn't exist";

    async fn pool(options: PoolOptions<MySql>) -> MySqlPool {
        pool_with(options, connect_options()).await
    }

    async fn another_pool(_: &MySqlPool) -> MySqlPool {
        pool_with(
            MySqlPoolOptions::new().max_connections(4),
            connect_options(),
        )
        .await
    }

    fn store<D>(pool: MySqlPool) -> MySqlStore<D> {
        MySqlStore::new(pool)
    }

    async fn connect<D>(timeout: Duration) -> MySqlStore<D> {
        MySqlStore::builder()
            .timeout(timeout)
            .connect(&SERVER.url())
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {}", SERVER.url(), causes(&e)))
    }

    type Lock = PoolConnection<MySql>;

    const LOCK_STALLS_READS: bool = true;

    async fn lock<D>(store: &MySqlStore<D>) -> Self::Lock {
        let locker = pool_with(
            MySqlPoolOptions::new().max_connections(1),
            connect_options(),
        )
        .await;
        let mut conn = locker.acquire().await.expect("a connection");
        let lock = format!("LOCK TABLES {} WRITE", Self::quote(store.table_name()));
        sqlx::raw_sql(AssertSqlSafe(lock))
            .execute(&mut *conn)
            .await
            .expect("lock");
        conn
    }

    async fn unlock(mut lock: Self::Lock) {
        sqlx::raw_sql("UNLOCK TABLES")
            .execute(&mut *lock)
            .await
            .expect("unlock");
    }

    async fn running_on<D>(store: &MySqlStore<D>) -> Option<Vec<String>> {
        let admin = pool_with(
            MySqlPoolOptions::new().max_connections(1),
            connect_options(),
        )
        .await;
        let running = sqlx::query_scalar(
            "SELECT CAST(INFO AS CHAR) FROM information_schema.PROCESSLIST \
             WHERE ID <> CONNECTION_ID() AND LOCATE(?, INFO) > 0",
        )
        .bind(store.table_name().as_str())
        .fetch_all(&admin)
        .await
        .expect("processlist");
        admin.close().await;
        Some(running)
    }

    fn cleanup<D>(store: MySqlStore<D>) -> Cleanup<MySqlStore<D>> {
        let tables = vec![
            Self::quote(store.table_name()),
            Self::quote(&support::migrations_table(store.table_name())),
        ];
        support::drop_tables_on_drop::<MySql, _>(store, tables, connect_options())
    }

    fn quote(table: &TableName) -> String {
        format!("`{table}`")
    }

    /// The README's callbacks written for MySQL: `JSON.stringify(data)` as
    /// text into the `JSON` column, the `Date` as a UTC `DATETIME(3)`.
    const TYPESCRIPT_VALUES: &'static str =
        "(?, ?, TIMESTAMPADD(MICROSECOND, ? * 1000, '1970-01-01 00:00:00'), ?)";
    const DATA_PARAM: &'static str = "?";
}

impl Server for My {
    async fn kill_connection(pool: &MySqlPool) {
        let connection: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
            .fetch_one(pool)
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
    }
}

support::suite::sql_store_tests!(super::My);
support::suite::server_tests!(super::My);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_uses_millisecond_datetimes_and_exact_user_ids() {
    let store = sql_store::store::<TestData>(2, Duration::from_secs(10)).await;
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
            ("length_ms", "bigint", None, None),
            ("persistent", "tinyint", None, None),
            ("last_active_at", "datetime", Some(3), None),
            ("reauthenticated_at", "datetime", Some(3), None),
            ("rotated_at", "datetime", Some(3), None),
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
    let store = sql_store::store_on::<()>(pool).await;
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
        .update_session(
            &s.id,
            narvik_core::SessionUpdate::expiry(Timestamp::now() + 2 * HOUR),
        )
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
