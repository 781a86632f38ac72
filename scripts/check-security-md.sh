#!/usr/bin/env bash
# Every test SECURITY.md names (`path/to/file.rs::test_name`) must still
# exist: the file, and in it a test function of that name. A test is a
# function under #[test], #[tokio::test] or #[actix_web::test] (proptest's included), a
# case the `on_both_paths!` macro of the axum layer tests runs, or a
# conformance case of narvik-testkit (a pub async fn in src/cases/, which
# every store crate runs). Run by CI so the table cannot silently rot.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 - SECURITY.md <<'EOF'
import pathlib
import re
import sys

doc = pathlib.Path(sys.argv[1])
names = re.findall(r"`([\w./-]+\.rs)::(\w+)`", doc.read_text())
if not names:
    sys.exit(f"{doc}: names no test at all; is the table still there?")

test_attr = re.compile(r"#\[(?:tokio::|actix_web::)?test(?:\([^)]*\))?\]\s*(?:#\[[^\]]*\]\s*)*(?:pub\s+)?(?:async\s+)?fn\s+(\w+)")
both_paths = re.compile(r"on_both_paths!\((.*?)\);", re.S)
case_fn = re.compile(r"pub\s+async\s+fn\s+(\w+)\s*<")

def tests_in(path: pathlib.Path) -> set:
    text = path.read_text()
    found = set(test_attr.findall(text))
    for block in both_paths.findall(text):
        found |= set(re.findall(r"\w+", block))
    if "narvik-testkit/src/cases" in path.as_posix():
        found |= set(case_fn.findall(text))
    return found

missing = []
cache = {}
for file, name in sorted(set(names)):
    path = pathlib.Path(file)
    if not path.is_file():
        missing.append(f"{file}::{name}: no such file")
        continue
    if file not in cache:
        cache[file] = tests_in(path)
    if name not in cache[file]:
        missing.append(f"{file}::{name}: no such test in the file")

if missing:
    print(f"{doc} names tests that do not exist:", *missing, sep="\n  ")
    sys.exit(1)
print(f"{doc}: all {len(set(names))} tests it names exist")
EOF
