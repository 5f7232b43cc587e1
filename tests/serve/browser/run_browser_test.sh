#!/usr/bin/env bash
# The page in Debian's chromium, driven by playwright-core (browser_test.mjs).
#   run_browser_test.sh BIN_DIR SOURCE_DIR BUILD_DIR
# playwright-core is installed from package-lock.json into
# BUILD_DIR/serve-browser (npm ci; the source tree stays clean). The checkpoint:
# $DPMNIST_SERVE_CHECKPOINT, else SOURCE_DIR/runs/seed/checkpoint.h5 when it
# exists (a trained model: the digits must then be recognised too), else a
# Glorot-initialised one from make_serve_fixtures (the page's mechanics only).
# Screenshots: BUILD_DIR/test-artifacts/serve_page.png, serve_page_upload.png.
# Fails (never skips) when node or chromium is missing.
set -euo pipefail
SERVE_BIN=$1
source_dir=$2
build_dir=$3
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../serve_lib.sh"

command -v node > /dev/null || fail "node is missing: run tools/install_deps.sh --tests"
command -v npm > /dev/null || fail "npm is missing: run tools/install_deps.sh --tests"
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing: run tools/install_deps.sh --tests"
echo "node $(node --version), $(/usr/bin/chromium --version 2> /dev/null | head -1)"

# playwright-core at the locked version, reinstalled only when the lock changes.
modules=$build_dir/serve-browser
mkdir -p "$modules"
if ! cmp -s "$here/package-lock.json" "$modules/package-lock.json" ||
   [ ! -f "$modules/node_modules/playwright-core/package.json" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$modules/"
  (cd "$modules" && npm ci --no-audit --no-fund --loglevel=error) ||
    fail "npm ci of playwright-core failed (is the npm registry reachable?)"
fi
cp "$here/browser_test.mjs" "$modules/"

work=$(mktemp -d "$modules/run.XXXXXX")  # in the build tree: nothing else tidies it away
cleanup() {
  [ -n "${SERVER_PID:-}" ] && kill -KILL "$SERVER_PID" 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$SERVE_BIN/make_serve_fixtures" "$work"
real_model=0
if [ -n "${DPMNIST_SERVE_CHECKPOINT:-}" ]; then
  checkpoint=$DPMNIST_SERVE_CHECKPOINT
  real_model=1
elif [ -f "$source_dir/runs/seed/checkpoint.h5" ]; then
  checkpoint=$source_dir/runs/seed/checkpoint.h5
  real_model=1
else
  checkpoint=$work/checkpoint.h5
fi
echo "checkpoint: $checkpoint ($([ $real_model = 1 ] && echo "trained: digits must be recognised" ||
                                  echo "Glorot weights: page mechanics only"))"

start_server "$work/server.log" --checkpoint "$checkpoint"
status=0
DPMNIST_URL="http://127.0.0.1:$SERVER_PORT/" DPMNIST_FIXTURES="$work" \
  DPMNIST_ARTIFACTS="$build_dir/test-artifacts" DPMNIST_REAL_MODEL=$real_model \
  timeout 240 node "$modules/browser_test.mjs" || status=$?
stop_status=0
stop_server TERM || stop_status=$?
SERVER_PID=
cat "$work/server.log"
[ "$status" = 0 ] || fail "browser test failed (exit $status)"
[ "$stop_status" = 0 ] || fail "dpmnist-serve exited $stop_status on SIGTERM"
echo "serve browser test passed"
