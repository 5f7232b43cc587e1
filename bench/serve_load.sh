#!/usr/bin/env bash
# Load benchmark of dpmnist-serve: starts it on a free loopback port, then
# dpmnist-serve-load (another process) POSTs a 280x280 PNG like the page's pad
# to /api/predict from C keep-alive connections for SECONDS_EACH seconds, for
# each C in CONNECTIONS; prints throughput, latency percentiles and errors,
# and stops the server with SIGTERM. Exits 1 on any error.
#   bash bench/serve_load.sh [CHECKPOINT]     (default runs/seed/checkpoint.h5, else
#                                              a Glorot checkpoint: speed is the same)
#   CONNECTIONS="1 4 8 16" SECONDS_EACH=10 THREADS=16 BIN=build/bin IMAGE=file.png
# Client and server share the machine's cores: the figures are for both together.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
CONNECTIONS=${CONNECTIONS:-1 4 8 16}
SECONDS_EACH=${SECONDS_EACH:-10}
THREADS=${THREADS:-16}
SERVE_BIN=$BIN
source tests/serve/serve_lib.sh
for tool in dpmnist-serve dpmnist-serve-load make_serve_fixtures; do
  [ -x "$BIN/$tool" ] || { echo "no $BIN/$tool: build first (cmake --build build)" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/dpmnist-serve-load.XXXXXX")
cleanup() {
  [ -n "${SERVER_PID:-}" ] && kill -KILL "$SERVER_PID" 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$BIN/make_serve_fixtures" "$work"
checkpoint=${1:-runs/seed/checkpoint.h5}
[ -f "$checkpoint" ] || checkpoint=$work/checkpoint.h5
image=${IMAGE:-$work/pad_seven.png}
for c in $CONNECTIONS; do
  [ "$c" -le "$THREADS" ] || { echo "CONNECTIONS $c > THREADS $THREADS: keep-alive connections beyond the pool wait" >&2; exit 1; }
done

echo "machine: $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(uname -r)"
start_server "$work/server.log" --checkpoint "$checkpoint" --threads "$THREADS"
head -1 "$work/server.log"
echo "image: $image ($(stat -c %s "$image") bytes), $SECONDS_EACH s per row, server --threads $THREADS"
echo
echo "| connections | requests | errors | requests/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|"
errors=0
for c in $CONNECTIONS; do
  status=0
  "$BIN/dpmnist-serve-load" --port "$SERVER_PORT" --image "$image" -c "$c" -d "$SECONDS_EACH" \
    > "$work/load.$c" 2>&1 || status=$?
  line=$(grep '^RESULT' "$work/load.$c" || true)
  if [ -z "$line" ]; then
    cat "$work/load.$c" >&2
    errors=1
    continue
  fi
  [ "$status" = 0 ] || errors=1
  eval "$(echo "${line#RESULT }" | tr ' ' '\n' | sed 's/^/r_/')"
  echo "| $r_connections | $r_requests | $r_errors | $r_rps | $r_p50_ms | $r_p99_ms |"
done
echo
status=0
stop_server TERM || status=$?
SERVER_PID=
tail -1 "$work/server.log"
[ "$status" = 0 ] || { echo "dpmnist-serve exited $status on SIGTERM" >&2; exit 1; }
exit $errors
