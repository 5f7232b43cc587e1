#!/usr/bin/env bash
# Every figure the README and docs/ quote, measured again from the current
# code on this machine. Each part runs the script that made its figures; every
# output names the machine it came from (CPU, OpenBLAS core, denormal flush,
# MPI library). Parts (default: seed):
#   seed     README results: bench/seed_table.sh (ranks 1-4, 8), the PyTorch
#            comparison (launch/compare_pytorch.sh, REPEATS=3, fastest kept),
#            the bitwise resume check (launch/resume_check.sh), the plain
#            launch against the hand-tuned one (bench/portability.sh), and the
#            micro-benchmarks sgemm, Adam on subnormals, augmentation. ~25 min.
#   scaling  docs/scaling/ and docs/scaling.md's tables (bench/scaling_docs.sh). ~15 min.
#   serve    README serving figures: user-style accuracy, predict latency,
#            server load (bench/serve_load.sh). ~5 min.
#   accuracy accuracy as ranks grow (docs/scaling.md): bench/batch_rules.sh, the
#            rules on the validation split at 1-64 ranks, then configs/seed.ini
#            and no scaling on the test split at 1-64 ranks (3 seeds each), and
#            the cost model's time to 97% from the steps measured. ~30 min.
#   recipe   configs/best.ini: bench/best_seeds.sh and bench/ablation.sh. Hours.
#   all      all of the above.
# Writes into FIGURES=DIR (default runs/figures/<date-time>/), one file per
# figure set, and prints where. Needs the build, data/mnist.h5 (bash
# launch/seed.sh, which also trains runs/seed) and the analysis and PyTorch
# packages (bash tools/install_deps.sh --analysis --torch).
#   bash bench/figures.sh                 bash bench/figures.sh seed serve
set -euo pipefail
cd "$(dirname "$0")/.."
parts=("${@:-seed}")
[ "${parts[0]}" = all ] && parts=(seed scaling serve accuracy recipe)
dir=${FIGURES:-runs/figures/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$dir"
bin=build/bin
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
[ -x "$bin/dpmnist-train" ] || { echo "[figures] $bin/dpmnist-train missing: run  bash tools/build.sh" >&2; exit 1; }
[ -f data/mnist.h5 ] || { echo "[figures] data/mnist.h5 missing: run  bash launch/seed.sh" >&2; exit 1; }
step() { echo "[figures] $1 -> $dir/$2"; }

seed() {
  step "Adam on subnormal moments, denormals kept vs flushed" bench_adam.txt
  "$bin/dpmnist-bench-adam" > "$dir/bench_adam.txt"
  step "sgemm on the seed model's shapes" bench_sgemm.txt
  "$bin/dpmnist-bench-sgemm" --hidden 128 > "$dir/bench_sgemm.txt"
  step "augmentation per image" bench_augment.txt
  "$bin/dpmnist-bench-augment" > "$dir/bench_augment.txt"
  step "plain launch against the hand-tuned bound (core forced, FTZ preloaded)" portability.md
  bash bench/portability.sh > "$dir/portability.md"
  step "seed table at 1-4 and 8 ranks" seed_table.md
  bash bench/seed_table.sh > "$dir/seed_table.md"
  step "bitwise resume at 2 ranks" resume_check.txt
  bash launch/resume_check.sh > "$dir/resume_check.txt" 2>&1
  step "PyTorch comparison (3 interleaved rounds, fastest kept)" compare_pytorch.md
  PICK=min REPEATS=3 OUT="$dir/compare" bash launch/compare_pytorch.sh \
    | sed -n '/^dpmnist runtime:/,$p' > "$dir/compare_pytorch.md"
}

scaling() {
  step "docs/scaling (bench/scaling_docs.sh)" scaling/
  OUT="$dir/scaling" bash bench/scaling_docs.sh
}

serve() {
  local ck=runs/seed/checkpoint.h5
  [ -f "$ck" ] || { echo "[figures] $ck missing: run  bash launch/seed.sh" >&2; exit 1; }
  step "user-style accuracy of the seed model" user_style.txt
  "$bin/dpmnist-user-style-accuracy" --checkpoint "$ck" > "$dir/user_style.txt"
  step "server load" serve_load.txt
  SECONDS_EACH=10 bash bench/serve_load.sh "$ck" > "$dir/serve_load.txt"
}

accuracy() {
  step "learning-rate rules on the validation split, 1-32 ranks" batch_rules/tune/table.md
  OUT="$dir/batch_rules/tune" NPS="1 2 4 8 16 32 64" bash bench/batch_rules.sh > /dev/null
  step "configs/seed.ini and no scaling on the test split, 1-64 ranks" batch_rules/test/table.md
  OUT="$dir/batch_rules/test" VALIDATION=0 NPS="1 2 4 8 16 32 64" RULES="seed none" \
    bash bench/batch_rules.sh > /dev/null
  step "time to 97% predicted to 1024 ranks (cost model on docs/scaling's benchmarks)" time_to_97.md
  /usr/bin/python3 tools/cost_model.py --allreduce docs/scaling/allreduce_np2.csv \
    --sgemm docs/scaling/sgemm.csv --shm-allreduce docs/scaling/shm_sum_np2.csv \
    --first-layer docs/scaling/first_layer.csv --scaling docs/scaling/scaling_results.csv \
    --steps-to-target "$dir/batch_rules/test/steps_to_target.csv" |
    awk '/^### Time to accuracy/ { p = 1 } /^Measured \(/ { p = 0 } p' > "$dir/time_to_97.md"
}

recipe() {
  step "configs/best.ini, seeds 1 2 3 at 2 ranks" best_seeds.md
  bash bench/best_seeds.sh > "$dir/best_seeds.md"
  step "ablation at 2 ranks" ablation.md
  bash bench/ablation.sh > "$dir/ablation.md"
}

for part in "${parts[@]}"; do
  case $part in
    seed | scaling | serve | accuracy | recipe) "$part" ;;
    *) echo "[figures] unknown part '$part': expected seed, scaling, serve, accuracy, recipe or all" >&2; exit 2 ;;
  esac
done
echo "[figures] done: $dir"
