//! narvik's PostgreSQL store beside tower-sessions' own, doing the same
//! reads in one process against the same server: each store gets its own
//! table of the same number of live sessions, made through its own API,
//! and a pool of the same N connections; then 64 tasks read existing
//! sessions from it for a few seconds (narvik: `validate_session`;
//! tower-sessions: `SessionStore::load`, what its session layer calls per
//! request). Prints ops/s, p50/p99 and the ratio.
//!
//! ```sh
//! cargo run --release --manifest-path crates/narvik-bench/vs-tower-sessions/Cargo.toml
//! ```
//!
//! The database's own ceiling (`pgbench -S`) and MariaDB are measured by
//! narvik-sqlx's `load` example; `crates/narvik-bench/load-sql.sh` runs
//! both. Settings are that example's: `NARVIK_BENCH_CONNECTIONS` (8),
//! `NARVIK_BENCH_TASKS` (64), `NARVIK_BENCH_SECONDS` (5),
//! `NARVIK_BENCH_SESSIONS` (10000), `NARVIK_TEST_POSTGRES_URL`. Both
//! tables (tower-sessions' in a schema of its own) have a random suffix and
//! are dropped at the end, also when a measurement fails.

#![allow(clippy::print_stdout, reason = "a harness that prints its figures")]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use narvik_core::{Narvik, Token};
use narvik_sqlx::sqlx::{self, AssertSqlSafe};
use narvik_sqlx::{PostgresStore, TableName};
use tower_sessions_core::SessionStore as _;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_sqlx_store::PostgresStore as TowerPostgresStore;
// tower-sessions' own sqlx (0.8), for its pool: a different crate from
// narvik's sqlx 0.9.
use tower_sessions_sqlx_store::sqlx as sqlx08;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Settings {
    connections: u32,
    tasks: usize,
    duration: Duration,
    sessions: usize,
    pg_url: String,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Throughput and latency of one measurement.
struct Figures {
    ops: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

impl Figures {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self, label: &str) {
        println!(
            "{label:<60} {:>9.0} ops/s   p50 {:>7.1} us   p99 {:>7.1} us",
            self.ops_per_sec(),
            self.p50.as_secs_f64() * 1e6,
            self.p99.as_secs_f64() * 1e6,
        );
    }
}

/// Runs `op(task, i)` from `tasks` tasks for `duration` and measures it;
/// the same loop as narvik-sqlx's `load` example, so figures compare.
async fn measure<F, Fut>(tasks: usize, duration: Duration, op: F) -> Result<Figures, BoxError>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(1 << 16);
                let mut i = 0;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    op(task, i).await?;
                    latencies.push(t.elapsed());
                    i += 1;
                }
                Ok::<_, BoxError>(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await??);
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Ok(Figures {
        ops: all.len(),
        elapsed,
        p50: at(0.50),
        p99: at(0.99),
    })
}

/// Runs `make(i)` for `i` in `0..count` from 16 tasks and collects the
/// results (in no particular order).
async fn seed<T, F, Fut>(count: usize, make: F) -> Result<Vec<T>, BoxError>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, BoxError>> + Send,
{
    const WRITERS: usize = 16;
    let make = Arc::new(make);
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let make = Arc::clone(&make);
            tokio::spawn(async move {
                let mut made = Vec::new();
                for i in (w..count).step_by(WRITERS) {
                    made.push(make(i).await?);
                }
                Ok::<_, BoxError>(made)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(count);
    for handle in handles {
        all.extend(handle.await??);
    }
    Ok(all)
}

/// A random lowercase-hex suffix, so runs never share a table.
fn suffix() -> Result<String, BoxError> {
    Ok(Token::generate()?.as_str()[..12].to_owned())
}

async fn narvik_validates(s: &Settings) -> Result<Figures, BoxError> {
    // The pool `PostgresStore::connect` builds, sized for the run.
    let pool = PostgresStore::<()>::pool_options()
        .max_connections(s.connections)
        .min_connections(s.connections)
        .connect(&s.pg_url)
        .await?;
    let table = TableName::new(&format!("narvik_bench_{}", suffix()?))?;
    let store = PostgresStore::<()>::new(pool.clone()).with_table_name(table.clone());
    store.migrate().await?;
    let result = async {
        let narvik = Arc::new(Narvik::new(store));
        let seeder = Arc::clone(&narvik);
        let tokens = seed(s.sessions, move |i| {
            let narvik = Arc::clone(&seeder);
            async move { Ok(narvik.create_session(format!("user-{i}"), ()).await?.token) }
        })
        .await?;
        sqlx::raw_sql(AssertSqlSafe(format!("ANALYZE \"{table}\"")))
            .execute(&pool)
            .await?;
        let tokens = Arc::new(tokens);
        let run = |duration| {
            let (narvik, tokens, tasks) = (Arc::clone(&narvik), Arc::clone(&tokens), s.tasks);
            measure(s.tasks, duration, move |task, i| {
                let (narvik, tokens) = (Arc::clone(&narvik), Arc::clone(&tokens));
                async move {
                    let token = &tokens[(task + i * tasks) % tokens.len()];
                    match narvik.validate_session(token.as_str()).await? {
                        Some(_) => Ok(()),
                        None => Err("a seeded narvik session did not validate".into()),
                    }
                }
            })
        };
        // The first second warms every connection's statement cache.
        run(Duration::from_secs(1)).await?;
        run(s.duration).await
    }
    .await;
    // The table and the record of its migrations.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS \"{table}\"; DROP TABLE IF EXISTS \"{table}_migrations\""
    )))
        .execute(&pool)
        .await?;
    pool.close().await;
    result
}

/// tower-sessions' store on a pool with sqlx's defaults (its README's
/// `PgPool::connect`, which pings a connection before each use), or with
/// `test_before_acquire` off like narvik's.
async fn tower_sessions_loads(s: &Settings, ping: bool) -> Result<Figures, BoxError> {
    let pool = sqlx08::postgres::PgPoolOptions::new()
        .test_before_acquire(ping)
        .max_connections(s.connections)
        .min_connections(s.connections)
        .connect(&s.pg_url)
        .await?;
    // The store creates its table inside a schema it names; a fresh schema
    // per run keeps runs apart and is dropped whole at the end.
    let schema = format!("tower_sessions_bench_{}", suffix()?);
    let store = TowerPostgresStore::new(pool.clone()).with_schema_name(&schema)?;
    let result = async {
        store.migrate().await?;
        let seeder = store.clone();
        let ids = seed(s.sessions, move |i| {
            let store = seeder.clone();
            async move {
                // The same payload narvik keeps: whose session it is.
                let mut record = Record {
                    id: Id::default(),
                    data: [("user_id".to_owned(), format!("user-{i}").into())].into(),
                    expiry_date: time::OffsetDateTime::now_utc() + time::Duration::days(1),
                };
                // `create` picks a fresh id should this one be taken.
                store.create(&mut record).await?;
                Ok(record.id)
            }
        })
        .await?;
        sqlx08::raw_sql(&format!("ANALYZE \"{schema}\".\"session\""))
            .execute(&pool)
            .await?;
        let ids = Arc::new(ids);
        let run = |duration| {
            let (store, ids, tasks) = (store.clone(), Arc::clone(&ids), s.tasks);
            measure(s.tasks, duration, move |task, i| {
                let (store, ids) = (store.clone(), Arc::clone(&ids));
                async move {
                    let id = &ids[(task + i * tasks) % ids.len()];
                    match store.load(id).await? {
                        Some(_) => Ok(()),
                        None => Err("a seeded tower-sessions record did not load".into()),
                    }
                }
            })
        };
        run(Duration::from_secs(1)).await?;
        run(s.duration).await
    }
    .await;
    sqlx08::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&pool)
        .await?;
    pool.close().await;
    result
}

fn main() -> Result<(), BoxError> {
    let s = Settings {
        connections: env_or("NARVIK_BENCH_CONNECTIONS", 8),
        tasks: env_or("NARVIK_BENCH_TASKS", 64),
        duration: Duration::from_secs(env_or("NARVIK_BENCH_SECONDS", 5)),
        sessions: env_or("NARVIK_BENCH_SESSIONS", 10_000),
        pg_url: std::env::var("NARVIK_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
    };
    // The same runtime as narvik-sqlx's `load` example: two workers, the
    // machine's two cores, shared with the server.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        println!(
            "\n== PostgreSQL: narvik vs tower-sessions ({} connections each, {} tasks, {} sessions)",
            s.connections, s.tasks, s.sessions
        );
        // One after the other, never both at once: each gets the server
        // and both cores to itself.
        let narvik = narvik_validates(&s).await?;
        narvik.print("narvik validate_session");
        for (ping, label) in [
            (true, "tower-sessions-sqlx-store 0.15 load, sqlx's default pool"),
            (false, "tower-sessions-sqlx-store 0.15 load, no ping"),
        ] {
            let tower = tower_sessions_loads(&s, ping).await?;
            tower.print(label);
            println!(
                "  narvik / that: {:.2} ops/s; p50 {:.2}x, p99 {:.2}x of its latency",
                narvik.ops_per_sec() / tower.ops_per_sec(),
                narvik.p50.as_secs_f64() / tower.p50.as_secs_f64(),
                narvik.p99.as_secs_f64() / tower.p99.as_secs_f64(),
            );
        }
        Ok(())
    })
}
