#!/usr/bin/python3
"""Collects a launch/scaling.sh study: results.csv, summary.md and PNG plots.

Reads DIR/runs.csv (one row per run: mode, np, oversubscribed, cores,
global_batch, per_rank_batch, epochs, run_dir) and each run's metrics.csv by
column name. Timing is the mean over the epochs after the first (warm-up),
or epoch 1 alone for a one-epoch run. s/epoch is epoch_seconds (training only,
evaluation excluded, max over ranks); the breakdown uses each phase's median
over ranks (<phase>_median columns, else data/compute/comm_seconds).
speedup = s/epoch at np=1 of the same mode / s/epoch; efficiency = speedup / np.
When a (mode, np) ran several times (REPEATS), the run with the median s/epoch
stands for it (with PICK=min in the environment: the fastest run), and the
table gives the range over the repeats.

  /usr/bin/python3 tools/plot_scaling.py runs/scaling/<date-time>

Standard library only for the CSV and Markdown; the plots need matplotlib
(Debian python3-matplotlib: bash tools/install_deps.sh --analysis).
"""
import csv
import os
import sys

TIME_COLUMNS = ["epoch_seconds", "samples_per_second", "data_seconds", "compute_seconds",
                "comm_seconds", "eval_seconds"]


def read_csv(path):
    """Rows as dicts; the comm phase's old column names (allreduce_*) read as comm_*."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{("comm_" + k[len("allreduce_"):] if k.startswith("allreduce_") else k): v
             for k, v in row.items()} for row in rows]


def mean(values):
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def phase_names(header):
    """Training phases with per-rank spreads, in file order (eval is not training)."""
    return [c[:-len("_median")] for c in header
            if c.endswith("_median") and c != "eval_median"]


def summarise_run(run, study_dir):
    rows = read_csv(os.path.join(study_dir, run["run_dir"], "metrics.csv"))
    if not rows:
        raise SystemExit(f"{run['run_dir']}/metrics.csv has no epochs")
    header = list(rows[0].keys())
    timed = rows[1:] if len(rows) > 1 else rows
    r = dict(mode=run["mode"], np=int(run["np"]), oversubscribed=int(run["oversubscribed"]),
             cores=int(run["cores"]), global_batch=int(run["global_batch"]),
             per_rank_batch=run["per_rank_batch"], epochs=len(rows),
             timed_epochs=f"{timed[0]['epoch']}-{timed[-1]['epoch']}")
    for c in TIME_COLUMNS:
        r[c] = mean(float(x[c]) for x in timed) if c in header else float("nan")
    last = rows[-1]
    for c in ("test_acc", "test_loss", "train_loss", "train_acc"):
        r[c] = float(last[c]) if c in header else float("nan")
    phases = phase_names(header)
    r["phases"] = phases
    for p in phases:
        for stat in ("min", "median", "max"):
            col = f"{p}_{stat}"
            r[col] = mean(float(x[col]) for x in timed) if col in header else float("nan")
    if phases:
        r["breakdown"] = {p: r[f"{p}_median"] for p in phases}
    else:  # older metrics.csv: compute is forward + backward + optimizer
        r["breakdown"] = {"data": r["data_seconds"], "compute": r["compute_seconds"],
                          "comm": r["comm_seconds"]}
    r["other_seconds"] = max(0.0, r["epoch_seconds"] - sum(r["breakdown"].values()))
    r["run_dir"] = run["run_dir"]
    return r


def median_runs(results, pick="median"):
    """One result per (mode, np): the run with the median (or, pick="min", the
    lowest) s/epoch, carrying the number of repeats and the s/epoch range."""
    groups = {}
    for r in results:
        groups.setdefault((r["mode"], r["np"]), []).append(r)
    chosen = []
    for key in sorted(groups):
        runs = sorted(groups[key], key=lambda r: r["epoch_seconds"])
        kept = dict(runs[0] if pick == "min" else runs[(len(runs) - 1) // 2])
        kept["repeats"] = len(runs)
        kept["epoch_seconds_range"] = (f"{runs[0]['epoch_seconds']:.3f}-"
                                       f"{runs[-1]['epoch_seconds']:.3f}")
        chosen.append(kept)
    return chosen


def add_speedup(results):
    for mode in {r["mode"] for r in results}:
        base = [r for r in results if r["mode"] == mode and r["np"] == 1]
        for r in results:
            if r["mode"] != mode:
                continue
            if base:
                r["speedup"] = base[0]["epoch_seconds"] / r["epoch_seconds"]
                r["efficiency"] = r["speedup"] / r["np"]
            else:
                r["speedup"] = r["efficiency"] = float("nan")


def write_results(results, path):
    phases = results[0]["phases"]
    columns = (["mode", "np", "oversubscribed", "cores", "global_batch", "per_rank_batch",
                "epochs", "timed_epochs", "epoch_seconds", "samples_per_second", "speedup",
                "efficiency", "test_acc", "test_loss", "train_loss", "train_acc"]
               + TIME_COLUMNS[2:]
               + [f"{p}_{s}" for p in phases for s in ("min", "median", "max")]
               + ["other_seconds", "repeats", "epoch_seconds_range", "run_dir"])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in results:
            w.writerow([f"{r[c]:.6g}" if isinstance(r[c], float) else r[c] for c in columns])


def markdown(results, study_dir):
    lines = ["# dpmnist scaling study", ""]
    machine = os.path.join(study_dir, "machine.txt")
    if os.path.exists(machine):
        with open(machine) as f:
            lines += [f"    {line.rstrip()}" for line in f] + [""]
    pick = os.environ.get("PICK", "median")
    lines += [("With repeats, each row is the run with the " +
               ("lowest" if pick == "min" else "median") + " s/epoch; the range covers all. "
               if any(r["repeats"] > 1 for r in results) else "") +
              "s/epoch: training only (evaluation excluded), max over ranks, mean of the epochs "
              "after the first (warm-up). Phase columns: seconds per epoch, median over ranks "
              "(comm shows min/median/max over ranks: a spread is waiting for a straggler); "
              "other = s/epoch minus the phases. speedup = s/epoch at np=1 / s/epoch; "
              "efficiency = speedup / np. Ranks marked * are oversubscribed (more ranks than "
              "cores): they show correctness, not scaling.", ""]
    for mode in ("strong", "weak"):
        rows = sorted((r for r in results if r["mode"] == mode), key=lambda r: r["np"])
        if not rows:
            continue
        title = (f"strong scaling: global batch {rows[0]['global_batch']} held fixed"
                 if mode == "strong" else
                 f"weak scaling: {rows[0]['per_rank_batch']} samples per rank")
        phases = list(rows[0]["breakdown"].keys())
        lines += [f"## {title}", ""]
        repeated = any(r["repeats"] > 1 for r in rows)
        head = (["ranks", "global batch", "per-rank batch", "s/epoch"]
                + (["s/epoch range"] if repeated else [])
                + ["samples/s", "speedup", "efficiency"] + [p for p in phases]
                + ["other", "eval", "test acc"])
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            cells = [f"{r['np']}{'*' if r['oversubscribed'] else ''}", str(r["global_batch"]),
                     str(r["per_rank_batch"]), f"{r['epoch_seconds']:.3f}"]
            if repeated:
                cells.append(f"{r['epoch_seconds_range']} ({r['repeats']} runs)")
            cells += [f"{r['samples_per_second']:.0f}", f"{r['speedup']:.2f}x",
                     f"{100 * r['efficiency']:.0f}%"]
            for p in phases:
                if p == "comm" and "comm_min" in r:
                    cells.append(f"{r['comm_min']:.3f}/{r['comm_median']:.3f}/"
                                 f"{r['comm_max']:.3f}")
                else:
                    cells.append(f"{r['breakdown'][p]:.3f}")
            cells += [f"{r['other_seconds']:.3f}", f"{r['eval_seconds']:.3f}",
                      f"{100 * r['test_acc']:.2f}%"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Plots: `scaling.png` (speedup and efficiency vs ranks), `breakdown.png` "
              "(seconds per epoch by phase, per run).", ""]
    return "\n".join(lines)


def plot(results, study_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_scaling.py: matplotlib missing, no plots (bash tools/install_deps.sh "
              "--analysis)", file=sys.stderr)
        return []
    colors = {"strong": "tab:blue", "weak": "tab:orange"}
    fig, (ax_s, ax_e) = plt.subplots(1, 2, figsize=(11, 4.2))
    max_np = max(r["np"] for r in results)
    for mode in ("strong", "weak"):
        rows = sorted((r for r in results if r["mode"] == mode), key=lambda r: r["np"])
        if not rows:
            continue
        label = (f"strong (global batch {rows[0]['global_batch']})" if mode == "strong"
                 else f"weak ({rows[0]['per_rank_batch']}/rank)")
        nps = [r["np"] for r in rows]
        for ax, key in ((ax_s, "speedup"), (ax_e, "efficiency")):
            ax.plot(nps, [r[key] for r in rows], "-", color=colors[mode], label=label)
            for over in (0, 1):
                pts = [r for r in rows if r["oversubscribed"] == over]
                ax.plot([r["np"] for r in pts], [r[key] for r in pts], "o",
                        color=colors[mode], mfc="white" if over else colors[mode])
    ideal = [n for n in sorted({r["np"] for r in results})]
    ax_s.plot(ideal, ideal, "k--", lw=0.8, label="ideal")
    ax_e.axhline(1.0, color="k", ls="--", lw=0.8)
    cores = results[0]["cores"]
    for ax in (ax_s, ax_e):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ideal, [str(n) for n in ideal])
        ax.set_xlabel("ranks")
        ax.grid(alpha=0.3)
        if max_np > cores:
            ax.axvspan(cores + 0.5, max_np * 1.2, color="grey", alpha=0.12)
    ax_s.set_ylabel("speedup over np=1 (s/epoch)")
    ax_e.set_ylabel("parallel efficiency")
    ax_e.set_ylim(0, 1.15)
    ax_s.legend(fontsize=8)
    ax_s.set_title("speedup (hollow: oversubscribed, grey: > cores)", fontsize=9)
    ax_e.set_title("efficiency = speedup / ranks", fontsize=9)
    fig.tight_layout()
    scaling_png = os.path.join(study_dir, "scaling.png")
    fig.savefig(scaling_png, dpi=120)
    plt.close(fig)

    rows = sorted(results, key=lambda r: (r["mode"], r["np"]))
    phases = list(rows[0]["breakdown"].keys()) + ["other"]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows) + 2), 4.2))
    bottoms = [0.0] * len(rows)
    cmap = plt.get_cmap("tab10")
    for i, p in enumerate(phases):
        heights = [r["other_seconds"] if p == "other" else r["breakdown"][p] for r in rows]
        ax.bar(range(len(rows)), heights, bottom=bottoms, color=cmap(i), label=p)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    ax.set_xticks(range(len(rows)),
                  [f"{r['mode']}\nnp={r['np']}{'*' if r['oversubscribed'] else ''}"
                   for r in rows], fontsize=8)
    ax.set_ylabel("seconds per epoch (median over ranks)")
    ax.set_title("time per epoch by phase (* oversubscribed)", fontsize=9)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    breakdown_png = os.path.join(study_dir, "breakdown.png")
    fig.savefig(breakdown_png, dpi=120)
    plt.close(fig)
    return [scaling_png, breakdown_png]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    study_dir = sys.argv[1]
    runs = read_csv(os.path.join(study_dir, "runs.csv"))
    if not runs:
        sys.exit(f"{study_dir}/runs.csv lists no runs")
    pick = os.environ.get("PICK", "median")
    if pick not in ("median", "min"):
        sys.exit(f"PICK={pick}: expected median or min")
    results = median_runs([summarise_run(run, study_dir) for run in runs], pick)
    add_speedup(results)
    write_results(results, os.path.join(study_dir, "results.csv"))
    with open(os.path.join(study_dir, "summary.md"), "w") as f:
        f.write(markdown(results, study_dir))
    for path in plot(results, study_dir):
        print(f"plot_scaling.py: wrote {path}")


if __name__ == "__main__":
    main()
