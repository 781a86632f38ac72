#!/usr/bin/env bash
# Mutation testing: does any test notice when the code changes? Runs
# cargo-mutants (installed from crates.io if missing) with the settings in
# .cargo/mutants.toml over narvik-core and narvik-axum by default, or over
# the packages given (-p ...) and any other cargo-mutants arguments
# (e.g. `-f crates/narvik-core/src/config.rs` to iterate on one file).
# Takes minutes to hours, so CI does not run it. Results land in
# mutants.out/ (missed.txt lists what survived).
#
#   ./scripts/mutants.sh                       # core and axum
#   ./scripts/mutants.sh -p narvik-sqlx        # a store (needs its servers)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-mutants >/dev/null; then
    cargo install cargo-mutants --locked --quiet
fi
if ! command -v cargo-nextest >/dev/null; then
    cargo install cargo-nextest --locked --quiet
fi

args=("$@")
if [[ " ${args[*]} " != *" -p "* && " ${args[*]} " != *" --package "* ]]; then
    args+=(-p narvik-core -p narvik-axum)
fi
# One job (a build already uses every core) unless --in-place is asked
# for, which mutates this tree and reuses its target/ (no cold build; do
# not edit the sources meanwhile). The timeout bounds a mutant that makes
# a test loop (an expiry check turned off, say).
if [[ " ${args[*]} " != *" --in-place "* ]]; then
    args+=(--jobs "${MUTANTS_JOBS:-1}")
fi
exec cargo mutants --all-features --timeout "${MUTANTS_TIMEOUT:-180}" "${args[@]}"
