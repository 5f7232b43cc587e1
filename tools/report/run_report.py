"""The report of one run (runs/NAME -> runs/NAME/report/): headline numbers,
per-epoch table, figures, per-class table, and the check that an independent
numpy forward pass agrees with dpmnist-eval. It does not train or re-score.
"""
import json
import math
from pathlib import Path

import numpy as np

from . import common, run_figures
from .common import Document, ReportError, format_count, format_seconds, progress
from .datafile import NUM_CLASSES
from .run_figures import GALLERY_COLUMNS, GALLERY_ROWS
from .run_inputs import check_against_eval, load_checkpoint, load_metrics, predict, run_eval


def check_consistency(metrics, checkpoint, evaluation):
    """Warnings, not errors: a resumed or re-written run may legitimately differ."""
    last_epoch = int(metrics["epoch"][-1])
    if checkpoint.epoch != last_epoch:
        progress(f"warning: {checkpoint.path} is epoch {checkpoint.epoch} but "
                 f"{metrics.path} ends at epoch {last_epoch}")
    world_sizes = set(metrics["world_size"].astype(int).tolist())
    if len(world_sizes) > 1:
        progress(f"warning: {metrics.path} mixes world sizes {sorted(world_sizes)} (resumed)")
    if not math.isclose(metrics["test_acc"][-1], evaluation["accuracy"], abs_tol=2e-6):
        progress(f"warning: last test_acc in {metrics.path} is {metrics['test_acc'][-1]:.6f}, "
                 f"dpmnist-eval says {evaluation['accuracy']:.6f} (another data file?)")


def top_confusions(confusion, count=5):
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off.ravel(), kind="stable")[:count]
    return [(i // NUM_CLASSES, i % NUM_CLASSES, int(off.ravel()[i])) for i in order
            if off.ravel()[i] > 0]


def headline_rows(metrics, evaluation, numpy_correct, difference):
    epochs = int(metrics["epoch"][-1])
    world = int(metrics["world_size"][-1])
    first = 2 if metrics.epochs > 1 else 1
    accuracy = evaluation["accuracy"]
    return [
        ["test accuracy", f"**{100 * accuracy:.2f}%** ({accuracy:.6f}: {evaluation['correct']} "
         f"of {evaluation['count']} test digits)",
         f"dpmnist-eval --json; numpy reference {numpy_correct} ({difference:+d})"],
        ["epochs", str(epochs), f"metrics.csv ({metrics.epochs} rows), checkpoint epoch "
         f"{evaluation['epoch']}"],
        ["world size", str(world), "metrics.csv world_size (MPI ranks)"],
        ["seconds per epoch", f"{format_seconds(metrics.seconds_per_epoch())} s",
         f"mean epoch_seconds of epochs {first}..{epochs} (training steps, max over ranks; "
         "evaluation excluded)"],
        ["total time", f"{format_seconds(metrics.total_seconds())} s",
         f"sum of epoch_seconds{' + eval_seconds' if 'eval_seconds' in metrics else ''} over "
         f"{metrics.epochs} epoch(s) (start-up and data loading excluded)"],
    ]


def epoch_rows(metrics):
    rows = []
    for i in range(metrics.epochs):
        rows.append([int(metrics["epoch"][i]), f"{metrics['train_loss'][i]:.4f}",
                     f"{metrics['train_acc'][i]:.4f}", f"{metrics['test_loss'][i]:.4f}",
                     f"{metrics['test_acc'][i]:.4f}", format_seconds(metrics["epoch_seconds"][i]),
                     format_seconds(metrics["eval_seconds"][i]) if "eval_seconds" in metrics
                     else "", f"{metrics['samples_per_second'][i]:.0f}"
                     if "samples_per_second" in metrics else ""])
    return rows


def write_run_report(data, run_dir, out_dir, eval_bin):
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: no such run directory (dpmnist-train --out makes one)")
    progress(f"report of run {run_dir} -> {out_dir}/")
    metrics = load_metrics(run_dir / "metrics.csv")
    checkpoint = load_checkpoint(run_dir / "checkpoint.h5")
    evaluation = run_eval(eval_bin, checkpoint.path, data.path)
    out_dir = common.make_out_dir(out_dir)
    (out_dir / "eval.json").write_text(json.dumps(
        {**evaluation, "confusion": evaluation["confusion"].tolist()}, indent=1) + "\n")
    check_consistency(metrics, checkpoint, evaluation)
    test = data.splits["test"]
    predictions = predict(checkpoint.layers, test.images, test.labels)
    numpy_correct, difference = check_against_eval(predictions, test.labels, evaluation)

    doc = Document(f"Run report: {run_dir.name}")
    fnv = evaluation.get("weights_fnv1a")
    doc.paragraph(f"Run `{run_dir}`, checkpoint `{checkpoint.path}` (model "
                  f"{'-'.join(map(str, checkpoint.widths()))}), data `{data.path}` "
                  f"({format_count(test.count)} test digits). dpmnist-eval's JSON is kept as "
                  f"`eval.json` beside this report{f', weights FNV-1a `{fnv}`' if fnv else ''}.")
    doc.heading("Headline")
    doc.table(["number", "value", "source"], headline_rows(metrics, evaluation, numpy_correct,
                                                           difference), align="lll")
    doc.paragraph(f"Independent check: a numpy forward pass of the checkpoint's weights gets "
                  f"**{numpy_correct}** of {test.count} test digits right, dpmnist-eval "
                  f"{evaluation['correct']}: difference {difference:+d} (at most 2 allowed); "
                  f"mean loss {predictions.loss:.6f} against {evaluation['loss']:.6f}.")

    doc.heading("Training curves")
    doc.table(["epoch", "train loss", "train acc", "test loss", "test acc", "seconds",
               "eval seconds", "samples/s"], epoch_rows(metrics))
    run_figures.figure_curves(metrics, out_dir)
    doc.figure(out_dir / "curves.png",
               f"Loss and accuracy per epoch: test accuracy {100 * metrics['test_acc'][0]:.2f}% "
               f"after epoch 1, {100 * metrics['test_acc'][-1]:.2f}% after epoch "
               f"{int(metrics['epoch'][-1])}.")

    doc.heading("Errors by class")
    run_figures.figure_confusion(evaluation["confusion"], out_dir)
    pairs = ", ".join(f"{t} as {p}: {n}" for t, p, n in top_confusions(evaluation["confusion"]))
    doc.figure(out_dir / "confusion.png", "Confusion matrix (rows: true class, columns: "
               f"predicted; from dpmnist-eval). Most frequent confusions: {pairs or 'none'}.")
    per_class = evaluation["per_class"]
    doc.table(["class", "precision", "recall", "F1", "support"],
              [[c["class"], f"{c['precision']:.4f}", f"{c['recall']:.4f}", f"{c['f1']:.4f}",
                c["support"]] for c in per_class])
    worst = min(per_class, key=lambda c: c["f1"])
    doc.paragraph(f"Lowest F1: class {worst['class']} ({worst['f1']:.4f}).")

    doc.heading("Mistakes and confident successes")
    correct = predictions.correct(test.labels)
    cells = GALLERY_ROWS * GALLERY_COLUMNS
    wrong = np.flatnonzero(~correct)
    wrong = wrong[np.argsort(predictions.doubt[wrong], kind="stable")][:cells]
    if len(wrong):
        title = (f"The {len(wrong)} most confident mistakes of {int((~correct).sum())} "
                 "(true label, predicted, confidence of the prediction)")
        shown = wrong
    else:
        right = np.flatnonzero(correct)
        shown = right[np.argsort(-predictions.doubt[right], kind="stable")][:cells]
        title = (f"No mistakes on the {test.count} test digits: the {len(shown)} least "
                 "confident correct predictions instead")
    run_figures.figure_gallery("mistakes.png", title, test.images, test.labels, predictions,
                               shown, out_dir)
    doc.figure(out_dir / "mistakes.png", title + "; numpy forward pass, red titles: wrong.")
    right = np.flatnonzero(correct)
    best = right[np.argsort(predictions.doubt[right], kind="stable")][:cells]
    title = f"The {len(best)} most confident correct predictions"
    run_figures.figure_gallery("confident_correct.png", title, test.images, test.labels,
                               predictions, best, out_dir)
    doc.figure(out_dir / "confident_correct.png",
               title + " (p=1-1e-09 means a probability of 1e-09 left for the other classes).")

    doc.heading("What the first layer learned")
    run_figures.figure_weights(checkpoint.layers[0][0], out_dir)
    doc.figure(out_dir / "first_layer_weights.png",
               "Incoming weights of the hidden units with the largest norm: red pixels push the "
               "unit up, blue pixels down.")

    doc.heading("Where the time goes")
    if run_figures.figure_time(metrics, out_dir) is not None:
        doc.figure(out_dir / "time_breakdown.png",
                   "Seconds per epoch by phase, stacked; on the right, each phase's spread over "
                   "ranks (a wide comm bar is time spent waiting for the slowest rank).")
    else:
        doc.paragraph("metrics.csv has no timing columns: no time breakdown.")

    doc.heading("Calibration")
    _, ece, counts = run_figures.figure_calibration(predictions, test.labels, out_dir)
    top_share = counts[-1] / counts.sum()
    doc.figure(out_dir / "calibration.png",
               f"Accuracy against confidence in {run_figures.CALIBRATION_BINS} equal bins; "
               f"expected calibration error **{100 * ece:.2f}%**; {100 * top_share:.1f}% of the "
               "test digits fall in the top bin.")
    doc.paragraph(f"Expected calibration error (ECE): {ece:.4f}")

    if checkpoint.config:
        doc.heading("Configuration (from the checkpoint)")
        doc.code(checkpoint.config)
    return doc.write(out_dir)
