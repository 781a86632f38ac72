//! `SqliteStore` on a file (in a temporary directory, removed afterwards)
//! and in memory: the conformance suite, the suite every SQL store
//! answers, then what is specific to SQLite.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use narvik_core::store::{PurgeableStore, SessionStore};
use narvik_core::{Error, Narvik, Timestamp};
use narvik_sqlx::sqlx::pool::PoolOptions;
use narvik_sqlx::sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use narvik_sqlx::sqlx::{self, AssertSqlSafe};
use narvik_sqlx::{SqliteStore, TableName};
use narvik_testkit::TestData;
use support::suite::Backend;
use support::{Cleanup, causes, session, unique_table};
use tempfile::TempDir;

const HOUR: Duration = Duration::from_secs(3600);

fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("narvik-sqlx-test-")
        .tempdir()
        .expect("create a temporary directory")
}

/// A store on a new database file, migrated; the file is removed when the
/// store is dropped.
async fn file_store<D>() -> Cleanup<SqliteStore<D>> {
    let store = SqliteStore::<D>::open(database_file())
        .await
        .expect("open the database file");
    store.migrate().await.expect("migrate");
    Lite::cleanup(store)
}

async fn memory_store<D>() -> SqliteStore<D> {
    let store = SqliteStore::<D>::open_in_memory()
        .await
        .expect("open in memory");
    store.migrate().await.expect("migrate");
    store
}

/// A path for a new database file, in the system's temporary directory.
fn database_file() -> PathBuf {
    std::env::temp_dir().join(format!("{}.db", unique_table()))
}

struct Lite;

impl Backend for Lite {
    type DB = Sqlite;

    const MISSING_TABLE: &'static str = "no such table";

    /// A pool on a new database file, removed by [`Lite::cleanup`].
    async fn pool(options: PoolOptions<Sqlite>) -> SqlitePool {
        let file = SqliteConnectOptions::new()
            .filename(database_file())
            .create_if_missing(true);
        options
            .connect_with(file)
            .await
            .expect("open a database file")
    }

    /// The same file, through a pool of its own.
    async fn another_pool(pool: &SqlitePool) -> SqlitePool {
        SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with((*pool.connect_options()).clone())
            .await
            .expect("open the file again")
    }

    fn store<D>(pool: SqlitePool) -> SqliteStore<D> {
        SqliteStore::from_pool(pool)
    }

    async fn connect<D>(timeout: Duration) -> SqliteStore<D> {
        SqliteStore::open(database_file())
            .await
            .expect("open the database file")
            .with_timeout(timeout)
    }

    type Lock = sqlx::Transaction<'static, Sqlite>;

    /// In WAL mode readers never wait for the writer.
    const LOCK_STALLS_READS: bool = false;

    /// Another connection to the file holds the write lock (another
    /// process would).
    async fn lock<D>(store: &SqliteStore<D>) -> Self::Lock {
        let options = (*store.write_pool().connect_options()).clone();
        let locker = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("open the file again");
        locker
            .begin_with("BEGIN IMMEDIATE")
            .await
            .expect("take the write lock")
    }

    async fn unlock(lock: Self::Lock) {
        lock.rollback().await.expect("rollback");
    }

    /// No server: a statement the store gave up on ends at the busy
    /// timeout, in SQLite's worker thread.
    async fn running_on<D>(_store: &SqliteStore<D>) -> Option<Vec<String>> {
        None
    }

    fn cleanup<D>(store: SqliteStore<D>) -> Cleanup<SqliteStore<D>> {
        let file = store
            .write_pool()
            .connect_options()
            .get_filename()
            .to_owned();
        let pools = [store.read_pool().clone(), store.write_pool().clone()];
        Cleanup::new(store).on_drop(move || {
            support::run_detached(async move {
                for pool in pools {
                    pool.close().await;
                }
                for suffix in ["", "-wal", "-shm"] {
                    let mut path = file.clone().into_os_string();
                    path.push(suffix);
                    let _ = std::fs::remove_file(path);
                }
            });
        })
    }

    fn quote(table: &TableName) -> String {
        format!("\"{table}\"")
    }

    /// The README's callbacks written for SQLite: the `Date`'s `getTime()`
    /// into the INTEGER column, `JSON.stringify(data)` as text.
    const TYPESCRIPT_VALUES: &'static str = "(?1, ?2, ?3, ?4)";
    const DATA_PARAM: &'static str = "?1";
}

/// The store as `open` lays it out (one writer, eight readers).
mod opened {
    narvik_testkit::conformance_tests!(|| async {
        super::file_store::<narvik_testkit::TestData>().await
    });
}

mod memory {
    narvik_testkit::conformance_tests!(|| async {
        super::memory_store::<narvik_testkit::TestData>().await
    });
}

// On a file database through one pool of up to eight connections.
support::suite::sql_store_tests!(super::Lite);

/// Data that is not JSON at all: SQLite's TEXT column holds anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_that_is_not_json_is_a_data_error_naming_the_session() {
    let store = file_store::<()>().await;
    let s = session("not-json", Timestamp::now() + HOUR, ());
    store.save_session(&s).await.expect("save");
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE \"{}\" SET data = 'not json'",
        store.inner().table_name()
    )))
    .execute(store.inner().write_pool())
    .await
    .expect("overwrite data");
    match store.fetch_session(&s.id).await {
        Err(Error::Data { id, .. }) => assert_eq!(id, s.id),
        other => panic!("expected Error::Data for {}, got {other:?}", s.id),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_database_is_in_wal_mode_with_a_busy_timeout() {
    let store = file_store::<()>().await;
    for pool in [store.inner().read_pool(), store.inner().write_pool()] {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .expect("journal_mode");
        assert_eq!(mode, "wal");
        let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(pool)
            .await
            .expect("busy_timeout");
        assert_eq!(timeout, 5_000);
    }
}

/// Four stores on one file (four pools, as four processes would have), 64
/// tasks writing at once: no "database is locked", nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_writers_never_see_database_is_locked() {
    let dir = temp_dir();
    let path = dir.path().join("sessions.db");
    let mut stores = Vec::new();
    for _ in 0..4 {
        let store = SqliteStore::<TestData>::open(&path).await.expect("open");
        store.migrate().await.expect("migrate");
        stores.push(store);
    }
    let tasks: Vec<_> = (0..64)
        .map(|task| {
            let store = stores[task % stores.len()].clone();
            tokio::spawn(async move {
                let user = format!("writer-{task}");
                let now = Timestamp::now();
                let mut kept = Vec::new();
                for i in 0..40 {
                    let s = session(&user, now + HOUR, TestData::default());
                    store.save_session(&s).await?;
                    store
                        .update_session(&s.id, narvik_core::SessionUpdate::expiry(now + 2 * HOUR))
                        .await?;
                    if store.fetch_session(&s.id).await?.is_none() {
                        panic!("a saved session is missing");
                    }
                    if i % 4 == 0 {
                        store.delete_session(&s.id).await?;
                    } else {
                        kept.push(s.id);
                    }
                    if i % 10 == 0 {
                        store.delete_all_expired_sessions(now).await?;
                    }
                }
                Ok::<_, Error>(kept.len())
            })
        })
        .collect();
    let mut kept = 0;
    for task in tasks {
        match task.await.expect("task panicked") {
            Ok(n) => kept += n,
            Err(e) => panic!("a concurrent write failed: {}", causes(&e)),
        }
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM narvik_sessions")
        .fetch_one(stores[0].read_pool())
        .await
        .expect("count");
    assert_eq!(count, i64::try_from(kept).expect("fits"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_database_keeps_sessions_across_reopening() {
    let dir = temp_dir();
    let path = dir.path().join("sessions.db");
    let s = session("persist", Timestamp::now() + HOUR, ());
    {
        let store = SqliteStore::<()>::open(&path).await.expect("open");
        store.migrate().await.expect("migrate");
        store.save_session(&s).await.expect("save");
        store.close().await;
    }
    let store = SqliteStore::<()>::open(&path).await.expect("reopen");
    store.migrate().await.expect("migrate again");
    assert_eq!(store.fetch_session(&s.id).await.expect("fetch"), Some(s));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_databases_are_private_to_their_store() {
    let a = memory_store::<()>().await;
    let b = memory_store::<()>().await;
    let s = session("private", Timestamp::now() + HOUR, ());
    a.save_session(&s).await.expect("save");
    assert_eq!(b.fetch_session(&s.id).await.expect("fetch"), None);
    assert_eq!(
        a.clone().fetch_session(&s.id).await.expect("fetch"),
        Some(s)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_table_name_is_used_and_quoted() {
    let store = memory_store::<()>()
        .await
        .with_table_name(narvik_sqlx::TableName::new("order").expect("valid"));
    store
        .migrate()
        .await
        .expect("migrate a keyword-named table");
    let s = session("named", Timestamp::now() + HOUR, ());
    store.save_session(&s).await.expect("save");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM \"order\"")
        .fetch_one(store.read_pool())
        .await
        .expect("count");
    assert_eq!(count, 1);
}

/// The `id` column holds the session id as Narvik writes it: the token's
/// SHA-256 in lower-case hex, so a TypeScript service finds the row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_id_column_holds_the_hex_sha256_of_the_token() {
    let store = file_store::<()>().await;
    let created = Narvik::new(store.inner().clone())
        .create_session("user-1", ())
        .await
        .expect("create");
    let raw: String =
        sqlx::query_scalar(AssertSqlSafe("SELECT id FROM narvik_sessions".to_owned()))
            .fetch_one(store.inner().read_pool())
            .await
            .expect("read id");
    assert_eq!(raw, created.session.id.to_string());
    assert_eq!(raw.len(), 64);
    assert!(
        raw.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
}
