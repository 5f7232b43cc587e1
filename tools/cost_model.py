#!/usr/bin/python3
"""Alpha-beta cost model of dpmnist's data-parallel step, fitted to this machine's
micro-benchmarks and used to predict weak scaling (32 samples per rank) to 1024 ranks.

Inputs: the CSV of dpmnist-bench-allreduce at 2 ranks and the CSV of
dpmnist-bench-sgemm (with --hidden 128 and --hidden 1024,1024); optionally the
CSV of dpmnist-bench-allreduce --shm (the node shared-memory sum of
gradient_sync = shm), the CSV of dpmnist-bench-first-layer (the sparse-input
first layer, which replaces that layer's two sgemm calls in the compute) and
the results.csv of launch/scaling.sh, whose weak-scaling np=1 run calibrates
the step's non-sgemm time and whose weak runs are drawn beside the prediction.

Model (stated in full in docs/scaling.md):
  allreduce of n bytes over p ranks, Rabenseifner (reduce-scatter by recursive
  halving, allgather by recursive doubling), what MPI libraries pick for
  medium and large messages:  T(p, n) = 2 log2(p) alpha + 2 (p-1)/p n beta
  ring, for comparison:         T(p, n) = 2 (p-1) alpha + 2 (p-1)/p n beta
  At p = 2 both are 2 alpha + n beta, so the 2-rank points fit alpha and beta
  without choosing (the reduction's arithmetic is folded into beta).
  step(p) = compute + T(p, n); compute = sgemm (measured per shape, batch 32;
  the first layer's forward and weight gradient replaced by the sparse-input
  kernels' measured time when given) + optimizer (proportional to parameters)
  + the rest (data gather, bias, ReLU, softmax: proportional to the
  activations touched per sample). Sharded Adam (ZeRO-1; gradient_sync = shm
  and sharded): step(p) = compute - optimizer (1 - 1/p) + T(p, n).
  Node shared-memory sum (NodeSum): two fences (alpha each, a barrier: half
  the smallest message's measured time) and each rank reading its peers'
  parts of its slice and copying their slices back, 2 (p-1)/p n bytes at the
  rate measured for exactly this gradient at 2 ranks (the rate falls once the
  buffers leave the caches, so one line over all sizes would not fit):
  T(p, n) = 2 log2(p) alpha + 2 (p-1)/p n beta(n), beta(n) = (T2(n) - 2 alpha) / n.
  It assumes every core keeps that rate: a real node's shared memory
  bandwidth caps it sooner. Where train.gradient_factors = auto sends the
  first kernel [R, W] as factors (p B W + 2 B R 0.5 < R W), a rank reads
  (p-1) (B W + 2 B R d / p) floats of its peers' factors (d: the measured input
  density, from --first-layer) instead of (p-1)/p R W of their gradients: n is
  replaced by the n' with 2 (p-1)/p n' = those reads + the rest of the
  gradient's (p-1)/p + the weights' (p-1)/p n, at the same beta(n).
  efficiency(p) = compute / step(p) (weak scaling: the per-rank work is fixed);
  epoch(p) = ceil(56000 / (32 p)) step(p). "overlap bound": the allreduce
  hidden behind the backward sgemm, step = compute + max(0, T - backward).

  /usr/bin/python3 tools/cost_model.py --allreduce AR.csv --sgemm SGEMM.csv \
      [--shm-allreduce SHM.csv] [--first-layer FIRST.csv] [--scaling results.csv] \
      [--md table.md] [--png plot.png]
"""
import argparse
import csv
import math
import sys

import numpy as np

SAMPLES, BATCH, INPUTS, CLASSES = 56000, 32, 784, 10
MODELS = {"seed": [128], "wide": [1024, 1024]}
RANKS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
TABLE_RANKS = [2, 8, 16, 32, 64, 128, 256, 512, 1024]


def model_name(hidden):
    return "-".join(str(w) for w in [INPUTS] + hidden + [CLASSES])


def parameters(hidden):
    widths = [INPUTS] + hidden + [CLASSES]
    return sum(i * o + o for i, o in zip(widths, widths[1:]))


def activations(hidden):
    """Floats touched per sample outside sgemm: the input and every layer output."""
    return INPUTS + sum(hidden) + CLASSES


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def fit_alpha_beta(rows, stat):
    """Least squares in relative error of T = 2 alpha + n beta over the 2-rank rows."""
    n = np.array([float(r["bytes"]) for r in rows])
    t = np.array([float(r[f"{stat}_us"]) * 1e-6 for r in rows])
    a = np.stack([2.0 / t, n / t], axis=1)
    (alpha, beta), *_ = np.linalg.lstsq(a, np.ones_like(t), rcond=None)
    if alpha < 0:  # bandwidth-only fit
        alpha, beta = 0.0, float(np.sum(n / t) / np.sum((n / t) ** 2))
    return float(alpha), float(beta), n, t


def allreduce_seconds(p, nbytes, alpha, beta, algorithm="rabenseifner"):
    if p == 1:
        return 0.0
    hops = 2 * math.log2(p) if algorithm == "rabenseifner" else 2 * (p - 1)
    return hops * alpha + 2 * (p - 1) / p * nbytes * beta


def sgemm_step(rows, hidden, batch, first_layer=None):
    """(total, backward) seconds of one step's sgemm calls, from the medians; with
    first_layer (rows of dpmnist-bench-first-layer), the first layer's two calls
    (fwd0, wgrad0) replaced by the sparse kernels' measured time."""
    name = model_name(hidden)
    mine = [r for r in rows if r["model"] == name and int(r["batch"]) == batch]
    if not mine:
        return None
    total = sum(float(r["median_us"]) for r in mine) * 1e-6
    backward = sum(float(r["median_us"]) for r in mine if r["phase"] == "backward") * 1e-6
    sparse = [r for r in (first_layer or [])
              if int(r["hidden"]) == hidden[0] and int(r["batch"]) == batch]
    if sparse:
        layer0 = {r["shape"]: float(r["median_us"]) * 1e-6 for r in mine
                  if r["shape"] in ("fwd0", "wgrad0")}
        r = sparse[-1]
        sparse_backward = (float(r["build_columns_us"]) + float(r["sparse_wgrad_us"])) * 1e-6
        total += float(r["sparse_us"]) * 1e-6 - sum(layer0.values())
        backward += sparse_backward - layer0.get("wgrad0", 0.0)
    return total, backward


def calibrate_rest(scaling_rows, seed_sgemm):
    """Per-step optimizer and other non-sgemm seconds of the seed model, from the
    weak np=1 run: (optimizer, rest, measured step) or None."""
    one = [r for r in scaling_rows if r["mode"] == "weak" and int(r["np"]) == 1]
    if not one:
        return None
    r = one[0]
    steps = math.ceil(SAMPLES / int(r["global_batch"]))
    step = float(r["epoch_seconds"]) / steps
    opt = float(r.get("optimizer_median") or 0.0) / steps
    rest = max(0.0, step - seed_sgemm - opt)
    return opt, rest, step


def shm_rate(rows, nbytes, stat):
    """(alpha, beta) of the node shared-memory sum for a message of nbytes, from
    dpmnist-bench-allreduce --shm rows at 2 ranks: alpha from the smallest
    message, beta from the row of exactly nbytes."""
    smallest = min(rows, key=lambda r: int(r["bytes"]))
    alpha = float(smallest[f"{stat}_us"]) * 1e-6 / 2
    exact = [r for r in rows if int(r["bytes"]) == nbytes]
    if not exact:
        sys.exit(f"--shm-allreduce has no row of {nbytes} bytes (run the bench with its model sizes)")
    t2 = float(exact[0][f"{stat}_us"]) * 1e-6
    return alpha, max(t2 - 2 * alpha, 0.0) / nbytes


def uses_factors(p, hidden):
    """train.gradient_factors = auto's rule (factors_are_smaller in node_sum.h),
    at the sparse path's density bound 0.5."""
    R, W, B = INPUTS, hidden[0], BATCH
    return p * B * W + 2 * B * R * 0.5 < R * W


def shm_message(p, hidden, nbytes, density):
    """The n' of the node sum at p ranks per node (bytes), with the first
    kernel's gradient as factors where the trainer sends it so (see above)."""
    if p == 1 or density is None or not uses_factors(p, hidden):
        return nbytes
    R, W, B = INPUTS, hidden[0], BATCH
    factor_reads = 4 * (p - 1) * (B * W + 2 * B * R * density / p)
    rest_reads = (p - 1) / p * (nbytes - 4 * R * W)
    weights = (p - 1) / p * nbytes
    return (factor_reads + rest_reads + weights) * p / (2 * (p - 1))


def predict(compute, backward, optimizer, nbytes, alpha, beta, sharded=False):
    """Per rank count: allreduce seconds, epoch seconds and efficiencies; with
    sharded, the main efficiency and epoch are those of sharded Adam. nbytes
    may be a function of the rank count."""
    rows = []
    for p in RANKS:
        n = nbytes(p) if callable(nbytes) else nbytes
        t_rab = allreduce_seconds(p, n, alpha, beta)
        t_ring = allreduce_seconds(p, n, alpha, beta, "ring")
        steps = math.ceil(SAMPLES / (BATCH * p))
        step = compute - (optimizer * (1 - 1 / p) if sharded else 0.0) + t_rab
        rows.append(dict(p=p, global_batch=BATCH * p, steps=steps, allreduce=t_rab,
                         epoch=steps * step,
                         efficiency=compute / step,
                         efficiency_ring=compute / (compute + t_ring),
                         efficiency_overlap=compute / (compute + max(0.0, t_rab - backward)),
                         efficiency_sharded=compute / (compute - optimizer * (1 - 1 / p) + t_rab)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--allreduce", required=True, help="dpmnist-bench-allreduce --csv at 2 ranks")
    ap.add_argument("--sgemm", required=True, help="dpmnist-bench-sgemm --csv")
    ap.add_argument("--shm-allreduce", help="dpmnist-bench-allreduce --shm --csv at 2 ranks "
                    "(the node shared-memory sum); without it the shm rows use MPI_Allreduce's fit")
    ap.add_argument("--first-layer", help="dpmnist-bench-first-layer --csv (hidden 128 and 1024): "
                    "the sparse-input first layer's time replaces its sgemm calls")
    ap.add_argument("--scaling", help="launch/scaling.sh results.csv (calibration + measured points)")
    ap.add_argument("--stat", default="median", choices=["median", "avg", "min"],
                    help="allreduce latency statistic to fit (median: robust on a shared machine)")
    ap.add_argument("--ib-alpha-us", type=float, default=1.5,
                    help="assumed cluster latency per message (InfiniBand HDR ~1.5 us)")
    ap.add_argument("--ib-gbps", type=float, default=12.0,
                    help="assumed cluster bandwidth per rank, GB/s (HDR 200 Gb/s: ~12 GB/s achieved)")
    ap.add_argument("--fit-min-bytes", type=int, default=64 << 10,
                    help="smallest message fitted (default 64 KiB: below it Open MPI's shared-"
                         "memory eager protocols make latency a step function of size)")
    ap.add_argument("--fit-max-bytes", type=int, default=8 << 20,
                    help="largest message fitted (default 8 MiB: both models' gradients fit in "
                         "the range; larger ones measure the memory system more than MPI)")
    ap.add_argument("--steps-to-target", help="steps_to_target.csv of tools/batch_rules.py: "
                    "steps to the target accuracy per global batch (seed model), for the "
                    "predicted time to it")
    ap.add_argument("--md", help="write the Markdown tables here")
    ap.add_argument("--png", help="write the plot here")
    args = ap.parse_args()

    ar_all = [r for r in read_csv(args.allreduce) if int(r["ranks"]) == 2]
    ar_rows = [r for r in ar_all if args.fit_min_bytes <= int(r["bytes"]) <= args.fit_max_bytes]
    if len(ar_rows) < 2:
        sys.exit(f"{args.allreduce}: fewer than 2 rows at 2 ranks within the fit range "
                 "(run dpmnist-bench-allreduce under mpirun -np 2)")
    alpha, beta, _, _ = fit_alpha_beta(ar_rows, args.stat)
    ar_n = np.array([float(r["bytes"]) for r in ar_all])
    ar_t = np.array([float(r[f"{args.stat}_us"]) * 1e-6 for r in ar_all])
    fitted = np.array([args.fit_min_bytes <= n <= args.fit_max_bytes for n in ar_n])
    sg_rows = read_csv(args.sgemm)
    scaling = read_csv(args.scaling) if args.scaling else []
    first_layer = read_csv(args.first_layer) if args.first_layer else None
    shm_rows = None
    if args.shm_allreduce:
        shm_rows = [r for r in read_csv(args.shm_allreduce) if int(r["ranks"]) == 2]
        if not shm_rows:
            sys.exit(f"{args.shm_allreduce}: no rows at 2 ranks")

    seed_sg = sgemm_step(sg_rows, MODELS["seed"], BATCH, first_layer)
    if seed_sg is None:
        sys.exit(f"{args.sgemm}: no 784-128-10 rows at batch {BATCH}")
    calib = calibrate_rest(scaling, seed_sg[0]) if scaling else None
    # name -> (alpha, beta, sharded Adam)
    # name -> (alpha, beta, sharded Adam), or a function of the message size
    networks = {"IB HDR (assumed)": (args.ib_alpha_us * 1e-6, 1 / (args.ib_gbps * 1e9), False)}
    if shm_rows:
        networks["node shm sum + ZeRO-1 (measured)"] = (
            lambda nbytes: (*shm_rate(shm_rows, nbytes, args.stat), True))
    else:
        networks["shared memory (measured)"] = (alpha, beta, False)
    shm_key = list(networks)[1]

    def network_at(net, nbytes):
        value = networks[net]
        return value(nbytes) if callable(value) else value
    out = []
    say = out.append
    say(f"Allreduce fit ({args.stat} latency, {len(ar_rows)} sizes of {args.fit_min_bytes} to "
        f"{args.fit_max_bytes} bytes at 2 ranks, least squares in relative error, "
        f"T = 2 alpha + n beta): alpha = {alpha * 1e6:.2f} us, beta = 1 / "
        f"({1 / beta / 1e9:.2f} GB/s).  Assumed cluster: alpha = {args.ib_alpha_us} us, "
        f"beta = 1 / ({args.ib_gbps} GB/s).")
    if shm_rows:
        say("")
        say("Node shared-memory sum (dpmnist-bench-allreduce --shm, 2 ranks), per gradient: "
            + "; ".join(f"{key} ({4 * (parameters(h) + 1):,} bytes): alpha "
                        f"{shm_rate(shm_rows, 4 * (parameters(h) + 1), args.stat)[0] * 1e6:.2f} us, "
                        f"1/beta {1 / shm_rate(shm_rows, 4 * (parameters(h) + 1), args.stat)[1] / 1e9:.2f} GB/s"
                        for key, h in MODELS.items()) + ".")
    say("")
    say("| message | bytes | measured us | fit us | fit / measured |")
    say("|---|---|---|---|---|")
    for r, n, t, used in zip(ar_all, ar_n, ar_t, fitted):
        fit = 2 * alpha + n * beta
        label = r.get("label") or ""
        say(f"| {label or 'power of 2'}{'' if used else ' (not fitted)'} | {int(n)} | "
            f"{t * 1e6:.1f} | {fit * 1e6:.1f} | {fit / t:.2f} |")
    say("")

    predictions = {}
    for key, hidden in MODELS.items():
        params = parameters(hidden)
        nbytes = 4 * (params + 1)  # the gradients and the trainer's control word
        sg = sgemm_step(sg_rows, hidden, BATCH, first_layer)
        if sg is None:  # not benchmarked: the seed's sgemm rate on this model's flops
            per_sample = 2 * 2 * sum(i * o for i, o in zip([INPUTS] + hidden, hidden + [CLASSES]))
            rate = 2 * 2 * (INPUTS * 128 + 128 * CLASSES) / seed_sg[0]
            sg = (per_sample / rate, 0.5 * per_sample / rate)
            source = "sgemm: seed rate (not benchmarked)"
        elif first_layer and any(int(r["hidden"]) == hidden[0] for r in first_layer):
            source = "sgemm measured, first layer: sparse-input kernels measured"
        else:
            source = "sgemm measured"
        if calib:
            opt = calib[0] * params / parameters(MODELS["seed"])
            rest = calib[1] * activations(hidden) / activations(MODELS["seed"])
        else:
            opt = rest = 0.0
        compute = sg[0] + opt + rest
        say(f"### {model_name(hidden)} ({params:,} parameters, allreduce {nbytes:,} bytes), "
            f"32 samples per rank")
        say("")
        say(f"Compute per step on one rank: {compute * 1e3:.3f} ms = sgemm {sg[0] * 1e3:.3f} "
            f"({source}; backward {sg[1] * 1e3:.3f}) + optimizer {opt * 1e3:.3f} + rest "
            f"{rest * 1e3:.3f}" + ("" if calib else " (no --scaling: sgemm only)") + ".")
        say("")
        density = next((float(r["density"]) for r in (first_layer or [])
                        if int(r["hidden"]) == hidden[0] and int(r["batch"]) == BATCH), None)
        message = {net: (lambda p, h=hidden, n=nbytes, d=density: shm_message(p, h, n, d))
                   if net == shm_key and shm_rows else nbytes for net in networks}
        if shm_rows and density is not None:
            most = max(p for p in RANKS if uses_factors(p, hidden))
            say(f"shm columns: the first kernel's gradient travels as factors at {most} ranks "
                f"per node and fewer (train.gradient_factors = auto), input density "
                f"{density:.3f}; whole gradients above.")
            say("")
        head = ["ranks", "global batch", "steps/epoch"]
        for net in networks:
            short = "IB" if net.startswith("IB") else "shm"
            head += [f"{short} allreduce us", f"{short} s/epoch", f"{short} efficiency"]
            if short == "IB":
                head += ["IB eff. (ring)", "IB eff. (overlap bound)", "IB eff. (sharded Adam)"]
        say("| " + " | ".join(head) + " |")
        say("|" + "---|" * len(head))
        per_net = {net: predict(compute, sg[1], opt, message[net], *network_at(net, nbytes))
                   for net in networks}
        predictions[key] = dict(compute=compute, nets=per_net, hidden=hidden)
        for i, p in enumerate(RANKS):
            if p not in TABLE_RANKS:
                continue
            first = next(iter(per_net.values()))[i]
            cells = [str(p), str(first["global_batch"]), str(first["steps"])]
            for net, rows in per_net.items():
                r = rows[i]
                cells += [f"{r['allreduce'] * 1e6:.0f}", f"{r['epoch']:.3g}",
                          f"{100 * r['efficiency']:.0f}%"]
                if net.startswith("IB"):
                    cells += [f"{100 * r['efficiency_ring']:.0f}%",
                              f"{100 * r['efficiency_overlap']:.0f}%",
                              f"{100 * r['efficiency_sharded']:.0f}%"]
            say("| " + " | ".join(cells) + " |")
        say("")
    if args.steps_to_target:
        out += time_to_target(read_csv(args.steps_to_target), predictions["seed"]["nets"])
    measured = [r for r in scaling if r["mode"] == "weak"]
    compared = [r for r in measured if r["oversubscribed"] == "0" and int(r["np"]) > 1
                and int(r["np"]) in RANKS]
    if compared and calib:
        say(f"Measured (launch/scaling.sh, weak, seed): np=1 step {calib[2] * 1e3:.3f} ms "
            f"(model {predictions['seed']['compute'] * 1e3:.3f} ms by construction); "
            + "; ".join(f"np={r['np']} efficiency {100 * float(r['efficiency']):.0f}% (shm model "
                        f"{100 * predictions['seed']['nets'][shm_key][RANKS.index(int(r['np']))]['efficiency']:.0f}%)"
                        for r in compared) + " (oversubscribed runs are not modelled).")
        say("")
    text = "\n".join(out)
    print(text)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text + "\n")
    if args.png:
        shm_points = None
        if shm_rows:
            shm_points = (np.array([float(r["bytes"]) for r in shm_rows]),
                          np.array([float(r[f"{args.stat}_us"]) * 1e-6 for r in shm_rows]))
        plot(args.png, ar_n, ar_t, fitted, alpha, beta, networks, predictions, measured,
             args.stat, shm_points)


def time_to_target(steps_rows, nets):
    """Markdown lines: statistical efficiency (steps to the target per global
    batch, from tools/batch_rules.py) times hardware efficiency (this model's
    seconds per step) = predicted time to the target, seed model."""
    by_batch = {int(r["global_batch"]): r for r in steps_rows}
    rule = steps_rows[0]["rule"] if steps_rows else "?"
    lines = [f"### Time to accuracy: seed model, rule `{rule}`", "",
             f"Steps to the target from S(B) = S_min (1 + B_noise / B) fitted to the measured "
             f"runs (S_min = {steps_rows[0]['s_min']} steps, B_noise = {steps_rows[0]['b_noise']} "
             "samples; `tools/batch_rules.py`), times the seconds per step predicted above. "
             "Measured steps are shown where the study ran that rank count; beyond it the fit "
             "extrapolates.", ""]
    head = ["ranks", "global batch", "steps (measured)", "steps (fit)", "epochs (fit)"]
    for net in nets:
        short = "IB" if net.startswith("IB") else "shm"
        head += [f"{short} ms/step", f"{short} time to target"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, p in enumerate(RANKS):
        first = next(iter(nets.values()))[i]
        row = by_batch.get(first["global_batch"])
        if row is None:
            continue
        steps = float(row["fit_steps"])
        cells = [str(p), str(first["global_batch"]), row["measured_steps"] or "-", f"{steps:.0f}",
                 f"{steps / first['steps']:.1f}"]
        for rows in nets.values():
            step = rows[i]["epoch"] / rows[i]["steps"]
            cells += [f"{step * 1e3:.3f}", f"{steps * step:.3g} s"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def plot(path, ar_n, ar_t, fitted, alpha, beta, networks, predictions, measured, stat,
         shm_points=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax_a, ax_e, ax_t) = plt.subplots(1, 3, figsize=(15, 4.4))
    sizes = np.logspace(math.log10(ar_n.min()), math.log10(ar_n.max()), 100)
    ax_a.loglog(ar_n[fitted], ar_t[fitted] * 1e6, "ko", ms=4,
                label=f"measured, 2 ranks ({stat}), fitted")
    ax_a.loglog(ar_n[~fitted], ar_t[~fitted] * 1e6, "ko", ms=4, mfc="white",
                label="measured, outside the fit range")
    ax_a.loglog(sizes, (2 * alpha + sizes * beta) * 1e6, "k-", lw=1,
                label=f"fit: alpha {alpha * 1e6:.1f} us, 1/beta {1 / beta / 1e9:.1f} GB/s")
    a_ib, b_ib, _ = networks["IB HDR (assumed)"]  # a tuple, not a function of size
    ax_a.loglog(sizes, (2 * a_ib + sizes * b_ib) * 1e6, "b--", lw=1,
                label="IB HDR assumed, 2 ranks")
    if shm_points is not None:
        ax_a.loglog(shm_points[0], shm_points[1] * 1e6, "g^", ms=4,
                    label="node shm sum (NodeSum), measured, 2 ranks")
    for key, ls in (("seed", ":"), ("wide", "-.")):
        nbytes = 4 * (parameters(MODELS[key]) + 1)
        ax_a.axvline(nbytes, color="grey", ls=ls, lw=0.8, label=f"{key} gradient")
    ax_a.set_xlabel("message bytes")
    ax_a.set_ylabel("allreduce us")
    ax_a.set_title("allreduce: measured (MPI) and alpha-beta fits", fontsize=9)
    ax_a.legend(fontsize=7)
    ax_a.grid(alpha=0.3, which="both")
    colors = {"seed": "tab:blue", "wide": "tab:red"}
    for key, pred in predictions.items():
        for net, rows in pred["nets"].items():
            ls = "-" if net.startswith("IB") else "--"
            lab = f"{model_name(pred['hidden'])}, {net}"
            ax_e.plot([r["p"] for r in rows], [r["efficiency"] for r in rows], ls,
                      color=colors[key], label=lab)
            ax_t.plot([r["p"] for r in rows], [r["epoch"] for r in rows], ls,
                      color=colors[key], label=lab)
    if measured:
        for over in ("0", "1"):
            pts = [r for r in measured if r["oversubscribed"] == over]
            kw = dict(color="k", ms=6, ls="none", mfc="white" if over == "1" else "k")
            lab = "measured seed, weak" + (" (oversubscribed)" if over == "1" else "")
            if pts:
                ax_e.plot([int(r["np"]) for r in pts], [float(r["efficiency"]) for r in pts],
                          "o", label=lab, **kw)
                ax_t.plot([int(r["np"]) for r in pts], [float(r["epoch_seconds"]) for r in pts],
                          "o", label=lab, **kw)
    for ax in (ax_e, ax_t):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("ranks (32 samples each)")
        ax.grid(alpha=0.3, which="both")
    for ax in (ax_e, ax_t):
        ax.set_xticks(RANKS, [str(p) for p in RANKS], fontsize=7)
    ax_e.set_ylim(0, 1.05)
    ax_e.set_ylabel("parallel efficiency (weak)")
    ax_e.set_title("predicted efficiency (solid: IB HDR, dashed: node shm sum)", fontsize=9)
    ax_e.legend(fontsize=7)
    ax_t.set_yscale("log")
    ax_t.set_ylabel("seconds per epoch (56,000 samples)")
    ax_t.set_title("predicted epoch time", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
