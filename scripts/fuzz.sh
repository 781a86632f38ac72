#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer) for SECONDS
# seconds each, one after the other in one process each (one job: the
# machine is small and shared), and exits non-zero if any crashed.
#
#   scripts/fuzz.sh SECONDS [TARGET...]     (default: every target)
#
# Corpus: fuzz/corpus/TARGET. The committed seeds are its `seed-*` files;
# what a run adds stays there (git ignores it), so later runs start from
# it. A crash, leak, timeout or out-of-memory input is written to
# fuzz/artifacts/TARGET/ and named at the end; replay one with
#   cargo fuzz run --fuzz-dir fuzz -s none TARGET ARTIFACT
#
# Toolchain: the stable one. cargo-fuzz's coverage instrumentation is
# made of stable `-C` flags; only its sanitizers need `-Z` flags (nightly,
# or RUSTC_BOOTSTRAP=1 on stable, which also works here: add it and
# `-s address` to hunt memory errors). We build with `-s none`: narvik
# forbids `unsafe`, and what the targets hunt are panics and broken
# properties, which libFuzzer sees without a sanitizer; leaving it out
# shortens the build and speeds every run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked --quiet
fi
# cargo-fuzz takes --fuzz-dir after the subcommand, not before it.
fuzz() { # subcommand args...
    local sub=$1
    shift
    cargo fuzz "$sub" --fuzz-dir fuzz "$@"
}
opts=(-s none)

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(fuzz list)
fi

started=$SECONDS
fuzz build "${opts[@]}"
echo "--- fuzz build: $((SECONDS - started)) s"

failed=()
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    log=$(mktemp)
    echo "--- $target: ${seconds} s"
    status=0
    fuzz run "${opts[@]}" "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    # The summary: libFuzzer's last status line and its final counts.
    grep -E '^#[0-9]+' "$log" | tail -n 1 || true
    grep -E '^stat::(number_of_executed_units|new_units_added)' "$log" || true
    if [[ $status -ne 0 ]]; then
        tail -n 40 "$log"
        failed+=("$target")
    fi
    rm -f "$log"
done

artifacts=$(find fuzz/artifacts -type f -newer "$marker" 2>/dev/null | sort)
if [[ -n "$artifacts" ]]; then
    echo "--- artifacts of this run (failing inputs):"
    echo "$artifacts"
fi
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "--- fuzz: FAILED: ${failed[*]}"
    exit 1
fi
echo "--- fuzz: ${#targets[@]} targets, ${seconds} s each, no crash"
