"""The classical anomaly detectors: isolation forest, k nearest neighbours, a shrunk Gaussian.

Each one's arrays go to ``<prefix>.safetensors`` (no pickle) and the rest to the JSON-safe info
``save`` returns. The isolation forest is grown by scikit-learn, then every tree is exported
to flat arrays and scored by the numpy code here, which reproduces ``-score_samples``; kNN
rebuilds its neighbour index from the saved reference rows; the Gaussian keeps a location and
a precision matrix.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.runs.folder import RunFolder
from layerwise.tasks.anomaly_detection.detector import Detector

MAX_REFERENCE = 20000  # kNN keeps at most this many training rows (a seeded subsample)
TREE_CELLS = 2_000_000  # rows x trees traversed at once by the isolation forest


def average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): the mean path length of an unsuccessful search in a binary search tree of n
    points, with scikit-learn's approximation of the harmonic number (ln + Euler's gamma).

    >>> average_path_length(np.array([1, 2, 256])).round(4).tolist()
    [0.0, 1.0, 10.2448]
    """
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _normalise_rows(weights: np.ndarray) -> np.ndarray:
    """Each row divided by its sum; a row with nothing to share is spread evenly."""
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum(axis=1, keepdims=True)
    even = np.full_like(weights, 1.0 / max(weights.shape[1], 1))
    return np.divide(weights, total, out=even, where=total > 0)


def _write(run: RunFolder, prefix: str, arrays: dict[str, np.ndarray]) -> str:
    from safetensors.numpy import save_file

    name = prefix + ".safetensors"
    tensors = {key: np.ascontiguousarray(value) for key, value in arrays.items()}
    run.write_with(name, lambda path: save_file(tensors, str(path)))
    return name


def _read(run: RunFolder, info: dict[str, Any]) -> dict[str, np.ndarray]:
    from layerwise.runs.weights import read_tensors

    return {key: value.numpy() for key, value in read_tensors(run, info["file"]).items()}


class _Saved(Detector):
    """What the three share: the info dict, and rebuilding from it."""

    def _info(self, run: RunFolder, prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": _write(run, prefix, arrays),
            "seed": self.seed,
            "params": dict(self.params),
        }

    @classmethod
    def _blank(cls, info: dict[str, Any]) -> Any:
        return cls(seed=int(info.get("seed", 0)), **info.get("params", {}))


class IsolationForestDetector(_Saved):
    """scikit-learn's isolation forest, exported to flat arrays and scored here.

    >>> x = np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32)
    >>> det = IsolationForestDetector(n_estimators=20)
    >>> det.fit(x)
    >>> bool(det.score(np.array([[8.0, 8.0]], np.float32))[0] > det.score(x[:1])[0])
    True
    """

    name: ClassVar[str] = "isolation-forest"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 1
    description: ClassVar[str] = "isolation forest (scikit-learn trees, numpy scoring)"

    def fit(self, x: np.ndarray) -> None:
        from sklearn.ensemble import IsolationForest

        x = np.asarray(x, dtype=np.float32)
        forest = IsolationForest(
            n_estimators=int(self.params.get("n_estimators", 200)),
            max_samples="auto",
            max_features=self.params.get("max_features", 1.0),
            random_state=self.seed,
            n_jobs=1,
        ).fit(x)
        trees = [estimator.tree_ for estimator in forest.estimators_]
        sizes = [tree.node_count for tree in trees]
        self.n_features = x.shape[1]
        self.max_samples = int(forest.max_samples_)
        self.arrays = {
            "tree_offsets": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            "children_left": np.concatenate([t.children_left for t in trees]).astype(np.int64),
            "children_right": np.concatenate([t.children_right for t in trees]).astype(np.int64),
            "feature": np.concatenate([t.feature for t in trees]).astype(np.int64),
            "threshold": np.concatenate([t.threshold for t in trees]).astype(np.float64),
            "n_node_samples": np.concatenate([t.n_node_samples for t in trees]).astype(np.int64),
            "estimators_features": np.stack(
                [np.asarray(f, dtype=np.int64) for f in forest.estimators_features_]
            ),
        }
        self._prepare()

    def _prepare(self) -> None:
        """Global node ids and columns, and each leaf's path length, from the exported arrays."""
        a = self.arrays
        offsets = a["tree_offsets"]
        n_trees, n_nodes = len(offsets) - 1, int(offsets[-1])
        tree_of = np.repeat(np.arange(n_trees), np.diff(offsets))
        leaf = a["children_left"] < 0
        self.left = np.where(leaf, -1, a["children_left"] + offsets[tree_of])
        self.right = np.where(leaf, -1, a["children_right"] + offsets[tree_of])
        # sklearn indexes x[:, estimators_features_] only when trees saw a column subset
        features = a["estimators_features"]
        column = np.maximum(a["feature"], 0)
        if features.shape[1] != self.n_features:
            column = features[tree_of, column]
        self.column = np.where(leaf, 0, column)
        depth = np.zeros(n_nodes, dtype=np.int64)  # root = 0; children come after parents
        parents = np.flatnonzero(~leaf)
        for _ in range(n_nodes):
            new = depth.copy()
            new[self.left[parents]] = depth[parents] + 1
            new[self.right[parents]] = depth[parents] + 1
            if np.array_equal(new, depth):
                break
            depth = new
        # as sklearn: (depth counted from 1) + c(leaf size) - 1
        self.path = (depth + 1.0) + average_path_length(a["n_node_samples"]) - 1.0
        self.log_size = np.log2(np.maximum(a["n_node_samples"], 1).astype(np.float64))
        self.roots = offsets[:-1]
        self.denominator = n_trees * float(average_path_length(np.array([self.max_samples]))[0])

    def _walk(self, x: np.ndarray, splits: np.ndarray | None = None) -> np.ndarray:
        """Each row's summed path length over the trees; with ``splits`` ``[n, d]``, also add
        to the column of every split on the row's paths the bits of isolation it gave the row,
        log2(training rows in the node / in the child the row goes to)."""
        n, n_trees = len(x), len(self.roots)
        total = np.zeros(n)
        step = max(1, TREE_CELLS // max(n_trees, 1))
        for start in range(0, n, step):
            stop = min(n, start + step)
            rows = np.repeat(np.arange(start, stop), n_trees)
            node = np.tile(self.roots, stop - start)
            active = np.flatnonzero(self.left[node] >= 0)
            while active.size:
                at, col = node[active], self.column[node[active]]
                go_left = x[rows[active], col] <= self.threshold[at]
                node[active] = np.where(go_left, self.left[at], self.right[at])
                if splits is not None:
                    cells = (rows[active] - start) * splits.shape[1] + col
                    gain = self.log_size[at] - self.log_size[node[active]]
                    size = (stop - start) * splits.shape[1]
                    shares = np.bincount(cells, weights=gain, minlength=size)
                    splits[start:stop] += shares.reshape(stop - start, -1)
                active = active[self.left[node[active]] >= 0]
            total[start:stop] = self.path[node].reshape(-1, n_trees).sum(axis=1)
        return total

    @property
    def threshold(self) -> np.ndarray:
        return self.arrays["threshold"]

    def score(self, x: np.ndarray) -> np.ndarray:
        depths = self._walk(np.asarray(x, dtype=np.float32))
        if self.denominator == 0:  # one training row: sklearn takes the ratio as 1
            return np.full(len(depths), 0.5)
        return 2.0 ** (-depths / self.denominator)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each column's share of the isolation bits the row's splits gained, over all trees.
        (Counting splits weighted by 1/depth came out near-uniform even for clear outliers.)"""
        x = np.asarray(x, dtype=np.float32)
        splits = np.zeros((len(x), self.n_features))
        self._walk(x, splits)
        return _normalise_rows(splits)

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        info = self._info(run, prefix, self.arrays)
        info.update(n_features=self.n_features, max_samples=self.max_samples)
        return info

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> IsolationForestDetector:
        det = cls._blank(info)
        det.arrays = _read(run, info)
        det.n_features, det.max_samples = int(info["n_features"]), int(info["max_samples"])
        det._prepare()
        return det


class KNNDetector(_Saved):
    """Mean Euclidean distance to the k nearest training rows (at most 20000 kept).

    ``score_training()`` scores the kept rows without each one counting itself, and
    ``reference_index`` says which rows of ``fit``'s input were kept.

    >>> det = KNNDetector(k=2)
    >>> det.fit(np.array([[0.0], [1.0], [2.0], [10.0]], np.float32))
    >>> det.score_training().tolist()
    [1.5, 1.0, 1.5, 8.5]
    """

    name: ClassVar[str] = "knn"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 2
    description: ClassVar[str] = "mean distance to the k nearest training rows"

    def fit(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float32)
        limit = int(self.params.get("max_reference", MAX_REFERENCE))
        index = np.arange(len(x))
        if len(x) > limit:
            index = np.sort(np.random.default_rng(self.seed).choice(len(x), limit, replace=False))
        self.reference, self.reference_index = x[index], index.astype(np.int64)
        self._build()

    def _build(self) -> None:
        from sklearn.neighbors import NearestNeighbors

        n = len(self.reference)
        self.k = max(1, min(int(self.params.get("k", 5)), n - 1))
        self.index = NearestNeighbors(n_neighbors=min(self.k, n), n_jobs=1)
        self.index.fit(self.reference.astype(np.float64))

    def _neighbours(self, x: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if x is None:  # the reference rows themselves, each without its own match
            return self.index.kneighbors(None, self.k)
        x = np.asarray(x, dtype=np.float32).astype(np.float64)
        return self.index.kneighbors(x, min(self.k, len(self.reference)))

    def score(self, x: np.ndarray) -> np.ndarray:
        return self._neighbours(x)[0].mean(axis=1)

    def score_training(self) -> np.ndarray:
        """Scores of the kept training rows, none counting itself as its own neighbour."""
        if len(self.reference) < 2:
            return np.zeros(len(self.reference))
        return self._neighbours(None)[0].mean(axis=1)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).astype(np.float64)
        _, idx = self._neighbours(x)
        centre = self.reference.astype(np.float64)[idx].mean(axis=1)
        return _normalise_rows((x - centre) ** 2)

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        arrays = {"reference": self.reference, "reference_index": self.reference_index}
        info = self._info(run, prefix, arrays)
        info["k"] = self.k
        return info

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> KNNDetector:
        det = cls._blank(info)
        arrays = _read(run, info)
        det.reference, det.reference_index = arrays["reference"], arrays["reference_index"]
        det._build()
        return det


class RobustGaussianDetector(_Saved):
    """Squared Mahalanobis distance under a Ledoit-Wolf shrunk covariance.

    >>> x = np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32)
    >>> det = RobustGaussianDetector()
    >>> det.fit(x)
    >>> det.contributions(np.array([[0.0, 6.0]], np.float32)).argmax(axis=1).tolist()
    [1]
    """

    name: ClassVar[str] = "robust-gaussian"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 1
    description: ClassVar[str] = "Mahalanobis distance, Ledoit-Wolf shrunk covariance"

    def fit(self, x: np.ndarray) -> None:
        from sklearn.covariance import LedoitWolf

        model = LedoitWolf().fit(np.asarray(x, dtype=np.float64))
        self.location = np.asarray(model.location_, dtype=np.float64)
        self.precision = np.asarray(model.precision_, dtype=np.float64)

    def _terms(self, x: np.ndarray) -> np.ndarray:
        """z_j (P z)_j per column, z = x - location: they add up to the squared distance."""
        z = np.asarray(x, dtype=np.float32).astype(np.float64) - self.location
        return z * (z @ self.precision)

    def score(self, x: np.ndarray) -> np.ndarray:
        return self._terms(x).sum(axis=1)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        return _normalise_rows(np.clip(self._terms(x), 0.0, None))

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        return self._info(run, prefix, {"location": self.location, "precision": self.precision})

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> RobustGaussianDetector:
        det = cls._blank(info)
        arrays = _read(run, info)
        det.location, det.precision = arrays["location"], arrays["precision"]
        return det
