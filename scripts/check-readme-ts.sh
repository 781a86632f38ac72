#!/usr/bin/env bash
# Type-checks the TypeScript blocks (```ts) of the READMEs with
# `tsc --strict`, against the packages they import: Narvik 0.2.16, pg and
# @types/pg, installed with npm into target/readme-ts (kept between runs).
#
#   ./scripts/check-readme-ts.sh [README...]
#
# Narvik 0.2.16 is installed from the npm registry when it is there; when it
# is not, the blocks are checked against scripts/readme-ts/narvik-0.2.16.d.ts
# (its public types, written from its source) and the script says so.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

readmes=("$@")
[[ ${#readmes[@]} -gt 0 ]] || readmes=(README.md crates/*/README.md)

# Pinned so that a new release cannot change the verdict on an unchanged
# README. TypeScript 5 is the line Narvik itself builds with.
typescript=5.9.3
pg=8.23.1
types_pg=8.23.1
narvik=0.2.16

if ! command -v npm >/dev/null; then
    if [[ -r /etc/debian_version ]] && command -v apt-get >/dev/null && [[ $EUID -eq 0 ]]; then
        echo "readme-ts: installing Debian's nodejs and npm"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
        echo "readme-ts: npm is missing: install Node.js and npm and run this again" >&2
        exit 1
    fi
fi

work=$root/target/readme-ts
mkdir -p "$work"
cd "$work"
want="typescript@$typescript pg@$pg @types/pg@$types_pg"
if [[ "$(cat installed 2>/dev/null)" != "$want" ]]; then
    rm -rf node_modules package.json package-lock.json installed narvik-available
    echo '{ "private": true, "type": "module" }' >package.json
    # shellcheck disable=SC2086 # one word per package
    npm install --no-audit --no-fund --silent $want
    if npm install --no-audit --no-fund --silent "narvik@$narvik" >npm-narvik.log 2>&1; then
        echo yes >narvik-available
    else
        echo no >narvik-available
    fi
    echo "$want" >installed
fi

rm -rf blocks
mkdir blocks
files=()
for readme in "${readmes[@]}"; do
    # One file per block, named for its README and its first line there.
    while IFS=: read -r line name; do
        [[ -n "$line" ]] || continue
        awk -v start="$line" 'NR > start && /^```/ { exit } NR > start' "$root/$readme" >"blocks/$name.ts"
        files+=("\"blocks/$name.ts\"")
    done < <(awk -v r="${readme//\//_}" '/^```ts[[:space:]]*$/ { print NR ":" r "_" NR }' "$root/$readme")
done
if [[ ${#files[@]} -eq 0 ]]; then
    echo "readme-ts: no \`\`\`ts block in ${readmes[*]}" >&2
    exit 1
fi

blocks=${#files[@]}
against="narvik@$narvik from the registry"
if [[ "$(cat narvik-available)" != yes ]]; then
    cp "$root/scripts/readme-ts/narvik-$narvik.d.ts" blocks/
    files+=("\"blocks/narvik-$narvik.d.ts\"")
    against="scripts/readme-ts/narvik-$narvik.d.ts (narvik@$narvik is not in the npm registry this machine reaches)"
fi
list=$(IFS=,; echo "${files[*]}")
cat >tsconfig.json <<EOF
{
  "compilerOptions": {
    "strict": true,
    "noEmit": true,
    "target": "es2022",
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "types": ["node"]
  },
  "files": [$list]
}
EOF
./node_modules/.bin/tsc -p tsconfig.json
echo "readme-ts: $blocks block(s) type-check with tsc $typescript --strict, against $against, pg@$pg, @types/pg@$types_pg"
