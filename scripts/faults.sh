#!/usr/bin/env bash
# Faults under load (RELIABILITY.md): builds the demo and narvik-bench's
# `fault_load` example, then runs it: a few hundred signed-in users on the
# demo, over HTTP, while the harness kills, stops and restarts its own
# Redis and PostgreSQL servers and cuts, stalls and slows the link to them.
# Prints a markdown table of the figures per fault; exits 1 if a valid
# session was signed out or lost, or the demo panicked or died.
#
#   ./scripts/faults.sh            # both backends, every fault (a few minutes)
#   ./scripts/faults.sh --smoke    # Redis, one SIGSTOP of 1 s, 20 users
#
# Settings are fault_load's environment variables (see its main.rs), e.g.
# NARVIK_FAULTS_BACKENDS=postgres NARVIK_FAULTS_ONLY=stall,cut.
#
# Loopback only; never the machine's shared servers. Everything the run
# starts lives in one temporary directory and one process group, both
# removed at the end however the run ends; PostgreSQL (which pg_ctl puts in
# a session of its own) is stopped with pg_ctl.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--smoke" ]]; then
    export NARVIK_FAULTS_BACKENDS=${NARVIK_FAULTS_BACKENDS:-redis}
    export NARVIK_FAULTS_ONLY=${NARVIK_FAULTS_ONLY:-stop}
    export NARVIK_FAULTS_USERS=${NARVIK_FAULTS_USERS:-20}
    export NARVIK_FAULTS_SIGNERS=${NARVIK_FAULTS_SIGNERS:-2}
    export NARVIK_FAULTS_SECONDS=${NARVIK_FAULTS_SECONDS:-1}
    export NARVIK_FAULTS_BASELINE=${NARVIK_FAULTS_BASELINE:-1}
    export NARVIK_FAULTS_QUIET=${NARVIK_FAULTS_QUIET:-1}
    export NARVIK_FAULTS_WITHIN=${NARVIK_FAULTS_WITHIN:-20}
fi

command -v redis-server >/dev/null || ./scripts/services.sh

# The dev profile and the workspace's features, as `cargo test` builds
# them (so after the tests nothing is rebuilt); the demo's argon2 is
# optimised in it (the workspace's Cargo.toml), so sign-ups stay quick.
cargo build -q --workspace --all-features --bin narvik-demo --example fault_load
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

work=$(mktemp -d -t narvik-faults-XXXXXXXX)
pid=""
pg_ctl_bin() {
    if [[ -n "${NARVIK_FAULTS_PG_BIN:-}" ]]; then
        echo "$NARVIK_FAULTS_PG_BIN/pg_ctl"
    elif command -v pg_ctl >/dev/null; then
        command -v pg_ctl
    else
        find /usr/lib/postgresql -path '*/bin/pg_ctl' 2>/dev/null | sort -V | tail -1
    fi
}
cleanup() {
    local rc=$?
    if [[ -n "$pid" ]]; then
        kill -9 -- "-$pid" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 ]]; then
        # The demo's and the servers' logs, for a look at what went wrong.
        local keep="$target_dir/faults-logs"
        rm -rf "$keep" && mkdir -p "$keep"
        find "$work" -name '*.log' -exec cp {} "$keep/" \; 2>/dev/null || true
        echo "faults: logs kept in $keep" >&2
    fi
    if [[ -f "$work/postgres/data/postmaster.pid" ]]; then
        local pg_ctl
        pg_ctl=$(pg_ctl_bin)
        if [[ $EUID -eq 0 ]]; then
            runuser -u postgres -- "$pg_ctl" -D "$work/postgres/data" -m immediate stop >/dev/null 2>&1 || true
        else
            "$pg_ctl" -D "$work/postgres/data" -m immediate stop >/dev/null 2>&1 || true
        fi
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export NARVIK_FAULTS_DIR="$work"
export NARVIK_FAULTS_DEMO="$target_dir/debug/narvik-demo"
# A process group of its own (the harness, the demo, redis-server), so
# that cleanup can end all of it even if the harness is killed.
setsid "$target_dir/debug/examples/fault_load" &
pid=$!
rc=0
wait "$pid" || rc=$?
exit "$rc"
