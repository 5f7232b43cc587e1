# Shell helpers for the dpmnist-serve scripts (sourced): start a server on a
# free loopback port and wait for it, fetch a path without curl, stop it; a
# test's temporary folder and fail.

# start_server LOG ARGS...: starts dpmnist-serve --port 0 ARGS in the background;
# sets SERVER_PID and SERVER_PORT once it listens (fails after 60 s).
start_server() {
  local log=$1
  shift
  # The background job opens $log itself, possibly after the first sed below:
  # create it here so that sed always has a file to read.
  : > "$log"
  "$SERVE_BIN/dpmnist-serve" --port 0 "$@" >> "$log" 2>&1 &
  SERVER_PID=$!
  SERVER_PORT=
  for _ in $(seq 600); do
    SERVER_PORT=$(sed -n 's|.*listening on http://[^:]*:\([0-9]*\)/.*|\1|p' "$log" || true)
    [ -n "$SERVER_PORT" ] && return 0
    kill -0 "$SERVER_PID" 2> /dev/null || { cat "$log" >&2; echo "dpmnist-serve exited early" >&2; return 1; }
    sleep 0.1
  done
  echo "dpmnist-serve did not start listening in 60 s" >&2
  return 1
}

# http_get PATH: prints the raw HTTP reply of GET PATH from the started server.
http_get() {
  exec 9<> "/dev/tcp/127.0.0.1/$SERVER_PORT"
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$1" >&9
  cat <&9
  exec 9>&-
}

# stop_server SIGNAL: sends it and waits (at most 20 s); returns the exit status.
stop_server() {
  kill "-$1" "$SERVER_PID"
  for _ in $(seq 200); do
    kill -0 "$SERVER_PID" 2> /dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2> /dev/null; then
    echo "dpmnist-serve still running 20 s after SIG$1" >&2
    kill -KILL "$SERVER_PID"
  fi
  local status=0
  wait "$SERVER_PID" || status=$?
  return $status
}

# serve_test_work NAME: sets work (a temporary folder) and an exit trap that
# kills a started server and removes work; defines fail (message, exit 1).
serve_test_work() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/dpmnist-serve-$1.XXXXXX")
  trap 'if [ -n "${SERVER_PID:-}" ]; then kill -KILL "$SERVER_PID" 2> /dev/null || true; fi; rm -rf "$work"' EXIT
}
fail() { echo "FAIL: $*" >&2; exit 1; }
