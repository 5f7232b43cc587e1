#!/usr/bin/env bash
# Starts and stops a private one-node SLURM (munged, slurmctld, slurmd) whose
# every file lives under DIR, on loopback ports picked free at start. It never
# reads or writes /etc/slurm or /etc/munge and never uses systemd or init scripts.
#   tests/slurm/cluster.sh start DIR [CPUS]   prints the SLURM_CONF line to export
#   tests/slurm/cluster.sh stop DIR           stops the daemons by the PIDs it recorded
# Needs root (slurmd launches jobs as their owner) and the Debian packages
# slurmctld slurmd slurm-client munge (tools/install_deps.sh --tests).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
say() { echo "[cluster] $*" >&2; }
die() { say "error: $*"; exit 1; }

# true if something listens on 127.0.0.1:$1
port_in_use() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# Two free consecutive-free ports below the kernel's ephemeral range (32768+).
pick_ports() {
  local p tries
  for tries in $(seq 1 50); do
    p=$((20000 + (RANDOM % 6000) * 2))
    if ! port_in_use "$p" && ! port_in_use $((p + 1)); then
      echo "$p $((p + 1))"
      return 0
    fi
  done
  die "no free port pair found in 20000-32000 after 50 tries"
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s
wait_for() {
  local limit=$1 what=$2 t0=$SECONDS
  shift 2
  until "$@" > /dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt "$limit" ] || return 1
    sleep 0.2
  done
}

log_tail() {
  local f
  for f in "$dir"/log/*.log; do
    [ -s "$f" ] || continue
    echo "---- last lines of $f" >&2
    tail -n 15 "$f" >&2
  done
}

# pid_alive NAME: the daemon we recorded as NAME still runs
pid_alive() {
  local pid
  pid=$(cat "$dir/pids/$1" 2> /dev/null) || return 1
  kill -0 "$pid" 2> /dev/null
}

start_daemon() { # NAME COMMAND...: in the background, output to log/NAME.out
  local name=$1
  shift
  "$@" < /dev/null > "$dir/log/$name.out" 2>&1 &
  echo $! > "$dir/pids/$name"
}

cluster_start() {
  local cpus=$1 host ctld_port slurmd_port need
  [ "$(id -u)" = 0 ] || die "must run as root (slurmd starts job steps as their owner); got uid $(id -u)"
  for need in munged mungekey slurmctld slurmd sbatch srun scontrol sinfo; do
    command -v "$need" > /dev/null ||
      die "'$need' not found: install the Debian packages with: bash tools/install_deps.sh --tests" \
        "(or apt-get install slurmctld slurmd slurm-client munge)"
  done
  [ ! -e "$dir/pids" ] || die "$dir already holds a cluster (pids/); stop it or use a new directory"
  # a start that fails half-way stops what it had started
  trap '[ -n "${started:-}" ] || cluster_stop' EXIT
  mkdir -p "$dir"/{munge,state,spool,log,pids,tmp}
  # munged refuses a socket directory that others can write; clients must reach it
  chmod 0755 "$dir" "$dir/munge"
  chmod 0700 "$dir/state" "$dir/spool"

  mungekey -c -k "$dir/munge/munge.key" > "$dir/log/mungekey.out" 2>&1 ||
    die "mungekey -c failed: $(cat "$dir/log/mungekey.out")"
  chmod 0600 "$dir/munge/munge.key"
  start_daemon munged munged -F --force --socket="$dir/munge/munge.socket" \
    --key-file="$dir/munge/munge.key" --log-file="$dir/log/munged.log" \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed"
  if ! wait_for 15 munged test -S "$dir/munge/munge.socket"; then
    log_tail
    die "munged did not create its socket $dir/munge/munge.socket within 15 s"
  fi

  host=$(hostname -s)
  read -r ctld_port slurmd_port < <(pick_ports)
  : > "$dir/plugstack.conf"
  sed -e "s|@DIR@|$dir|g" -e "s|@HOST@|$host|g" -e "s|@CTLD_PORT@|$ctld_port|g" \
    -e "s|@SLURMD_PORT@|$slurmd_port|g" -e "s|@CPUS@|$cpus|g" \
    "$here/slurm.conf.in" > "$dir/slurm.conf"
  export SLURM_CONF=$dir/slurm.conf

  start_daemon slurmctld slurmctld -D -f "$SLURM_CONF"
  if ! wait_for 30 slurmctld bash -c 'scontrol ping | grep -q "is UP"'; then
    log_tail
    die "slurmctld did not answer 'scontrol ping' within 30 s (port $ctld_port)"
  fi
  start_daemon slurmd slurmd -D -f "$SLURM_CONF"
  if ! wait_for 30 slurmd bash -c '[ "$(sinfo -h -n '"$host"' -o %T)" = idle ]'; then
    log_tail
    sinfo -N -l >&2 || true
    die "node $host did not become idle within 30 s"
  fi
  started=1
  say "up: $host, $cpus CPUs, slurmctld :$ctld_port, slurmd :$slurmd_port, files in $dir"
  echo "export SLURM_CONF=$SLURM_CONF"
}

# Stops what cluster_start recorded, slurmd first (it ends running job steps),
# each by its PID: TERM, then KILL after 10 s.
cluster_stop() {
  local name pid t0
  [ -d "$dir/pids" ] || { say "no cluster recorded in $dir"; return 0; }
  for name in slurmd slurmctld munged; do
    pid=$(cat "$dir/pids/$name" 2> /dev/null) || continue
    if kill -0 "$pid" 2> /dev/null; then
      kill -TERM "$pid" 2> /dev/null || true
      t0=$SECONDS
      while kill -0 "$pid" 2> /dev/null && [ $((SECONDS - t0)) -lt 10 ]; do sleep 0.2; done
      if kill -0 "$pid" 2> /dev/null; then
        say "$name (pid $pid) ignored TERM for 10 s: KILL"
        kill -KILL "$pid" 2> /dev/null || true
      fi
    fi
    rm -f "$dir/pids/$name"
  done
  rmdir "$dir/pids" 2> /dev/null || true
  say "stopped (files left in $dir)"
}

[ $# -ge 2 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
case $action in
  start) cluster_start "${3:-8}" ;;
  stop) cluster_stop ;;
  *) die "unknown action '$action' (start or stop)" ;;
esac
