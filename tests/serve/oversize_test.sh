#!/usr/bin/env bash
# dpmnist-serve under oversized uploads, as curl sends them: CLIENTS concurrent
# chunked uploads of MB megabytes each (default 20 x 300 MB, streamed from
# /dev/zero by curl -T -) and sized ones that declare 100 MB. Each must get a JSON 413
# without the server reading the body to its end; the server's peak memory
# (VmHWM) may grow by at most what its worker threads can hold: each reads at
# most --max-body-mb of one body into one buffer of that size, so threads x
# limit (plus 16 MB for httplib's buffers, thread stacks and the allocator).
# Then it must still answer /healthz. Prints the figures.
#   tests/serve/oversize_test.sh BUILD_BIN [CLIENTS] [MB]
set -euo pipefail
SERVE_BIN=$1
clients=${2:-20}
megabytes=${3:-300}
threads=4
limit_mb=8
source "$(dirname "$0")/serve_lib.sh"
serve_test_work oversize
command -v curl > /dev/null || fail "curl is needed (bash tools/install_deps.sh --tests)"
peak_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SERVER_PID/status"; }

"$SERVE_BIN/make_serve_fixtures" "$work" > /dev/null
start_server "$work/server.log" --checkpoint "$work/checkpoint.h5" --threads $threads \
  --max-body-mb $limit_mb
url=http://127.0.0.1:$SERVER_PORT/api/predict
# One good upload first, chunked: the limit must not refuse small bodies.
code=$(curl -s -o "$work/good.json" -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
  -H 'Content-Type: image/png' --data-binary @"$work/pad_seven.png" "$url")
[ "$code" = 200 ] && grep -q '"no_digit":false' "$work/good.json" || fail "a small chunked upload got $code: $(cat "$work/good.json")"
idle=$(peak_kb)

start=$(date +%s.%N)
uploads=()
for i in $(seq "$clients"); do
  head -c $((megabytes * 1000000)) /dev/zero |
    curl -s -o "$work/reply$i.json" -w '%{http_code} %{time_total}\n' --max-time 120 \
      -H 'Transfer-Encoding: chunked' -H 'Content-Type: image/png' -X POST -T - "$url" \
      > "$work/status$i" 2> /dev/null &
  uploads+=($!)
done
wait "${uploads[@]}" || true  # curl exits 55 when the server closes while it still sends
took=$(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $start }")
refused=0
slowest=0
for i in $(seq "$clients"); do
  read -r code seconds < "$work/status$i"
  [ "$code" = 413 ] && grep -q '"status":413' "$work/reply$i.json" && refused=$((refused + 1)) ||
    echo "upload $i: HTTP $code: $(cat "$work/reply$i.json" 2> /dev/null)" >&2
  slowest=$(awk "BEGIN { print ($seconds > $slowest) ? $seconds : $slowest }")
done
peak=$(peak_kb)
bound=$((threads * limit_mb * 1024 + 16 * 1024))
echo "$clients concurrent chunked uploads of $megabytes MB: $refused answered 413 (slowest after ${slowest} s, all in $took s)"
echo "server peak memory (VmHWM): $((idle / 1024)) MB before, $((peak / 1024)) MB after; allowed growth $((bound / 1024)) MB ($threads threads x $limit_mb MB + 16 MB)"
[ "$refused" = "$clients" ] || fail "$((clients - refused)) of $clients oversized uploads were not refused with 413"
[ $((peak - idle)) -le $bound ] || fail "peak memory grew by $(((peak - idle) / 1024)) MB, more than $((bound / 1024)) MB"

# A declared length over the limit: 413 at once, without waiting for the body.
read -r code seconds < <(curl -s -o "$work/sized.json" -w '%{http_code} %{time_total}\n' --max-time 30 \
  -H 'Content-Length: 100000000' -H 'Content-Type: image/png' --data-binary 'abc' "$url" || true)
echo "Content-Length: 100000000 with a 3-byte body: HTTP $code after $seconds s: $(cat "$work/sized.json")"
[ "$code" = 413 ] || fail "a declared 100 MB body got $code"
awk "BEGIN { exit !($seconds < 2) }" || fail "the 413 for a declared 100 MB body took $seconds s (it must not wait for the body)"
# A chunked body on another route: 411, never buffered.
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary 'abc' \
  "http://127.0.0.1:$SERVER_PORT/elsewhere")
[ "$code" = 411 ] || fail "a chunked body on /elsewhere got $code, expected 411"
http_get /healthz | grep -q '"status":"ok"' || fail "no /healthz after the uploads"
stop_server TERM || fail "dpmnist-serve did not exit cleanly on SIGTERM after the uploads"
SERVER_PID=
echo "oversized uploads: all refused, memory bounded, server healthy"
