"""Data exploration from the HDF5 data file alone: class counts and the
stratification check, random samples, per-class mean and std images, pixel
intensity and ink distributions, what cleaning found (recomputed, with the
images), and a PCA projection. It reads no run and trains nothing.
"""
import numpy as np

from . import cleaning, common
from .common import Document, format_count, new_figure, progress, save_figure, show_digit
from .datafile import NUM_CLASSES, SPLITS, ink_per_image

# name -> (width, height) in pixels; tests/report/check_report.py holds the same table.
FIGURES = {
    "class_counts.png": (1000, 450),
    "samples.png": (1000, 950),
    "class_mean_std.png": (1300, 360),
    "intensity_ink.png": (1500, 480),
    cleaning.FIGURE[0]: cleaning.FIGURE[1],
    "pca.png": (900, 750),
}
SAMPLES_PER_CLASS = 12
PCA_SAMPLE = 5000
SHARD_WORLD_SIZES = (2, 3, 4, 8)
COLORS = [f"C{c}" for c in range(NUM_CLASSES)]


def matplotlib_gray_bands(count):
    """Light to dark greys, one per intensity band (dark = more ink)."""
    return [str(0.9 - 0.85 * b / max(count - 1, 1)) for b in range(count)]


def figure_class_counts(data, out_dir):
    train, test = (data.splits[s].class_counts() for s in SPLITS)
    fig = new_figure(FIGURES["class_counts.png"])
    ax = fig.subplots()
    x = np.arange(NUM_CLASSES)
    for offset, counts, name in ((-0.2, train, "train"), (0.2, test, "test")):
        bars = ax.bar(x + offset, counts, 0.4, label=f"{name} ({format_count(counts.sum())})")
        ax.bar_label(bars, labels=[format_count(c) for c in counts], fontsize=7, padding=1)
    share = test / np.maximum(train + test, 1)
    ax.set_title(f"Digits per class and split (test share per class "
                 f"{100 * share.min():.2f}% to {100 * share.max():.2f}%)")
    ax.set_xlabel("class (digit)")
    ax.set_ylabel("images")
    ax.set_xticks(x)
    ax.set_ylim(0, 1.18 * max(train.max(), test.max()))
    ax.legend(loc="upper right", ncol=2)
    return save_figure(fig, out_dir, "class_counts.png", FIGURES["class_counts.png"])


def stratification_tables(data):
    """Per-class test share, and class balance of contiguous train shards."""
    train, test = (data.splits[s].class_counts() for s in SPLITS)
    total = train + test
    fraction = test.sum() / total.sum()
    rows = []
    for c in range(NUM_CLASSES):
        rows.append([c, format_count(train[c]), format_count(test[c]), format_count(total[c]),
                     f"{100 * test[c] / max(total[c], 1):.2f}%",
                     f"{test[c] - fraction * total[c]:+.2f}"])
    rows.append(["all", format_count(train.sum()), format_count(test.sum()),
                 format_count(total.sum()), f"{100 * fraction:.2f}%", ""])
    deviation = np.abs(test - fraction * total).max()
    labels = data.splits["train"].labels
    proportions = train / train.sum()
    shard_rows = []
    for world in SHARD_WORLD_SIZES:
        if world > len(labels):
            continue
        worst = 0.0
        for shard in np.array_split(labels, world):
            counts = np.bincount(shard, minlength=NUM_CLASSES)
            worst = max(worst, np.abs(counts - proportions * len(shard)).max())
        shard_rows.append([world, format_count(len(labels) // world), f"{worst:.2f}"])
    return rows, deviation, fraction, shard_rows


# Bands of lit-pixel values for the per-class intensity panel.
INTENSITY_BANDS = ((1, 63), (64, 127), (128, 191), (192, 254), (255, 255))


def figure_samples(data, out_dir, rng):
    split = data.splits["train"]
    fig = new_figure(FIGURES["samples.png"])
    axes = fig.subplots(NUM_CLASSES, SAMPLES_PER_CLASS)
    for c in range(NUM_CLASSES):
        members = np.flatnonzero(split.labels == c)
        chosen = rng.choice(members, size=min(SAMPLES_PER_CLASS, len(members)), replace=False)
        for j, ax in enumerate(axes[c]):
            if j < len(chosen):
                show_digit(ax, split.images[chosen[j]])
            else:
                ax.axis("off")
        axes[c, 0].set_ylabel(str(c), rotation=0, fontsize=14, labelpad=14, va="center")
    fig.suptitle(f"{SAMPLES_PER_CLASS} random training digits per class (rows: label)")
    return save_figure(fig, out_dir, "samples.png", FIGURES["samples.png"])


def class_statistics(split):
    """Per-class mean and std images [10,28,28] (0..255) in float64."""
    means = np.zeros((NUM_CLASSES, 28, 28))
    stds = np.zeros((NUM_CLASSES, 28, 28))
    for c in range(NUM_CLASSES):
        members = split.images[split.labels == c].astype(np.float64)
        if len(members):
            means[c], stds[c] = members.mean(axis=0), members.std(axis=0)
    return means, stds


def figure_mean_std(data, out_dir):
    means, stds = class_statistics(data.splits["train"])
    fig = new_figure(FIGURES["class_mean_std.png"])
    axes = fig.subplots(2, NUM_CLASSES)
    for c in range(NUM_CLASSES):
        mean_image = axes[0, c].imshow(means[c], cmap="gray_r", vmin=0, vmax=255)
        std_image = axes[1, c].imshow(stds[c], cmap="magma", vmin=0, vmax=stds.max())
        axes[0, c].set_title(str(c))
        for ax in axes[:, c]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("mean")
    axes[1, 0].set_ylabel("std")
    fig.colorbar(mean_image, ax=axes[0, :], shrink=0.9, label="pixel (0-255)")
    fig.colorbar(std_image, ax=axes[1, :], shrink=0.9, label="pixel (0-255)")
    fig.suptitle("Per-class mean image and per-pixel standard deviation (training split)")
    return save_figure(fig, out_dir, "class_mean_std.png", FIGURES["class_mean_std.png"])


def figure_intensity_ink(data, out_dir):
    split = data.splits["train"]
    histogram = np.bincount(split.images.ravel(), minlength=256)
    ink = ink_per_image(split.images)
    threshold = data.attr("blank_pixel_threshold")
    fig = new_figure(FIGURES["intensity_ink.png"])
    left, middle, right = fig.subplots(1, 3, width_ratios=[1, 0.9, 1.2])
    left.bar(np.arange(256), histogram, width=1.0, color="C0")
    left.set_yscale("log")
    left.set_xlim(-2, 258)
    left.set_xlabel("pixel value (0 = background, 255 = full ink)")
    left.set_ylabel("pixels (log scale)")
    total = histogram.sum()
    left.set_title(f"Pixel intensities, all training pixels: {100 * histogram[0] / total:.1f}% "
                   f"are 0, {100 * histogram[255] / total:.1f}% are 255", fontsize=10)
    shares = np.zeros((NUM_CLASSES, len(INTENSITY_BANDS)))
    for c in range(NUM_CLASSES):
        counts = np.bincount(split.images[split.labels == c].ravel(), minlength=256)
        for b, (low, high) in enumerate(INTENSITY_BANDS):
            shares[c, b] = counts[low:high + 1].sum()
        shares[c] /= max(shares[c].sum(), 1)
    bottom = np.zeros(NUM_CLASSES)
    band_colors = matplotlib_gray_bands(len(INTENSITY_BANDS))
    for b, (low, high) in enumerate(INTENSITY_BANDS):
        middle.bar(range(NUM_CLASSES), 100 * shares[:, b], 0.7, bottom=bottom,
                   color=band_colors[b], edgecolor="black", linewidth=0.5,
                   label=f"{low}-{high}" if low != high else str(low))
        bottom += 100 * shares[:, b]
    middle.set_xticks(range(NUM_CLASSES))
    middle.set_xlabel("class (digit)")
    middle.set_ylabel("share of the class's lit pixels (%)")
    middle.set_ylim(0, 100)
    middle.set_title("Values of lit pixels by class", fontsize=10)
    middle.legend(title="pixel value", fontsize=7, title_fontsize=8, loc="lower right",
                  framealpha=0.9)
    per_class = [ink[split.labels == c] for c in range(NUM_CLASSES)]
    right.boxplot(per_class, positions=range(NUM_CLASSES), widths=0.6, flierprops={"markersize": 2})
    if threshold is not None:
        right.axhline(threshold, color="red", linestyle="--", linewidth=1,
                      label=f"blank threshold: < {threshold} lit pixels dropped")
        right.legend(loc="upper right", fontsize=8)
    right.set_xlabel("class (digit)")
    right.set_ylabel("lit pixels per image (value > 0)")
    right.set_title("Ink per image by class (box: quartiles, whiskers: 1.5 IQR)", fontsize=10)
    right.set_ylim(bottom=0)
    rows = []
    for c in range(NUM_CLASSES):
        members = split.images[split.labels == c]
        lit = members[members > 0]
        rows.append([c, f"{np.median(per_class[c]):.0f}" if len(per_class[c]) else "",
                     f"{per_class[c].min()}-{per_class[c].max()}" if len(per_class[c]) else "",
                     f"{lit.mean():.1f}" if lit.size else ""])
    path = save_figure(fig, out_dir, "intensity_ink.png", FIGURES["intensity_ink.png"])
    return path, rows


def figure_pca(data, out_dir, rng):
    split = data.splits["train"]
    sample = rng.choice(split.count, size=min(PCA_SAMPLE, split.count), replace=False)
    x = split.images[sample].reshape(len(sample), -1).astype(np.float64) / 255
    x -= x.mean(axis=0)
    _, singular, vt = np.linalg.svd(x, full_matrices=False)
    explained = singular ** 2 / (singular ** 2).sum()
    projected = x @ vt[:2].T
    labels = split.labels[sample]
    fig = new_figure(FIGURES["pca.png"])
    ax = fig.subplots()
    for c in range(NUM_CLASSES):
        points = projected[labels == c]
        ax.scatter(points[:, 0], points[:, 1], s=4, alpha=0.5, color=COLORS[c], label=str(c))
        if len(points):
            cx, cy = points.mean(axis=0)
            ax.text(cx, cy, str(c), fontsize=16, weight="bold", ha="center", va="center",
                    color=COLORS[c], bbox={"boxstyle": "circle", "fc": "white", "alpha": 0.8})
    ax.set_xlabel(f"principal component 1 ({100 * explained[0]:.1f}% of variance)")
    ax.set_ylabel(f"principal component 2 ({100 * explained[1]:.1f}% of variance)")
    ax.set_title(f"PCA of {len(sample)} random training digits (pixel/255, centred), "
                 "coloured by class; big digits: class means")
    ax.legend(title="class", markerscale=3, loc="best", fontsize=8)
    path = save_figure(fig, out_dir, "pca.png", FIGURES["pca.png"])
    return path, explained[:2], len(sample)


def write_data_report(data, out_dir, seed=0):
    """All figures and report.md/report.html of the data file into out_dir."""
    out_dir = common.make_out_dir(out_dir)
    rng = np.random.default_rng(seed)
    progress(f"data exploration of {data.path} -> {out_dir}/")
    doc = Document(f"Data exploration: {data.path.name}")
    train, test = data.splits["train"], data.splits["test"]
    doc.paragraph(f"File `{data.path}`: **{format_count(train.count)} train / "
                  f"{format_count(test.count)} test** digits, split `{data.attr('split', '?')}`, "
                  f"split seed {data.attr('seed', '?')}, format_version "
                  f"{data.attr('format_version')}, normalization "
                  f"`{data.attr('normalization', '?')}`. "
                  f"Random choices in this report use seed {seed}.")
    sha = data.attr("content_sha256")
    if sha:
        doc.paragraph(f"content_sha256 `{sha}`")

    doc.heading("Classes and the stratification check")
    figure_class_counts(data, out_dir)
    rows, deviation, fraction, shard_rows = stratification_tables(data)
    doc.figure(out_dir / "class_counts.png", "Digits per class in each split.")
    doc.table(["class", "train", "test", "total", "test share", "test - expected (images)"],
              rows)
    verdict = "stratified: every class within one image of the overall share" \
        if deviation <= 1 else "NOT stratified to within one image"
    doc.paragraph(f"Overall test share {100 * fraction:.2f}%; largest per-class deviation "
                  f"{deviation:.2f} images ({verdict}).")
    doc.paragraph("Class balance of the train order, which each rank's contiguous shard relies "
                  "on: the largest |class count - expected| in any shard when the train rows "
                  "are cut into equal contiguous blocks.")
    doc.table(["ranks", "rows per shard", "worst class deviation (images)"], shard_rows)

    doc.heading("Random samples")
    figure_samples(data, out_dir, rng)
    doc.figure(out_dir / "samples.png", f"{SAMPLES_PER_CLASS} random training digits per class.")

    doc.heading("Mean and spread per class")
    figure_mean_std(data, out_dir)
    doc.figure(out_dir / "class_mean_std.png",
               "Top: per-class mean image (0-255). Bottom: per-pixel standard deviation; bright "
               "where writers disagree about the stroke, dark on the always-empty border.")

    doc.heading("Pixel intensities and ink")
    _, ink_rows = figure_intensity_ink(data, out_dir)
    doc.figure(out_dir / "intensity_ink.png",
               "Left: every training pixel's value (log scale). Middle: how a class's lit "
               "pixels split into value bands. Right: lit pixels per image by class.")
    doc.table(["class", "median lit pixels", "lit pixels range", "mean value of lit pixels"],
              ink_rows)

    doc.heading("What cleaning found")
    groups = cleaning.find_duplicates(data)
    group_count, image_count, cross, conflicting = cleaning.describe_groups(data, groups)
    progress(f"duplicates recomputed: {group_count} group(s), {image_count} image(s), "
             f"{cross} across train/test, {conflicting} with conflicting labels")
    _, sparsest_ink, pairs, sampled, median_distance = cleaning.figure_cleaning(
        data, out_dir, groups, rng)
    recorded = [[name, data.attr(name)] for name in
                ("pool_size", "duplicate_groups", "duplicate_images", "cross_official_groups",
                 "conflicting_groups", "conflicting_images", "blank_pixel_threshold",
                 "blank_images", "dropped_images", "straddling_groups")
                if data.attr(name) is not None]
    if recorded:
        doc.paragraph("Recorded by dpmnist-prepare (root attributes of the file):")
        doc.table(["attribute", "value"], recorded)
    else:
        doc.paragraph("This file records no cleaning attributes (not written by dpmnist-prepare).")
    overlap = np.intersect1d(train.source_index, test.source_index).size
    doc.bullets([
        f"Exact duplicates recomputed from the file: **{group_count}** group(s) holding "
        f"{image_count} image(s), {cross} of them spanning train and test, {conflicting} "
        "with labels that disagree.",
        f"Source indices shared by train and test: **{overlap}** (a shared index would be one "
        "digit in both splits).",
        f"Sparsest image kept: **{sparsest_ink[0]}** lit pixels; "
        f"{int((sparsest_ink < 40).sum())} of the 20 sparsest have fewer than 40.",
        f"Closest test/train pair among {sampled} sampled test digits: Euclidean distance "
        f"**{pairs[0][2]:.2f}** on pixel/255 (0 would be an exact copy); the median distance "
        f"from a sampled test digit to its nearest train digit is {median_distance:.2f}.",
    ])
    doc.figure(out_dir / "cleaning.png",
               "Top: exact duplicates. Middle: the sparsest images, the ones a blank filter looks "
               "at. Bottom: the nearest test/train pairs, which exact hashing cannot catch.")

    doc.heading("PCA projection")
    _, explained, pca_count = figure_pca(data, out_dir, rng)
    doc.figure(out_dir / "pca.png",
               f"{pca_count} training digits on the first two principal components "
               f"({100 * explained.sum():.1f}% of the variance together).")
    return doc.write(out_dir)
