# Sourced by the fault tests. visit_counts PREFIX EPOCH DIGITS: over the trace
# files PREFIX.* that dpmnist-train writes under DPMNIST_TRACE_ROWS=PREFIX
# (lines "epoch global_step row..."), prints "once never twice": how many of
# the DIGITS training rows were trained once, never, and more than once (rows
# outside [0, DIGITS) count as more than once) in EPOCH.
visit_counts() {
  cat "$1".* | awk -v epoch="$2" -v n="$3" '
    $1 == epoch { for (i = 3; i <= NF; ++i) ++seen[$i] }
    END { for (d = 0; d < n; ++d) { if (seen[d] == 1) ++once; else if (seen[d] + 0 == 0) ++never; else ++twice }
          for (d in seen) if (d + 0 < 0 || d + 0 >= n) ++twice
          printf "%d %d %d\n", once, never, twice }'
}
