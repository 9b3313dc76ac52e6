"""The pictures a segmentation run keeps of its test images: the best, median and worst image
by Dice, each as the image, the true mask and the predicted mask laid over it (the truth's
outline drawn on the prediction, so a miss shows as an outline with no colour inside), and the
first test images the same way. Large images are shown shrunk to ``SHOWN_SIDE``."""

from __future__ import annotations

from typing import Any

import numpy as np

from layerwise.runs.folder import RunFolder

OVERLAYS = "examples/best_median_worst.png"
TEST_MASKS = "examples/test_masks.png"
SHOWN_IMAGES = 6
SHOWN_SIDE = 256  # pixels: each panel's long side at most this


def write_examples(task: Any, run: RunFolder, test: Any, found: list[np.ndarray],
                   dice: list[float | None]) -> None:  # fmt: skip
    """The two grids from the served model's masks ``found`` on the ``test`` images, ranked by
    each image's Dice as the test scores have it (None: nothing to find, nothing found)."""
    from layerwise.tasks.segmentation.drawing import palette_for

    palette = palette_for(len(task.classes), task.encoding)
    each = np.array([np.nan if d is None else d for d in dice], np.float64)
    ranked = [int(i) for i in np.argsort(np.where(np.isfinite(each), -each, np.inf), kind="stable")]
    ranked = [i for i in ranked if np.isfinite(each[i])] or list(range(len(test)))
    picks = {"best": ranked[0], "median": ranked[len(ranked) // 2], "worst": ranked[-1]}
    rows = [(f"{label}: {test.names[i]} (Dice {_dice(each[i])})", i) for label, i in picks.items()]
    if len(test) < 3:
        rows = rows[: len(test)]
    run.file("examples").mkdir(exist_ok=True)
    run.write_with(OVERLAYS, lambda path: _panels(rows, test, found, palette, path))
    first = [(f"{test.names[i]} (Dice {_dice(each[i])})", i)
             for i in range(min(SHOWN_IMAGES, len(test)))]  # fmt: skip
    run.write_with(TEST_MASKS, lambda path: _panels(first, test, found, palette, path))


def _dice(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.3f}"


def _shrunk(image: np.ndarray, nearest: bool) -> np.ndarray:
    from PIL import Image

    height, width = image.shape[:2]
    factor = SHOWN_SIDE / max(height, width)
    if factor >= 1:
        return image
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    method = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(image).resize(size, method))


def _panels(rows: list[tuple[str, int]], test: Any, found: list[np.ndarray],
            palette: np.ndarray, path: Any) -> None:  # fmt: skip
    """One row per image: the image, the truth over it, the prediction over it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from layerwise.tasks.segmentation.drawing import overlay, rgb
    from layerwise.tasks.segmentation.masks import IGNORE

    fig = Figure(figsize=(9, 3.1 * len(rows)), dpi=90)
    FigureCanvasAgg(fig)
    for r, (title, i) in enumerate(rows):
        image = _shrunk(rgb(test.images[i]), nearest=False)
        truth = _shrunk(np.where(test.masks[i] == IGNORE, 0, test.masks[i]).astype(np.uint8), True)
        predicted = _shrunk(np.asarray(found[i], np.uint8), nearest=True)
        panels = [(image, "image"), (overlay(image, truth, palette), "true mask"),
                  (overlay(image, predicted, palette, outline=truth),
                   "predicted (white: true outline)")]  # fmt: skip
        for c, (picture, label) in enumerate(panels):
            ax = fig.add_subplot(len(rows), 3, 3 * r + c + 1)
            ax.imshow(picture, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title if c == 0 else label, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
