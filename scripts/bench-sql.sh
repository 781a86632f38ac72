#!/usr/bin/env bash
# SQL load, in one go: narvik-bench's `sql_load` example (PostgreSQL and MariaDB,
# with pgbench and raw-sqlx ceilings and the purge under load), then narvik
# beside tower-sessions' PostgreSQL store. The second is a crate of its own
# (see its Cargo.toml for why), so it is a second process; the ratio it
# prints is measured within that process, on the same server and pool size.
#
#   ./scripts/bench-sql.sh
#
# Settings are environment variables, shared by both; see the two programs.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo run -q --release -p narvik-bench --example sql_load
cargo run -q --release --manifest-path crates/narvik-bench/vs-tower-sessions/Cargo.toml
