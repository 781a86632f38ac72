//! Load harness: narvik's validate on Redis beside `redis-benchmark` GET,
//! against the same server in the same run.
//!
//! ```text
//! cargo run --release -p narvik-redis --example load
//! NARVIK_BENCH_REDIS_URL=redis://127.0.0.1:6380 cargo run --release -p narvik-redis --example load
//! ```
//!
//! 1. 64 tasks validate existing sessions for a few seconds: ops/s, p50/p99.
//! 2. `redis-benchmark -t get -c 64 -d <session value size>`: ops/s.
//! 3. One validate at a time beside one raw `GET` round trip: p50/p99.
//!
//! Loopback servers only. Keys live under a fresh prefix, deleted at the end.

#![allow(clippy::print_stdout, reason = "a harness that prints its figures")]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use narvik_core::{Error, Narvik, Token};
use narvik_redis::RedisStore;

const SESSIONS: usize = 10_000;
const TASKS: usize = 64;
const RUN_FOR: Duration = Duration::from_secs(5);
const ONE_AT_A_TIME: usize = 20_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Error> {
    let url = std::env::var("NARVIK_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let (host, port) = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap_or_else(|| ("127.0.0.1".to_owned(), "6379".to_owned()));
    assert!(
        matches!(host.as_str(), "127.0.0.1" | "localhost"),
        "loopback servers only: {url}"
    );
    let prefix = format!("narvik-bench-{}", &Token::generate()?.as_str()[..12]);
    let store: RedisStore<()> = RedisStore::builder()
        .key_prefix(&prefix)
        .connect(&url)
        .await?;
    let narvik = Arc::new(Narvik::new(store.clone()));

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
    let client = redis::Client::open(url.as_str()).map_err(|e| Error::store("open", e))?;
    let mut raw = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| Error::store("raw connect", e))?;
    let first_id = tokens[0].session_id();
    let sample_key = store.session_key(&first_id);
    let value_size: usize = redis::cmd("STRLEN")
        .arg(&sample_key)
        .query_async(&mut raw)
        .await
        .map_err(|e| Error::store("strlen", e))?;
    println!("server {url}, {SESSIONS} sessions, value {value_size} bytes, prefix {prefix}");

    // 1. 64 concurrent tasks.
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (narvik, tokens) = (Arc::clone(&narvik), Arc::clone(&tokens));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = t * 97;
                while started.elapsed() < RUN_FOR {
                    let token = &tokens[i % tokens.len()];
                    let t0 = Instant::now();
                    let valid = narvik.validate_session(token.as_str()).await?;
                    latencies.push(t0.elapsed());
                    assert!(valid.is_some(), "a bench session vanished");
                    i += 1;
                }
                Ok::<_, Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.map_err(|e| Error::store("join", e))??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let narvik_ops = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "narvik validate, {TASKS} tasks: {narvik_ops:.0} ops/s, p50 {:.0} us, p99 {:.0} us",
        us(percentile(&latencies, 0.5)),
        us(percentile(&latencies, 0.99))
    );

    // 2. redis-benchmark on the same server, same value size.
    let output = Command::new("redis-benchmark")
        .args([
            "-h", &host, "-p", &port, "-t", "get", "-c", "64", "-n", "300000",
        ])
        .args(["-d", &value_size.to_string(), "-q"])
        .output();
    let bench_ops = match output {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
            let line = text
                .lines()
                .rev()
                .find(|l| l.starts_with("GET"))
                .unwrap_or("")
                .to_owned();
            println!(
                "redis-benchmark -t get -c 64 -d {value_size}: {}",
                line.trim()
            );
            line.split_whitespace()
                .nth(1)
                .and_then(|n| n.parse::<f64>().ok())
        }
        Err(e) => {
            println!("redis-benchmark did not run: {e}");
            None
        }
    };
    if let Some(bench_ops) = bench_ops {
        println!(
            "ratio narvik / redis-benchmark: {:.2} (target >= 0.95)",
            narvik_ops / bench_ops
        );
    }

    // 3. One at a time: validate beside a raw GET of the same key.
    let mut validate = Vec::with_capacity(ONE_AT_A_TIME);
    let mut get = Vec::with_capacity(ONE_AT_A_TIME);
    for i in 0..ONE_AT_A_TIME {
        let token = &tokens[i % tokens.len()];
        let t0 = Instant::now();
        let valid = narvik.validate_session(token.as_str()).await?;
        validate.push(t0.elapsed());
        assert!(valid.is_some());
        let key = store.session_key(&token.session_id());
        let t0 = Instant::now();
        let _: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut raw)
            .await
            .map_err(|e| Error::store("get", e))?;
        get.push(t0.elapsed());
    }
    validate.sort();
    get.sort();
    let (v50, v99, g50, g99) = (
        percentile(&validate, 0.5),
        percentile(&validate, 0.99),
        percentile(&get, 0.5),
        percentile(&get, 0.99),
    );
    println!(
        "one at a time: validate p50 {:.1} us p99 {:.1} us; raw GET p50 {:.1} us p99 {:.1} us; p50 ratio {:.2} (target <= 1.3)",
        us(v50),
        us(v99),
        us(g50),
        us(g99),
        us(v50) / us(g50)
    );

    let deleted = store.clear().await?;
    println!("cleaned up {deleted} keys");
    Ok(())
}
