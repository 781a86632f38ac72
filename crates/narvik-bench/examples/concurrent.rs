//! 64 tasks validating at once on a 2-thread tokio runtime: does the
//! validate path serialise on a store-wide lock?
//!
//! ```sh
//! cargo run --release -p narvik-bench --example concurrent
//! ```
//!
//! Measures, in one process and one after another: narvik's `MemoryStore`
//! with 1 task and with 64 tasks, and a store behind one global mutex with
//! 64 tasks, each over 100k live sessions. Prints requests per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use narvik_bench::{GlobalLockStore, populated_memory_store};
use narvik_core::store::SessionStore;
use narvik_core::{Narvik, Token};

const SESSIONS: usize = 100_000;
const RUN: Duration = Duration::from_secs(3);
/// Handlers that never wait on I/O never yield; yield every few requests
/// so tasks interleave and the deadline is seen.
const YIELD_EVERY: u64 = 16;

async fn load<S: SessionStore<Data = ()> + 'static>(
    narvik: Arc<Narvik<S>>,
    tokens: Arc<Vec<Token>>,
    tasks: usize,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + RUN;
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (narvik, tokens, done) =
                (Arc::clone(&narvik), Arc::clone(&tokens), Arc::clone(&done));
            tokio::spawn(async move {
                let mut i = t * 7919;
                let mut n = 0u64;
                loop {
                    i = (i + 1) % tokens.len();
                    let valid = narvik
                        .validate_session(tokens[i].as_str())
                        .await
                        .expect("ok");
                    assert!(valid.is_some());
                    n += 1;
                    if n.is_multiple_of(YIELD_EVERY) {
                        if Instant::now() >= deadline {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                }
                done.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

#[allow(clippy::print_stdout)]
fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (narvik, tokens) = populated_memory_store(SESSIONS).await;
        let narvik = Arc::new(narvik);
        let tokens = Arc::new(tokens);

        let global = Narvik::new(GlobalLockStore::default());
        let mut global_tokens = Vec::with_capacity(SESSIONS);
        for i in 0..SESSIONS {
            let created = global
                .create_session(format!("user-{i}"), ())
                .await
                .expect("create");
            global_tokens.push(created.token);
        }
        let global = Arc::new(global);
        let global_tokens = Arc::new(global_tokens);

        let one = load(Arc::clone(&narvik), Arc::clone(&tokens), 1).await;
        let many = load(Arc::clone(&narvik), Arc::clone(&tokens), 64).await;
        let locked = load(global, global_tokens, 64).await;
        println!(
            "validate, {SESSIONS} live sessions, 2 worker threads, {}s each",
            RUN.as_secs()
        );
        println!("  narvik MemoryStore,  1 task : {one:>10.0} req/s");
        println!(
            "  narvik MemoryStore, 64 tasks: {many:>10.0} req/s ({:.2}x one task)",
            many / one
        );
        println!("  global-mutex store, 64 tasks: {locked:>10.0} req/s");
        println!(
            "  MemoryStore / global mutex at 64 tasks: {:.2}x",
            many / locked
        );
    });
}
