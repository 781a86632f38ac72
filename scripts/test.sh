#!/usr/bin/env bash
# The whole test suite, on a fresh machine or in CI: starts or installs what
# the tests need (scripts/services.sh), then runs every test of every crate
# with every feature: the core, the conformance suite against MemoryStore,
# SQLite, PostgreSQL, MariaDB, Redis and a 3-master Redis Cluster, the axum
# integration and the demo in headless Chromium; then a short fault smoke
# (scripts/faults.sh --smoke: the demo under load on its own Redis, stopped
# for 1 s; fails if a valid session is signed out or lost, or the demo
# panics; about 10 s once the tests have built it).
# Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/services.sh
cargo test --workspace --all-features --no-fail-fast "$@"
./scripts/faults.sh --smoke
