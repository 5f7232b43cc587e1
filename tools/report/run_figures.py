"""The figures of a run report: curves, confusion, galleries, first-layer
weights, time breakdown and calibration. Each takes validated inputs and
returns what its caption needs; none reads files or checks consistency.
"""
import numpy as np
from matplotlib.colors import LogNorm

from .common import format_count, new_figure, save_figure, show_digit
from .datafile import NUM_CLASSES
from .run_inputs import PHASES

# name -> (width, height) in pixels; tests/report/check_report.py holds the same table.
FIGURES = {
    "curves.png": (1200, 450),
    "confusion.png": (800, 720),
    "mistakes.png": (1200, 600),
    "confident_correct.png": (1200, 600),
    "first_layer_weights.png": (1100, 400),
    "time_breakdown.png": (1300, 500),
    "calibration.png": (800, 800),
}
GALLERY_ROWS, GALLERY_COLUMNS = 3, 8
WEIGHT_UNITS = 16
CALIBRATION_BINS = 15


def format_confidence(confidence, doubt):
    """Confidence near 1 is shown by its distance from 1, which float64 keeps."""
    if doubt == 0:
        return "p=1 (float64)"
    if doubt < 1e-3:
        return f"p=1-{doubt:.0e}"
    return f"p={confidence:.3f}"


def figure_curves(metrics, out_dir):
    epochs = metrics["epoch"]
    fig = new_figure(FIGURES["curves.png"])
    loss_ax, acc_ax = fig.subplots(1, 2)
    for ax, key, label in ((loss_ax, "loss", "cross-entropy loss"),
                           (acc_ax, "acc", "accuracy (%)")):
        scale = 100 if key == "acc" else 1
        for split, style in (("train", "o-"), ("test", "s--")):
            values = metrics[f"{split}_{key}"] * scale
            ax.plot(epochs, values, style, label=f"{split} (last {values[-1]:.4g})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
        ax.legend()
    loss_ax.set_title("Loss per epoch (train: running mean over the epoch)")
    acc_ax.set_title("Accuracy per epoch")
    return save_figure(fig, out_dir, "curves.png", FIGURES["curves.png"])


def figure_confusion(confusion, out_dir):
    fig = new_figure(FIGURES["confusion.png"])
    ax = fig.subplots()
    masked = np.ma.masked_equal(confusion, 0)
    image = ax.imshow(masked, cmap="Blues", norm=LogNorm(vmin=1, vmax=max(confusion.max(), 2)))
    threshold = np.sqrt(max(confusion.max(), 1))
    for t in range(NUM_CLASSES):
        for p in range(NUM_CLASSES):
            count = confusion[t, p]
            color = "lightgray" if count == 0 else ("white" if count > threshold else "black")
            ax.text(p, t, str(count), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(NUM_CLASSES))
    ax.set_yticks(range(NUM_CLASSES))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    correct, total = np.trace(confusion), confusion.sum()
    ax.set_title(f"Confusion matrix, test split: {format_count(correct)} of {format_count(total)} "
                 f"correct ({100 * correct / total:.2f}%)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="test digits (log scale; blank = 0)")
    return save_figure(fig, out_dir, "confusion.png", FIGURES["confusion.png"])


def figure_gallery(name, title, images, labels, predictions, chosen, out_dir):
    """A grid of test digits: true label, predicted label, confidence."""
    fig = new_figure(FIGURES[name])
    axes = fig.subplots(GALLERY_ROWS, GALLERY_COLUMNS).ravel()
    for ax, i in zip(axes, chosen):
        wrong = predictions.predicted[i] != labels[i]
        show_digit(ax, images[i], f"true {labels[i]}, pred {predictions.predicted[i]}\n"
                   f"{format_confidence(predictions.confidence[i], predictions.doubt[i])}",
                   fontsize=9, title_color="firebrick" if wrong else "darkgreen")
    for ax in axes[len(chosen):]:
        ax.axis("off")
    fig.suptitle(title)
    return save_figure(fig, out_dir, name, FIGURES[name])


def figure_weights(kernel, out_dir):
    """Incoming weights of the hidden units with the largest L2 norm, each scaled
    to its own max |w| so that the pattern, not the magnitude, is compared."""
    norms = np.linalg.norm(kernel, axis=0)
    units = np.argsort(-norms, kind="stable")[:WEIGHT_UNITS]
    fig = new_figure(FIGURES["first_layer_weights.png"])
    axes = fig.subplots(2, WEIGHT_UNITS // 2).ravel()
    for ax, unit in zip(axes, units):
        w = kernel[:, unit].reshape(28, 28)
        image = ax.imshow(w / np.abs(w).max(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(f"unit {unit}\n|w|={norms[unit]:.2f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(units):]:
        ax.axis("off")
    fig.colorbar(image, ax=axes.tolist(), shrink=0.8,
                 label="weight / max |weight| of the unit (red +, blue -)")
    fig.suptitle(f"First-layer weights of the {len(units)} hidden units (of {kernel.shape[1]}) "
                 "with the largest weight norm, as 28x28 images")
    return save_figure(fig, out_dir, "first_layer_weights.png", FIGURES["first_layer_weights.png"])


def figure_time(metrics, out_dir):
    """Stacked seconds per epoch; per-phase median over ranks with min/max whiskers
    when metrics.csv has them, else the max-over-ranks totals. None: no timing."""
    epochs = metrics["epoch"]
    fig = new_figure(FIGURES["time_breakdown.png"])
    left, right = fig.subplots(1, 2, width_ratios=[1.6, 1])
    if metrics.has_phases():
        parts = [(p, metrics[f"{p}_median"], metrics[f"{p}_min"], metrics[f"{p}_max"])
                 for p in PHASES]
        kind = "median over ranks; whiskers: min to max over ranks"
    else:
        names = [n for n in ("data", "compute", "comm", "eval") if f"{n}_seconds" in metrics]
        if not names:
            return None
        parts = [(n, metrics[f"{n}_seconds"], None, None) for n in names]
        kind = "max over ranks (this metrics.csv has no per-phase columns)"
    base = np.zeros(len(epochs))
    for i, (name, median, low, high) in enumerate(parts):
        left.bar(epochs, median, 0.6, bottom=base, label=name, color=f"C{i}")
        if low is not None:
            left.errorbar(epochs + 0.05 * (i - 2.5), base + median,
                          yerr=[median - low, high - median], fmt="none", ecolor="black",
                          elinewidth=0.8, capsize=2)
        base = base + median
    if "eval_seconds" in metrics:
        left.plot(epochs, metrics["epoch_seconds"] + metrics["eval_seconds"], "kD", ms=5,
                  label="epoch_seconds + eval_seconds")
    left.set_xlabel("epoch")
    left.set_ylabel("seconds")
    left.set_xticks(epochs)
    left.set_title(f"Time per epoch by phase ({kind})", fontsize=10)
    left.set_ylim(0, 1.3 * max(base.max(), left.get_ylim()[1] / 1.05))
    left.legend(fontsize=8, loc="upper left", ncol=4)
    if parts[0][2] is not None:
        steady = metrics.steady_rows()
        medians = np.array([p[1][steady].mean() for p in parts])
        lows = np.array([p[2][steady].mean() for p in parts])
        highs = np.array([p[3][steady].mean() for p in parts])
        y = np.arange(len(parts))
        right.barh(y, medians, color=[f"C{i}" for i in y],
                   xerr=[medians - lows, highs - medians], capsize=4)
        right.set_yticks(y, [p[0] for p in parts])
        right.invert_yaxis()
        right.set_xlabel("seconds per epoch")
        first = 2 if metrics.epochs > 1 else 1
        right.set_title(f"Mean of epochs {first}..{int(epochs[-1])}: median over ranks, "
                        "whiskers min..max", fontsize=10)
    else:
        right.axis("off")
        right.text(0.5, 0.5, "no per-rank timing in metrics.csv", ha="center", va="center")
    return save_figure(fig, out_dir, "time_breakdown.png", FIGURES["time_breakdown.png"])


def calibration_bins(confidence, correct, bins=CALIBRATION_BINS):
    """Equal-width bins on [0,1]: (count, accuracy, mean confidence) per bin and ECE."""
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    hits = np.bincount(index, weights=correct.astype(float), minlength=bins)
    confidence_sum = np.bincount(index, weights=confidence, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy, mean_confidence = hits / counts, confidence_sum / counts
    filled = counts > 0
    ece = float(np.sum(counts[filled] * np.abs(accuracy[filled] - mean_confidence[filled]))
                / counts.sum())
    return counts, accuracy, mean_confidence, ece


def figure_calibration(predictions, labels, out_dir):
    correct = predictions.correct(labels)
    counts, accuracy, mean_confidence, ece = calibration_bins(predictions.confidence, correct)
    edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
    centers, width = (edges[:-1] + edges[1:]) / 2, 1 / CALIBRATION_BINS
    filled = counts > 0
    fig = new_figure(FIGURES["calibration.png"])
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    top.bar(centers[filled], accuracy[filled], width, edgecolor="black", color="C0",
            label="accuracy in bin")
    gap_low = np.minimum(accuracy, mean_confidence)[filled]
    top.bar(centers[filled], np.abs(accuracy - mean_confidence)[filled], width, bottom=gap_low,
            facecolor="none", edgecolor="red", hatch="//", label="gap to mean confidence")
    top.plot(centers[filled], mean_confidence[filled], "r_", ms=14, mew=2,
             label="mean confidence in bin")
    top.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    top.set_ylabel("accuracy")
    top.set_ylim(0, 1.02)
    top.set_title(f"Reliability diagram, test split ({CALIBRATION_BINS} bins): "
                  f"ECE = {100 * ece:.2f}%")
    top.legend(loc="upper left")
    bottom.bar(centers[filled], counts[filled], width, edgecolor="black", color="gray")
    bottom.set_yscale("log")
    bottom.set_xlabel("confidence (probability of the predicted class)")
    bottom.set_ylabel("digits (log)")
    bottom.set_xlim(0, 1)
    return save_figure(fig, out_dir, "calibration.png", FIGURES["calibration.png"]), ece, counts
