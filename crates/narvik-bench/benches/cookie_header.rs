//! The `Set-Cookie` texts a response carries: the session cookie from its
//! template (every sign-in and refresh), the same capped to a session
//! that ends sooner (formatted by the `cookie` crate), and the blank
//! cookie (sign-out).
//!
//! ```sh
//! cargo bench -p narvik-bench --bench cookie_header
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use narvik_core::{Config, Timestamp, Token};

fn bench(c: &mut Criterion) {
    let config = Config::default();
    let token = Token::generate().expect("os rng");
    let now = Timestamp::from_unix_millis(1_700_000_000_000);
    let mut group = c.benchmark_group("cookie_header");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.bench_function("create", |b| {
        b.iter(|| black_box(config.create_cookie_header(black_box(&token))));
    });
    group.bench_function("session_full_age", |b| {
        let expires_at = now + config.session_length();
        b.iter(|| black_box(config.session_cookie_header(black_box(&token), expires_at, now)));
    });
    group.bench_function("session_capped", |b| {
        let expires_at = now + Duration::from_secs(3600);
        b.iter(|| black_box(config.session_cookie_header(black_box(&token), expires_at, now)));
    });
    group.bench_function("blank", |b| {
        b.iter(|| black_box(black_box(&config).blank_cookie_header().len()));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
