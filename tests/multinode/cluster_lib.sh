# An emulated cluster on one machine, for the multi-node tests: each host is a
# network namespace with its own hostname, a veth pair into one bridge (in a
# namespace of its own, so the machine's own network is never touched), and
# an address 10.77.0.K/24. Open MPI reaches the hosts through an rsh agent
# that enters the host's namespace; mpirun itself runs inside the first host.
# Sourced by tests/multinode/*.sh; needs root (ip netns), iproute2, unshare.
#   cluster_up 2            hosts PREFIX1, PREFIX2 (PREFIX=mh unless CLUSTER_PREFIX)
#   cluster_mpirun "mh1:1,mh2:1" ARGS...    mpirun across them (inside mh1)
#   cluster_down            removes every namespace and file it made (call it
#                           from the caller's EXIT trap)

CLUSTER_PREFIX=${CLUSTER_PREFIX:-dpmh}
CLUSTER_HOSTS=()
CLUSTER_DIR=""

cluster_fail() { echo "cluster: $*" >&2; return 1; }

cluster_up() {
  local count=$1 k
  [ "$(id -u)" = 0 ] || cluster_fail "needs root (ip netns)" || return 1
  CLUSTER_DIR=$(mktemp -d /tmp/dpmnist-cluster.XXXXXX)
  local switch=${CLUSTER_PREFIX}sw
  ip netns add "$switch"
  ip -n "$switch" link add br0 type bridge
  ip -n "$switch" link set br0 up
  for k in $(seq 1 "$count"); do
    local host=$CLUSTER_PREFIX$k
    ip netns add "$host"
    ip link add "${host}e" type veth peer name "${host}p"
    ip link set "${host}e" netns "$host"
    ip link set "${host}p" netns "$switch"
    ip -n "$host" link set "${host}e" name eth0
    ip -n "$host" addr add "10.77.0.$k/24" dev eth0
    ip -n "$host" link set eth0 up
    ip -n "$host" link set lo up
    ip -n "$switch" link set "${host}p" master br0
    ip -n "$switch" link set "${host}p" up
    CLUSTER_HOSTS+=("$host")
  done
  # Each host resolves every host (ip netns exec bind-mounts /etc/netns/NAME/hosts).
  for host in "${CLUSTER_HOSTS[@]}"; do
    mkdir -p "/etc/netns/$host"
    { echo "127.0.0.1 localhost"
      for k in $(seq 1 "$count"); do echo "10.77.0.$k $CLUSTER_PREFIX$k"; done; } > "/etc/netns/$host/hosts"
  done
  # The rsh agent: Open MPI calls it as AGENT [options] HOST COMMAND...
  cat > "$CLUSTER_DIR/agent" <<'AGENT'
#!/bin/bash
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
host=$1; shift
exec ip netns exec "$host" unshare --uts bash -c "hostname $host; exec $*"
AGENT
  chmod +x "$CLUSTER_DIR/agent"
}

cluster_down() {
  local host
  for host in "${CLUSTER_HOSTS[@]}"; do
    ip netns pids "$host" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$host" 2>/dev/null
    rm -rf "/etc/netns/$host"
  done
  ip netns del "${CLUSTER_PREFIX}sw" 2>/dev/null
  [ -n "$CLUSTER_DIR" ] && rm -rf "$CLUSTER_DIR"
  CLUSTER_HOSTS=()
  return 0
}

# cluster_mpirun HOSTS ARGS...: HOSTS as Open MPI's --host (mh1:2,mh2:1).
# Binding off: every namespace believes it owns core 0.
cluster_mpirun() {
  local hosts=$1; shift
  local first=${hosts%%:*}; first=${first%%,*}
  ip netns exec "$first" unshare --uts bash -c 'hostname "$0"; exec "$@"' "$first" \
    mpirun --allow-run-as-root --oversubscribe --bind-to none --host "$hosts" \
    --mca plm_rsh_agent "$CLUSTER_DIR/agent" \
    --mca btl tcp,self,vader --mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0 \
    -x OPENBLAS_NUM_THREADS=1 "$@"
}
