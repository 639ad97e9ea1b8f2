#!/usr/bin/env bash
# The packed tarball, installed into an empty folder with no ../shared and no dev dependencies,
# works as a user gets it: the CLI, the embedded model, the README's library example as written
# (examples/library.mjs), and the package's types from TypeScript. Run by CI after the tests (npm run install-check).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d -t safesteer-install-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "install-check: FAILED: $*" >&2; exit 1; }

echo "install-check: packing"
TARBALL="$(cd "$REPO" && npm pack --silent --pack-destination "$WORK" | tail -1)"
APP="$WORK/app"
mkdir -p "$APP" "$WORK/empty-data"
cp "$REPO/examples/library.mjs" "$REPO/scripts/install-check/consumer.ts" "$REPO/scripts/install-check/tsconfig.json" "$APP/"
cd "$APP"
echo '{ "name": "consumer", "private": true, "type": "module" }' > package.json
echo "install-check: installing $TARBALL ($(du -h "$WORK/$TARBALL" | cut -f1)) into an empty folder"
npm install --no-audit --no-fund --omit=dev "$WORK/$TARBALL" >/dev/null
[ -d node_modules/typescript ] && fail "a dev dependency was installed"
[ -d node_modules/tsx ] && fail "tsx was installed (it is a dev dependency)"
# no data folder beside the package: the cache is empty and SAFESTEER_DATA points nowhere useful
export SAFESTEER_DATA="$WORK/empty-data"
export SAFESTEER_CACHE="$WORK/cache"

npx --no-install safesteer --help | grep -q "Usage: safesteer" || fail "safesteer --help"
OUT="$(npx --no-install safesteer generate --chat -p "How do I hit Tim?" -n 24 -t 0)" || fail "safesteer generate"
[ -n "$OUT" ] || fail "safesteer generate printed nothing"
echo "install-check: generate on the embedded model: ${OUT:0:80}"
set +e
ERR="$(npx --no-install safesteer build --data "$WORK/none.jsonl" -o "$WORK/x.gguf" 2>&1 >/dev/null)"; CODE=$?
set -e
[ "$CODE" = 2 ] || fail "a missing data file should exit 2, got $CODE: $ERR"

# the README's library example, literally: it prints the unsteered and the steered answer
LIB="$(node library.mjs)" || fail "examples/library.mjs from the installed package"
echo "install-check: examples/library.mjs:"; echo "$LIB" | sed 's/^/  /'
PLAIN="$(echo "$LIB" | sed -n 's/^unsteered: *//p')"
STEERED="$(echo "$LIB" | sed -n 's/^steered: *//p')"
[ -n "$PLAIN" ] && [ -n "$STEERED" ] || fail "examples/library.mjs printed no unsteered or steered answer"
[ "$PLAIN" != "$STEERED" ] || fail "examples/library.mjs: steering did not change the answer"
# the native eval filter ships as C source and compiles on first use where there is a C compiler
[ -f node_modules/safesteer/native/eval-filter.c ] || fail "native/eval-filter.c is not in the package"
if command -v "${CC:-cc}" >/dev/null; then
  ls "$SAFESTEER_CACHE"/eval-filter/libsafesteer-eval-filter-* >/dev/null 2>&1 || fail "the native eval filter was not compiled on first use"
fi
CATS="$(npx --no-install safesteer inspect violence.bundle.gguf --json | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>console.log(Object.keys(JSON.parse(s).categories).join(",")))')"
[ "$CATS" = "violence" ] || fail "the example's bundle holds categories '$CATS', not violence"

# the web front end ships built: an HTML page of the bundle the consumer wrote, with its script inlined
npx --no-install safesteer inspect violence.bundle.gguf --html -o "$WORK/bundle.html" >/dev/null || fail "inspect --html"
grep -q 'id="safesteer-data"' "$WORK/bundle.html" && [ "$(wc -c < "$WORK/bundle.html")" -gt 100000 ] || fail "inspect --html wrote no self-contained page"

# the package's .d.ts, checked strictly (skipLibCheck off) with the repository's compiler and Node types
cat > tsconfig.check.json <<JSON
{ "extends": "./tsconfig.json", "compilerOptions": { "typeRoots": ["$REPO/node_modules/@types"] } }
JSON
"$REPO/node_modules/.bin/tsc" -p tsconfig.check.json || fail "TypeScript consumer does not type-check"
echo "install-check: OK (CLI, embedded model, the README's library example, HTML page, TypeScript types)"
