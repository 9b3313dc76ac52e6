"""The classical baseline of segmentation: a gradient-boosted forest on per-pixel features at
several scales, the way ilastik and similar tools segment without deep learning.

Each pixel is described by scikit-image's ``multiscale_basic_features``: Gaussian-smoothed
intensity, gradient magnitude (edges) and the Hessian's eigenvalues (texture) at scales from
``SIGMA_MIN`` to ``SIGMA_MAX`` pixels, per channel. A LightGBM classifier (saved as its text
model, no pickle) learns the class from a sample of the training pixels: at most
``PIXELS_PER_IMAGE`` per image, drawn class-balanced so a thin membrane or a small lesion is
seen as often as the background. Ignored pixels (outside a region of interest) are never drawn.

Prediction computes the features tile by tile, each tile read with a margin of three times the
largest scale so its centre sees what the whole image would give: memory stays bounded by the
tile, whatever the image size.

Example:
    >>> from layerwise.tasks.segmentation.cells import generated_masks
    >>> images, masks, _ = generated_masks(4, size=48, seed=0)
    >>> forest = PixelForest(seed=0, n_estimators=20).fit(list(images), list(masks), 2)
    >>> forest.predict([images[0]])[0].shape
    (48, 48)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from layerwise.tasks.segmentation.masks import IGNORE

SIGMA_MIN, SIGMA_MAX = 1.0, 16.0
PIXELS_PER_IMAGE = 4000
MAX_PIXELS = 400_000  # training pixels in all (a few seconds of LightGBM on 2 cores)
TILE = 512  # prediction tiles (their features: 512^2 x ~30 floats, ~30 MB a channel)


def pixel_features(image: np.ndarray) -> np.ndarray:
    """``[H, W, F]`` float32 features of a uint8 grey or RGB image."""
    from skimage.feature import multiscale_basic_features

    x = np.asarray(image, np.float32) / 255.0
    features = multiscale_basic_features(
        x, intensity=True, edges=True, texture=True, sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX,
        channel_axis=-1 if x.ndim == 3 else None,
    )  # fmt: skip
    return features.astype(np.float32, copy=False)


def tiled_features(image: np.ndarray, tile: int = TILE) -> Any:
    """Yield ``(y0, y1, x0, x1, features)`` over the image: features of each tile computed
    with a margin, cropped back to the tile."""
    margin = int(3 * SIGMA_MAX)
    height, width = image.shape[:2]
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            top, left = max(0, y0 - margin), max(0, x0 - margin)
            bottom, right = min(height, y1 + margin), min(width, x1 + margin)
            features = pixel_features(image[top:bottom, left:right])
            yield y0, y1, x0, x1, features[y0 - top : y1 - top, x0 - left : x1 - left]


class PixelForest:
    """LightGBM on multiscale pixel features; ``fit(images, masks, n_classes)``,
    ``predict(images) -> masks``, ``predict_proba(images)``, text save and load."""

    name = "pixel-forest"
    family = "classical"

    def __init__(self, seed: int = 0, n_estimators: int = 200, learning_rate: float = 0.1,
                 num_leaves: int = 31):  # fmt: skip
        self.seed = int(seed)
        self.params = {"n_estimators": int(n_estimators), "learning_rate": float(learning_rate),
                       "num_leaves": int(num_leaves)}  # fmt: skip
        self.booster: Any = None
        self.n_classes = 0
        self.cut: float | None = None  # two classes: set on validation by the bake-off

    def _sample(self, mask: np.ndarray, rng: np.random.Generator, per_image: int) -> np.ndarray:
        """Flat indices of up to ``per_image`` pixels, the same number from each class present."""
        flat = mask.reshape(-1)
        classes = [c for c in np.unique(flat) if c != IGNORE]
        chosen = []
        for c in classes:
            where = np.flatnonzero(flat == c)
            take = min(len(where), max(1, per_image // max(len(classes), 1)))
            chosen.append(rng.choice(where, take, replace=False))
        return np.concatenate(chosen) if chosen else np.zeros(0, np.int64)

    def fit(self, images: list[np.ndarray], masks: list[np.ndarray], n_classes: int) -> PixelForest:
        import lightgbm as lgb

        rng = np.random.default_rng(self.seed)
        per_image = int(min(PIXELS_PER_IMAGE, max(200, MAX_PIXELS // max(len(images), 1))))
        rows, labels = [], []
        for image, mask in zip(images, masks, strict=True):
            index = self._sample(mask, rng, per_image)
            if not len(index):
                continue
            features = pixel_features(image)
            rows.append(features.reshape(-1, features.shape[-1])[index])
            labels.append(mask.reshape(-1)[index])
        x, y = np.concatenate(rows), np.concatenate(labels).astype(np.int64)
        self.n_classes = int(n_classes)
        params = {
            "objective": "multiclass" if n_classes > 2 else "binary",
            "learning_rate": self.params["learning_rate"], "num_leaves": self.params["num_leaves"],
            "min_data_in_leaf": 20, "feature_fraction": 0.8, "bagging_fraction": 0.8,
            "bagging_freq": 1, "seed": self.seed, "verbosity": -1, "num_threads": 0,
            "deterministic": True, "force_col_wise": True,
        }  # fmt: skip
        if n_classes > 2:
            params["num_class"] = int(n_classes)
        data = lgb.Dataset(x, y, free_raw_data=True)
        self.booster = lgb.train(params, data, num_boost_round=self.params["n_estimators"])
        return self

    def predict_proba(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Class probabilities ``[H, W, n_classes]`` (float32) of each image."""
        out = []
        for image in images:
            height, width = image.shape[:2]
            proba = np.zeros((height, width, self.n_classes), np.float32)
            for y0, y1, x0, x1, features in tiled_features(image):
                p = self.booster.predict(features.reshape(-1, features.shape[-1]))
                p = np.stack([1 - p, p], 1) if self.n_classes <= 2 else p
                proba[y0:y1, x0:x1] = p.reshape(y1 - y0, x1 - x0, -1)
            out.append(proba)
        return out

    def predict(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """The class of every pixel (uint8 ``[H, W]``) of each image: the most probable, or for
        two classes class 1 where its probability reaches ``cut`` when one was chosen."""
        from layerwise.tasks.segmentation.two_class_cut import decide

        return [decide(p, self.cut) for p in self.predict_proba(images)]

    def to_text(self) -> str:
        """The LightGBM model as text (what the run folder keeps)."""
        return self.booster.model_to_string()

    @classmethod
    def from_text(cls, text: str, n_classes: int) -> PixelForest:
        import lightgbm as lgb

        forest = cls()
        forest.booster = lgb.Booster(model_str=text)
        forest.n_classes = int(n_classes)
        return forest
