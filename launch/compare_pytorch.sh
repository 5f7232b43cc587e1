#!/usr/bin/env bash
# dpmnist against PyTorch on the seed model, one run after another on this
# machine: dpmnist-train at np = 1 and 2 (launch/train.sh) as configured, and
# at np = 2 once more with the plain paths (dense sgemm first layer, one
# MPI_Allreduce and Adam on every rank) to show what the fast paths buy; then
# bench/pytorch_peer.py single-process and DDP over gloo at np = 2, each twice:
# with torch.set_flush_denormal(True) ("at its best": subnormals slow PyTorch
# on this kind of CPU) and without ("as shipped"), one intra-op thread per
# process; prints the ratio table (s/epoch of training, evaluation excluded,
# mean of epochs 2..E; final test accuracy; how many times faster dpmnist is).
# The headline ratios are against PyTorch at its best: per row, the faster of
# the two settings.
# REPEATS=R (default 1) runs the whole set R times, interleaved, and each row
# is the run with the median s/epoch (PICK=min: the fastest) (this VM's speed
# changes for minutes at a time; interleaving lets every system meet the
# same periods).
#   launch/compare_pytorch.sh                EPOCHS=2 REPEATS=3 launch/compare_pytorch.sh
# DPMNIST_BIN=other/bin uses another build (as launch/train.sh does).
# Needs Debian's python3-torch and python3-h5py (bash tools/install_deps.sh --torch).
# Files: runs/compare/<date-time>/ (metrics.csv per dpmnist run, JSON per
# PyTorch run, logs, table.md); OUT=DIR picks another directory.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${EPOCHS:-5}
repeats=${REPEATS:-1}
data=${DATA:-data/mnist.h5}
config=${CONFIG:-configs/seed.ini}
out=${OUT:-runs/compare/$(date +%Y%m%d-%H%M%S)}
py=/usr/bin/python3  # Debian's interpreter: a pyenv python3 cannot see python3-torch
bin=${DPMNIST_BIN:-build/bin}
export DPMNIST_BIN=$bin  # read by launch/train.sh

$py -c 'import torch, h5py' 2> /dev/null || {
  echo "[compare] PyTorch not importable by $py: run  bash tools/install_deps.sh --torch" >&2
  exit 1
}
[ -x "$bin/dpmnist-train" ] || { echo "[compare] $bin/dpmnist-train missing: run  bash tools/build.sh" >&2; exit 1; }
[ -f "$data" ] || { echo "[compare] $data missing: run  bash launch/seed.sh  (or data/fetch_mnist.sh + dpmnist-prepare)" >&2; exit 1; }
mkdir -p "$out"

run() {  # name, command...: runs it with its output in $out/name.log
  local name=$1; shift
  echo "[compare] $name: $*"
  "$@" > "$out/$name.log" 2>&1 || { cat "$out/$name.log" >&2; echo "[compare] $name failed" >&2; exit 1; }
}

echo "[compare] $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; $epochs epochs each; into $out"
for r in $(seq "$repeats"); do
  for np in 1 2; do
    run dpmnist-np$np-r$r bash launch/train.sh "$np" --config "$config" --data "$data" \
      --out "$out/dpmnist-np$np-r$r" --train.epochs="$epochs" --output.progress_seconds=0
  done
  run dpmnist-plain-np2-r$r bash launch/train.sh 2 --config "$config" --data "$data" \
    --out "$out/dpmnist-plain-np2-r$r" --train.epochs="$epochs" --output.progress_seconds=0 \
    --model.sparse_input_max_density=0 --train.gradient_sync=allreduce
  # flush on / off alternate which goes first, so neither always meets the same period
  flushes="on off"; [ $((r % 2)) = 0 ] && flushes="off on"
  for flush in $flushes; do
    run pytorch-np1-flush$flush-r$r $py bench/pytorch_peer.py --data "$data" --epochs "$epochs" \
      --np 1 --threads 1 --flush-denormals "$flush" --json "$out/pytorch-np1-flush$flush-r$r.json"
    run pytorch-ddp-np2-flush$flush-r$r $py bench/pytorch_peer.py --data "$data" --epochs "$epochs" \
      --np 2 --threads 1 --flush-denormals "$flush" --json "$out/pytorch-ddp-np2-flush$flush-r$r.json"
  done
done

$py - "$out" "$(lscpu | sed -n 's/^Model name: *//p')" "$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$repeats" "${PICK:-median}" <<'EOF' | tee "$out/table.md"
import csv, json, sys
out, cpu, cores, load, repeats, pick = sys.argv[1:7]
repeats = int(repeats)

def median_of(runs):
    runs = sorted(runs, key=lambda r: r["seconds"])
    pick_run = dict(runs[0] if pick == "min" else runs[(len(runs) - 1) // 2])
    pick_run["range"] = f"{runs[0]['seconds']:.3f}-{runs[-1]['seconds']:.3f}"
    return pick_run

def dpmnist(np_, name=None, label="dpmnist"):
    runs = []
    for r in range(1, repeats + 1):
        with open(f"{out}/{name or f'dpmnist-np{np_}'}-r{r}/metrics.csv") as f:
            rows = list(csv.DictReader(f))
        timed = rows[1:] if len(rows) > 1 else rows
        runs.append(dict(system=label, procs=np_,
                         seconds=sum(float(x["epoch_seconds"]) for x in timed) / len(timed),
                         acc=float(rows[-1]["test_acc"]),
                         epochs=(timed[0]["epoch"], timed[-1]["epoch"])))
    return median_of(runs)

def pytorch(name, label, flush):
    runs = []
    for r in range(1, repeats + 1):
        with open(f"{out}/{name}-flush{flush}-r{r}.json") as f:
            s = json.load(f)
        ran = s.get("flush_denormals", "off")
        runs.append(dict(system=f"{label}, flush denormals {ran}", procs=s["world_size"],
                         seconds=s["mean_train_seconds"], acc=s["test_acc"],
                         torch=s["torch_version"], cpu=s.get("cpu_model"),
                         capability=s.get("cpu_capability", "?"), blas=s.get("blas", "?"),
                         threads=s.get("intra_op_threads", s.get("threads")),
                         flush=ran, supported=s.get("flush_denormals_supported"),
                         key=(name, flush)))
    return median_of(runs)

def best_of(on, off):
    """PyTorch at its best: the faster of the two settings for this row."""
    best = dict(on if on["seconds"] <= off["seconds"] else off)

    return best

d1, d2 = dpmnist(1), dpmnist(2)
dp = dpmnist(2, "dpmnist-plain-np2", "dpmnist, plain paths (dense sgemm, MPI_Allreduce)")
tail = (f", the {'fastest' if pick == 'min' else 'median'} of {repeats} interleaved runs "
        "(range in the table)" if repeats > 1 else "")
p1_on = pytorch("pytorch-np1", "PyTorch single process", "on")
p1_off = pytorch("pytorch-np1", "PyTorch single process", "off")
p2_on = pytorch("pytorch-ddp-np2", "PyTorch DDP (gloo)", "on")
p2_off = pytorch("pytorch-ddp-np2", "PyTorch DDP (gloo)", "off")
p1 = best_of(p1_on, p1_off)
p2 = best_of(p2_on, p2_off)
runtime = next((line.split("runtime:", 1)[1].strip()
                for line in open(f"{out}/dpmnist-np2-r1.log") if "runtime:" in line), "?")
print(f"dpmnist runtime: {runtime}")
print(f"machine: {p1_on['cpu'] or cpu}, {cores} cores; torch {p1['torch']} (CPU capability "
      f"{p1_on['capability']}, BLAS {p1_on['blas']}), {p1_on['threads']} intra-op thread per "
      f"process; load average at end {load}")
if p1_on["flush"] != "on" or p2_on["flush"] != "on":
    print("note: torch.set_flush_denormal(True) is not supported on this CPU: the 'on' rows ran as shipped")
print(f"s/epoch: training only (evaluation excluded), mean of epochs {d1['epochs'][0]}..{d1['epochs'][1]}, "
      f"max over ranks/processes{tail}; PyTorch with torch.set_flush_denormal(True) (\"at its best\") "
      "and without (\"as shipped\"); * marks the faster setting, the one the headline ratios use\n")
print("| system | processes | s/epoch | range | test accuracy | dpmnist np=1 is faster by | dpmnist np=2 is faster by |")
print("|---|---|---|---|---|---|---|")
for r in (d1, d2, dp, p1_on, p1_off, p2_on, p2_off):
    star = " *" if r.get("key") in (p1["key"], p2["key"]) else ""
    print(f"| {r['system']}{star} | {r['procs']} | {r['seconds']:.3f} | {r['range']} | {100 * r['acc']:.2f}% | "
          f"{r['seconds'] / d1['seconds']:.2f}x | {r['seconds'] / d2['seconds']:.2f}x |")
print()
print(f"PyTorch at its best: single process {p1['seconds']:.3f} s/epoch (flush denormals {p1['flush']}), "
      f"DDP np=2 {p2['seconds']:.3f} s/epoch (flush denormals {p2['flush']})")
print(f"flushing denormals buys PyTorch: single process {p1_off['seconds'] / p1_on['seconds']:.2f}x, "
      f"DDP np=2 {p2_off['seconds'] / p2_on['seconds']:.2f}x")
print(f"dpmnist np=2 vs PyTorch single process at its best: {p1['seconds'] / d2['seconds']:.1f}x faster, "
      f"accuracy {100 * (d2['acc'] - p1['acc']):+.2f} points")
print(f"dpmnist np=2 vs PyTorch DDP np=2 at its best:       {p2['seconds'] / d2['seconds']:.1f}x faster, "
      f"accuracy {100 * (d2['acc'] - p2['acc']):+.2f} points")
print(f"dpmnist np=1 vs PyTorch single process at its best: {p1['seconds'] / d1['seconds']:.1f}x faster, "
      f"accuracy {100 * (d1['acc'] - p1['acc']):+.2f} points")
print(f"dpmnist np=2 plain paths vs PyTorch single / DDP at their best: {p1['seconds'] / dp['seconds']:.1f}x / "
      f"{p2['seconds'] / dp['seconds']:.1f}x; the fast paths buy {dp['seconds'] / d2['seconds']:.2f}x")
print(f"self-speedup np=1 -> np=2: dpmnist {d1['seconds'] / d2['seconds']:.2f}x, "
      f"PyTorch at its best (single -> DDP) {p1['seconds'] / p2['seconds']:.2f}x")
print(f"as shipped (no flush): dpmnist np=2 vs PyTorch single process {p1_off['seconds'] / d2['seconds']:.1f}x, "
      f"vs PyTorch DDP np=2 {p2_off['seconds'] / d2['seconds']:.1f}x; dpmnist np=1 vs PyTorch single "
      f"process {p1_off['seconds'] / d1['seconds']:.1f}x faster")
EOF
echo "[compare] wrote $out/table.md"
