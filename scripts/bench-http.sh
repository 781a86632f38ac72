#!/usr/bin/env bash
# HTTP load on the demo's authenticated home page, with SQLite and with
# PostgreSQL behind it: wrk (Debian's package) on loopback, 2 threads,
# 64 connections, bounded in time. Prints wrk's summary for each.
#
#   ./scripts/bench-http.sh [seconds]
#
# The demo and wrk share this machine's cores, so read the two runs side by
# side rather than as absolute capacity.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build -q --release -p narvik-demo
work=$(mktemp -d)
pid=""
db=""
cleanup() {
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
    [[ -n "$db" ]] && psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

run() { # label, database url
    local label=$1 url=$2 port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    ./target/release/narvik-demo --database-url "$url" --listen "127.0.0.1:$port" >"$work/demo.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/signin" && break; sleep 0.1; done
    local origin="Origin: http://127.0.0.1:$port" jar="$work/cookies-$label"
    curl -sf -o /dev/null -c "$jar" -H "$origin" -d "username=bench&password=bench-password" "http://127.0.0.1:$port/signup" \
        || curl -sf -o /dev/null -c "$jar" -H "$origin" -d "username=bench&password=bench-password" "http://127.0.0.1:$port/signin"
    local token
    token=$(awk '$6 == "narvik_session" { print $7 }' "$jar")
    [[ -n "$token" ]] || { echo "no session cookie from the demo ($label)"; cat "$work/demo.log"; exit 1; }
    curl -sf "http://127.0.0.1:$port/" -H "Cookie: narvik_session=$token" | grep -q "Welcome, bench"
    echo "== $label: GET / with a valid session, wrk -t2 -c64 -d${secs}s"
    wrk -t2 -c64 -d"${secs}s" --latency -H "Cookie: narvik_session=$token" "http://127.0.0.1:$port/" \
        | grep -E "Requests/sec|Latency|50%|99%|requests in|Non-2xx"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

run sqlite "sqlite://$work/demo.db"
db="narvik_bench_$$_$RANDOM"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $db"
run postgres "postgres://postgres@127.0.0.1:5432/$db"
