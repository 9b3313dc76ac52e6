"""The arithmetic of the HOG + SVM detector (:mod:`.hog_svm`): grayscale, resizing, HOG as a
block grid computed once per image (skimage's definition, vectorised), every window a slice of
that grid, and the Platt sigmoid that turns SVM margins into probabilities."""

from __future__ import annotations

import numpy as np


def to_gray(image: np.ndarray) -> np.ndarray:
    """A uint8 image (``[H, W, 3]``, ``[H, W, 1]`` or ``[H, W]``) as float32 luma in [0, 1].

    >>> to_gray(np.full((2, 3, 3), 255, np.uint8)).round(3).tolist()[0]
    [1.0, 1.0, 1.0]
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] >= 3:
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    elif image.ndim == 3:
        image = image[..., 0]
    return (image.astype(np.float32) / 255.0).astype(np.float32)


def resize(gray: np.ndarray, height: int, width: int, box: tuple | None = None) -> np.ndarray:
    """Bilinear (anti-aliased when shrinking) resize of a float image, or of its sub-pixel
    region ``box = (x0, y0, x1, y1)``: Pillow, many times faster than scipy or skimage."""
    from PIL import Image

    resized = Image.fromarray(gray).resize((width, height), Image.Resampling.BILINEAR, box=box)
    return np.asarray(resized, np.float32)


def hog_blocks(gray: np.ndarray, cell: int, block: int, orientations: int) -> np.ndarray:
    """HOG of a whole image as its block grid ``[block rows, block cols, features per block]``:
    ``skimage.feature.hog(gray, ..., block_norm="L2-Hys", feature_vector=False)`` to float32
    rounding (the tests compare them), about five times faster.

    skimage's definition is kept: centred gradients (zero on the image's border), unsigned
    orientation, each pixel's magnitude voted whole into its bin and averaged over its cell,
    blocks L2-normalised, clipped at 0.2, renormalised. skimage loops over every orientation
    of every cell and normalises each block in a Python loop; here one ``bincount`` makes the
    cell histograms and the blocks are normalised at once: this is most of the detector's time.

    >>> hog_blocks(np.random.rand(64, 48).astype(np.float32), 8, 2, 9).shape
    (7, 5, 36)
    """
    from numpy.lib.stride_tricks import sliding_window_view

    n_row, n_col = gray.shape[0] // cell, gray.shape[1] // cell
    rows, cols = n_row - block + 1, n_col - block + 1
    if rows < 1 or cols < 1:
        return np.zeros((0, 0, block * block * orientations), np.float32)
    image, height, width = np.asarray(gray, np.float32), n_row * cell, n_col * cell
    g_row, g_col = np.zeros_like(image), np.zeros_like(image)
    g_row[1:-1] = image[2:] - image[:-2]
    g_col[:, 1:-1] = image[:, 2:] - image[:, :-2]
    g_row, g_col = g_row[:height, :width], g_col[:height, :width]  # the pixels of whole cells
    angle = np.rad2deg(np.arctan2(g_row, g_col)) % 180
    bins = np.minimum((angle * (orientations / 180)).astype(np.intp), orientations - 1)
    cell_of = (np.arange(height) // cell)[:, None] * n_col + (np.arange(width) // cell)[None, :]
    votes, magnitude = (cell_of * orientations + bins).ravel(), np.hypot(g_row, g_col).ravel()
    cells = np.bincount(votes, magnitude, n_row * n_col * orientations)
    cells = cells.reshape(n_row, n_col, orientations) / (cell * cell)
    view = sliding_window_view(cells, (block, block), axis=(0, 1))  # [rows, cols, o, b, b]
    v = view.transpose(0, 1, 3, 4, 2).reshape(rows, cols, -1)
    eps2 = 1e-10  # skimage's eps = 1e-5, squared
    v = np.minimum(v / np.sqrt(np.sum(v * v, axis=2, keepdims=True) + eps2), 0.2)
    return (v / np.sqrt(np.sum(v * v, axis=2, keepdims=True) + eps2)).astype(np.float32)


def window_features(blocks: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The features ``[R, C, rows * cols * F]`` of every window of ``rows x cols`` blocks, one
    cell apart: slices of one HOG grid (a strided view, copied once into a matrix).

    >>> window_features(np.ones((7, 9, 36), np.float32), 7, 7).shape
    (1, 3, 1764)
    """
    from numpy.lib.stride_tricks import sliding_window_view

    if blocks.shape[0] < rows or blocks.shape[1] < cols:
        return np.zeros((0, 0, rows * cols * blocks.shape[2]), np.float32)
    view = sliding_window_view(blocks, (rows, cols), axis=(0, 1))  # [R, C, F, rows, cols]
    return np.ascontiguousarray(view.transpose(0, 1, 3, 4, 2)).reshape(*view.shape[:2], -1)


def platt(scores: np.ndarray, hits: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` of ``P(hit) = sigmoid(a * score + b)``: Platt's (1999) smoothed targets,
    damped Newton steps; ``a`` is kept positive so that a higher score is never less likely.

    >>> a, b = platt(np.array([-2.0, -1, 0, 1, 2, 3]), np.array([0, 0, 1, 0, 1, 1], bool))
    >>> bool(a > 0)
    True
    """
    s, hits = np.asarray(scores, np.float64), np.asarray(hits, bool)
    n_pos, n_neg = int(hits.sum()), int((~hits).sum())
    t = np.where(hits, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    prior = float(np.log((n_pos + 1) / (n_neg + 1)))

    def loss(ab: np.ndarray) -> float:
        z = ab[0] * s + ab[1]
        return float(np.sum(np.logaddexp(0, z) - t * z))

    ab = np.array([0.0, prior])
    for _ in range(100):
        p = 1 / (1 + np.exp(-(ab[0] * s + ab[1])))
        w = p * (1 - p)
        hessian = np.array([[w @ (s * s), w @ s], [w @ s, w.sum()]]) + 1e-9 * np.eye(2)
        step, size = np.linalg.solve(hessian, [(p - t) @ s, (p - t).sum()]), 1.0
        while size > 1e-6 and loss(ab - size * step) > loss(ab):
            size /= 2
        ab = ab - size * step
        if np.abs(size * step).max() < 1e-7:
            break
    return (float(ab[0]), float(ab[1])) if ab[0] > 0 else (1e-3, prior)
