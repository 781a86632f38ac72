//! The questions every SQL store answers, written once: [`Backend`] is
//! what a database's test file supplies, and [`sql_store_tests!`] expands
//! to one `#[tokio::test]` per question for it (as tower-sessions'
//! `route_tests!` does per store). [`Server`] and [`server_tests!`] add
//! the questions for a database server: a connection it kills, a
//! migration it stalls.

use narvik_core::Timestamp;
use narvik_sqlx::sqlx::Pool;
use narvik_sqlx::sqlx::pool::PoolOptions;
use narvik_sqlx::{Dialect, SqlStore, TableName};
use std::future::Future;
use std::time::Duration;

use super::Cleanup;

/// What the suite needs of a database.
pub trait Backend: 'static {
    /// The sqlx database.
    type DB: Dialect;

    /// What the server says of a table that does not exist.
    const MISSING_TABLE: &'static str;

    /// A pool with `options`, on the test database.
    fn pool(options: PoolOptions<Self::DB>) -> impl Future<Output = Pool<Self::DB>>;

    /// Another pool on `pool`'s database, as another process has.
    fn another_pool(pool: &Pool<Self::DB>) -> impl Future<Output = Pool<Self::DB>>;

    /// A store on `pool`, on the default table name.
    fn store<D>(pool: Pool<Self::DB>) -> SqlStore<Self::DB, D>;

    /// A store opened as an application opens one (`connect` through the
    /// builder, or `open`), each session call bounded by `timeout`, on
    /// the default table name.
    fn connect<D>(timeout: Duration) -> impl Future<Output = SqlStore<Self::DB, D>>;

    /// A lock on a store's table, held by a connection of its own.
    type Lock;

    /// Whether [`lock`](Self::lock) stalls lookups as well as writes.
    const LOCK_STALLS_READS: bool;

    /// Locks `store`'s table from a connection of its own, so that the
    /// store's writes on it wait (and its lookups, if
    /// [`LOCK_STALLS_READS`](Self::LOCK_STALLS_READS)).
    fn lock<D>(store: &SqlStore<Self::DB, D>) -> impl Future<Output = Self::Lock>;

    /// Releases the lock.
    fn unlock(lock: Self::Lock) -> impl Future<Output = ()>;

    /// The statements on `store`'s table the server is running, waiting
    /// ones included, other than the lock's (which is done); `None` where
    /// there is no server to ask.
    fn running_on<D>(store: &SqlStore<Self::DB, D>) -> impl Future<Output = Option<Vec<String>>>;

    /// `store`, removing its table (and whatever else the test made) when
    /// it is dropped, even when the test fails.
    fn cleanup<D>(store: SqlStore<Self::DB, D>) -> Cleanup<SqlStore<Self::DB, D>>;

    /// `table` quoted as an identifier.
    fn quote(table: &TableName) -> String;

    /// The `VALUES` of crates/narvik-sqlx/README.md's TypeScript
    /// `saveSession`, for this database: four parameters, in order the id,
    /// the user id, the expiry (bound here as a `Date`'s `getTime()`) and
    /// `JSON.stringify` of the data, converted as the driver and the
    /// server convert what the TypeScript side sends.
    const TYPESCRIPT_VALUES: &'static str;

    /// A bind parameter for the `data` column, alone in a statement.
    const DATA_PARAM: &'static str;
}

/// A database behind a server, which can end a connection.
pub trait Server: Backend {
    /// Has the server end `pool`'s only connection, and waits until it has.
    fn kill_connection(pool: &Pool<Self::DB>) -> impl Future<Output = ()>;
}

/// What TypeScript Narvik's `saveSession` writes.
#[derive(Debug, Clone, Copy)]
pub struct TypeScriptRow<'a> {
    /// The session id, as Narvik hashes it.
    pub id: &'a str,
    /// The user.
    pub user_id: &'a str,
    /// The expiry, as a JavaScript `Date` holds it.
    pub expires_at: Timestamp,
    /// `JSON.stringify` of the additional fields.
    pub data: &'a str,
}

/// Expands to the shared suite for the [`Backend`] `$backend`, the
/// conformance kit's included, in a module `sql_store` whose `store` and
/// `pool` the database's own tests use too.
macro_rules! sql_store_tests {
    ($backend:ty) => {
        mod sql_store {
            use std::time::Duration;

            use narvik_core::store::{PurgeableStore, SessionStore, UserSessionStore};
            use narvik_core::{Error, ManualClock, Narvik, Timestamp, Token};
            use narvik_testkit::TestData;

            use super::support::suite::{Backend, TypeScriptRow};
            use super::support::{causes, session, unique_table};

            type B = $backend;

            mod conformance {
                narvik_testkit::conformance_tests!(|| async {
                    super::store::<narvik_testkit::TestData>(8, super::Duration::from_secs(10))
                        .await
                });
            }

            const HOUR: Duration = Duration::from_secs(3600);
            const DAY: Duration = Duration::from_secs(24 * 3600);

            /// Writes a session row exactly as the README's TypeScript
            /// `saveSession` does: id, user id, expiry and data, with
            /// `created_at` left to its default.
            async fn insert_like_typescript(
                pool: &narvik_sqlx::sqlx::Pool<<B as Backend>::DB>,
                table: &narvik_sqlx::TableName,
                row: TypeScriptRow<'_>,
            ) {
                let sql = format!(
                    "INSERT INTO {} (id, user_id, expires_at, data) VALUES {}",
                    B::quote(table),
                    B::TYPESCRIPT_VALUES
                );
                narvik_sqlx::sqlx::query(narvik_sqlx::sqlx::AssertSqlSafe(sql))
                    .bind(row.id)
                    .bind(row.user_id)
                    .bind(row.expires_at.as_unix_millis())
                    .bind(row.data)
                    .execute(pool)
                    .await
                    .expect("insert like TypeScript");
            }

            /// Overwrites the `data` column of every row in `table`.
            async fn set_data(
                pool: &narvik_sqlx::sqlx::Pool<<B as Backend>::DB>,
                table: &narvik_sqlx::TableName,
                json: &str,
            ) {
                let sql = format!("UPDATE {} SET data = {}", B::quote(table), B::DATA_PARAM);
                narvik_sqlx::sqlx::query(narvik_sqlx::sqlx::AssertSqlSafe(sql))
                    .bind(json)
                    .execute(pool)
                    .await
                    .expect("overwrite data");
            }

            /// A pool of at most `max` connections, each wait for one bounded
            /// by `acquire`.
            pub(super) async fn pool(
                max: u32,
                acquire: Duration,
            ) -> narvik_sqlx::sqlx::Pool<<B as Backend>::DB> {
                B::pool(
                    narvik_sqlx::sqlx::pool::PoolOptions::new()
                        .max_connections(max)
                        .acquire_timeout(acquire),
                )
                .await
            }

            /// A store on `pool`, on a table of its own, migrated, removed
            /// afterwards; for the database's own tests too. Its calls' bound
            /// is three times the pool's wait for a connection (which the
            /// tests of a thousand calls at once on a few connections set to
            /// 10 s): those tests are about answers under concurrency, so
            /// the wait for a connection ends before the bound, as it did
            /// before there was one, and the statement after it has time
            /// (SQLite's writers on one pool queue in its busy handler).
            /// The bound's own tests set theirs.
            pub(super) async fn store_on<D>(
                pool: narvik_sqlx::sqlx::Pool<<B as Backend>::DB>,
            ) -> super::support::Cleanup<narvik_sqlx::SqlStore<<B as Backend>::DB, D>> {
                let wait = pool.options().get_acquire_timeout();
                let store = B::store::<D>(pool)
                    .with_table_name(unique_table())
                    .with_timeout(3 * wait);
                store.migrate().await.expect("migrate");
                B::cleanup(store)
            }

            /// [`store_on`] a pool of at most `max` connections, each wait
            /// for one bounded by `acquire`.
            pub(super) async fn store<D>(
                max: u32,
                acquire: Duration,
            ) -> super::support::Cleanup<narvik_sqlx::SqlStore<<B as Backend>::DB, D>> {
                store_on(pool(max, acquire).await).await
            }

            /// Runs `statements` on `pool`, as a user's own tool would.
            pub(super) async fn run_sql(
                pool: &narvik_sqlx::sqlx::Pool<<B as Backend>::DB>,
                statements: &[String],
            ) {
                for statement in statements {
                    narvik_sqlx::sqlx::raw_sql(narvik_sqlx::sqlx::AssertSqlSafe(statement.clone()))
                        .execute(pool)
                        .await
                        .unwrap_or_else(|e| panic!("{statement}: {e}"));
                }
            }

            /// The versions `migrate()` recorded for `table`, in order.
            async fn recorded_versions(
                pool: &narvik_sqlx::sqlx::Pool<<B as Backend>::DB>,
                table: &narvik_sqlx::TableName,
            ) -> Vec<i64> {
                let sql = format!(
                    "SELECT version FROM {} ORDER BY version",
                    B::quote(&super::support::migrations_table(table))
                );
                narvik_sqlx::sqlx::query_scalar(narvik_sqlx::sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await
                    .expect("read the recorded versions")
            }

            /// A session with every lifecycle field set.
            fn lifecycle_session<D>(user_id: &str, data: D) -> narvik_core::Session<D> {
                let now = Timestamp::now();
                let mut s = session(user_id, now + HOUR, data);
                s.length = Some(12 * HOUR);
                s.persistent = false;
                s.last_active_at = Some(now - Duration::from_millis(1_500));
                s.reauthenticated_at = Some(now - Duration::from_millis(2_250));
                s.rotated_at = Some(now - Duration::from_millis(3_001));
                s
            }

            /// A table the previous release's `migrate()` created (schema
            /// version 1, no record of it), with rows in it, one written
            /// as TypeScript Narvik writes them: the new `migrate()`, run
            /// from two stores on their own pools at once (two processes)
            /// and then twice more, upgrades it in place; every row is
            /// intact and validates through narvik with the defaults of a
            /// plain session, and the upgraded table holds every field.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_version_1_table_with_rows_is_upgraded_in_place() {
                let pool = pool(8, Duration::from_secs(10)).await;
                let table = unique_table();
                let store = B::cleanup(B::store::<()>(pool.clone()).with_table_name(table.clone()));
                let migrations = store.inner().migration_sql();
                assert_eq!(migrations.len(), narvik_sqlx::SCHEMA_VERSION as usize);
                assert_eq!(migrations[0].version(), 1);
                run_sql(&pool, migrations[0].statements()).await;

                let start = Timestamp::now();
                let plain = Token::generate().expect("os rng");
                let with_fields = Token::generate().expect("os rng");
                let expired = Token::generate().expect("os rng");
                for (token, user, expires_at, data) in [
                    // Far from half of the configured length: no extension
                    // when validated.
                    (&plain, "ts-user", start + 29 * DAY, "{}"),
                    (
                        &with_fields,
                        "ts-user",
                        start + 28 * DAY,
                        r#"{"label":"kept","counter":7,"tags":["a"],"blob":""}"#,
                    ),
                    (&expired, "gone", start - HOUR, "{}"),
                ] {
                    insert_like_typescript(
                        &pool,
                        &table,
                        TypeScriptRow {
                            id: &token.session_id().to_string(),
                            user_id: user,
                            expires_at,
                            data,
                        },
                    )
                    .await;
                }

                // Two processes start at once, each migrating twice.
                let other =
                    B::store::<()>(B::another_pool(&pool).await).with_table_name(table.clone());
                let runs: Vec<_> = [store.inner().clone(), other.clone()]
                    .into_iter()
                    .cycle()
                    .take(4)
                    .map(|s| tokio::spawn(async move { s.migrate().await }))
                    .collect();
                for run in runs {
                    run.await
                        .expect("task")
                        .unwrap_or_else(|e| panic!("concurrent migrate: {}", causes(&e)));
                }
                store.inner().migrate().await.expect("migrate again");
                store.inner().migrate().await.expect("and again");
                assert_eq!(recorded_versions(&pool, &table).await, [1, 2]);

                let narvik = Narvik::new(store.inner().clone());
                let valid = narvik
                    .validate_session(plain.as_str())
                    .await
                    .expect("validate")
                    .expect("the row survived the upgrade");
                let s = &valid.session;
                assert!(!valid.extended);
                assert_eq!(
                    (s.user_id.as_ref(), s.expires_at),
                    ("ts-user", start + 29 * DAY)
                );
                let defaults =
                    narvik_core::Session::new(s.id, "ts-user", s.created_at, s.expires_at, ());
                assert_eq!(
                    *s, defaults,
                    "a TypeScript row reads as Session::new's defaults"
                );
                let created = s.created_at.as_unix_millis();
                assert!((created - start.as_unix_millis()).abs() < 60_000);

                // A service whose data type has the fields reads them.
                let typed =
                    Narvik::new(B::store::<TestData>(pool.clone()).with_table_name(table.clone()));
                let valid = typed
                    .validate_session(with_fields.as_str())
                    .await
                    .expect("validate")
                    .expect("the row survived the upgrade");
                assert_eq!(valid.session.data.label, "kept");
                assert_eq!(valid.session.data.counter, 7);
                assert_eq!(
                    narvik
                        .fetch_sessions_for_user("ts-user")
                        .await
                        .expect("list")
                        .len(),
                    2
                );
                assert!(
                    narvik
                        .validate_session(expired.as_str())
                        .await
                        .expect("validate")
                        .is_none()
                );

                // The upgraded table holds the lifecycle too, and the
                // other store (process) reads it.
                let full = lifecycle_session("upgraded", ());
                store.save_session(&full).await.expect("save");
                assert_eq!(
                    other.fetch_session(&full.id).await.expect("fetch"),
                    Some(full)
                );
                other.close().await;
            }

            /// A table brought to the latest version by the user's own
            /// tool (no record) is recognised, not upgraded twice; a table
            /// dropped since its migration is created again.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_table_migrated_by_its_own_tool_or_dropped_is_recognised() {
                let pool = pool(2, Duration::from_secs(10)).await;
                let table = unique_table();
                let store = B::cleanup(B::store::<()>(pool.clone()).with_table_name(table.clone()));
                for migration in store.inner().migration_sql() {
                    run_sql(&pool, migration.statements()).await;
                }
                let s = lifecycle_session("own-tool", ());
                store.save_session(&s).await.expect("save before migrate");
                store
                    .inner()
                    .migrate()
                    .await
                    .unwrap_or_else(|e| panic!("migrate an up-to-date table: {}", causes(&e)));
                assert_eq!(recorded_versions(&pool, &table).await, [1, 2]);
                assert_eq!(store.fetch_session(&s.id).await.expect("fetch"), Some(s));

                run_sql(&pool, &[format!("DROP TABLE {}", B::quote(&table))]).await;
                store
                    .inner()
                    .migrate()
                    .await
                    .expect("migrate a dropped table");
                assert_eq!(recorded_versions(&pool, &table).await, [1, 2]);
                let again = lifecycle_session("own-tool", ());
                store.save_session(&again).await.expect("save");
                assert_eq!(
                    store.fetch_session(&again.id).await.expect("fetch"),
                    Some(again)
                );
            }

            /// Each field of an update alone sets that field and leaves
            /// every other as it was, through one statement; an update
            /// that writes what is there already (or nothing) still finds
            /// the session (matched rows, not changed ones: MySQL's found
            /// rows); none creates a session that is not there.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn update_session_sets_each_field_alone_and_leaves_the_others() {
                use narvik_core::SessionUpdate;
                let store = store::<TestData>(2, Duration::from_secs(10)).await;
                let mut expected = lifecycle_session("updates", TestData::default());
                store.save_session(&expected).await.expect("save");
                assert_eq!(
                    store.fetch_session(&expected.id).await.expect("fetch"),
                    Some(expected.clone())
                );
                let later = Timestamp::now() + DAY;
                let with = |set: fn(&mut SessionUpdate<TestData>)| {
                    let mut update = SessionUpdate::default();
                    set(&mut update);
                    update
                };
                let updates: Vec<SessionUpdate<TestData>> = vec![
                    SessionUpdate::expiry(later),
                    with(|u| {
                        u.last_active_at = Some(Timestamp::now() + DAY - Duration::from_millis(1))
                    }),
                    with(|u| {
                        u.reauthenticated_at =
                            Some(Timestamp::now() + DAY - Duration::from_millis(2))
                    }),
                    with(|u| {
                        u.rotated_at = Some(Timestamp::now() + DAY - Duration::from_millis(3))
                    }),
                    with(|u| {
                        u.data = Some(TestData {
                            label: "replaced".into(),
                            counter: 9,
                            tags: vec!["x".into()],
                            blob: String::new(),
                        });
                    }),
                ];
                for update in updates {
                    let what = format!("{update:?}");
                    assert!(
                        store
                            .update_session(&expected.id, update.clone())
                            .await
                            .expect("update"),
                        "{what}: the session is there"
                    );
                    update.apply_to(&mut expected);
                    assert_eq!(
                        store.fetch_session(&expected.id).await.expect("fetch"),
                        Some(expected.clone()),
                        "{what}"
                    );
                }
                // Everything at once, to the values already there: found.
                let mut same = SessionUpdate::expiry(expected.expires_at);
                same.last_active_at = expected.last_active_at;
                same.reauthenticated_at = expected.reauthenticated_at;
                same.rotated_at = expected.rotated_at;
                same.data = Some(expected.data.clone());
                assert!(
                    store
                        .update_session(&expected.id, same.clone())
                        .await
                        .expect("update")
                );
                assert!(
                    store
                        .update_session(&expected.id, SessionUpdate::default())
                        .await
                        .expect("update")
                );
                assert_eq!(
                    store.fetch_session(&expected.id).await.expect("fetch"),
                    Some(expected.clone())
                );
                let listed = store
                    .fetch_sessions_for_user("updates")
                    .await
                    .expect("list");
                assert_eq!(listed, [expected.clone()]);

                store.delete_session(&expected.id).await.expect("delete");
                assert!(
                    !store
                        .update_session(&expected.id, same)
                        .await
                        .expect("update")
                );
                assert!(
                    !store
                        .update_session(&expected.id, SessionUpdate::default())
                        .await
                        .expect("update")
                );
                assert_eq!(
                    store.fetch_session(&expected.id).await.expect("fetch"),
                    None
                );
            }

            /// The purge deletes expired sessions but keeps a rotation
            /// marker until the marker's time is over: rotated later than
            /// `now - ROTATED_MARKER_TTL`.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn purge_keeps_rotation_markers_younger_than_the_cutoff() {
                let store = store::<()>(2, Duration::from_secs(10)).await;
                let small = store.inner().clone().with_purge_batch_size(2);
                let now = Timestamp::now();
                let cutoff = narvik_core::store::rotation_marker_cutoff(now);
                let marker = |rotated_at: Timestamp| {
                    let mut s = session("markers", rotated_at, ());
                    s.rotated_at = Some(rotated_at);
                    s
                };
                let young = marker(cutoff + Duration::from_millis(1));
                let younger = marker(now);
                let old = marker(cutoff);
                let older = marker(cutoff - Duration::from_secs(1));
                let expired = session("markers", now, ());
                let live = session("markers", now + HOUR, ());
                for s in [&young, &younger, &old, &older, &expired, &live] {
                    store.save_session(s).await.expect("save");
                }
                assert_eq!(
                    small.delete_all_expired_sessions(now).await.expect("purge"),
                    3
                );
                for (s, kept) in [
                    (&young, true),
                    (&younger, true),
                    (&old, false),
                    (&older, false),
                    (&expired, false),
                    (&live, true),
                ] {
                    let found = store.fetch_session(&s.id).await.expect("fetch");
                    assert_eq!(found.is_some(), kept, "{s:?}");
                }
                // Once the marker's time is over, it goes too.
                let later = younger.rotated_at.expect("a marker") + narvik_core::ROTATED_MARKER_TTL;
                assert_eq!(
                    small
                        .delete_all_expired_sessions(later)
                        .await
                        .expect("purge"),
                    2
                );
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn migrate_is_idempotent_and_safe_to_run_concurrently() {
                let store = store::<()>(8, Duration::from_secs(10)).await;
                let runs: Vec<_> = (0..4)
                    .map(|_| {
                        let s = store.inner().clone();
                        tokio::spawn(async move { s.migrate().await })
                    })
                    .collect();
                for run in runs {
                    run.await.expect("task").expect("migrate again");
                }
                let s = session("after", Timestamp::now() + HOUR, ());
                store.save_session(&s).await.expect("save");
                assert_eq!(store.fetch_session(&s.id).await.expect("fetch"), Some(s));
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_missing_table_is_an_error_with_its_cause_not_no_session() {
                let pool = pool(2, Duration::from_secs(10)).await;
                let store = B::cleanup(B::store::<()>(pool).with_table_name(unique_table()));
                let id = session("u", Timestamp::now(), ()).id;
                match store.fetch_session(&id).await {
                    Err(e @ Error::Store { .. }) => {
                        assert!(causes(&e).contains(B::MISSING_TABLE), "{}", causes(&e));
                    }
                    other => panic!("a missing table must be Error::Store, got {other:?}"),
                }
                assert!(matches!(
                    store.delete_all_expired_sessions(Timestamp::now()).await,
                    Err(Error::Store { .. })
                ));
                assert!(matches!(
                    store.fetch_sessions_for_user("u").await,
                    Err(Error::Store { .. })
                ));
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn data_that_does_not_fit_the_type_is_a_data_error_naming_the_session() {
                let store = store::<TestData>(2, Duration::from_secs(10)).await;
                let s = session("bad-data", Timestamp::now() + HOUR, TestData::default());
                store.save_session(&s).await.expect("save");
                for bad in ["{\"label\": 1}", "null", "{}", "[]"] {
                    set_data(store.inner().write_pool(), store.inner().table_name(), bad).await;
                    match store.fetch_session(&s.id).await {
                        Err(Error::Data { id, .. }) => assert_eq!(id, s.id),
                        other => panic!(
                            "data {bad}: expected Error::Data for {}, got {other:?}",
                            s.id
                        ),
                    }
                    match store.fetch_sessions_for_user("bad-data").await {
                        Err(Error::Data { id, .. }) => assert_eq!(id, s.id),
                        other => panic!(
                            "data {bad}: expected Error::Data for {}, got {other:?}",
                            s.id
                        ),
                    }
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn purge_in_small_batches_removes_and_counts_every_expired_session() {
                let store = store::<()>(4, Duration::from_secs(10)).await;
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
            async fn an_exhausted_pool_is_an_error_not_no_session() {
                let store = store::<()>(1, Duration::from_millis(200)).await;
                let s = session("pool", Timestamp::now() + HOUR, ());
                store.save_session(&s).await.expect("save");
                let held = store
                    .inner()
                    .read_pool()
                    .acquire()
                    .await
                    .expect("take the only connection");
                let result =
                    tokio::time::timeout(Duration::from_secs(5), store.fetch_session(&s.id))
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

            /// The bound the tests give a store: what they wait for, ten
            /// times over, before they call a call hung.
            pub(super) const BOUND: Duration = Duration::from_millis(300);

            /// `call`'s result, failing the test if it takes ten times the
            /// bound: a call past its bound has hung.
            pub(super) async fn within_ten_bounds<T>(
                what: &str,
                bound: Duration,
                call: impl std::future::Future<Output = T>,
            ) -> T {
                tokio::time::timeout(10 * bound, call)
                    .await
                    .unwrap_or_else(|_| panic!("{what} still waiting after 10 x {bound:?}"))
            }

            /// Fails unless `result` is a store error that says it timed out.
            pub(super) fn assert_timeout<T: std::fmt::Debug>(what: &str, result: Result<T, Error>) {
                match result {
                    Err(e @ Error::Store { .. }) if e.is_timeout() => {}
                    other => panic!("{what}: expected a timeout store error, got {other:?}"),
                }
            }

            /// A pool that would wait sqlx's default 30 s for a connection:
            /// the store's own bound ends every call's wait, with a timeout
            /// error, never "no session".
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_exhausted_pool_is_a_timeout_within_the_stores_bound() {
                let pool =
                    B::pool(narvik_sqlx::sqlx::pool::PoolOptions::new().max_connections(1)).await;
                let store = B::store::<()>(pool)
                    .with_table_name(unique_table())
                    .with_timeout(BOUND);
                store.migrate().await.expect("migrate");
                let store = B::cleanup(store);
                let s = session("pool", Timestamp::now() + HOUR, ());
                store.save_session(&s).await.expect("save");
                let held = store
                    .inner()
                    .read_pool()
                    .acquire()
                    .await
                    .expect("take the only connection");
                let other = session("pool", Timestamp::now() + HOUR, ());
                let later = Timestamp::now() + DAY;
                assert_timeout(
                    "fetch",
                    within_ten_bounds("fetch", BOUND, store.fetch_session(&s.id)).await,
                );
                assert_timeout(
                    "save",
                    within_ten_bounds("save", BOUND, store.save_session(&other)).await,
                );
                assert_timeout(
                    "extend",
                    within_ten_bounds(
                        "extend",
                        BOUND,
                        store.update_session(&s.id, narvik_core::SessionUpdate::expiry(later)),
                    )
                    .await,
                );
                assert_timeout(
                    "delete",
                    within_ten_bounds("delete", BOUND, store.delete_session(&s.id)).await,
                );
                assert_timeout(
                    "list",
                    within_ten_bounds("list", BOUND, store.fetch_sessions_for_user("pool")).await,
                );
                assert_timeout(
                    "delete for user",
                    within_ten_bounds(
                        "delete for user",
                        BOUND,
                        store.delete_sessions_for_user("pool"),
                    )
                    .await,
                );
                drop(held);
                assert_eq!(store.fetch_session(&s.id).await.expect("fetch"), Some(s));
            }

            /// Waits (ten bounds at most) until the server runs nothing on
            /// `store`'s table, and fails if it still does.
            pub(super) async fn assert_nothing_left_running<D>(
                store: &narvik_sqlx::SqlStore<<B as Backend>::DB, D>,
            ) {
                let deadline = tokio::time::Instant::now() + 10 * BOUND;
                loop {
                    match B::running_on(store).await {
                        Some(running) if !running.is_empty() => {
                            assert!(
                                tokio::time::Instant::now() < deadline,
                                "still running on the server after 10 x {BOUND:?}: {running:?}"
                            );
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        _ => return,
                    }
                }
            }

            /// Another connection holds a lock on the table: each call that
            /// waits for it fails with a timeout within its bound (never "no
            /// session"), the server no longer runs the statements it gave
            /// up on while the lock is still held, and once the lock goes
            /// the store answers again.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_call_stalled_on_a_lock_times_out_and_its_statement_ends() {
                let store = B::connect::<()>(BOUND)
                    .await
                    .with_table_name(unique_table())
                    .with_purge_timeout(BOUND);
                store.migrate().await.expect("migrate");
                let store = B::cleanup(store);
                let s = session("stalled", Timestamp::now() + HOUR, ());
                store.save_session(&s).await.expect("save");
                let expired = session("stalled", Timestamp::now() - HOUR, ());
                store.save_session(&expired).await.expect("save");
                assert_eq!(
                    B::running_on(store.inner()).await.unwrap_or_default(),
                    Vec::<String>::new()
                );

                let lock = B::lock(store.inner()).await;
                let later = Timestamp::now() + DAY;
                assert_timeout(
                    "extend",
                    within_ten_bounds(
                        "extend",
                        BOUND,
                        store.update_session(&s.id, narvik_core::SessionUpdate::expiry(later)),
                    )
                    .await,
                );
                assert_timeout(
                    "purge",
                    within_ten_bounds(
                        "purge",
                        BOUND,
                        store.delete_all_expired_sessions(Timestamp::now()),
                    )
                    .await,
                );
                if B::LOCK_STALLS_READS {
                    assert_timeout(
                        "fetch",
                        within_ten_bounds("fetch", BOUND, store.fetch_session(&s.id)).await,
                    );
                    assert_timeout(
                        "list",
                        within_ten_bounds("list", BOUND, store.fetch_sessions_for_user("stalled"))
                            .await,
                    );
                }
                // The server ends what the store gave up on by itself: the
                // lock is still held.
                assert_nothing_left_running(store.inner()).await;
                B::unlock(lock).await;
                let found = store
                    .fetch_session(&s.id)
                    .await
                    .expect("fetch after the lock")
                    .expect("the session is still there");
                assert_eq!(found.user_id, s.user_id);
            }

            /// Lookups queued for the only connection are served by one
            /// batched statement, each getting exactly its own answer: every
            /// session twice (one token in two requests), an unknown id, and a
            /// row whose data does not fit, 43 lookups in all, more than one
            /// batch.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn queued_lookups_are_served_together_and_each_gets_its_own_answer() {
                let store = store::<TestData>(1, Duration::from_secs(10)).await;
                let batched = store.inner().clone().with_lookup_batch_size(32);
                let unit = B::store::<()>(store.inner().write_pool().clone())
                    .with_table_name(store.inner().table_name().clone());
                let mut sessions = Vec::new();
                for n in 0..20u64 {
                    let data = TestData {
                        label: format!("session {n}"),
                        counter: n,
                        tags: vec!["a".into(); usize::try_from(n % 3).expect("small")],
                        blob: String::new(),
                    };
                    // Half carry every lifecycle field: the batched lookup
                    // reads them too.
                    let s = if n % 2 == 0 {
                        lifecycle_session(&format!("user-{n}"), data)
                    } else {
                        session(&format!("user-{n}"), Timestamp::now() + HOUR, data)
                    };
                    batched.save_session(&s).await.expect("save");
                    sessions.push(s);
                }
                let bad = session("bad-data", Timestamp::now() + HOUR, ());
                unit.save_session(&bad).await.expect("save");
                let unknown = session("nobody", Timestamp::now() + HOUR, ()).id;

                let held = batched.read_pool().acquire().await.expect("the connection");
                let mut lookups = Vec::new();
                for s in sessions.iter().chain(&sessions) {
                    let (store, s) = (batched.clone(), s.clone());
                    lookups.push(tokio::spawn(async move {
                        assert_eq!(store.fetch_session(&s.id).await.expect("fetch"), Some(s));
                    }));
                }
                let s = batched.clone();
                lookups.push(tokio::spawn(async move {
                    assert_eq!(s.fetch_session(&unknown).await.expect("fetch"), None);
                }));
                let (s, id) = (batched.clone(), bad.id);
                lookups.push(tokio::spawn(async move {
                    match s.fetch_session(&id).await {
                        Err(Error::Data { id: named, .. }) => assert_eq!(named, id),
                        other => panic!("expected Error::Data for {id}, got {other:?}"),
                    }
                }));
                tokio::time::sleep(Duration::from_millis(200)).await;
                drop(held);
                for lookup in lookups {
                    lookup.await.expect("lookup");
                }
            }

            /// A session TypeScript Narvik saved through the README's
            /// callbacks (data `{}`, `created_at` left to its default) is a
            /// session to the Rust side with `D = ()`: it validates, is
            /// listed, extends and is purged.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_row_typescript_wrote_without_fields_validates_lists_extends_and_purges() {
                let store = store::<()>(2, Duration::from_secs(10)).await;
                let token = Token::generate().expect("os rng");
                let id = token.session_id().to_string();
                let start = Timestamp::now();
                let expires_at = start + 30 * DAY;
                insert_like_typescript(
                    store.inner().write_pool(),
                    store.inner().table_name(),
                    TypeScriptRow {
                        id: &id,
                        user_id: "ts-user",
                        expires_at,
                        data: "{}",
                    },
                )
                .await;
                let clock = ManualClock::new(start);
                let narvik = Narvik::new(store.inner().clone()).with_clock(clock.clone());

                let valid = narvik
                    .validate_session(token.as_str())
                    .await
                    .expect("validate")
                    .expect("a session");
                assert_eq!(valid.session.user_id, "ts-user");
                assert_eq!(valid.session.expires_at, expires_at);
                assert!(!valid.extended);
                let created = valid.session.created_at.as_unix_millis();
                assert!(
                    (created - start.as_unix_millis()).abs() < 60_000,
                    "created_at {created} is not the insert time (about {start:?})"
                );

                let listed = narvik
                    .fetch_sessions_for_user("ts-user")
                    .await
                    .expect("list");
                assert_eq!(listed, std::slice::from_ref(&valid.session));

                // Past half of its life: validation extends it, in the table.
                clock.set(start + 16 * DAY);
                let extended = narvik
                    .validate_session(token.as_str())
                    .await
                    .expect("validate")
                    .expect("a session");
                assert!(extended.extended);
                assert_eq!(extended.session.expires_at, start + 46 * DAY);
                let stored = store
                    .fetch_session(&token.session_id())
                    .await
                    .expect("fetch")
                    .expect("kept");
                assert_eq!(stored.expires_at, start + 46 * DAY);

                clock.set(start + 46 * DAY);
                assert_eq!(
                    narvik.delete_all_expired_sessions().await.expect("purge"),
                    1
                );
                assert_eq!(
                    narvik
                        .fetch_sessions_for_user("ts-user")
                        .await
                        .expect("list"),
                    []
                );
            }

            /// Narvik's additional fields, spread into `data` in camelCase,
            /// read into a struct that renames them, and into `()` by a
            /// service that does not use them.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_row_typescript_wrote_with_camel_case_fields_reads_into_a_renamed_struct() {
                #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Device {
                    user_agent: String,
                    signed_in_from: Option<String>,
                }
                let store = store::<Device>(2, Duration::from_secs(10)).await;
                let token = Token::generate().expect("os rng");
                let id = token.session_id().to_string();
                insert_like_typescript(
                    store.inner().write_pool(),
                    store.inner().table_name(),
                    TypeScriptRow {
                        id: &id,
                        user_id: "ts-user",
                        expires_at: Timestamp::now() + DAY,
                        data: r#"{"userAgent":"Firefox","signedInFrom":"Oslo"}"#,
                    },
                )
                .await;
                let narvik = Narvik::new(store.inner().clone());
                let valid = narvik
                    .validate_session(token.as_str())
                    .await
                    .expect("validate")
                    .expect("a session");
                assert_eq!(
                    valid.session.data,
                    Device {
                        user_agent: "Firefox".into(),
                        signed_in_from: Some("Oslo".into())
                    }
                );

                let unit = Narvik::new(
                    B::store::<()>(store.inner().write_pool().clone())
                        .with_table_name(store.inner().table_name().clone()),
                );
                assert!(
                    unit.validate_session(token.as_str())
                        .await
                        .expect("validate")
                        .is_some()
                );
                assert_eq!(
                    unit.fetch_sessions_for_user("ts-user")
                        .await
                        .expect("list")
                        .len(),
                    1
                );
            }
        }
    };
}

/// Expands to the server suite for the [`Server`] `$backend`.
// SQLite's test file has no server to use it.
#[allow(unused_macros)]
macro_rules! server_tests {
    ($backend:ty) => {
        mod server {
            use std::time::Duration;

            use narvik_core::store::SessionStore;
            use narvik_core::{Error, Timestamp};

            use super::sql_store::{
                BOUND, assert_nothing_left_running, assert_timeout, run_sql, within_ten_bounds,
            };
            use super::support::suite::{Backend, Server};
            use super::support::{session, unique_table};

            type B = $backend;

            /// Has the server end the store's connection, then checks the
            /// next call: it finds the session on a fresh connection, or
            /// fails with `Error::Store`, never "no session"; the call after
            /// it succeeds.
            async fn survives_a_killed_connection(test_before_acquire: bool) {
                let pool = B::pool(
                    narvik_sqlx::sqlx::pool::PoolOptions::new()
                        .max_connections(1)
                        .test_before_acquire(test_before_acquire),
                )
                .await;
                let store = B::cleanup(B::store::<()>(pool).with_table_name(unique_table()));
                store.inner().migrate().await.expect("migrate");
                let s = session("killed", Timestamp::now() + Duration::from_secs(3600), ());
                store.save_session(&s).await.expect("save");
                B::kill_connection(store.inner().read_pool()).await;
                match store.fetch_session(&s.id).await {
                    Ok(found) => {
                        assert_eq!(found, Some(s.clone()), "a live session read as missing")
                    }
                    Err(Error::Store { .. }) => {}
                    Err(other) => {
                        panic!("a dropped connection must be Error::Store, got {other:?}")
                    }
                }
                assert_eq!(
                    store
                        .fetch_session(&s.id)
                        .await
                        .expect("the pool reconnects"),
                    Some(s)
                );
            }

            /// The pools a store builds when it connects wait no longer for
            /// a connection than the store's bound.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_store_that_connects_waits_for_a_connection_no_longer_than_its_bound() {
                let store = B::connect::<()>(BOUND).await;
                assert_eq!(store.timeout(), BOUND);
                assert!(store.pool().options().get_acquire_timeout() <= BOUND);
            }

            /// A migration waiting for a lock on the table it upgrades
            /// ends at its own bound, with a timeout error, and on the
            /// server too; once the lock is gone it upgrades the table.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_migration_stalled_on_a_lock_times_out_at_its_own_bound() {
                let store = B::cleanup(
                    B::connect::<()>(BOUND)
                        .await
                        .with_table_name(unique_table()),
                );
                // A table at version 1, which the migration must alter.
                let v1 = store.inner().migration_sql().remove(0);
                run_sql(store.inner().write_pool(), v1.statements()).await;
                let stalled = store.inner().clone().with_migrate_timeout(BOUND);
                let lock = B::lock(store.inner()).await;
                assert_timeout(
                    "migrate",
                    within_ten_bounds("migrate", BOUND, stalled.migrate()).await,
                );
                assert_nothing_left_running(store.inner()).await;
                B::unlock(lock).await;
                stalled
                    .migrate()
                    .await
                    .expect("migrate once the lock is gone");
                let mut s = session("after", Timestamp::now() + Duration::from_secs(3600), ());
                s.persistent = false;
                store.save_session(&s).await.expect("save");
                assert_eq!(store.fetch_session(&s.id).await.expect("fetch"), Some(s));
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_killed_connection_is_replaced_by_a_fresh_one() {
                survives_a_killed_connection(true).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_killed_connection_in_use_is_a_clean_error_then_recovers() {
                survives_a_killed_connection(false).await;
            }
        }
    };
}

#[allow(unused_imports)]
pub(crate) use server_tests;
pub(crate) use sql_store_tests;
