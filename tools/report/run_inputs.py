"""A run's inputs, validated: metrics.csv (by column name), checkpoint.h5 (the
Dense stack), dpmnist-eval's JSON, and an independent numpy forward pass that
gives per-sample probabilities. It draws nothing.
"""
import csv
import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .common import ReportError, progress
from .datafile import NUM_CLASSES

REQUIRED_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc",
                    "epoch_seconds", "world_size")
PHASES = ("data", "forward", "backward", "comm", "optimizer", "eval")
OLD_COMM = "allreduce_"  # the comm phase's columns in files written before the rename
INPUT_SIZE = 28 * 28


class Metrics:
    """metrics.csv as columns of float64 arrays, one row per epoch."""

    def __init__(self, path, columns):
        self.path = path
        self.columns = columns

    def __contains__(self, name):
        return name in self.columns

    def __getitem__(self, name):
        return self.columns[name]

    @property
    def epochs(self):
        return len(self.columns["epoch"])

    def has_phases(self):
        return all(f"{p}_{s}" in self for p in PHASES for s in ("min", "median", "max"))

    def steady_rows(self):
        """Rows of epochs 2..N (the first epoch pays warm-up), or all when N = 1."""
        return slice(1, None) if self.epochs > 1 else slice(0, None)

    def seconds_per_epoch(self):
        return float(np.mean(self["epoch_seconds"][self.steady_rows()]))

    def total_seconds(self):
        total = self["epoch_seconds"].sum()
        if "eval_seconds" in self:
            total += self["eval_seconds"].sum()
        return float(total)


def load_metrics(path):
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: no metrics.csv (dpmnist-train writes it each epoch)")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ReportError(f"{path}: empty file, expected a header and one row per epoch")
    header = [name.strip() for name in rows[0]]
    header = ["comm_" + h[len(OLD_COMM):] if h.startswith(OLD_COMM) else h for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ReportError(f"{path}: header lacks column(s) {', '.join(missing)}; "
                          f"it has {', '.join(header)}")
    body = [r for r in rows[1:] if r]
    if not body:
        raise ReportError(f"{path}: no epoch rows after the header")
    values = np.zeros((len(body), len(header)))
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ReportError(f"{path}: line {line} has {len(row)} fields, the header has "
                              f"{len(header)}")
        for j, text in enumerate(row):
            try:
                values[line - 2, j] = float(text)
            except ValueError:
                raise ReportError(f"{path}: line {line}, column {header[j]}: '{text}' is not "
                                  "a number") from None
    metrics = Metrics(path, {name: values[:, j] for j, name in enumerate(header)})
    progress(f"read {path}: {metrics.epochs} epoch(s), {len(header)} columns"
             f"{', per-phase timing' if metrics.has_phases() else ''}")
    return metrics


@dataclass
class Checkpoint:
    path: Path
    layers: list          # [(kernel float32 [in,out], bias float32 [out])], ReLU between
    epoch: int
    world_size: int
    config: str

    def widths(self):
        return [self.layers[0][0].shape[0]] + [w.shape[1] for w, _ in self.layers]


def _attr(f, name, default=None):
    value = f.attrs.get(name, default)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value.item() if isinstance(value, np.generic) else value


def load_checkpoint(path):
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: no checkpoint (dpmnist-train writes checkpoint.h5 in the "
                          "run directory)")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ReportError(f"{path}: not a readable HDF5 file ({e})") from e
    with f:
        # 2 added /progress/trained, which the report does not read.
        if _attr(f, "format_version") not in (1, 2):
            raise ReportError(f"{path}: format_version is {_attr(f, 'format_version')}, "
                              "expected 1 or 2")
        layers = []
        while f"/model/dense_{len(layers)}/kernel" in f:
            group = f"/model/dense_{len(layers)}"
            if f"{group}/bias" not in f:
                raise ReportError(f"{path}: {group}/bias is missing")
            kernel, bias = f[f"{group}/kernel"][...], f[f"{group}/bias"][...]
            if kernel.ndim != 2 or bias.shape != (kernel.shape[1],):
                raise ReportError(f"{path}: {group} kernel {list(kernel.shape)} and bias "
                                  f"{list(bias.shape)} do not form a [in,out] layer")
            if layers and layers[-1][0].shape[1] != kernel.shape[0]:
                raise ReportError(f"{path}: {group}/kernel takes {kernel.shape[0]} inputs, the "
                                  f"layer before gives {layers[-1][0].shape[1]}")
            if not (np.isfinite(kernel).all() and np.isfinite(bias).all()):
                raise ReportError(f"{path}: {group} holds NaN or infinite weights")
            layers.append((kernel.astype(np.float32), bias.astype(np.float32)))
        if not layers:
            raise ReportError(f"{path}: no /model/dense_0/kernel (not a dpmnist checkpoint?)")
        checkpoint = Checkpoint(path, layers, int(_attr(f, "epoch", 0)),
                                int(_attr(f, "world_size", 0)), _attr(f, "config", ""))
    if checkpoint.widths()[0] != INPUT_SIZE or checkpoint.widths()[-1] != NUM_CLASSES:
        raise ReportError(f"{path}: model {'-'.join(map(str, checkpoint.widths()))} does not map "
                          f"{INPUT_SIZE} pixels to {NUM_CLASSES} classes")
    progress(f"read {path}: model {'-'.join(map(str, checkpoint.widths()))}, epoch "
             f"{checkpoint.epoch}, world size {checkpoint.world_size}")
    return checkpoint


def run_eval(eval_bin, checkpoint_path, data_path):
    """dpmnist-eval --json on the test split; returns the parsed object."""
    eval_bin = Path(eval_bin)
    if not eval_bin.is_file():
        raise ReportError(f"{eval_bin}: dpmnist-eval not found; build it (cmake --build build) or "
                          "pass --eval-bin")
    command = [str(eval_bin), "--checkpoint", str(checkpoint_path), "--data", str(data_path),
               "--json"]
    progress("running " + " ".join(command))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ReportError(f"{eval_bin}: could not run ({e})") from e
    if done.returncode != 0:
        raise ReportError(f"{eval_bin} exited with {done.returncode}: "
                          f"{done.stderr.strip() or done.stdout.strip()}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError) as e:
        raise ReportError(f"{eval_bin}: --json printed no JSON object ({e}); output was: "
                          f"{done.stdout[:300]}") from e
    for key in ("accuracy", "loss", "count", "per_class", "confusion", "epoch", "world_size"):
        if key not in result:
            raise ReportError(f"{eval_bin}: JSON output lacks '{key}'")
    confusion = np.asarray(result["confusion"], dtype=np.int64)
    if confusion.shape != (NUM_CLASSES, NUM_CLASSES) or confusion.sum() != result["count"]:
        raise ReportError(f"{eval_bin}: confusion matrix {list(confusion.shape)} summing to "
                          f"{confusion.sum()} does not fit count {result['count']}")
    result["confusion"] = confusion
    result["correct"] = int(np.trace(confusion))
    return result


@dataclass
class Predictions:
    """Per-sample results of the numpy forward pass on one split."""
    logits: np.ndarray       # float32 [n,10]
    probabilities: np.ndarray  # float64 [n,10]
    predicted: np.ndarray    # int64 [n]
    confidence: np.ndarray   # float64 [n], probability of the predicted class
    doubt: np.ndarray        # float64 [n], 1 - confidence computed without cancellation
    loss: float              # mean cross-entropy

    def correct(self, labels):
        return self.predicted == labels


def forward_logits(layers, images, batch=2000):
    """images uint8 [n,28,28] -> logits float32 [n,10]; x = pixel / 255 in float32 as
    dpmnist does (a float division), Dense + ReLU, the last layer without ReLU."""
    out = np.empty((len(images), layers[-1][0].shape[1]), dtype=np.float32)
    for begin in range(0, len(images), batch):
        x = images[begin:begin + batch].reshape(-1, INPUT_SIZE).astype(np.float32)
        x /= np.float32(255)
        for i, (kernel, bias) in enumerate(layers):
            x = x @ kernel + bias
            if i + 1 < len(layers):
                np.maximum(x, 0, out=x)
        out[begin:begin + batch] = x
    return out


def predict(layers, images, labels):
    logits = forward_logits(layers, images)
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1)
    predicted = logits.argmax(axis=1)
    rows = np.arange(len(logits))
    confidence = exp[rows, predicted] / total
    doubt = (total - exp[rows, predicted]) / total
    loss = float(np.mean(np.log(total) - shifted[rows, labels]))
    return Predictions(logits, exp / total[:, None], predicted, confidence, doubt, loss)


def check_against_eval(predictions, labels, evaluation, allowed=2):
    """The numpy count of correct test digits must equal dpmnist-eval's within `allowed`."""
    numpy_correct = int(predictions.correct(labels).sum())
    difference = numpy_correct - evaluation["correct"]
    progress(f"numpy reference: {numpy_correct} of {len(labels)} correct "
             f"({numpy_correct / len(labels):.6f}), loss {predictions.loss:.6f}; dpmnist-eval: "
             f"{evaluation['correct']} of {evaluation['count']} ({evaluation['accuracy']:.6f}), "
             f"loss {evaluation['loss']:.6f}; difference {difference:+d} digit(s) "
             f"(allowed {allowed})")
    if evaluation["count"] != len(labels):
        raise ReportError(f"dpmnist-eval scored {evaluation['count']} test digits but the data "
                          f"file has {len(labels)}")
    if abs(difference) > allowed:
        raise ReportError(f"numpy forward pass gets {numpy_correct} correct, dpmnist-eval "
                          f"{evaluation['correct']}: they differ by {abs(difference)} > {allowed} "
                          "digits (wrong data file for this checkpoint, or a forward-pass bug)")
    if not math.isclose(predictions.loss, evaluation["loss"], rel_tol=1e-3, abs_tol=1e-5):
        progress(f"warning: numpy loss {predictions.loss:.6f} differs from dpmnist-eval's "
                 f"{evaluation['loss']:.6f}")
    return numpy_correct, difference
