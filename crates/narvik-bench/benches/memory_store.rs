//! Create and validate on `MemoryStore` at 1k, 100k and 1M live sessions,
//! beside the floor (SHA-256 + hex into a String + one HashMap hit) over
//! the same keys.
//!
//! ```sh
//! cargo bench -p narvik-bench --bench memory_store
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use narvik_bench::{Floor, populated_memory_store};

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for n in [1_000, 100_000, 1_000_000] {
        let (narvik, tokens) = runtime.block_on(populated_memory_store(n));
        let floor = Floor::new(&tokens);
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

        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("validate", n), |b| {
            b.to_async(&runtime).iter(|| {
                i = (i + 1) % tokens.len();
                let token = tokens[i].as_str();
                let narvik = &narvik;
                async move { black_box(narvik.validate_session(token).await.expect("ok")) }
            });
        });

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
