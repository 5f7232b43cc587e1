#!/usr/bin/env bash
# dpmnist-serve as a user runs it: option errors, a missing checkpoint, a port
# in use, the page and API from another process (dpmnist-serve-load: zero
# errors), and a clean stop with exit 0 on SIGTERM and on SIGINT.
set -euo pipefail
SERVE_BIN=$1
source "$(dirname "$0")/serve_lib.sh"
serve_test_work process
expect_exit() {  # expect_exit CODE TEXT ARGS...: dpmnist-serve ARGS exits CODE and says TEXT
  local code=$1 text=$2 status=0
  shift 2
  timeout 30 "$SERVE_BIN/dpmnist-serve" "$@" > "$work/out" 2>&1 || status=$?
  [ "$status" = "$code" ] || { cat "$work/out"; fail "dpmnist-serve $* exited $status, expected $code"; }
  grep -q -- "$text" "$work/out" || { cat "$work/out"; fail "dpmnist-serve $* did not say '$text'"; }
}

"$SERVE_BIN/make_serve_fixtures" "$work"
expect_exit 0 "--checkpoint" --help
expect_exit 2 "checkpoint" --port 8080
expect_exit 2 "--port = '70000': expected an integer in \[0, 65535\]" --checkpoint "$work/checkpoint.h5" --port 70000
expect_exit 2 "--threads = '0': expected an integer in \[1, 1024\]" --checkpoint "$work/checkpoint.h5" --threads 0
expect_exit 1 "absent.h5" --checkpoint "$work/absent.h5"
echo "option and checkpoint errors: ok"

start_server "$work/server.log" --checkpoint "$work/checkpoint.h5" --threads 6
port=$SERVER_PORT
http_get / > "$work/page"
grep -q "HTTP/1.1 200" "$work/page" || fail "GET / did not answer 200"
grep -q '<canvas id="pad"' "$work/page" || fail "GET / is not the page"
http_get /healthz | grep -q '"status":"ok"' || fail "GET /healthz"
http_get /nope | grep -q '"error"' || fail "GET /nope is not a JSON error"

# A second server on the same port: a clear error, exit 1.
expect_exit 1 "cannot listen on 127.0.0.1:$port" --checkpoint "$work/checkpoint.h5" --port "$port"

# Load from another process: every answer 200 and the same.
"$SERVE_BIN/dpmnist-serve-load" --port "$port" --image "$work/seven.png" -c 4 -d 2 | tee "$work/load"
"$SERVE_BIN/dpmnist-serve-load" --port "$port" --image "$work/zero.png" -c 6 -n 300 -d 60 | tee -a "$work/load"
grep -q "errors=0 " "$work/load" || fail "load with errors"
http_get /healthz | grep -q '"status":"ok"' || fail "GET /healthz after the load"

status=0
stop_server TERM || status=$?
[ "$status" = 0 ] || { cat "$work/server.log"; fail "SIGTERM: exit $status, expected 0"; }
grep -q "stopped by SIGTERM" "$work/server.log" || fail "no 'stopped by SIGTERM' line"
grep "stopped by" "$work/server.log"

start_server "$work/server2.log" --checkpoint "$work/checkpoint.h5"
http_get /healthz > /dev/null
status=0
stop_server INT || status=$?
[ "$status" = 0 ] || { cat "$work/server2.log"; fail "SIGINT: exit $status, expected 0"; }
grep -q "stopped by SIGINT" "$work/server2.log" || fail "no 'stopped by SIGINT' line"
SERVER_PID=
echo "serve process test passed"
