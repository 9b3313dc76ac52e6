"""Report sections of a segmentation run: the test images with their true and predicted masks,
Dice and IoU per class, the pixel confusion matrix, the Dice of every test image, and what
each layer of the U-Net's encoder responds to."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.report_images import layer_views
from layerwise.tasks.segmentation.examples import OVERLAYS, TEST_MASKS


def overlays(run: RunFolder) -> str | None:
    from layerwise.runs.report_images import _embed

    if not run.exists(OVERLAYS):
        return None
    note = ('<p class="note">Test images the model never saw: the best, the median and the '
            "worst by the Dice of their foreground classes. Colour marks each class; on the "
            "prediction the white line is the true outline, so a white line with no colour "
            "inside is a miss and colour outside any white line a false alarm.</p>")  # fmt: skip
    parts = [note, _embed(run, OVERLAYS, "best, median and worst test image")]
    if run.exists(TEST_MASKS):
        parts += ["<h3>The first test images</h3>", _embed(run, TEST_MASKS, "test masks")]
    return "".join(parts)


def class_table(run: RunFolder) -> str | None:
    """Dice and IoU of each class on the test images, for every candidate."""
    metrics = run.read_json(names.METRICS)
    candidates = metrics.get("candidates", {})
    classes = metrics.get("classes") or []
    if not classes or not candidates:
        return None
    head = "".join(f"<th>{html.escape(c)} Dice</th><th>{html.escape(c)} IoU</th>"
                   for c in candidates)  # fmt: skip
    rows = []
    for i, name in enumerate(classes):
        cells = "".join(
            f"<td>{_cell(v['test'].get('dice', {}).get(name))}</td>"
            f"<td>{_cell(v['test'].get('iou', {}).get(name))}</td>"
            for v in candidates.values()
        )
        label = html.escape(str(name)) + (" (background)" if i == 0 else "")
        rows.append(f"<tr><td>{label}</td>{cells}</tr>")
    extra = ""
    if any(v["test"].get("boundary_f1") is not None for v in candidates.values()):
        cells = "".join(f"<td colspan=2>{_cell(v['test'].get('boundary_f1'))}</td>"
                        for v in candidates.values())  # fmt: skip
        extra = f"<tr><td>boundary F1 (2 px)</td>{cells}</tr>"
    note = ('<p class="note">On the test images, all pixels pooled. The headline Dice is the '
            "mean over the foreground classes; the background's own score is shown apart, "
            "since a background covering most of every image makes any mask look good.</p>")  # fmt: skip
    return note + f"<table><tr><th>class</th>{head}</tr>" + "".join(rows) + extra + "</table>"


def confusion(run: RunFolder) -> str | None:
    """The served model's pixel confusion on the test images, each row as shares of its class."""
    from layerwise.runs.plots import _encode, _figure, img_tag

    metrics = run.read_json(names.METRICS)
    counts = np.asarray(metrics.get("test", {}).get("confusion") or [], np.float64)
    classes = [str(c) for c in metrics.get("classes") or []]
    if counts.ndim != 2 or counts.shape != (len(classes), len(classes)) or len(classes) > 30:
        return None
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = 2.2 + 0.45 * len(classes)
    fig, (ax,) = _figure(side + 1, side)
    ax.grid(False)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (r, c), share in np.ndenumerate(shares):
        ax.text(c, r, f"{100 * share:.1f}%", ha="center", va="center", fontsize=8,
                color="white" if share > 0.6 else "black")  # fmt: skip
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    note = ('<p class="note">Every test pixel counted once; each row sums to 100% of its true '
            "class, so a thin class (a membrane, a vessel) is read as easily as the "
            "background.</p>")  # fmt: skip
    return note + img_tag(_encode(fig), "pixel confusion matrix")


def image_dice(run: RunFolder) -> str | None:
    """The Dice of each test image for each candidate: where a model fails, not only how much."""
    from layerwise.runs.plots import CYCLE, _encode, _figure, img_tag

    candidates = run.read_json(names.METRICS).get("candidates", {})
    series = {n: [v for v in c["test"].get("per_image_dice") or [] if v is not None]
              for n, c in candidates.items()}  # fmt: skip
    series = {n: v for n, v in series.items() if v}
    if not series:
        return None
    fig, (ax,) = _figure(6.0, 1.2 + 0.6 * len(series))
    rng = np.random.default_rng(0)
    for row, values in enumerate(series.values()):
        jitter = rng.uniform(-0.15, 0.15, len(values))
        ax.scatter(values, row + jitter, s=14, color=CYCLE[row % 10], alpha=0.8)
        ax.plot([np.median(values)] * 2, [row - 0.3, row + 0.3], color="black", linewidth=1.5)
    ax.set_yticks(range(len(series)), list(series), fontsize=9)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("mean foreground Dice of the image (black line: median)")
    note = ('<p class="note">One dot per test image. A mean can hide the few images where a '
            "model fails: dots far to the left are the images to look at.</p>")  # fmt: skip
    return note + img_tag(_encode(fig), "Dice of each test image")


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


SECTIONS = [
    ("Masks on test images", overlays),
    ("Dice and IoU by class", class_table),
    ("Pixel confusion", confusion),
    ("Dice of each test image", image_dice),
    ("What each layer sees", layer_views),
]
