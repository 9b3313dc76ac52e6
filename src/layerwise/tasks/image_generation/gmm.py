"""The classical generative baseline for images: PCA of the pixels, then a Gaussian mixture
in the PCA space (one per class when conditional), the number of components by BIC.

Measured on sklearn digits upsampled to 16x16 (1,527 training images, a shared 2-core CPU):
25 PCA components keep 95.4% of the variance; conditional fit 2.6-7 s (BIC picks 1
component per class, 2 for "1"), unconditional 17 s (8 components); sampling 1,000 images
~0.02 s. Judged by :class:`~layerwise.tasks.image_generation.quality.QualityJudge` against 270
held-out images (floor: 270 real training images, FD 0.47): conditional, 100 per class,
FD 0.53 and class accuracy 96% (per class 0.88-1.0); 270 samples in the held-out class
mix, FD 0.36; unconditional 1,000 samples FD 0.71. On digits this baseline sits at the
judge's floor: blurry 8x8 digits are close to Gaussian in PCA space.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = np.tanh(rng.normal(size=(200, 1, 8, 8)))
    >>> model = PixelGMM(mixtures=(1, 2)).fit(x)
    >>> model.sample(5, seed=1).shape
    (5, 1, 8, 8)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from layerwise.errors import DataError

# Added to each covariance diagonal, relative to the mean variance of the PCA coordinates:
# keeps full covariances of small classes positive definite without blurring the samples.
REG_COVAR = 1e-3
UNCONDITIONAL = -1


class PixelGMM:
    """The classical generative baseline: PCA of the pixels, then a Gaussian mixture
    (sklearn) in the PCA space, one per class when conditional.

    ``variance``: the fraction of pixel variance the kept components explain (at most
    ``max_components`` of them); ``mixtures``: the component counts tried per class, the
    lowest BIC winning (full covariances).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = np.concatenate([np.full((50, 1, 4, 4), -0.5), np.full((50, 1, 4, 4), 0.5)])
        >>> x = x + rng.normal(scale=0.05, size=x.shape)
        >>> model = PixelGMM().fit(x, np.repeat([0, 1], 50))
        >>> float(model.sample(10, np.ones(10, dtype=int)).mean()) > 0.4
        True
    """

    def __init__(
        self,
        seed: int = 0,
        variance: float = 0.95,
        max_components: int = 64,
        mixtures: tuple[int, ...] = (1, 2, 4, 8),
    ):
        self.seed = seed
        self.variance = variance
        self.max_components = max_components
        self.mixtures = tuple(int(m) for m in mixtures)

    def fit(self, images: np.ndarray, labels: np.ndarray | None = None) -> PixelGMM:
        """Fit to float images ``[N, C, H, W]`` in [-1, 1], per class when ``labels`` are given."""
        from sklearn.decomposition import PCA
        from sklearn.mixture import GaussianMixture

        start = time.perf_counter()
        images = np.asarray(images, dtype=np.float64)
        if images.ndim != 4 or len(images) < 4:
            raise DataError(f"PixelGMM.fit needs images [N >= 4, C, H, W]; got {images.shape}.")
        x = images.reshape(len(images), -1)
        self.shape = tuple(int(s) for s in images.shape[1:])
        self.conditional = labels is not None
        groups = (
            np.asarray(labels, dtype=np.int64)
            if labels is not None
            else np.full(len(x), UNCONDITIONAL)
        )
        if len(groups) != len(x):
            raise DataError(f"{len(groups)} labels for {len(x)} images.")
        pca = PCA(n_components=min(self.max_components, len(x) - 1, x.shape[1]))
        pca.fit(x)
        explained = np.cumsum(pca.explained_variance_ratio_)
        k = int(min(np.searchsorted(explained, self.variance) + 1, len(explained)))
        self.pca_mean = pca.mean_.copy()
        self.pca_components = pca.components_[:k].copy()
        self.explained_variance = float(explained[k - 1])
        z = (x - self.pca_mean) @ self.pca_components.T
        reg = REG_COVAR * float(z.var(axis=0).mean())
        self.mixture: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for group in np.unique(groups).tolist():
            zg = z[groups == group]
            best, best_bic = None, np.inf
            for m in self.mixtures:
                if m > 1 and len(zg) < 2 * m:
                    continue
                gmm = GaussianMixture(
                    min(m, len(zg)),
                    covariance_type="full",
                    reg_covar=reg,
                    random_state=self.seed,
                    n_init=1,
                    max_iter=200,
                ).fit(zg)
                bic = gmm.bic(zg)
                if bic < best_bic:
                    best, best_bic = gmm, bic
            assert best is not None
            self.mixture[int(group)] = (best.weights_, best.means_, best.covariances_)
        self.fit_seconds = time.perf_counter() - start
        return self

    @property
    def classes(self) -> list[int]:
        """The class ids fitted (``[-1]`` when unconditional)."""
        return sorted(self.mixture)

    def sample(self, n: int, labels: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        """``n`` images ``[n, C, H, W]`` clipped to [-1, 1], the same for the same ``seed``.

        ``labels``: the class id of each sample (conditional models). A conditional model
        given no labels samples the classes uniformly at random (pass labels to know them);
        an unconditional model ignores them.
        """
        rng = np.random.default_rng(seed)
        if self.conditional:
            if labels is None:
                labels = rng.choice(np.array(self.classes), size=n)
            labels = np.asarray(labels, dtype=np.int64)
            if len(labels) != n:
                raise DataError(f"{len(labels)} labels for {n} samples.")
            unknown = sorted(set(labels.tolist()) - set(self.classes))
            if unknown:
                raise DataError(
                    f"PixelGMM has no class {unknown[0]}.", f"Use one of {self.classes}."
                )
        else:
            labels = np.full(n, UNCONDITIONAL)
        z = np.zeros((n, len(self.pca_components)))
        for group in self.classes:
            rows = np.flatnonzero(labels == group)
            if not len(rows):
                continue
            weights, means, covariances = self.mixture[group]
            chol = np.linalg.cholesky(covariances)
            parts = rng.choice(len(weights), size=len(rows), p=weights / weights.sum())
            noise = rng.standard_normal((len(rows), z.shape[1]))
            z[rows] = means[parts] + np.einsum("nij,nj->ni", chol[parts], noise)
        x = z @ self.pca_components + self.pca_mean
        return np.clip(x, -1.0, 1.0).reshape(n, *self.shape)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays for one safetensors file and JSON-able metadata (see :meth:`from_state`)."""
        arrays = {"pca.mean": self.pca_mean, "pca.components": self.pca_components}
        for group, (weights, means, covariances) in self.mixture.items():
            arrays[f"class.{group}.weights"] = weights
            arrays[f"class.{group}.means"] = means
            arrays[f"class.{group}.covariances"] = covariances
        arrays = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()}
        meta = {
            "seed": self.seed,
            "variance": self.variance,
            "max_components": self.max_components,
            "mixtures": list(self.mixtures),
            "shape": list(self.shape),
            "conditional": self.conditional,
            "classes": self.classes,
            "components": {str(g): len(w) for g, (w, _, _) in self.mixture.items()},
            "explained_variance": self.explained_variance,
        }
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> PixelGMM:
        """Inverse of :meth:`state`; :meth:`sample` then gives identical output."""
        model = cls(meta["seed"], meta["variance"], meta["max_components"], meta["mixtures"])
        model.shape = tuple(meta["shape"])
        model.conditional = bool(meta["conditional"])
        model.explained_variance = float(meta["explained_variance"])
        model.pca_mean = np.asarray(arrays["pca.mean"], dtype=np.float64)
        model.pca_components = np.asarray(arrays["pca.components"], dtype=np.float64)
        model.mixture = {
            int(g): tuple(
                np.asarray(arrays[f"class.{g}.{part}"], dtype=np.float64)
                for part in ("weights", "means", "covariances")
            )
            for g in meta["classes"]
        }
        return model
