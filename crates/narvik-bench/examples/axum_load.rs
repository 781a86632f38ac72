//! In-process load: the bare router, tower-sessions 0.15 (`MemoryStore`)
//! and narvik-axum (narvik's `MemoryStore`), each under 64 concurrent
//! tasks on a 2-thread tokio runtime, authenticated reads (`GET /me` with
//! a valid cookie) over 100k live sessions, and narvik-axum with a single
//! task on the same runtime: 6 rounds of 2 s for each, the order rotating
//! every round. Prints the median requests per second of each, their
//! ratios, and narvik ÷ tower-sessions round by round.
//!
//! ```sh
//! cargo run --profile bench -p narvik-bench --example axum_load
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use narvik_bench::routers::{self, Subject, call, read_request};

const TASKS: usize = 64;
/// Each router runs [`ROUNDS`] times for [`RUN`], in an order that rotates
/// every round, and the medians are reported: on a shared 2-core machine
/// one long run of each swings with whatever else runs.
const RUN: Duration = Duration::from_secs(2);
const ROUNDS: usize = 6;
/// Handlers here never wait on I/O, so a task never yields on its own:
/// without this the deadline is never seen and tasks do not interleave.
const YIELD_EVERY: u64 = 16;

async fn load(subject: Arc<Subject>, tasks: usize) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + RUN;
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (subject, done) = (Arc::clone(&subject), Arc::clone(&done));
            tokio::spawn(async move {
                let mut i = t * 7919;
                let mut n = 0u64;
                loop {
                    i = (i + 1) % subject.cookies.len();
                    call(
                        &subject.router,
                        read_request(&subject.cookies[i]),
                        StatusCode::OK,
                    )
                    .await;
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
    for handle in handles {
        handle.await.expect("task");
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
        let bare = Arc::new(routers::bare());
        let tower = Arc::new(routers::tower_sessions().await);
        let narvik = Arc::new(routers::narvik().await);

        // (router, tasks): the three at 64 tasks, then narvik alone.
        let runs = [
            (Arc::clone(&bare), TASKS),
            (Arc::clone(&tower), TASKS),
            (Arc::clone(&narvik), TASKS),
            (Arc::clone(&narvik), 1),
        ];
        let mut rps: [Vec<f64>; 4] = Default::default();
        let mut ratios = Vec::with_capacity(ROUNDS);
        for round in 0..ROUNDS {
            let mut this_round = [0.0; 4];
            for k in 0..runs.len() {
                let which = (round + k) % runs.len();
                let (subject, tasks) = &runs[which];
                this_round[which] = load(Arc::clone(subject), *tasks).await;
            }
            for (all, one) in rps.iter_mut().zip(this_round) {
                all.push(one);
            }
            ratios.push(this_round[2] / this_round[1]);
        }
        let [bare_rps, tower_rps, narvik_rps, narvik_one] = rps.map(median);

        println!(
            "GET /me with a valid cookie, {} live sessions, {TASKS} tasks, 2 worker threads, \
             {ROUNDS} rounds of {}s each, rotating order; medians",
            routers::SESSIONS,
            RUN.as_secs()
        );
        println!("  bare router     : {bare_rps:>10.0} req/s");
        println!("  tower-sessions  : {tower_rps:>10.0} req/s");
        println!("  narvik-axum     : {narvik_rps:>10.0} req/s");
        println!("  narvik-axum, 1 task: {narvik_one:>7.0} req/s");
        println!(
            "  narvik / tower-sessions: {:.2}x; narvik / bare: {:.0}%; tower-sessions / bare: {:.0}%",
            narvik_rps / tower_rps,
            100.0 * narvik_rps / bare_rps,
            100.0 * tower_rps / bare_rps
        );
        println!(
            "  narvik, {TASKS} tasks / 1 task: {:.2}x",
            narvik_rps / narvik_one
        );
        ratios.sort_by(f64::total_cmp);
        println!(
            "  narvik / tower-sessions by round: median {:.2}x; rounds {}",
            median(ratios.clone()),
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    });
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
