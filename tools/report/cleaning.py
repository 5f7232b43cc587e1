"""What cleaning found, recomputed from the data file: exact-duplicate groups
over both splits, the sparsest images (what a blank filter looks at), and the
nearest test/train pairs (near duplicates that hashing cannot catch). It drops
nothing; dpmnist-prepare's own figures are the file's attributes.
"""
import numpy as np

from .common import format_count, new_figure, save_figure, show_digit
from .datafile import SPLITS, ink_per_image

FIGURE = ("cleaning.png", (1200, 1000))
NEAR_PAIR_SAMPLE = 1000


def find_duplicates(data):
    """Exact-duplicate groups over both splits: lists of (split, row)."""
    pooled = np.concatenate([data.splits[s].images.reshape(data.splits[s].count, -1)
                             for s in SPLITS])
    owners = [(s, i) for s in SPLITS for i in range(data.splits[s].count)]
    keys = np.ascontiguousarray(pooled).view(np.dtype((np.void, pooled.shape[1]))).ravel()
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    duplicated = np.flatnonzero(counts[inverse] > 1)
    members = duplicated[np.argsort(inverse[duplicated], kind="stable")]
    groups, start = [], 0
    while start < len(members):
        size = counts[inverse[members[start]]]
        groups.append([owners[i] for i in members[start:start + size]])
        start += size
    return groups


def nearest_test_train_pairs(data, rng, pairs=8):
    """Closest train image (Euclidean on pixel/255) for a sample of test images."""
    train, test = data.splits["train"], data.splits["test"]
    sample = np.sort(rng.choice(test.count, size=min(NEAR_PAIR_SAMPLE, test.count),
                                replace=False))
    a = test.images[sample].reshape(len(sample), -1).astype(np.float32) / 255
    b = train.images.reshape(train.count, -1).astype(np.float32) / 255
    b_norms = (b * b).sum(axis=1)
    best = np.full(len(sample), np.inf, dtype=np.float32)
    best_row = np.zeros(len(sample), dtype=np.int64)
    for begin in range(0, train.count, 8192):
        block = slice(begin, begin + 8192)
        d2 = b_norms[block][None, :] - 2 * a @ b[block].T
        rows = d2.argmin(axis=1)
        values = d2[np.arange(len(sample)), rows]
        better = values < best
        best[better], best_row[better] = values[better], rows[better] + begin
    distance = np.sqrt(np.maximum(best + (a * a).sum(axis=1), 0))
    order = np.argsort(distance, kind="stable")[:pairs]
    return ([(sample[i], best_row[i], float(distance[i])) for i in order], len(sample),
            float(np.median(distance)))


def figure_cleaning(data, out_dir, groups, rng):
    pooled_images = {s: data.splits[s].images for s in SPLITS}
    pooled_labels = {s: data.splits[s].labels for s in SPLITS}
    pooled_source = {s: data.splits[s].source_index for s in SPLITS}
    fig = new_figure(FIGURE[1])
    top, middle, bottom = fig.subfigures(3, 1, height_ratios=[0.7, 2, 2.2])
    if groups:
        shown = groups[:6]
        axes = top.subplots(1, 2 * len(shown))
        for g, group in enumerate(shown):
            conflicting = len({int(pooled_labels[s][r]) for s, r in group}) > 1
            for k, (split, row) in enumerate(group[:2]):
                show_digit(axes[2 * g + k], pooled_images[split][row],
                           f"group {g}: {split} #{pooled_source[split][row]}\nlabel "
                           f"{pooled_labels[split][row]}", fontsize=8,
                           title_color="red" if conflicting else "black")
        top.suptitle(f"Exact duplicates: {len(groups)} group(s) found in the file (first 6, "
                     "two members each; red: labels disagree)")
    else:
        ax = top.subplots()
        ax.axis("off")
        total = format_count(sum(data.splits[s].count for s in SPLITS))
        if data.attr("duplicate_groups") is None:
            recorded = "this file records no cleaning figures (not written by dpmnist-prepare)"
        else:
            recorded = (f"dpmnist-prepare recorded duplicate_groups = "
                        f"{data.attr('duplicate_groups')}, blank_images = "
                        f"{data.attr('blank_images')}, dropped_images = "
                        f"{data.attr('dropped_images')}")
        ax.text(0.5, 0.5, f"Exact duplicates: none among the {total} images in the file "
                f"(recomputed by hashing all 784 bytes);\n{recorded}",
                ha="center", va="center", fontsize=11)
    entries = [(s, i) for s in SPLITS for i in range(data.splits[s].count)]
    ink = np.concatenate([ink_per_image(data.splits[s].images) for s in SPLITS])
    sparsest = np.argsort(ink, kind="stable")[:20]
    axes = middle.subplots(2, 10)
    for ax, k in zip(axes.ravel(), sparsest):
        split, row = entries[k]
        show_digit(ax, pooled_images[split][row],
                   f"{ink[k]} px, label {pooled_labels[split][row]}\n#{pooled_source[split][row]}")
    threshold = data.attr("blank_pixel_threshold")
    rule = f"images with < {threshold} lit pixels are dropped" if threshold is not None else \
        "no blank threshold recorded in this file"
    middle.suptitle(f"The 20 sparsest images kept (lit pixels, label, pooled index); {rule}")
    pairs, sampled, median_distance = nearest_test_train_pairs(data, rng)
    axes = bottom.subplots(2, len(pairs))
    train, test = data.splits["train"], data.splits["test"]
    for j, (t, r, distance) in enumerate(pairs):
        show_digit(axes[0, j], test.images[t],
                   f"test #{test.source_index[t]}\nlabel {test.labels[t]}")
        show_digit(axes[1, j], train.images[r],
                   f"train #{train.source_index[r]}\nlabel {train.labels[r]}, d={distance:.2f}")
    bottom.suptitle(f"Near duplicates: the closest test (top) / train (bottom) pairs among "
                    f"{sampled} sampled test images (d: Euclidean on pixel/255)")
    path = save_figure(fig, out_dir, *FIGURE)
    return path, ink[sparsest], pairs, sampled, median_distance


def describe_groups(data, groups):
    """(groups, images in them, groups spanning train and test, groups whose labels disagree)."""
    cross = sum(1 for g in groups if len({s for s, _ in g}) > 1)
    conflicting = sum(1 for g in groups
                      if len({int(data.splits[s].labels[r]) for s, r in g}) > 1)
    return len(groups), sum(len(g) for g in groups), cross, conflicting
