#!/usr/bin/env bash
# Checks that every workspace crate's `rust-version` is true: at least the
# highest `rust-version` declared by any crate it builds with, followed
# transitively through the resolved graph (normal and build dependencies,
# plus the crate's own dev-dependencies, since its tests build on it too;
# every feature on, every platform). Fails naming the crate and the
# dependency that needs more.
#
#   ./scripts/check-rust-version.sh
#
# Only one toolchain is at hand, so this reads the declarations rather than
# building on the old compiler. What the crate's own code uses is checked by
# clippy's `incompatible_msrv` lint (on by default), which compares std APIs
# with the declared `rust-version`.
set -euo pipefail
cd "$(dirname "$0")/.."

meta=$(mktemp)
trap 'rm -f "$meta"' EXIT
cargo metadata --format-version 1 --all-features --locked >"$meta"
python3 - "$meta" <<'EOF'
import json, sys

with open(sys.argv[1]) as f:
    meta = json.load(f)
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}


def version(text):
    parts = [int(x) for x in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


failed = False
for member in sorted(meta["workspace_members"], key=lambda i: packages[i]["name"]):
    crate = packages[member]
    seen, stack = set(), [member]
    while stack:
        node = stack.pop()
        for dep in nodes[node]["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            # Dev-dependencies count for the crate itself, not for its dependencies.
            if (node == member or kinds & {None, "build"}) and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                stack.append(dep["pkg"])
    declared = [packages[d] for d in seen if packages[d]["rust_version"]]
    need = max(declared, key=lambda p: version(p["rust_version"]), default=None)
    own = crate["rust_version"]
    if own is None:
        print(f"{crate['name']}: declares no rust-version")
        failed = True
    elif need is not None and version(own) < version(need["rust_version"]):
        print(f"{crate['name']}: rust-version {own}, but {need['name']} {need['version']} "
              f"declares {need['rust_version']}")
        failed = True
    else:
        what = f"{need['name']} {need['rust_version']}" if need else "none declared"
        print(f"{crate['name']}: rust-version {own} (highest of its dependencies: {what})")
sys.exit(1 if failed else 0)
EOF
