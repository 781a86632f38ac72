//! Resident memory of `MemoryStore` with 1M sessions and `D = ()`.
//!
//! ```sh
//! cargo run --release -p narvik-bench --example memory [sessions-per-user]
//! ```
//!
//! One user per session (the default) is the worst case for the per-user
//! index; pass e.g. 10 for ten sessions per user.

use narvik_bench::resident_bytes;
use narvik_core::Narvik;
use narvik_core::store::MemoryStore;

const SESSIONS: usize = 1_000_000;

#[allow(clippy::print_stdout)]
fn main() {
    let per_user: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1)
        .max(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let before = resident_bytes().unwrap_or(0);
    let store = MemoryStore::<()>::new();
    runtime.block_on(async {
        let narvik = Narvik::new(store.clone());
        for i in 0..SESSIONS {
            let created = narvik
                .create_session(format!("user-{}", i / per_user), ())
                .await
                .expect("create");
            drop(created);
        }
    });
    let after = resident_bytes().unwrap_or(0);
    let grown = after.saturating_sub(before);
    println!(
        "{} sessions ({per_user} per user): resident {:.1} MB (grew {:.1} MB, {} bytes per session)",
        store.len(),
        after as f64 / 1e6,
        grown as f64 / 1e6,
        grown / SESSIONS as u64
    );
}
