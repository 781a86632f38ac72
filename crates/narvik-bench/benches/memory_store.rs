//! Create and validate on `MemoryStore` at 1k, 100k and 1M live sessions,
//! beside the floor (SHA-256 + hex into a String + one HashMap hit) over
//! the same keys. Validation runs twice: with activity recording off (the
//! default) and on, over the same store; in both, nothing is due (no
//! extension, no activity record), so nothing is written.
//!
//! ```sh
//! cargo bench -p narvik-bench --bench memory_store
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use narvik_bench::{Floor, populated_memory_store};
use narvik_core::{Config, Narvik};

/// The activity interval of the `validate_activity` runs: longer than a
/// run, so that no validation in it is due to record activity (the
/// sessions were created just before), the common case being measured.
const ACTIVITY_INTERVAL: Duration = Duration::from_secs(60 * 60);

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for n in [1_000, 100_000, 1_000_000] {
        let (narvik, tokens) = runtime.block_on(populated_memory_store(n));
        let floor = Floor::new(&tokens);
        let config = Config::builder()
            .activity_interval(ACTIVITY_INTERVAL)
            .build()
            .expect("config");
        // MemoryStore's clones share its sessions.
        let active = Narvik::with_config(narvik.store().clone(), config);
        let mut group = c.benchmark_group("memory_store");
        group.measurement_time(Duration::from_secs(4));
        group.warm_up_time(Duration::from_secs(1));

        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("floor", n), |b| {
            b.iter(|| {
                i = (i + 1) % tokens.len();
                black_box(floor.lookup(tokens[i].as_str()));
            });
        });

        // What validate_activity measures must write nothing: no
        // extension, no activity record.
        let first = runtime
            .block_on(active.validate_session(tokens[0].as_str()))
            .expect("ok")
            .expect("valid");
        assert!(!first.extended && first.session.last_active_at.is_none());
        for (name, manager) in [("validate", &narvik), ("validate_activity", &active)] {
            let mut i = 0usize;
            group.bench_function(BenchmarkId::new(name, n), |b| {
                b.to_async(&runtime).iter(|| {
                    i = (i + 1) % tokens.len();
                    let token = tokens[i].as_str();
                    async move { black_box(manager.validate_session(token).await.expect("ok")) }
                });
            });
        }

        group.bench_function(BenchmarkId::new("create", n), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let mut created = Vec::with_capacity(usize::try_from(iters).unwrap_or(0));
                    let start = Instant::now();
                    for _ in 0..iters {
                        created.push(
                            narvik
                                .create_session("bench-user", ())
                                .await
                                .expect("create"),
                        );
                    }
                    let elapsed = start.elapsed();
                    // Keep the store at n live sessions for the next sample.
                    for c in &created {
                        narvik
                            .invalidate_session(&c.session.id)
                            .await
                            .expect("invalidate");
                    }
                    elapsed
                })
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
