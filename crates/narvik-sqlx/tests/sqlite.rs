//! `SqliteStore` on a file (in a temporary directory, removed afterwards)
//! and in memory: the conformance suite, then what is specific to SQLite,
//! and the background purge task.

mod support;

use std::sync::Arc;
use std::time::Duration;

use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore};
use narvik_core::{Clock, Error, ManualClock, Narvik, Timestamp};
use narvik_sqlx::sqlx::sqlite::SqlitePoolOptions;
use narvik_sqlx::sqlx::{self, AssertSqlSafe};
use narvik_sqlx::{PurgeTask, SqliteStore};
use narvik_testkit::TestData;
use support::{Cleanup, causes, session, unique_table};
use tempfile::TempDir;

const HOUR: Duration = Duration::from_secs(3600);

fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("narvik-sqlx-test-")
        .tempdir()
        .expect("create a temporary directory")
}

/// A store on a new database file, migrated; the directory is removed when
/// the store is dropped.
async fn file_store<D>() -> Cleanup<SqliteStore<D>> {
    let dir = temp_dir();
    let store = SqliteStore::<D>::open(dir.path().join("sessions.db"))
        .await
        .expect("open the database file");
    store.migrate().await.expect("migrate");
    Cleanup::new(store, move || drop(dir))
}

async fn memory_store<D>() -> SqliteStore<D> {
    let store = SqliteStore::<D>::open_in_memory()
        .await
        .expect("open in memory");
    store.migrate().await.expect("migrate");
    store
}

mod file {
    narvik_testkit::conformance_tests!(|| async {
        super::file_store::<narvik_testkit::TestData>().await
    });
}

mod memory {
    narvik_testkit::conformance_tests!(|| async {
        super::memory_store::<narvik_testkit::TestData>().await
    });
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
                    store.update_session_expiry(&s.id, now + 2 * HOUR).await?;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_an_error_with_its_cause_not_no_session() {
    let store = memory_store::<()>().await.with_table_name(unique_table());
    let id = session("u", Timestamp::now(), ()).id;
    match store.fetch_session(&id).await {
        Err(e @ Error::Store { .. }) => {
            assert!(causes(&e).contains("no such table"), "{}", causes(&e));
        }
        other => panic!("a missing table must be Error::Store, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_that_is_not_json_of_the_type_is_a_data_error_naming_the_session() {
    let store = memory_store::<TestData>().await;
    let s = session("bad-data", Timestamp::now() + HOUR, TestData::default());
    store.save_session(&s).await.expect("save");
    for bad in ["not json", "{\"label\": 1}", "null"] {
        sqlx::query("UPDATE narvik_sessions SET data = ?1")
            .bind(bad)
            .execute(store.write_pool())
            .await
            .expect("corrupt the row");
        match store.fetch_session(&s.id).await {
            Err(Error::Data { id, .. }) => assert_eq!(id, s.id),
            other => panic!(
                "data {bad:?}: expected Error::Data for {}, got {other:?}",
                s.id
            ),
        }
        match store.fetch_sessions_for_user("bad-data").await {
            Err(Error::Data { id, .. }) => assert_eq!(id, s.id),
            other => panic!(
                "data {bad:?}: expected Error::Data for {}, got {other:?}",
                s.id
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_is_an_error_not_no_session() {
    let dir = temp_dir();
    let options = narvik_sqlx::sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("sessions.db"))
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(200))
        .connect_with(options)
        .await
        .expect("open");
    let store = SqliteStore::<()>::from_pool(pool);
    store.migrate().await.expect("migrate");
    let s = session("pool", Timestamp::now() + HOUR, ());
    store.save_session(&s).await.expect("save");
    let held = store
        .read_pool()
        .acquire()
        .await
        .expect("take the only connection");
    match store.fetch_session(&s.id).await {
        Err(e @ Error::Store { .. }) => {
            assert!(causes(&e).contains("timed out"), "{}", causes(&e));
        }
        other => panic!("an exhausted pool must be Error::Store, got {other:?}"),
    }
    drop(held);
    assert_eq!(store.fetch_session(&s.id).await.expect("fetch"), Some(s));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_in_small_batches_removes_and_counts_every_expired_session() {
    let store = memory_store::<()>().await.with_purge_batch_size(7);
    let now = Timestamp::now();
    for i in 0..50 {
        let s = session("batch", now - Duration::from_millis(i), ());
        store.save_session(&s).await.expect("save");
    }
    let live = session("batch", now + Duration::from_millis(1), ());
    store.save_session(&live).await.expect("save");
    assert_eq!(
        store.delete_all_expired_sessions(now).await.expect("purge"),
        50
    );
    assert_eq!(
        store.delete_all_expired_sessions(now).await.expect("purge"),
        0
    );
    assert_eq!(
        store.fetch_session(&live.id).await.expect("fetch"),
        Some(live)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_ids_compare_exactly() {
    let store = memory_store::<()>().await;
    let exact = ["alice", "Alice", "alice ", "alicé"];
    for user in exact {
        store
            .save_session(&session(user, Timestamp::now() + HOUR, ()))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_task_purges_on_its_period_with_its_clock_and_shuts_down() {
    let store = Arc::new(memory_store::<()>().await);
    let clock = ManualClock::new(Timestamp::now());
    let s = session("task", clock.now() + HOUR, ());
    store.save_session(&s).await.expect("save");
    let task =
        PurgeTask::spawn_with_clock(Arc::clone(&store), Duration::from_millis(20), clock.clone());
    // Not expired on the task's clock: several periods pass, it stays.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store.fetch_session(&s.id).await.expect("fetch").is_some());
    // Expired at exactly expires_at (narvik's boundary): the next run
    // removes it.
    clock.set(s.expires_at);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while store.fetch_session(&s.id).await.expect("fetch").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the purge task never removed the expired session"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!task.is_finished());
    tokio::time::timeout(Duration::from_secs(5), task.shutdown())
        .await
        .expect("shutdown must finish promptly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_task_survives_store_errors() {
    // No table: every run fails; the task logs and keeps going.
    let store = Arc::new(memory_store::<()>().await.with_table_name(unique_table()));
    let task = PurgeTask::spawn(Arc::clone(&store), Duration::from_millis(10));
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(!task.is_finished(), "a failed purge ended the task");
    task.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narvik_validates_sessions_from_a_sqlite_store() {
    let store = file_store::<TestData>().await;
    let narvik = Narvik::new(store);
    let created = narvik
        .create_session("user-1", TestData::default())
        .await
        .expect("create");
    let valid = narvik
        .validate_session(created.token.as_str())
        .await
        .expect("validate")
        .expect("valid");
    assert_eq!(valid.session, created.session);
    let raw: String =
        sqlx::query_scalar(AssertSqlSafe("SELECT id FROM narvik_sessions".to_owned()))
            .fetch_one(narvik.store().inner().read_pool())
            .await
            .expect("read id");
    assert_eq!(raw, created.session.id.to_string());
}
