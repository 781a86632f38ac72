//! What a session layer adds to one axum request, in-process, at 100k live
//! sessions: the bare router, tower-sessions 0.15 with its `MemoryStore`,
//! and narvik-axum with narvik's `MemoryStore`; for an authenticated read
//! (`GET /me` with a valid cookie) and for a sign-in that creates a
//! session (`POST /sign-in`).
//!
//! ```sh
//! cargo bench -p narvik-bench --bench axum_overhead
//! ```
//!
//! Each sign-in is for a new user; the sessions a sample created are
//! deleted after it (untimed), so every sample runs at 100k sessions.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::StatusCode;
use narvik_bench::routers::{self, Subject, call, read_request};

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let subjects: Vec<Subject> = vec![
        routers::bare(),
        runtime.block_on(routers::tower_sessions()),
        runtime.block_on(routers::narvik()),
    ];

    let mut group = c.benchmark_group("axum_read");
    group.measurement_time(Duration::from_secs(5));
    group.warm_up_time(Duration::from_secs(1));
    for subject in &subjects {
        let mut i = 0usize;
        group.bench_function(BenchmarkId::from_parameter(subject.name), |b| {
            b.to_async(&runtime).iter(|| {
                i = (i + 1) % subject.cookies.len();
                let request = read_request(&subject.cookies[i]);
                call(&subject.router, request, StatusCode::OK)
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("axum_sign_in");
    group.measurement_time(Duration::from_secs(5));
    group.warm_up_time(Duration::from_secs(1));
    for subject in &subjects {
        group.bench_function(BenchmarkId::from_parameter(subject.name), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let mut created = Vec::with_capacity(usize::try_from(iters).unwrap_or(0));
                    let start = Instant::now();
                    for _ in 0..iters {
                        if let Some(cookie) = subject.sign_in().await {
                            created.push(cookie);
                        }
                    }
                    let elapsed = start.elapsed();
                    // Back to SESSIONS live sessions for the next sample,
                    // outside the timed part.
                    subject.forget(created).await;
                    elapsed
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
