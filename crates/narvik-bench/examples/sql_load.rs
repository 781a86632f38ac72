//! Load harness: validates existing sessions from many concurrent tasks over
//! a pool of N connections, against PostgreSQL and MariaDB, and measures
//! each database's own ceiling in the same run:
//!
//! - PostgreSQL: `pgbench -S -M prepared -c N` (primary-key SELECTs on
//!   `pgbench_accounts`, scale 1, over the same TCP loopback), and the
//!   store's own SELECT through the same sqlx pool without narvik.
//! - MariaDB: the store's SELECT through the same pool without narvik.
//!
//! Then purges 1M expired PostgreSQL rows while the validates go on, and
//! reports the purge time and the validates/s meanwhile.
//!
//! ```sh
//! cargo run --release -p narvik-bench --example sql_load
//! ```
//!
//! Settings (environment): `NARVIK_BENCH_CONNECTIONS` (N, default 8),
//! `NARVIK_BENCH_TASKS` (64), `NARVIK_BENCH_SECONDS` (5 per measurement),
//! `NARVIK_BENCH_SESSIONS` (10000 live sessions), `NARVIK_BENCH_PURGE_ROWS`
//! (1000000; 0 skips the purge), and the test URLs
//! `NARVIK_TEST_POSTGRES_URL` / `NARVIK_TEST_MYSQL_URL`. Tables are created
//! with a random suffix and dropped at the end.

// A harness reports on stdout.
#![allow(clippy::print_stdout)]

use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use narvik_core::store::{PurgeableStore, SessionStore};
use narvik_core::{Narvik, Timestamp, Token};
use narvik_sqlx::sqlx::mysql::MySqlPoolOptions;
use narvik_sqlx::sqlx::postgres::PgPoolOptions;
use narvik_sqlx::sqlx::{self, AssertSqlSafe};
use narvik_sqlx::{MySqlStore, PostgresStore, TableName};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Settings {
    connections: u32,
    tasks: usize,
    duration: Duration,
    sessions: usize,
    purge_rows: u64,
    pg_url: String,
    mysql_url: String,
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
            "{label:<48} {:>9.0} ops/s   p50 {:>7.1} us   p99 {:>7.1} us",
            self.ops_per_sec(),
            self.p50.as_secs_f64() * 1e6,
            self.p99.as_secs_f64() * 1e6,
        );
    }
}

/// Runs `op(task, i)` from `tasks` tasks for `duration` and measures it.
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

fn unique_table(prefix: &str) -> Result<TableName, BoxError> {
    let token = Token::generate()?;
    Ok(TableName::new(&format!(
        "{prefix}_{}",
        &token.as_str()[..12]
    ))?)
}

/// Creates `count` sessions through narvik and returns their tokens.
async fn seed<S>(narvik: &Arc<Narvik<S>>, count: usize) -> Result<Arc<Vec<Token>>, BoxError>
where
    S: SessionStore<Data = ()> + 'static,
{
    let per_task = count.div_ceil(16);
    let handles: Vec<_> = (0..16)
        .map(|t| {
            let narvik = Arc::clone(narvik);
            tokio::spawn(async move {
                let mut tokens = Vec::new();
                for i in 0..per_task {
                    if t * per_task + i >= count {
                        break;
                    }
                    tokens.push(
                        narvik
                            .create_session(format!("user-{t}-{i}"), ())
                            .await?
                            .token,
                    );
                }
                Ok::<_, narvik_core::Error>(tokens)
            })
        })
        .collect();
    let mut tokens = Vec::with_capacity(count);
    for h in handles {
        tokens.extend(h.await??);
    }
    Ok(Arc::new(tokens))
}

async fn validate_load<S>(
    s: &Settings,
    narvik: &Arc<Narvik<S>>,
    tokens: &Arc<Vec<Token>>,
    duration: Duration,
) -> Result<Figures, BoxError>
where
    S: SessionStore<Data = ()> + 'static,
{
    let (narvik, tokens) = (Arc::clone(narvik), Arc::clone(tokens));
    let tasks = s.tasks;
    measure(s.tasks, duration, move |task, i| {
        let narvik = Arc::clone(&narvik);
        let tokens = Arc::clone(&tokens);
        async move {
            let token = &tokens[(task + i * tasks) % tokens.len()];
            match narvik.validate_session(token.as_str()).await? {
                Some(_) => Ok(()),
                None => Err("a seeded session did not validate".into()),
            }
        }
    })
    .await
}

fn pgbench(s: &Settings) -> Result<Option<f64>, BoxError> {
    // pgbench takes libpq URLs; initialize its tables once (scale 1 is
    // 100k rows, the size class of the session table here).
    let has_tables = Command::new("psql")
        .args([
            &s.pg_url,
            "-Atc",
            "SELECT to_regclass('pgbench_accounts') IS NOT NULL",
        ])
        .output()?;
    if String::from_utf8_lossy(&has_tables.stdout).trim() != "t" {
        let init = Command::new("pgbench")
            .args(["-i", "-s", "1", "-q", &s.pg_url])
            .output()?;
        if !init.status.success() {
            println!(
                "pgbench -i failed: {}",
                String::from_utf8_lossy(&init.stderr)
            );
            return Ok(None);
        }
    }
    let out = Command::new("pgbench")
        .args([
            "-S",
            "-M",
            "prepared",
            "-n",
            "-c",
            &s.connections.to_string(),
            "-j",
            "2",
            "-T",
            &s.duration.as_secs().max(1).to_string(),
            &s.pg_url,
        ])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse().ok());
    let latency = text
        .lines()
        .find(|l| l.starts_with("latency average"))
        .unwrap_or("");
    if let Some(tps) = tps {
        println!(
            "{:<48} {tps:>9.0} ops/s   ({latency})",
            format!("pgbench -S -M prepared -c {} (TCP)", s.connections)
        );
    } else {
        println!(
            "pgbench gave no tps: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(tps)
}

async fn postgres(s: &Settings) -> Result<(), BoxError> {
    println!(
        "\n== PostgreSQL ({} connections, {} tasks)",
        s.connections, s.tasks
    );
    // The pool `PostgresStore::connect` would build, sized for the run.
    let pool = PostgresStore::<()>::pool_options()
        .max_connections(s.connections)
        .min_connections(s.connections)
        .connect(&s.pg_url)
        .await?;
    let table = unique_table("narvik_bench")?;
    let store = PostgresStore::<()>::new(pool.clone()).with_table_name(table.clone());
    store.migrate().await?;
    let result = async {
        let narvik = Arc::new(Narvik::new(store.clone()));
        let tokens = seed(&narvik, s.sessions).await?;
        sqlx::raw_sql(AssertSqlSafe(format!("ANALYZE \"{table}\"")))
            .execute(&pool)
            .await?;

        // Warm every connection's statement cache.
        validate_load(s, &narvik, &tokens, Duration::from_secs(1)).await?;
        let narvik_figures = validate_load(s, &narvik, &tokens, s.duration).await?;
        narvik_figures.print("narvik validate_session");
        let one_by_one = Arc::new(Narvik::new(store.clone().with_lookup_batch_size(1)));
        validate_load(s, &one_by_one, &tokens, s.duration)
            .await?
            .print("narvik, one statement per lookup");

        let ids: Arc<Vec<String>> =
            Arc::new(tokens.iter().map(|t| t.session_id().to_string()).collect());
        let sql: Arc<str> = format!(
            "SELECT user_id, created_at, expires_at, data::text AS data FROM \"{table}\" WHERE id = $1::bpchar"
        )
        .into();
        let raw = raw_select(s, &pool, &ids, &sql).await?;
        raw.print("same SELECT through the same pool, no narvik");
        // sqlx's default pool pings each connection before every use.
        let pinging = PgPoolOptions::new()
            .max_connections(s.connections)
            .min_connections(s.connections)
            .connect(&s.pg_url)
            .await?;
        raw_select(s, &pinging, &ids, &sql)
            .await?
            .print("same SELECT, sqlx's default pool (pings)");
        pinging.close().await;

        if let Some(tps) = pgbench(s)? {
            println!(
                "narvik / pgbench prepared: {:.2}   narvik / raw sqlx: {:.2}",
                narvik_figures.ops_per_sec() / tps,
                narvik_figures.ops_per_sec() / raw.ops_per_sec()
            );
        }

        if s.purge_rows > 0 {
            purge_under_load(s, &pool, &table, &store, &narvik, &tokens).await?;
        }
        Ok::<_, BoxError>(())
    }
    .await;
    // The table and the record of its migrations.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS \"{table}\"; DROP TABLE IF EXISTS \"{table}_migrations\""
    )))
    .execute(&pool)
    .await?;
    result
}

async fn purge_under_load(
    s: &Settings,
    pool: &sqlx::PgPool,
    table: &TableName,
    store: &PostgresStore<()>,
    narvik: &Arc<Narvik<PostgresStore<()>>>,
    tokens: &Arc<Vec<Token>>,
) -> Result<(), BoxError> {
    // Expired rows, made server-side: ids are md5 pairs (64 hex chars).
    let insert = format!(
        "INSERT INTO \"{table}\" (id, user_id, created_at, expires_at, data) \
         SELECT md5(g::text) || md5((-g)::text), 'expired-' || (g % 1000), \
                now() - interval '2 days', now() - interval '1 day', 'null' \
         FROM generate_series(1, {}) g",
        s.purge_rows
    );
    let t = Instant::now();
    sqlx::raw_sql(AssertSqlSafe(insert)).execute(pool).await?;
    sqlx::raw_sql(AssertSqlSafe(format!("ANALYZE \"{table}\"")))
        .execute(pool)
        .await?;
    println!(
        "inserted {} expired rows in {:.1} s",
        s.purge_rows,
        t.elapsed().as_secs_f64()
    );
    let purge_store = store.clone();
    let purge = tokio::spawn(async move {
        let t = Instant::now();
        let removed = purge_store
            .delete_all_expired_sessions(Timestamp::now())
            .await?;
        Ok::<_, narvik_core::Error>((removed, t.elapsed()))
    });
    // Validate while the purge runs, in one-second slices until it ends.
    let mut during = Vec::new();
    while !purge.is_finished() {
        during.push(validate_load(s, narvik, tokens, Duration::from_secs(1)).await?);
    }
    let (removed, took) = purge.await??;
    println!(
        "purge of {removed} expired rows (batches of {}): {:.1} s",
        narvik_sqlx::DEFAULT_PURGE_BATCH_SIZE,
        took.as_secs_f64()
    );
    if !during.is_empty() {
        let ops: usize = during.iter().map(|f| f.ops).sum();
        let secs: f64 = during.iter().map(|f| f.elapsed.as_secs_f64()).sum();
        let worst_p99 = during.iter().map(|f| f.p99).max().unwrap_or_default();
        println!(
            "validates during the purge: {:.0} ops/s, worst one-second p99 {:.1} us",
            ops as f64 / secs,
            worst_p99.as_secs_f64() * 1e6
        );
    }
    Ok(())
}

/// The store's lookup, bare: `sql` for every id in turn through `pool`.
async fn raw_select<DB>(
    s: &Settings,
    pool: &sqlx::Pool<DB>,
    ids: &Arc<Vec<String>>,
    sql: &Arc<str>,
) -> Result<Figures, BoxError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    let (pool, ids, sql, tasks) = (pool.clone(), Arc::clone(ids), Arc::clone(sql), s.tasks);
    measure(s.tasks, s.duration, move |task, i| {
        let (pool, ids, sql) = (pool.clone(), Arc::clone(&ids), Arc::clone(&sql));
        async move {
            let id = ids[(task + i * tasks) % ids.len()].clone();
            sqlx::query(AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&pool)
                .await?
                .ok_or("missing row")?;
            Ok(())
        }
    })
    .await
}

async fn mysql(s: &Settings) -> Result<(), BoxError> {
    println!(
        "\n== MariaDB ({} connections, {} tasks)",
        s.connections, s.tasks
    );
    // The pool `MySqlStore::connect` would build, sized for the run.
    let pool = MySqlStore::<()>::pool_options()
        .max_connections(s.connections)
        .min_connections(s.connections)
        .connect(&s.mysql_url)
        .await?;
    let table = unique_table("narvik_bench")?;
    let store = MySqlStore::<()>::new(pool.clone()).with_table_name(table.clone());
    store.migrate().await?;
    let result = async {
        let narvik = Arc::new(Narvik::new(store.clone()));
        let tokens = seed(&narvik, s.sessions).await?;
        validate_load(s, &narvik, &tokens, Duration::from_secs(1)).await?;
        let narvik_figures = validate_load(s, &narvik, &tokens, s.duration).await?;
        narvik_figures.print("narvik validate_session");
        let one_by_one = Arc::new(Narvik::new(store.clone().with_lookup_batch_size(1)));
        validate_load(s, &one_by_one, &tokens, s.duration)
            .await?
            .print("narvik, one statement per lookup");

        let ids: Arc<Vec<String>> =
            Arc::new(tokens.iter().map(|t| t.session_id().to_string()).collect());
        let sql: Arc<str> =
            format!("SELECT user_id, created_at, expires_at, data FROM `{table}` WHERE id = ?")
                .into();
        let raw = raw_select(s, &pool, &ids, &sql).await?;
        raw.print("same SELECT through the same pool, no narvik");
        // sqlx's default pool pings each connection before every use.
        let pinging = MySqlPoolOptions::new()
            .max_connections(s.connections)
            .min_connections(s.connections)
            .connect(&s.mysql_url)
            .await?;
        raw_select(s, &pinging, &ids, &sql)
            .await?
            .print("same SELECT, sqlx's default pool (pings)");
        pinging.close().await;
        println!(
            "narvik / raw sqlx: {:.2}",
            narvik_figures.ops_per_sec() / raw.ops_per_sec()
        );
        Ok::<_, BoxError>(())
    }
    .await;
    // The table and the record of its migrations.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS `{table}`; DROP TABLE IF EXISTS `{table}_migrations`"
    )))
    .execute(&pool)
    .await?;
    result
}

fn main() -> Result<(), BoxError> {
    let s = Settings {
        connections: env_or("NARVIK_BENCH_CONNECTIONS", 8),
        tasks: env_or("NARVIK_BENCH_TASKS", 64),
        duration: Duration::from_secs(env_or("NARVIK_BENCH_SECONDS", 5)),
        sessions: env_or("NARVIK_BENCH_SESSIONS", 10_000),
        purge_rows: env_or("NARVIK_BENCH_PURGE_ROWS", 1_000_000),
        pg_url: std::env::var("NARVIK_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
        mysql_url: std::env::var("NARVIK_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        postgres(&s).await?;
        mysql(&s).await
    })
}
