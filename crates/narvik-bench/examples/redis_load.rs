//! Load harness: narvik's validate on Redis beside `redis-benchmark` GET
//! and beside tower-sessions' own Redis store, against the same server in
//! the same run; then the same on a 3-master Redis Cluster that the
//! harness starts on free loopback ports and stops at the end.
//!
//! ```text
//! cargo run --release -p narvik-bench --example redis_load
//! NARVIK_BENCH_REDIS_URL=redis://127.0.0.1:6380 cargo run --release -p narvik-bench --example redis_load
//! NARVIK_BENCH_CLUSTER=0 cargo run --release -p narvik-bench --example redis_load   # one server only
//! ```
//!
//! On each deployment:
//!
//! 1. 10,000 live sessions in narvik's store, and as many records made by
//!    tower-sessions' store (`tower-sessions-redis-store`, on fred) through
//!    its own `SessionStore::create`, holding the same thing: whose session
//!    it is.
//! 2. 64 tasks: narvik's `validate_session` and tower-sessions'
//!    `SessionStore::load` (what its session layer calls per request), in
//!    6 rounds of 2 s that alternate which goes first; the median round of
//!    each (ops/s, p50/p99) and the median of the rounds' ratios. narvik
//!    runs twice: as configured by default, and with read batching off
//!    (`read_batch_size(1)`, one `GET` per validate). narvik runs on one multiplexed
//!    connection, so tower-sessions gets one fred client (one connection,
//!    pipelined) for the like-for-like ratio, and also, on one server, the
//!    pool of 6 clients its README sets up.
//! 3. `redis-benchmark -t get -c 64` (what the issue names; with no
//!    `key:__rand_int__` on the server its GETs read nil), and, on one
//!    server, `redis-benchmark -c 64 GET <a narvik session key>`: the
//!    server's ceiling for the very value narvik reads.
//! 4. One at a time, interleaved so that all three see the same machine:
//!    narvik's validate, tower-sessions' load and a raw `GET` of narvik's
//!    key, each's p50/p99.
//! 5. Writes, one at a time: narvik's `create_session` (save),
//!    `update_session_expiry` (extend) and `invalidate_session` (delete),
//!    each beside a raw `SET` of the same size, interleaved; p50s and their
//!    ratio to the `SET`. On one server each write is one script over the
//!    session key and its index (after a `GET` for extend and delete); in
//!    a cluster, ordered one-key steps (crate docs).
//!
//! Loopback servers only. narvik's keys live under a fresh prefix, deleted
//! at the end; tower-sessions' store has no prefix (its keys are bare
//! session ids), so the harness deletes exactly the records it made. Both
//! cleanups run also when a measurement fails.

#![allow(clippy::print_stdout, reason = "a harness that prints its figures")]

// narvik-redis's test fixtures: the loopback check, raw connections, and a
// 3-master cluster whose servers die when its handle drops or this process
// exits. Included rather than copied, so the tests and the harness start
// their servers the same way.
#[path = "../../narvik-redis/tests/support/mod.rs"]
mod support;

use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use narvik_core::{Narvik, Token};
use narvik_redis::RedisStore;
use support::{Raw, Target};
use tower_sessions_core::SessionStore as _;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_redis_store::RedisStore as TowerRedisStore;
use tower_sessions_redis_store::fred::prelude::{
    ClientLike, Config, KeysInterface, Pool, ServerConfig,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type FredClient = tower_sessions_redis_store::fred::prelude::Client;

const SESSIONS: usize = 10_000;
const TASKS: usize = 64;
const RUN_FOR: Duration = Duration::from_secs(5);
/// The narvik / tower-sessions comparison alternates who goes first over
/// this many rounds of [`ROUND_FOR`] each, and reports medians: on a shared
/// 2-core machine one long run of each swings by ±20% with the neighbours.
const ROUNDS: usize = 6;
const ROUND_FOR: Duration = Duration::from_secs(2);
const WARM_UP: Duration = Duration::from_secs(1);
const ONE_AT_A_TIME: usize = 20_000;
/// The pool size in tower-sessions-redis-store's README.
const FRED_POOL: usize = 6;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Throughput and latency of one measurement.
struct Figures {
    ops_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

impl Figures {
    fn new(mut latencies: Vec<Duration>, elapsed: Duration) -> Self {
        latencies.sort_unstable();
        Self {
            ops_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: percentile(&latencies, 0.5),
            p99: percentile(&latencies, 0.99),
        }
    }

    fn print(&self, label: &str) {
        println!(
            "{label:<52} {:>8.0} ops/s   p50 {:>6.1} us   p99 {:>7.1} us",
            self.ops_per_sec,
            us(self.p50),
            us(self.p99)
        );
    }
}

/// Runs `op(i)` from [`TASKS`] tasks for `run_for`, each task walking its
/// own stride of `i`, and measures every call.
async fn concurrent<F, Fut>(run_for: Duration, op: F) -> Result<Figures, BoxError>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(1 << 16);
                let mut i = t * 97;
                while started.elapsed() < run_for {
                    let t0 = Instant::now();
                    op(i).await?;
                    latencies.push(t0.elapsed());
                    i += 1;
                }
                Ok::<_, BoxError>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok(Figures::new(latencies, started.elapsed()))
}

/// The round with the median throughput.
fn median_round(mut rounds: Vec<Figures>) -> Figures {
    rounds.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
    let mid = rounds.len() / 2;
    rounds.swap_remove(mid)
}

/// tower-sessions' Redis store over some fred client, and the records it
/// made.
struct Tower<C: KeysInterface + Send + Sync> {
    store: TowerRedisStore<C>,
    ids: Arc<Vec<Id>>,
}

impl<C> Tower<C>
where
    C: KeysInterface + std::fmt::Debug + Send + Sync + 'static,
{
    async fn load(&self, i: usize) -> Result<(), BoxError> {
        let id = &self.ids[i % self.ids.len()];
        match self.store.load(id).await? {
            Some(_) => Ok(()),
            None => Err("a seeded tower-sessions record did not load".into()),
        }
    }

    async fn run(self: &Arc<Self>, run_for: Duration) -> Result<Figures, BoxError> {
        let tower = Arc::clone(self);
        concurrent(run_for, move |i| {
            let tower = Arc::clone(&tower);
            async move { tower.load(i).await }
        })
        .await
    }

    async fn measure(self: &Arc<Self>) -> Result<Figures, BoxError> {
        self.run(WARM_UP).await?;
        self.run(RUN_FOR).await
    }
}

/// Makes [`SESSIONS`] records through tower-sessions' own `create`, each
/// holding its user id (as an app on tower-sessions keeps who is signed
/// in). On error, deletes those it made.
async fn seed_tower(store: TowerRedisStore<FredClient>) -> Result<Tower<FredClient>, BoxError> {
    let mut ids = Vec::with_capacity(SESSIONS);
    for i in 0..SESSIONS {
        let mut record = Record {
            id: Id::default(),
            data: [("user_id".to_owned(), format!("bench-user-{i:05}").into())].into(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::days(1),
        };
        // `create` picks a fresh id should this one be taken.
        if let Err(e) = store.create(&mut record).await {
            delete_tower_records(&store, &ids).await;
            return Err(e.into());
        }
        ids.push(record.id);
    }
    Ok(Tower {
        store,
        ids: Arc::new(ids),
    })
}

/// Deletes the records the harness made, 64 at a time; failures are
/// reported, not fatal, so the rest still goes.
async fn delete_tower_records(store: &TowerRedisStore<FredClient>, ids: &[Id]) {
    let mut failed = 0;
    for chunk in ids.chunks(64) {
        let deletes = chunk.iter().map(|id| store.delete(id));
        for result in futures_util::future::join_all(deletes).await {
            if result.is_err() {
                failed += 1;
            }
        }
    }
    if failed > 0 {
        println!("could not delete {failed} tower-sessions records");
    }
}

/// A fred configuration for the same deployment narvik talks to.
fn fred_config(target: &Target) -> Result<Config, BoxError> {
    Ok(match target {
        Target::Single(url) => Config::from_url(url)?,
        Target::Cluster(nodes) => Config {
            server: ServerConfig::new_clustered(
                nodes
                    .iter()
                    .map(|url| host_port(url))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            ..Config::default()
        },
    })
}

/// `redis://host:port` -> (host, port).
fn host_port(url: &str) -> Result<(String, u16), BoxError> {
    let rest = url.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("no port in {url}"))?;
    Ok((host.to_owned(), port.parse()?))
}

/// Runs `redis-benchmark` with `args` and returns its GET ops/s.
fn redis_benchmark(label: &str, args: &[String]) -> Option<f64> {
    let out = match Command::new("redis-benchmark").args(args).output() {
        Ok(out) => out,
        Err(e) => {
            println!("redis-benchmark did not run: {e}");
            return None;
        }
    };
    // `-q` prints progress with carriage returns, then `NAME: N requests
    // per second, p50=...`.
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("requests per second"))
        .unwrap_or("")
        .trim()
        .to_owned();
    let ops = line
        .split_once(": ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok());
    match ops {
        Some(ops) => println!("{label:<52} {ops:>8.0} ops/s   ({line})"),
        None => println!(
            "{label}: no figure ({}{})",
            line,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
    ops
}

/// Everything measured on one deployment.
async fn bench(target: &Target, label: &str) -> Result<(), BoxError> {
    let prefix = format!("narvik-bench-{}", &Token::generate()?.as_str()[..12]);
    let builder = RedisStore::builder().key_prefix(&prefix);
    let connect = |builder: narvik_redis::RedisStoreBuilder| async move {
        match target {
            Target::Single(url) => builder.connect::<()>(url).await,
            Target::Cluster(nodes) => builder.connect_cluster::<(), _>(nodes).await,
        }
    };
    let store = connect(builder.clone()).await?;
    // The same sessions, read one `GET` per validate (batching off).
    let unbatched = connect(builder.read_batch_size(1)).await?;

    let fred = FredClient::new(fred_config(target)?, None, None, None);
    fred.init().await?;
    let tower = TowerRedisStore::new(fred.clone());

    let result = async {
        let tower = Arc::new(seed_tower(tower).await?);
        let outcome = measure_all(target, label, &store, &unbatched, &tower).await;
        delete_tower_records(&tower.store, &tower.ids).await;
        outcome
    }
    .await;
    let deleted = store.clear().await?;
    println!("cleaned up {deleted} narvik keys and {SESSIONS} tower-sessions records");
    fred.quit().await?;
    result
}

async fn measure_all(
    target: &Target,
    label: &str,
    store: &RedisStore<()>,
    unbatched: &RedisStore<()>,
    tower: &Arc<Tower<FredClient>>,
) -> Result<(), BoxError> {
    let narvik = Arc::new(Narvik::new(store.clone()));
    let narvik_unbatched = Arc::new(Narvik::new(unbatched.clone()));
    let mut tokens = Vec::with_capacity(SESSIONS);
    for i in 0..SESSIONS {
        tokens.push(
            narvik
                .create_session(format!("bench-user-{i:05}"), ())
                .await?
                .token,
        );
    }
    let tokens = Arc::new(tokens);

    let mut raw = Raw::connect(target).await;
    let sample_key = store.session_key(&tokens[0].session_id());
    let value_size: usize = raw.query(redis::cmd("STRLEN").arg(&sample_key)).await;
    let tower_size: usize = raw
        .query(redis::cmd("STRLEN").arg(tower.ids[0].to_string()))
        .await;
    println!(
        "\n== {label}: {SESSIONS} sessions per store, value {value_size} bytes (narvik), \
         {tower_size} bytes (tower-sessions), prefix {}",
        store.key_prefix()
    );

    // 1. 64 concurrent tasks: narvik, narvik with read batching off, and
    // tower-sessions, in an order that rotates every round.
    let validate = |narvik: &Arc<Narvik<RedisStore<()>>>, run_for| {
        let (narvik, tokens) = (Arc::clone(narvik), Arc::clone(&tokens));
        concurrent(run_for, move |i| {
            let (narvik, tokens) = (Arc::clone(&narvik), Arc::clone(&tokens));
            async move {
                let token = &tokens[i % tokens.len()];
                match narvik.validate_session(token.as_str()).await? {
                    Some(_) => Ok(()),
                    None => Err("a seeded narvik session did not validate".into()),
                }
            }
        })
    };
    validate(&narvik, WARM_UP).await?;
    validate(&narvik_unbatched, WARM_UP).await?;
    tower.run(WARM_UP).await?;
    let (mut narvik_rounds, mut unbatched_rounds, mut tower_rounds) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut ratios, mut unbatched_ratios) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let [mut n, mut u, mut t] = [None, None, None];
        for turn in 0..3 {
            match (round + turn) % 3 {
                0 => n = Some(validate(&narvik, ROUND_FOR).await?),
                1 => u = Some(validate(&narvik_unbatched, ROUND_FOR).await?),
                _ => t = Some(tower.run(ROUND_FOR).await?),
            }
        }
        let (Some(n), Some(u), Some(t)) = (n, u, t) else {
            unreachable!("each of the three ran in this round");
        };
        ratios.push(n.ops_per_sec / t.ops_per_sec);
        unbatched_ratios.push(u.ops_per_sec / t.ops_per_sec);
        narvik_rounds.push(n);
        unbatched_rounds.push(u);
        tower_rounds.push(t);
    }
    let narvik_figures = median_round(narvik_rounds);
    narvik_figures.print(&format!("narvik validate, {TASKS} tasks (median round)"));
    median_round(unbatched_rounds).print(&format!(
        "narvik validate, read batching off, {TASKS} tasks (median)"
    ));
    let tower_figures = median_round(tower_rounds);
    tower_figures.print(&format!(
        "tower-sessions load, {TASKS} tasks, 1 fred client (median)"
    ));
    for (name, mut ratios) in [
        ("narvik", ratios),
        ("narvik, batching off,", unbatched_ratios),
    ] {
        ratios.sort_by(f64::total_cmp);
        println!(
            "ratio {name} / tower-sessions (1 client): median {:.2} (target >= 1.0); rounds {}",
            ratios[ratios.len() / 2],
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    if let Target::Single(url) = target {
        let pool = Pool::new(Config::from_url(url)?, None, None, None, FRED_POOL)?;
        pool.init().await?;
        let pooled = Arc::new(Tower {
            store: TowerRedisStore::new(pool.clone()),
            ids: Arc::clone(&tower.ids),
        });
        let figures = pooled.measure().await;
        pool.quit().await?;
        let figures = figures?;
        figures.print(&format!(
            "tower-sessions load, {TASKS} tasks, fred pool of {FRED_POOL}"
        ));
        println!(
            "ratio narvik / tower-sessions (pool of {FRED_POOL}): {:.2}",
            narvik_figures.ops_per_sec / figures.ops_per_sec
        );
    }

    // 2. redis-benchmark on the same deployment, same value size.
    let size = value_size.to_string();
    let benchmark = match target {
        Target::Single(url) => {
            let (host, port) = host_port(url)?;
            let common = [
                "-h",
                &host,
                "-p",
                &port.to_string(),
                "-c",
                "64",
                "-n",
                "300000",
                "-q",
            ]
            .map(str::to_owned);
            let get = redis_benchmark(
                &format!("redis-benchmark -t get -c 64 -d {size}"),
                &[&common[..], &["-t", "get", "-d", &size].map(str::to_owned)].concat(),
            );
            // redis-benchmark's own key is absent, so its GETs above read
            // nil; this one reads narvik's value, and writes nothing.
            let session = redis_benchmark(
                "redis-benchmark -c 64 GET <narvik session key>",
                &[&common[..], &["GET".to_owned(), sample_key.clone()]].concat(),
            );
            [get, session]
        }
        Target::Cluster(nodes) => {
            let (host, port) = host_port(&nodes[0])?;
            let args = [
                "--cluster",
                "-h",
                &host,
                "-p",
                &port.to_string(),
                "-c",
                "64",
                "-n",
                "300000",
                "-q",
                "-t",
                "get",
                "-d",
                &size,
            ]
            .map(str::to_owned);
            let get = redis_benchmark(
                &format!("redis-benchmark --cluster -t get -c 64 -d {size}"),
                &args,
            );
            [get, None]
        }
    };
    for (name, ops) in [
        "redis-benchmark -t get",
        "redis-benchmark GET <session key>",
    ]
    .iter()
    .zip(benchmark)
    {
        if let Some(ops) = ops {
            println!(
                "ratio narvik / {name}: {:.2} (target >= 0.95)",
                narvik_figures.ops_per_sec / ops
            );
        }
    }

    // 3. One at a time, interleaved: narvik's validate, tower-sessions'
    // load, and a raw GET of the key narvik reads.
    let mut validate = Vec::with_capacity(ONE_AT_A_TIME);
    let mut load = Vec::with_capacity(ONE_AT_A_TIME);
    let mut get = Vec::with_capacity(ONE_AT_A_TIME);
    for i in 0..ONE_AT_A_TIME {
        let token = &tokens[i % tokens.len()];
        let t0 = Instant::now();
        let valid = narvik.validate_session(token.as_str()).await?;
        validate.push(t0.elapsed());
        if valid.is_none() {
            return Err("a seeded narvik session did not validate".into());
        }

        let t0 = Instant::now();
        tower.load(i).await?;
        load.push(t0.elapsed());

        let key = store.session_key(&token.session_id());
        let t0 = Instant::now();
        let _: Option<Vec<u8>> = raw.query(redis::cmd("GET").arg(&key)).await;
        get.push(t0.elapsed());
    }
    let validate = Figures::new(validate, Duration::ZERO);
    let load = Figures::new(load, Duration::ZERO);
    let get = Figures::new(get, Duration::ZERO);
    for (name, f) in [
        ("narvik validate", &validate),
        ("tower-sessions load", &load),
        ("raw GET (redis-rs)", &get),
    ] {
        println!(
            "one at a time: {name:<37} p50 {:>6.1} us   p99 {:>7.1} us",
            us(f.p50),
            us(f.p99)
        );
    }
    println!(
        "one at a time p50 ratios: narvik / GET {:.2} (target <= 1.3), \
         tower-sessions / GET {:.2}, narvik / tower-sessions {:.2}",
        us(validate.p50) / us(get.p50),
        us(load.p50) / us(get.p50),
        us(validate.p50) / us(load.p50),
    );

    writes_one_at_a_time(&narvik, store, &mut raw).await
}

/// Section 5: save, extend and delete one at a time, each beside a raw
/// `SET` of a value of the same size, interleaved.
async fn writes_one_at_a_time(
    narvik: &Narvik<RedisStore<()>>,
    store: &RedisStore<()>,
    raw: &mut Raw,
) -> Result<(), BoxError> {
    use narvik_core::store::SessionStore as _;

    const WRITES: usize = 5_000;
    let mut save = Vec::with_capacity(WRITES);
    let mut extend = Vec::with_capacity(WRITES);
    let mut delete = Vec::with_capacity(WRITES);
    let mut set = Vec::with_capacity(WRITES);
    for i in 0..WRITES {
        // 50 users, so indexes hold about as many sessions as users keep.
        let user = format!("writer-{}", i % 50);
        let t0 = Instant::now();
        let created = narvik.create_session(user, ()).await?;
        save.push(t0.elapsed());

        let key = store.session_key(&created.session.id);
        let value: Vec<u8> = raw.query(redis::cmd("GET").arg(&key)).await;
        let t0 = Instant::now();
        let _: () = raw
            .query(redis::cmd("SET").arg(format!("{key}-raw")).arg(&value))
            .await;
        set.push(t0.elapsed());
        let _: i64 = raw.query(redis::cmd("DEL").arg(format!("{key}-raw"))).await;

        let later = created.session.expires_at + Duration::from_secs(60);
        let t0 = Instant::now();
        store
            .update_session(
                &created.session.id,
                narvik_core::SessionUpdate::expiry(later),
            )
            .await?;
        extend.push(t0.elapsed());

        let t0 = Instant::now();
        narvik.invalidate_session(&created.session.id).await?;
        delete.push(t0.elapsed());
    }
    let set = Figures::new(set, Duration::ZERO);
    for (name, f) in [
        (
            "narvik save (create_session)",
            Figures::new(save, Duration::ZERO),
        ),
        (
            "narvik extend (update_session_expiry)",
            Figures::new(extend, Duration::ZERO),
        ),
        (
            "narvik delete (invalidate_session)",
            Figures::new(delete, Duration::ZERO),
        ),
    ] {
        println!(
            "writes one at a time: {name:<37} p50 {:>6.1} us   p99 {:>7.1} us   p50 / SET {:.2}",
            us(f.p50),
            us(f.p99),
            us(f.p50) / us(set.p50)
        );
    }
    println!(
        "writes one at a time: {:<37} p50 {:>6.1} us   p99 {:>7.1} us",
        "raw SET (redis-rs)",
        us(set.p50),
        us(set.p99)
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), BoxError> {
    let url = std::env::var("NARVIK_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let (host, _) = host_port(&url)?;
    if !matches!(host.as_str(), "127.0.0.1" | "localhost") {
        return Err(format!("loopback servers only: {url}").into());
    }
    bench(&Target::Single(url.clone()), &format!("one server, {url}")).await?;

    if std::env::var("NARVIK_BENCH_CLUSTER").is_ok_and(|v| v == "0") {
        return Ok(());
    }
    // Starting and stopping the servers blocks (process spawns, waits):
    // off the runtime's workers.
    let cluster = tokio::task::spawn_blocking(support::Cluster::start).await?;
    let target = Target::Cluster(cluster.urls());
    let result = bench(&target, "3-master cluster").await;
    // Dropping the handle kills the servers and removes their directories;
    // an early return or a panic above drops it too.
    tokio::task::spawn_blocking(move || drop(cluster)).await?;
    result
}
