//! Heap allocations per request through the same in-process axum routers
//! as `benches/axum_overhead.rs`, counted, not timed: the bare router,
//! tower-sessions 0.15 (`MemoryStore`) and narvik-axum (narvik's
//! `MemoryStore`), each at 100k live sessions, for an authenticated read
//! (`GET /me` with a valid cookie) and a sign-in (`POST /sign-in`). Also
//! axum's own `Extension` layer handing the handler one value: the least a
//! layer that passes per-request data to a handler adds. narvik and the
//! `Extension` layer are counted in both forms axum apps use: on the routes
//! (`Router::layer`) and around the whole router (`layer.layer(router)`).
//!
//! ```sh
//! cargo run --profile bench -p narvik-bench --example axum_allocations
//! # The CI check: bare router and narvik in both forms only; exits 1 if
//! # narvik's read allocates more than 3 blocks beyond the bare router's
//! # (the target), or more than N on the routes with `--budget N` and M
//! # around the router with `--budget-outside M`.
//! cargo run -p narvik-bench --example axum_allocations -- --check [--budget N] [--budget-outside M]
//! # Also write dhat-heap.json, the profile of every counted request
//! # (open it in DHAT's viewer, dh_view.html), to see where they come from.
//! cargo run --profile bench -p narvik-bench --example axum_allocations -- --save
//! # Count (and profile) one router's requests alone: bare, tower-sessions, narvik, ... (the names printed).
//! cargo run --profile bench -p narvik-bench --example axum_allocations -- --save --only narvik
//! ```
//!
//! The counts come from `dhat` as the global allocator: every allocation
//! and reallocation is one block (valgrind's DHAT counts the same way), in
//! one thread, so a run gives the same read counts every time. The
//! sessions are created before counting starts, and each subject first
//! serves every cookie it will be asked for once (a header value's first
//! clone allocates, once). A sign-in's count includes what the stores
//! spend on growing their maps, amortised over [`SIGN_INS`].

use std::process::ExitCode;

use http::{StatusCode, header};
use narvik_bench::routers::{self, Subject, read_request, sign_in_request};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Reads counted per subject, cycling over [`COOKIES`] sessions.
const READS: u64 = 1_000;
/// Sign-ins counted per subject.
const SIGN_INS: u64 = 1_000;
/// Distinct sessions the reads cycle over.
const COOKIES: usize = 100;
/// narvik's target: allocations per read beyond the bare router's.
const BUDGET: u64 = 3;

/// The number after `flag` on the command line, if any.
fn arg_after(flag: &str) -> Option<u64> {
    std::env::args()
        .skip_while(|a| a != flag)
        .nth(1)
        .and_then(|n| n.parse().ok())
}

/// Blocks and bytes allocated, per request.
#[derive(Clone, Copy)]
struct PerRequest {
    blocks: f64,
    bytes: f64,
}

/// A running total of what was allocated while counting.
#[derive(Default)]
struct Tally {
    blocks: u64,
    bytes: u64,
}

impl Tally {
    /// Adds what was allocated while `f` ran.
    async fn count<T>(&mut self, f: impl Future<Output = T>) -> T {
        let before = dhat::HeapStats::get();
        let out = f.await;
        let after = dhat::HeapStats::get();
        self.blocks += after.total_blocks - before.total_blocks;
        self.bytes += after.total_bytes - before.total_bytes;
        out
    }

    fn per(&self, requests: u64) -> PerRequest {
        PerRequest {
            blocks: self.blocks as f64 / requests as f64,
            bytes: self.bytes as f64 / requests as f64,
        }
    }
}

async fn reads(subject: &Subject) -> PerRequest {
    let cookies = &subject.cookies[..COOKIES.min(subject.cookies.len())];
    for cookie in cookies {
        routers::call(&subject.router, read_request(cookie), StatusCode::OK).await;
    }
    let mut tally = Tally::default();
    for i in 0..READS {
        let cookie = &cookies[usize::try_from(i).unwrap_or(0) % cookies.len()];
        tally
            .count(routers::call(
                &subject.router,
                read_request(cookie),
                StatusCode::OK,
            ))
            .await;
    }
    tally.per(READS)
}

async fn sign_ins(subject: &Subject) -> PerRequest {
    let mut created = Vec::with_capacity(usize::try_from(SIGN_INS).unwrap_or(0));
    let mut tally = Tally::default();
    for _ in 0..SIGN_INS {
        let response = tally.count(subject.router.respond(sign_in_request())).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        // Keeping the cookie (to delete the session afterwards) is the
        // harness's cost, not the layer's: not counted.
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .and_then(|pair| http::HeaderValue::from_str(pair).ok());
        created.extend(cookie);
        tally.count(async move { drop(response) }).await;
    }
    subject.forget(created).await;
    tally.per(SIGN_INS)
}

#[allow(clippy::print_stdout)]
fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    let budget = arg_after("--budget").unwrap_or(BUDGET);
    let budget_outside = arg_after("--budget-outside").unwrap_or(BUDGET);
    let save = std::env::args().any(|a| a == "--save");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut subjects = vec![routers::bare()];
        if !check {
            subjects.push(routers::extension_only());
            subjects.push(routers::extension_outside());
            subjects.push(routers::tower_sessions().await);
        }
        subjects.push(routers::narvik().await);
        subjects.push(routers::narvik_outside().await);

        // Started after the stores are populated: dhat records a backtrace
        // per allocation, which 100k sign-ins need not pay.
        let _profiler = if save {
            dhat::Profiler::builder().trim_backtraces(None).build()
        } else {
            dhat::Profiler::builder().testing().build()
        };
        let only = std::env::args().skip_while(|a| a != "--only").nth(1);
        let mut results = Vec::with_capacity(subjects.len());
        for subject in &subjects {
            if only.as_ref().is_some_and(|name| name != subject.name) {
                continue;
            }
            let read = reads(subject).await;
            let sign_in = sign_ins(subject).await;
            results.push((subject.name, read, sign_in));
        }

        println!(
            "heap allocations per request (blocks / bytes), {} live sessions; \
             {READS} reads, {SIGN_INS} sign-ins each",
            routers::SESSIONS
        );
        let Some(&bare) = results.first() else {
            println!("no router named {}", only.unwrap_or_default());
            return ExitCode::FAILURE;
        };
        for (name, read, sign_in) in &results {
            println!(
                "  {name:<17} read {:>6.2} / {:>7.1} (+{:.2} / +{:.1})   \
                 sign-in {:>6.2} / {:>7.1} (+{:.2} / +{:.1})",
                read.blocks,
                read.bytes,
                read.blocks - bare.1.blocks,
                read.bytes - bare.1.bytes,
                sign_in.blocks,
                sign_in.bytes,
                sign_in.blocks - bare.2.blocks,
                sign_in.bytes - bare.2.bytes,
            );
        }
        let mut over = false;
        for (name, budget) in [("narvik", budget), ("narvik outside", budget_outside)] {
            let Some(read) = results.iter().find(|r| r.0 == name).map(|r| r.1) else {
                continue;
            };
            let beyond = read.blocks - bare.1.blocks;
            let verdict = if beyond > budget as f64 { "over" } else { "within" };
            println!(
                "{name}'s read: {beyond:.2} blocks beyond the bare router's, {verdict} the budget of {budget}"
            );
            over |= beyond > budget as f64;
        }
        if check && over {
            return ExitCode::FAILURE;
        }
        ExitCode::SUCCESS
    })
}
