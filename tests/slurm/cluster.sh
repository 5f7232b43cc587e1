#!/usr/bin/env bash
# A private one-node SLURM (munged, slurmctld, slurmd) whose every file lives
# under one directory, on loopback ports picked free at start. It never reads or
# writes /etc/slurm or /etc/munge and never uses systemd or init scripts.
#   tests/slurm/cluster.sh start DIR [CPUS]   prints the SLURM_CONF line to export
#   tests/slurm/cluster.sh stop DIR           stops the daemons by the PIDs it recorded
# SLURM_TEST_MPI_DEFAULT sets MpiDefault (default none, as SLURM ships; or pmix).
# Sourced (as run_slurm_tests.sh does), it only defines cluster_start DIR CPUS
# and cluster_stop DIR; then a detached watcher stops the cluster if the sourcing
# shell dies without doing so (a CTest timeout kills it), so nothing outlives it.
# Every daemon, and every slurmstepd they fork, carries DPMNIST_TEST_CLUSTER=DIR
# in its environment: that marker, not a process name, finds what is left over.
# Needs root (slurmd starts job steps as their owner) and the Debian packages
# slurmctld slurmd slurm-client munge (tools/install_deps.sh --tests).

cluster_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

cluster_say() { echo "[cluster] $*" >&2; }

# true if something listens on 127.0.0.1:$1
cluster_port_in_use() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# cluster_wait SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds
cluster_wait() {
  local limit=$1 t0=$SECONDS
  shift
  until "$@" > /dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt "$limit" ] || return 1
    sleep 0.2
  done
}

cluster_log_tail() {
  local f
  for f in "$1"/log/*; do
    [ -s "$f" ] || continue
    echo "---- last lines of $f" >&2
    tail -n 15 "$f" >&2
  done
}

# cluster_daemon DIR NAME COMMAND...: in the background with the marker,
# output to log/NAME.out, PID to pids/NAME
cluster_daemon() {
  local dir=$1 name=$2
  shift 2
  DPMNIST_TEST_CLUSTER=$dir "$@" < /dev/null > "$dir/log/$name.out" 2>&1 &
  echo $! > "$dir/pids/$name"
}

# cluster_sweep DIR: KILLs what the cluster left behind and all descendants:
# the daemons (they carry DPMNIST_TEST_CLUSTER=DIR in their environment) and
# any slurmstepd whose job outlived slurmd (its environment is blank, but it
# holds a unix socket under DIR/spool).
cluster_sweep() {
  local dir=$1 e pid ppid line roots=() all inode inodes
  for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}
    pid=${pid%/environ}
    if tr '\0' '\n' 2> /dev/null < "$e" | grep -qxF "DPMNIST_TEST_CLUSTER=$dir"; then
      roots+=("$pid")
    fi
  done
  inodes=$(awk -v d="$dir/" 'index($8, d) == 1 { print $7 }' /proc/net/unix)
  for inode in $inodes; do
    while read -r e; do
      pid=${e#/proc/}
      roots+=("${pid%%/*}")
    done < <(find /proc/[0-9]*/fd -lname "socket:\[$inode\]" 2> /dev/null)
  done
  [ ${#roots[@]} -gt 0 ] || return 0
  # pid and parent pid of every process, from /proc (procps may be absent);
  # the parent is the 2nd field after the command name's closing parenthesis
  all=$(for e in /proc/[0-9]*/stat; do
    line=$(cat "$e" 2> /dev/null) || continue
    read -r _ ppid _ <<< "${line##*) }"
    pid=${e#/proc/}
    echo "${pid%/stat} $ppid"
  done | awk -v roots="${roots[*]}" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
    { parent[$1] = $2 }
    END {
      do { grew = 0
           for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 }
      } while (grew)
      for (p in keep) print p
    }')
  cluster_say "killing what the test cluster left running:"
  for pid in $all; do
    echo "  $pid $(tr '\0' ' ' 2> /dev/null < "/proc/$pid/cmdline")" >&2
  done
  # shellcheck disable=SC2086
  kill -KILL $all 2> /dev/null || true
}

# cluster_watch DIR OWNER_PID: runs detached; once OWNER_PID is gone, stops the
# cluster unless its owner already did (pids/ removed).
cluster_watch() {
  local dir=$1 owner=$2
  while [ -d "$dir/pids" ] && kill -0 "$owner" 2> /dev/null; do sleep 1; done
  if [ -d "$dir/pids" ]; then
    cluster_say "owner $owner ended without stopping the cluster: stopping it"
    cluster_stop "$dir"
  fi
}

# cluster_start DIR CPUS: returns non-zero with the reason on stderr (and
# whatever it started stopped again) if any daemon does not come up.
cluster_start() {
  local dir=$1 cpus=$2 host ctld_port slurmd_port need
  if [ "$(id -u)" != 0 ]; then
    cluster_say "error: must run as root (slurmd starts job steps as their owner); uid is $(id -u)"
    return 1
  fi
  # Debian puts the daemons in /usr/sbin, which a non-login PATH may lack
  case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac
  for need in munged mungekey slurmctld slurmd sbatch srun scontrol squeue sinfo scancel setsid; do
    if ! command -v "$need" > /dev/null; then
      cluster_say "error: '$need' not found; install the packages: bash tools/install_deps.sh --tests" \
        "(apt-get install slurmctld slurmd slurm-client munge)"
      return 1
    fi
  done
  if [ -e "$dir/pids" ]; then
    cluster_say "error: $dir already holds a cluster (pids/); stop it or use a new directory"
    return 1
  fi
  mkdir -p "$dir"/{munge,state,spool,log,pids,tmp}
  # munged refuses a socket directory others can write; clients must reach it
  chmod 0755 "$dir" "$dir/munge"
  chmod 1777 "$dir/tmp"
  chmod 0700 "$dir/state" "$dir/spool"

  if ! mungekey -c -k "$dir/munge/munge.key" > "$dir/log/mungekey.out" 2>&1; then
    cluster_say "error: mungekey -c failed: $(cat "$dir/log/mungekey.out")"
    return 1
  fi
  chmod 0600 "$dir/munge/munge.key"
  if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # sourced: a watcher outside this process tree, so a kill of the tree spares it
    (setsid bash "${BASH_SOURCE[0]}" watch "$dir" $$ < /dev/null > "$dir/log/watch.out" 2>&1 &
      echo $! > "$dir/watch.pid")
  fi
  cluster_daemon "$dir" munged munged -F --force --socket="$dir/munge/munge.socket" \
    --key-file="$dir/munge/munge.key" --log-file="$dir/log/munged.log" \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed"
  if ! cluster_wait 15 test -S "$dir/munge/munge.socket"; then
    cluster_log_tail "$dir"
    cluster_say "error: munged did not create its socket $dir/munge/munge.socket within 15 s"
    cluster_stop "$dir"
    return 1
  fi

  host=$(hostname -s)
  for _ in $(seq 1 50); do
    ctld_port=$((20000 + (RANDOM % 6000) * 2))
    slurmd_port=$((ctld_port + 1))
    cluster_port_in_use "$ctld_port" || cluster_port_in_use "$slurmd_port" || break
  done
  : > "$dir/plugstack.conf"
  sed -e "s|@DIR@|$dir|g" -e "s|@HOST@|$host|g" -e "s|@CTLD_PORT@|$ctld_port|g" \
    -e "s|@SLURMD_PORT@|$slurmd_port|g" -e "s|@CPUS@|$cpus|g" \
    -e "s|@MPI_DEFAULT@|${SLURM_TEST_MPI_DEFAULT:-none}|g" \
    "$cluster_here/slurm.conf.in" > "$dir/slurm.conf"
  export SLURM_CONF=$dir/slurm.conf

  cluster_daemon "$dir" slurmctld slurmctld -D -f "$SLURM_CONF"
  if ! cluster_wait 30 bash -c 'scontrol ping | grep -q "is UP"'; then
    cluster_log_tail "$dir"
    cluster_say "error: slurmctld did not answer 'scontrol ping' within 30 s (port $ctld_port)"
    cluster_stop "$dir"
    return 1
  fi
  cluster_daemon "$dir" slurmd slurmd -D -f "$SLURM_CONF"
  if ! cluster_wait 30 bash -c "[ \"\$(sinfo -h -n $host -o %T)\" = idle ]"; then
    cluster_log_tail "$dir"
    sinfo -N -l >&2 || true
    cluster_say "error: node $host did not become idle within 30 s (slurmd port $slurmd_port)"
    cluster_stop "$dir"
    return 1
  fi
  cluster_say "up: node $host ($cpus CPUs declared), slurmctld 127.0.0.1:$ctld_port," \
    "slurmd 127.0.0.1:$slurmd_port, SLURM_CONF=$SLURM_CONF"
}

# cluster_stop DIR: cancels the cluster's jobs (bounded wait), then stops
# slurmd, slurmctld and munged by their recorded PIDs: TERM, KILL after 10 s.
cluster_stop() {
  local dir=$1 name pid t0 jobs
  [ -d "$dir/pids" ] || return 0
  if [ -f "$dir/pids/slurmctld" ] && [ -f "$dir/slurm.conf" ]; then
    jobs=$(SLURM_CONF=$dir/slurm.conf timeout 10 squeue -h -o %i 2> /dev/null) || jobs=
    if [ -n "$jobs" ]; then
      cluster_say "cancelling jobs still queued or running: ${jobs//$'\n'/ }"
      # shellcheck disable=SC2086
      SLURM_CONF=$dir/slurm.conf timeout 10 scancel $jobs 2> /dev/null || true
      # shellcheck disable=SC2016 # expanded by the inner bash, each poll
      SLURM_CONF=$dir/slurm.conf cluster_wait 30 bash -c '[ -z "$(squeue -h -o %i)" ]' ||
        cluster_say "jobs still listed after 30 s: stopping the daemons anyway"
    fi
  fi
  for name in slurmd slurmctld munged; do
    pid=$(cat "$dir/pids/$name" 2> /dev/null) || continue
    if kill -0 "$pid" 2> /dev/null; then
      kill -TERM "$pid" 2> /dev/null || true
      t0=$SECONDS
      while kill -0 "$pid" 2> /dev/null && [ $((SECONDS - t0)) -lt 10 ]; do sleep 0.2; done
      if kill -0 "$pid" 2> /dev/null; then
        cluster_say "$name (pid $pid) still running 10 s after TERM: KILL"
        kill -KILL "$pid" 2> /dev/null || true
      fi
      wait "$pid" 2> /dev/null || true
    fi
    rm -f "$dir/pids/$name"
  done
  cluster_sweep "$dir"
  rmdir "$dir/pids" 2> /dev/null || true
  pid=$(cat "$dir/watch.pid" 2> /dev/null) || pid=
  if [ -n "$pid" ] && [ "$pid" != $$ ]; then
    kill -TERM "$pid" 2> /dev/null || true
  fi
  rm -f "$dir/watch.pid"
  cluster_say "stopped munged, slurmctld, slurmd (files in $dir)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  if [ $# -lt 2 ]; then
    sed -n '2,11p' "$0" >&2
    exit 2
  fi
  mkdir -p "$2"
  cluster_dir=$(cd "$2" && pwd)
  case $1 in
    start)
      cluster_start "$cluster_dir" "${3:-8}"
      echo "export SLURM_CONF=$cluster_dir/slurm.conf"
      ;;
    stop) cluster_stop "$cluster_dir" ;;
    watch) cluster_watch "$cluster_dir" "$3" ;;
    *)
      cluster_say "error: unknown action '$1' (start or stop)"
      exit 2
      ;;
  esac
fi
