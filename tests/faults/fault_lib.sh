# Sourced by the fault tests (bin and src set first). Sets work (a temporary
# folder removed at exit, with any process still running from it), mpi (the
# mpirun command line for this user), failures; defines fail, weights and
# visit_counts.
work=$(mktemp -d "${TMPDIR:-/tmp}/dpmnist-$(basename "$0" .sh).XXXXXX")
trap 'pkill -9 -f "$work" 2>/dev/null; rm -rf "$work"' EXIT
mpi=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
export OPENBLAS_NUM_THREADS=1
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# weights RUN_DIR: the FNV-1a hash of RUN_DIR/checkpoint.h5's weights.
weights() {
  "$bin/dpmnist-eval" --checkpoint "$1/checkpoint.h5" --data "$work/data.h5" --json 2>/dev/null |
    sed -n 's/.*"weights_fnv1a": *"\([0-9a-f]*\)".*/\1/p'
}

# visit_counts PREFIX EPOCH DIGITS: over the trace files PREFIX.* that
# dpmnist-train writes under DPMNIST_TRACE_ROWS=PREFIX (lines "epoch
# global_step row..."), prints "once never twice": how many of the DIGITS
# training rows were trained once, never, and more than once (rows outside
# [0, DIGITS) count as more than once) in EPOCH.
visit_counts() {
  cat "$1".* | awk -v epoch="$2" -v n="$3" '
    $1 == epoch { for (i = 3; i <= NF; ++i) ++seen[$i] }
    END { for (d = 0; d < n; ++d) { if (seen[d] == 1) ++once; else if (seen[d] + 0 == 0) ++never; else ++twice }
          for (d in seen) if (d + 0 < 0 || d + 0 >= n) ++twice
          printf "%d %d %d\n", once, never, twice }'
}
