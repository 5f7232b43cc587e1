#!/usr/bin/env python3
"""Summarises bench/batch_rules.sh: accuracy, epochs and steps to a target
per learning-rate rule and rank count, and plots of accuracy against steps
and against samples.

    python3 tools/batch_rules.py RUNS_DIR [--target 0.97] [--cores N]

RUNS_DIR holds one run directory per (rule, ranks, seed) named
<rule>-np<N>-s<seed>, each with its metrics.csv. The target is reached on the
validation accuracy where the runs held digits out (val_acc is a number),
else on the test accuracy; evaluation runs once per epoch, so "epochs to
target" is the first epoch whose accuracy reaches it, and steps are those
epochs' steps. Writes RUNS_DIR/results.csv (every epoch of every run) and
RUNS_DIR/accuracy_<rule>.png; prints a Markdown table.

Steps to the target against the global batch B, for one rule (--fit-rule):
McCandlish et al. 2018 ("An Empirical Model of Large-Batch Training") find
S(B) = S_min (1 + B_noise / B); fitted by least squares in relative error to the median
over seeds of each rank count's steps, read between epochs by linear
interpolation of the accuracy (all seeds must reach it), and extrapolated to
larger batches. RUNS_DIR/steps_to_target.csv holds the measured and fitted
steps per global batch up to 1024 ranks (tools/cost_model.py --steps-to-target
turns them into time).
"""
import argparse
import csv
import math
import os
import re
import statistics
import sys

NAME = re.compile(r"^(?P<rule>[a-z0-9_]+)-np(?P<np>\d+)-s(?P<seed>\d+)$")


def load_runs(root):
    runs = []
    for name in sorted(os.listdir(root)):
        m = NAME.match(name)
        path = os.path.join(root, name, "metrics.csv")
        if not m or not os.path.isfile(path):
            continue
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            raise SystemExit(f"{path}: no epochs")
        runs.append(dict(rule=m["rule"], np=int(m["np"]), seed=int(m["seed"]), rows=rows))
    if not runs:
        raise SystemExit(f"{root}: no <rule>-np<N>-s<seed>/metrics.csv runs")
    return runs


def accuracy_column(runs):
    val = [float(r["rows"][-1].get("val_acc", "nan")) for r in runs]
    return "val_acc" if all(not math.isnan(v) for v in val) else "test_acc"


def epochs_to(rows, column, target):
    for row in rows:
        if float(row[column]) >= target:
            return int(row["epoch"])
    return None


def interpolated_epochs(rows, column, target):
    """Epochs to the target, read between evaluations (the first epoch counts whole)."""
    previous = None
    for row in rows:
        acc = float(row[column])
        if acc >= target:
            e = int(row["epoch"])
            if previous is None or e == 1:
                return float(e)
            return e - 1 + (target - previous) / (acc - previous)
        previous = acc
    return None


def fit_steps(runs, rule, column, target, min_batch=0):
    """[(global batch, ranks, measured steps or None)], (S_min, B_noise) for one rule."""
    points = []
    for np_ in sorted({r["np"] for r in runs if r["rule"] == rule}):
        members = [r for r in runs if r["rule"] == rule and r["np"] == np_]
        batch = int(members[0]["rows"][0]["global_batch"])
        epochs = [interpolated_epochs(m["rows"], column, target) for m in members]
        steps = None
        if all(e is not None for e in epochs):
            steps = statistics.median(epochs) * int(members[0]["rows"][0]["steps_per_epoch"])
        points.append((batch, np_, steps))
    measured = [(b, s) for b, _, s in points if s is not None and b >= min_batch]
    if len(measured) < 2:
        return points, None
    # S = S_min + (S_min B_noise) / B: a line in 1/B, fitted in relative error
    # (weights 1 / S^2), so the large batches' few steps count as much as the
    # small batches' thousands.
    xs = [1.0 / b for b, _ in measured]
    ys = [s for _, s in measured]
    ws = [1.0 / (y * y) for y in ys]
    sw = sum(ws)
    mx = sum(w * x for w, x in zip(ws, xs)) / sw
    my = sum(w * y for w, y in zip(ws, ys)) / sw
    slope = (sum(w * (x - mx) * (y - my) for w, x, y in zip(ws, xs, ys))
             / sum(w * (x - mx) ** 2 for w, x in zip(ws, xs)))
    s_min = my - slope * mx
    if s_min <= 0:
        return points, None
    return points, (s_min, slope / s_min)


def write_steps(points, fit, rule, batch_per_rank, path):
    measured = {b: s for b, _, s in points}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rule", "ranks", "global_batch", "measured_steps", "fit_steps", "s_min",
                    "b_noise"])
        ranks = 1
        while ranks <= 1024:
            b = ranks * batch_per_rank
            fitted = fit[0] * (1 + fit[1] / b) if fit else float("nan")
            m = measured.get(b)
            w.writerow([rule, ranks, b, "" if m is None else f"{m:.1f}", f"{fitted:.1f}",
                        f"{fit[0]:.1f}" if fit else "", f"{fit[1]:.1f}" if fit else ""])
            ranks *= 2


def print_fit(points, fit, rule, column, target, samples):
    what = "validation" if column == "val_acc" else "test"
    print(f"\nSteps to {100 * target:.1f}% {what} accuracy under rule {rule} (median over seeds, "
          "read between epochs):", ", ".join(
              f"{b} -> {'not reached' if s is None else f'{s:.0f}'}" for b, _, s in points))
    if fit:
        print(f"Fit S(B) = S_min (1 + B_noise / B): S_min = {fit[0]:.0f} steps, B_noise = "
              f"{fit[1]:.0f} samples; at B = 2048: {fit[0] * (1 + fit[1] / 2048):.0f} steps "
              f"({fit[0] * (1 + fit[1] / 2048) * 2048 / samples:.1f} epochs), B = 32768: "
              f"{fit[0] * (1 + fit[1] / 32768):.0f} steps "
              f"({fit[0] * (1 + fit[1] / 32768) * 32768 / samples:.1f} epochs)")


def summarise(runs, column, target, cores):
    groups = {}
    for r in runs:
        groups.setdefault((r["rule"], r["np"]), []).append(r)
    table = []
    for (rule, np_), members in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        last = [m["rows"][-1] for m in members]
        reach = [epochs_to(m["rows"], column, target) for m in members]
        steps_per_epoch = int(last[0]["steps_per_epoch"])
        seconds = statistics.mean(
            statistics.mean(float(x["epoch_seconds"]) for x in (m["rows"][1:] or m["rows"]))
            for m in members)
        reached = [e for e in reach if e is not None]
        median_epochs = statistics.median(reached) if len(reached) == len(reach) else None
        table.append(dict(
            rule=rule, np=np_, seeds=len(members), global_batch=int(last[0]["global_batch"]),
            steps_per_epoch=steps_per_epoch,
            acc=[float(x[column]) for x in last], test=[float(x["test_acc"]) for x in last],
            reached=f"{len(reached)}/{len(reach)}", epochs=median_epochs,
            steps=None if median_epochs is None else median_epochs * steps_per_epoch,
            seconds=seconds, oversubscribed=cores is not None and np_ > cores,
            time=None if median_epochs is None else median_epochs * seconds))
    return table


def print_table(table, column, target):
    what = "validation" if column == "val_acc" else "test"
    both = what != "test"
    print(f"Accuracy after the last epoch (mean over seeds, min-max); epochs and steps to "
          f"{100 * target:.1f}% {what} accuracy (median over seeds; evaluated once per epoch, "
          f"so a step count is the end of that epoch); time to it from s/epoch (* oversubscribed: "
          f"ranks share cores, the time does not scale).\n")
    both = what != "test"
    print(f"| rule | ranks | global batch | steps/epoch | {what} acc | " + ("test acc | " if both else "")
          + f"reached {100 * target:.0f}% | epochs to it | steps to it | s/epoch | time to it |")
    print("|" + "---|" * (11 if both else 10))
    for t in table:
        star = "*" if t["oversubscribed"] else ""
        acc = f"{100 * statistics.mean(t['acc']):.2f}% ({100 * min(t['acc']):.2f}-{100 * max(t['acc']):.2f})"
        test = f"{100 * statistics.mean(t['test']):.2f}%"
        epochs = "not in every seed" if t["epochs"] is None else f"{t['epochs']:g}"
        steps = "-" if t["steps"] is None else f"{t['steps']:g}"
        time = "-" if t["time"] is None else f"{t['time']:.2f} s{star}"
        print(f"| {t['rule']} | {t['np']}{star} | {t['global_batch']} | {t['steps_per_epoch']} | "
              f"{acc} | " + (f"{test} | " if both else "") + f"{t['reached']} | {epochs} | {steps} | {t['seconds']:.3f}{star} | "
              f"{time} |")


def print_matrix(table, column):
    what = "validation" if column == "val_acc" else "test"
    ranks = sorted({t["np"] for t in table})
    print(f"\n{what} accuracy after the last epoch, mean over seeds, rule by ranks:\n")
    print("| rule | " + " | ".join(str(n) for n in ranks) + " |")
    print("|---|" + "---|" * len(ranks))
    for rule in sorted({t["rule"] for t in table}):
        cells = {t["np"]: f"{100 * statistics.mean(t['acc']):.2f}%" for t in table
                 if t["rule"] == rule}
        print(f"| {rule} | " + " | ".join(cells.get(n, "-") for n in ranks) + " |")


def write_results(runs, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rule", "ranks", "seed", "epoch", "global_batch", "steps", "samples",
                    "val_acc", "test_acc", "epoch_seconds"])
        for r in runs:
            for row in r["rows"]:
                e = int(row["epoch"])
                steps = e * int(row["steps_per_epoch"])
                w.writerow([r["rule"], r["np"], r["seed"], e, row["global_batch"], steps,
                            steps * int(row["global_batch"]), row.get("val_acc", "nan"),
                            row["test_acc"], row["epoch_seconds"]])


def plot(runs, column, target, root):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no matplotlib: plots skipped)", file=sys.stderr)
        return []
    written = []
    for rule in sorted({r["rule"] for r in runs}):
        fig, (by_steps, by_samples) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
        for np_ in sorted({r["np"] for r in runs if r["rule"] == rule}):
            members = [r for r in runs if r["rule"] == rule and r["np"] == np_]
            epochs = min(len(m["rows"]) for m in members)
            acc = [statistics.mean(float(m["rows"][e][column]) for m in members)
                   for e in range(epochs)]
            steps = [(e + 1) * int(members[0]["rows"][e]["steps_per_epoch"]) for e in range(epochs)]
            samples = [s * int(members[0]["rows"][0]["global_batch"]) for s in steps]
            by_steps.plot(steps, acc, marker="o", label=f"{np_} rank{'' if np_ == 1 else 's'}")
            by_samples.plot(samples, acc, marker="o", label=f"{np_} rank{'' if np_ == 1 else 's'}")
        for ax, label in ((by_steps, "optimizer steps"), (by_samples, "samples trained")):
            ax.axhline(target, color="gray", linestyle="--", linewidth=0.8)
            ax.set_xlabel(label)
            ax.set_xscale("log")
            ax.grid(alpha=0.3)
        what = "validation" if column == "val_acc" else "test"
        by_steps.set_ylabel(f"{what} accuracy (mean over seeds)")
        by_steps.set_ylim(max(0.90, by_steps.get_ylim()[0]), None)
        by_samples.legend(fontsize=8)
        fig.suptitle(f"configs/seed.ini, rule {rule}: accuracy per epoch against steps and samples")
        fig.tight_layout()
        path = os.path.join(root, f"accuracy_{rule}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root")
    parser.add_argument("--target", type=float, default=0.97)
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--train-size", type=int, default=56000,
                        help="training digits per epoch (for epochs from steps)")
    parser.add_argument("--fit-min-batch", type=int, default=0,
                        help="fit only global batches of at least this (e.g. those the rule scales)")
    parser.add_argument("--fit-rule", help="rule whose steps to the target are fitted "
                        "(default: seed if it ran, else the first)")
    args = parser.parse_args()
    runs = load_runs(args.root)
    column = accuracy_column(runs)
    write_results(runs, os.path.join(args.root, "results.csv"))
    table = summarise(runs, column, args.target, args.cores)
    print_table(table, column, args.target)
    print_matrix(table, column)
    rules = sorted({r["rule"] for r in runs})
    rule = args.fit_rule or ("seed" if "seed" in rules else rules[0])
    first = next(r for r in runs if r["rule"] == rule)
    batch_per_rank = int(first["rows"][0]["global_batch"]) // first["np"]
    points, fit = fit_steps(runs, rule, column, args.target, args.fit_min_batch)
    print_fit(points, fit, rule, column, args.target, args.train_size)
    write_steps(points, fit, rule, batch_per_rank, os.path.join(args.root, "steps_to_target.csv"))
    for path in plot(runs, column, args.target, args.root):
        print(f"\nplot: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
