#!/usr/bin/env bash
# Does dpmnist find this machine's speed by itself? The seed model trained at
# NP ranks (default 1) three ways, interleaved over ROUNDS rounds (default 3):
#   plain     launched as a user would, no OPENBLAS_CORETYPE in the environment
#             (dpmnist re-executes with a better core where OpenBLAS fell back,
#             and flushes denormals)
#   tuned     OPENBLAS_CORETYPE set by hand to the best core for this CPU and
#             FTZ/DAZ set from an LD_PRELOAD constructor: the hand-tuned bound
#   no-flush  plain with --runtime.flush_denormals=false: what flushing buys
#   fallback  plain as if OpenBLAS had picked Prescott (the Intel Emerald Rapids
#             case; DPMNIST_FAULT_OPENBLAS_PICKED): dpmnist re-executes itself
# Prints s/epoch (training, mean of epochs 2..E, fastest round) per way and
# plain / tuned (the goal: within 1.15). Files in runs/portability/<date-time>/.
#   bash bench/portability.sh          NP=2 ROUNDS=5 bash bench/portability.sh
set -euo pipefail
cd "$(dirname "$0")/.."
np=${NP:-1}; rounds=${ROUNDS:-3}; epochs=${EPOCHS:-5}
out=runs/portability/$(date +%Y%m%d-%H%M%S)
bin=${DPMNIST_BIN:-build/bin}
mkdir -p "$out"
flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
best=Prescott
has avx2 fma && best=Haswell
has avx512f avx512cd avx512bw avx512dq avx512vl && best=SkylakeX
# The hand-tuned bound's FTZ/DAZ: a constructor run before main().
cat > "$out/ftz.c" <<'C'
#include <xmmintrin.h>
__attribute__((constructor)) static void ftz(void) { _mm_setcsr(_mm_getcsr() | 0x8040); }
C
cc -O2 -shared -fPIC -o "$out/ftz.so" "$out/ftz.c"
train=(bash launch/train.sh "$np" --config configs/seed.ini --data data/mnist.h5
       --train.epochs="$epochs" --output.progress_seconds=0)
for r in $(seq "$rounds"); do
  for way in plain tuned no-flush fallback; do
    case $way in
      plain) env -u OPENBLAS_CORETYPE -u DPMNIST_OPENBLAS_PICKED "${train[@]}" --out "$out/$way-r$r" ;;
      tuned) OPENBLAS_CORETYPE=$best LD_PRELOAD=$PWD/$out/ftz.so "${train[@]}" --out "$out/$way-r$r" ;;
      no-flush) env -u OPENBLAS_CORETYPE -u DPMNIST_OPENBLAS_PICKED "${train[@]}" --out "$out/$way-r$r" \
                  --runtime.flush_denormals=false ;;
      fallback) env -u OPENBLAS_CORETYPE -u DPMNIST_OPENBLAS_PICKED DPMNIST_FAULT_OPENBLAS_PICKED=Prescott \
                  "${train[@]}" --out "$out/$way-r$r" ;;
    esac > "$out/$way-r$r.log" 2>&1 || { cat "$out/$way-r$r.log"; exit 1; }
  done
done
seconds() {  # fastest round's mean s/epoch over epochs 2..E, and its range
  for r in $(seq "$rounds"); do
    awk -F, 'NR > 2 { s += $6; n++ } END { printf "%.4f\n", s / n }' "$out/$1-r$r/metrics.csv"
  done | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s %s-%s\n", lo, lo, hi }'
}
echo "| way | runtime (from the banner) | s/epoch | range over $rounds rounds | test accuracy |"
echo "|---|---|---|---|---|"
for way in plain tuned no-flush fallback; do
  read -r s range < <(seconds $way)
  acc=$(awk -F, 'END { printf "%.4f", $5 }' "$out/$way-r1/metrics.csv")
  echo "| $way | $(sed -n 's/^ *runtime: //p' "$out/$way-r1.log" | head -1) | $s | $range | $acc |"
  eval "s_${way//-/_}=$s"
done
echo
echo "np=$np: plain / tuned = $(awk "BEGIN { printf \"%.3f\", $s_plain / $s_tuned }") (goal <= 1.15);" \
  "fallback / tuned = $(awk "BEGIN { printf \"%.3f\", $s_fallback / $s_tuned }");" \
  "no-flush / plain = $(awk "BEGIN { printf \"%.3f\", $s_no_flush / $s_plain }")"
