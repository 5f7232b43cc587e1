#!/usr/bin/python3
"""Checks the two reports of tools/report.py against their sources: every figure
is a valid PNG (signature, chunk CRCs, inflatable image data) of the expected
size and not blank; report.html inlines each PNG byte for byte; the numbers in
report.md match metrics.csv, dpmnist-eval's JSON and the data file.
  check_report.py --data-report DIR --run-report DIR --metrics CSV --eval JSON --data H5
Exits 1 with one line per failure. It never runs the tools itself.
"""
import argparse
import base64
import csv
import json
import re
import struct
import sys
import zlib
from pathlib import Path

import h5py
import matplotlib.image
import numpy as np

# The sizes tools/report fixes for its figures (width, height in pixels).
DATA_FIGURES = {
    "class_counts.png": (1000, 450),
    "samples.png": (1000, 950),
    "class_mean_std.png": (1300, 360),
    "intensity_ink.png": (1500, 480),
    "cleaning.png": (1200, 1000),
    "pca.png": (900, 750),
}
RUN_FIGURES = {
    "curves.png": (1200, 450),
    "confusion.png": (800, 720),
    "mistakes.png": (1200, 600),
    "confident_correct.png": (1200, 600),
    "first_layer_weights.png": (1100, 400),
    "time_breakdown.png": (1300, 500),
    "calibration.png": (800, 800),
}
# Not blank: measured, a white figure with only a title has luminance std 0.054 and
# 0.6% drawn pixels, one empty titled axes 0.083 and 0.9%; the sparsest real
# figure (pca.png of the tiny test run) has 0.107 and 2.8%.
MIN_LUMINANCE_STD = 0.05     # [0,1] units
MIN_INK_FRACTION = 0.015     # share of pixels more than 0.1 from the background

failures = []


def fail(message):
    failures.append(message)
    print(f"FAIL: {message}", file=sys.stderr)


def check_png(path, expected_size):
    """Structure by hand (so a truncated or corrupted file fails), pixels via matplotlib."""
    before = len(failures)
    if not path.is_file():
        return fail(f"{path}: missing")
    raw = path.read_bytes()
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        return fail(f"{path}: no PNG signature")
    offset, chunks, idat = 8, [], b""
    while offset < len(raw):
        if offset + 8 > len(raw):
            return fail(f"{path}: truncated chunk header at byte {offset}")
        length, kind = struct.unpack(">I4s", raw[offset:offset + 8])
        body = raw[offset + 8:offset + 8 + length]
        crc = raw[offset + 8 + length:offset + 12 + length]
        if len(body) != length or len(crc) != 4:
            return fail(f"{path}: chunk {kind!r} truncated")
        if zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            return fail(f"{path}: CRC mismatch in chunk {kind!r}")
        chunks.append(kind)
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    if not chunks or chunks[0] != b"IHDR" or chunks[-1] != b"IEND" or b"IDAT" not in chunks:
        return fail(f"{path}: chunks {chunks[:3]}...{chunks[-1:]} are not IHDR ... IDAT ... IEND")
    if (width, height) != tuple(expected_size):
        fail(f"{path}: {width}x{height} pixels, expected {expected_size[0]}x{expected_size[1]}")
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    try:
        pixels_raw = zlib.decompress(idat)
    except zlib.error as e:
        return fail(f"{path}: image data does not inflate ({e})")
    if depth != 8 or channels is None or len(pixels_raw) != height * (1 + width * channels):
        return fail(f"{path}: {len(pixels_raw)} bytes of image data for {width}x{height}, "
                    f"depth {depth}, colour type {colour}")
    image = matplotlib.image.imread(path)
    luminance = image[..., :3].mean(axis=2) if image.ndim == 3 else image
    background = np.median(luminance)
    ink = np.mean(np.abs(luminance - background) > 0.1)
    if luminance.std() < MIN_LUMINANCE_STD or ink < MIN_INK_FRACTION:
        return fail(f"{path}: looks blank (luminance std {luminance.std():.4f}, "
                    f"{100 * ink:.2f}% non-background pixels)")
    if len(failures) == before:
        print(f"ok: {path.name} {width}x{height}, luminance std {luminance.std():.3f}, "
              f"{100 * ink:.1f}% drawn")


def check_documents(report_dir, figures):
    md_path, html_path = report_dir / "report.md", report_dir / "report.html"
    for path in (md_path, html_path):
        if not path.is_file():
            fail(f"{path}: missing")
            return ""
    md, page = md_path.read_text(), html_path.read_text()
    inlined = {base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"',
                                                       page)}
    if "src=\"" + "http" in page:
        fail(f"{html_path}: refers to a remote resource; it must read offline")
    for name, size in figures.items():
        check_png(report_dir / name, size)
        if f"]({name})" not in md:
            fail(f"{md_path}: does not show {name}")
        if (report_dir / name).is_file() and (report_dir / name).read_bytes() not in inlined:
            fail(f"{html_path}: does not inline {name} byte for byte")
    return md


def table_rows(md, first_header):
    """Rows (lists of cells) of the Markdown table whose header starts with first_header."""
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"| {first_header} |"):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip() for c in row.strip("|").split(" | ")])
            return rows
    fail(f"report.md has no table headed '{first_header}'")
    return []


def expect_close(what, seen, expected, tolerance):
    if seen is None or abs(seen - expected) > tolerance:
        fail(f"{what}: report.md says {seen}, the source says {expected} (tolerance {tolerance})")
    else:
        print(f"ok: {what} {seen} (source {expected:.6g})")


def number_in(cell, pattern):
    match = re.search(pattern, cell)
    return float(match.group(1)) if match else None


def check_run(md, metrics_path, eval_path):
    with open(metrics_path, newline="") as f:
        rows = list(csv.DictReader(f))
    metrics = {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}
    evaluation = json.loads(eval_path.read_text())
    correct = int(np.trace(np.array(evaluation["confusion"])))
    headline = {r[0]: r[1] for r in table_rows(md, "number")}
    accuracy = headline.get("test accuracy", "")
    expect_close("accuracy (%)", number_in(accuracy, r"\*\*([0-9.]+)%\*\*"),
                 100 * evaluation["accuracy"], 0.005)
    expect_close("accuracy", number_in(accuracy, r"\(([0-9.]+):"), evaluation["accuracy"], 5e-7)
    expect_close("correct digits", number_in(accuracy, r": (\d+) of"), correct, 0)
    expect_close("test digits", number_in(accuracy, r" of (\d+) test"), evaluation["count"], 0)
    epochs = metrics["epoch"][-1]
    if evaluation["epoch"] != epochs:
        fail(f"dpmnist-eval says epoch {evaluation['epoch']}, metrics.csv ends at {epochs}")
    expect_close("epochs", number_in(headline.get("epochs", ""), r"^(\d+)"), epochs, 0)
    expect_close("world size", number_in(headline.get("world size", ""), r"^(\d+)"),
                 metrics["world_size"][-1], 0)
    if evaluation["world_size"] != metrics["world_size"][-1]:
        fail(f"dpmnist-eval world size {evaluation['world_size']} != metrics.csv "
             f"{metrics['world_size'][-1]}")
    steady = metrics["epoch_seconds"][1:] if len(rows) > 1 else metrics["epoch_seconds"]
    per_epoch = steady.mean()
    expect_close("seconds per epoch", number_in(headline.get("seconds per epoch", ""),
                                                r"^([0-9.e+-]+) s"), per_epoch, 1e-3 * per_epoch)
    total = (metrics["epoch_seconds"] + metrics["eval_seconds"]).sum()
    expect_close("total seconds", number_in(headline.get("total time", ""), r"^([0-9.e+-]+) s"),
                 total, 1e-3 * total)
    reference = number_in(headline.get("test accuracy", "") + " " + md,
                          r"difference ([+-]\d+) \(at most 2")
    if reference is None or abs(reference) > 2:
        fail(f"numpy reference differs from dpmnist-eval by {reference} digits (at most 2)")
    epoch_table = table_rows(md, "epoch")
    if len(epoch_table) != len(rows):
        fail(f"per-epoch table has {len(epoch_table)} rows, metrics.csv {len(rows)}")
    for row, i in zip(epoch_table, range(len(rows))):
        for column, key in ((1, "train_loss"), (2, "train_acc"), (3, "test_loss"), (4, "test_acc")):
            if abs(float(row[column]) - metrics[key][i]) > 5.01e-5:
                fail(f"per-epoch table epoch {row[0]} {key} {row[column]} != metrics.csv "
                     f"{metrics[key][i]}")
    class_table = table_rows(md, "class")
    if len(class_table) != len(evaluation["per_class"]):
        fail(f"per-class table has {len(class_table)} rows, dpmnist-eval "
             f"{len(evaluation['per_class'])}")
    for row, expected in zip(class_table, evaluation["per_class"]):
        for column, key in ((1, "precision"), (2, "recall"), (3, "f1"), (4, "support")):
            if abs(float(row[column]) - expected[key]) > 5.01e-5:
                fail(f"per-class table class {row[0]} {key} {row[column]} != dpmnist-eval "
                     f"{expected[key]}")
    ece = number_in(md, r"Expected calibration error \(ECE\): ([0-9.]+)")
    if ece is None or not 0 <= ece <= 1:
        fail(f"report.md gives no expected calibration error in [0,1] (saw {ece})")


def check_data(md, data_path):
    with h5py.File(data_path, "r") as f:
        labels = {s: f[f"/{s}/labels"][...] for s in ("train", "test")}
    match = re.search(r"\*\*([\d,]+) train / ([\d,]+) test\*\*", md)
    seen = tuple(int(g.replace(",", "")) for g in match.groups()) if match else None
    if seen != (len(labels["train"]), len(labels["test"])):
        fail(f"data report says {seen} train/test digits, the file has "
             f"{len(labels['train'])}/{len(labels['test'])}")
    counts = {s: np.bincount(labels[s], minlength=10) for s in labels}
    rows = [r for r in table_rows(md, "class") if r[0].isdigit()]
    if len(rows) < 10:
        fail(f"class count table has {len(rows)} class rows, expected 10")
    for row in rows[:10]:
        c = int(row[0])
        for column, split in ((1, "train"), (2, "test")):
            if int(row[column].replace(",", "")) != counts[split][c]:
                fail(f"class table: class {c} {split} {row[column]} != file {counts[split][c]}")
    print(f"ok: data report counts match {data_path}")


def main():
    parser = argparse.ArgumentParser()
    for name in ("--data-report", "--run-report", "--metrics", "--eval", "--data"):
        parser.add_argument(name, type=Path, required=True)
    args = parser.parse_args()
    data_md = check_documents(args.data_report, DATA_FIGURES)
    if data_md:
        check_data(data_md, args.data)
    run_md = check_documents(args.run_report, RUN_FIGURES)
    if run_md:
        check_run(run_md, args.metrics, args.eval)
    if failures:
        print(f"check_report: {len(failures)} failure(s)", file=sys.stderr)
        return 1
    print("check_report: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
