"""Reads and validates a dpmnist data file (docs/data_format.md, format_version 1):
both splits' images uint8 [n,28,28], labels uint8 [n] in 0..9, source_index
int32 [n], and the root attributes. It does not interpret the cleaning figures.
"""
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .common import ReportError, progress

SPLITS = ("train", "test")
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28)

# Attributes dpmnist-prepare writes about cleaning; synthetic files lack them.
CLEANING_ATTRIBUTES = ("pool_size", "official_train_count", "duplicate_groups",
                       "duplicate_images", "cross_official_groups", "conflicting_groups",
                       "conflicting_images", "blank_pixel_threshold", "blank_images",
                       "dropped_images", "straddling_groups")


@dataclass
class Split:
    name: str
    images: np.ndarray        # uint8 [n,28,28]
    labels: np.ndarray        # uint8 [n]
    source_index: np.ndarray  # int32 [n]

    @property
    def count(self):
        return len(self.labels)

    def class_counts(self):
        return np.bincount(self.labels, minlength=NUM_CLASSES)


@dataclass
class DataFile:
    path: Path
    attrs: dict = field(default_factory=dict)
    splits: dict = field(default_factory=dict)

    def attr(self, name, default=None):
        return self.attrs.get(name, default)


def ink_per_image(images):
    """Lit (nonzero) pixels per image [n], the quantity the blank check thresholds."""
    return np.count_nonzero(images.reshape(len(images), -1), axis=1)


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_split(path, f, name):
    datasets = {}
    for key, dtype, shape_tail in (("images", np.uint8, IMAGE_SHAPE), ("labels", np.uint8, ()),
                                   ("source_index", np.int32, ())):
        full = f"/{name}/{key}"
        if full not in f:
            raise ReportError(f"{path}: dataset {full} is missing (is this a file from "
                              "dpmnist-prepare?)")
        ds = f[full]
        if ds.dtype != dtype:
            raise ReportError(f"{path}: dataset {full} has type {ds.dtype}, expected "
                              f"{np.dtype(dtype).name}")
        if len(ds.shape) != 1 + len(shape_tail) or tuple(ds.shape[1:]) != shape_tail:
            expected = "[n," + ",".join(map(str, shape_tail)) + "]" if shape_tail else "[n]"
            raise ReportError(f"{path}: dataset {full} has shape {list(ds.shape)}, "
                              f"expected {expected}")
        datasets[key] = ds[...]
    count = len(datasets["images"])
    for key in ("labels", "source_index"):
        if len(datasets[key]) != count:
            raise ReportError(f"{path}: /{name}/{key} has {len(datasets[key])} rows but "
                              f"/{name}/images has {count}")
    if count == 0:
        raise ReportError(f"{path}: the {name} split is empty")
    bad = np.flatnonzero(datasets["labels"] >= NUM_CLASSES)
    if bad.size:
        raise ReportError(f"{path}: /{name}/labels[{bad[0]}] is {datasets['labels'][bad[0]]}, "
                          "expected 0..9")
    return Split(name, datasets["images"], datasets["labels"], datasets["source_index"])


def load_data_file(path):
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: no such data file (make it with build/bin/dpmnist-prepare "
                          f"--raw data/raw --out {path})")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ReportError(f"{path}: not a readable HDF5 file ({e})") from e
    with f:
        attrs = {k: _decode(v) for k, v in f.attrs.items()}
        version = attrs.get("format_version")
        if version != 1:
            raise ReportError(f"{path}: format_version is {version}, expected 1")
        splits = {name: _read_split(path, f, name) for name in SPLITS}
    data = DataFile(path, attrs, splits)
    progress(f"read {path}: {data.splits['train'].count} train / {data.splits['test'].count} "
             f"test digits, split {attrs.get('split', '?')}, seed {attrs.get('seed', '?')}")
    return data
