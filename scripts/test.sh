#!/usr/bin/env bash
# The whole test suite, on a fresh machine or in CI: starts or checks what
# the tests need, then runs every test of every crate with every feature.
# Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-features --no-fail-fast "$@"
