"""Random forests and extra-trees as bake-off candidates for tables: scikit-learn grows the
trees, and they are exported to flat arrays (one safetensors file, no pickle) and walked in
numpy (:mod:`layerwise.candidates.forest_arrays`), so a run folder holds data, not code.

Both are low-bias averaging models that boosting does not replace: on tables with many
near-duplicate rows (panels of the same people over years) fully grown trees remember what
boosted trees smooth over, and their errors differ from boosting's, which is what the weighted
ensemble needs. The leaf size, the one setting that matters most, is chosen per table on
evidence: the random forest's out-of-bag predictions (free: every tree left a third of the
rows out), extra-trees' an internal validation split.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, ClassVar

import numpy as np

from layerwise.candidates.forest_arrays import FIX, check, flatten, walk
from layerwise.core.candidate import Candidate
from layerwise.errors import RunFolderError
from layerwise.runs.folder import RunFolder

MODEL_FILE = "model.forest.safetensors"
LEAF_SIZES = (1, 3, 8)  # min_samples_leaf tried: memorising, smoothed, strongly smoothed
TREES = 100  # past ~100 trees the gain is a few tenths of a point at 3x the size and time
BATCH = 25  # trees grown at a time, so a time limit stops between batches


# metrics of the predicted class alone: the leaf size is chosen by the error rate for them
ERROR_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


class _Forest(Candidate):
    """What the two forests share: growing in batches under a time limit, choosing the leaf
    size, the matrix they see, prediction by walking the flat arrays, save and load."""

    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 2
    time_capped: ClassVar[bool] = True  # the task passes it a share of the time limit
    takes_metric: ClassVar[bool] = True  # the task passes the run's metric: it picks the leaf
    bootstrap: ClassVar[bool]

    @staticmethod
    def _matrix(table: Any) -> np.ndarray:
        """Raw numeric values (NaN kept: sklearn's trees route missing values) beside the
        categorical codes as ordinals, as AutoGluon's forests see them."""
        return np.hstack([table.numeric, table.categorical]).astype(np.float32)

    def _estimator(self, leaf: int, trees: int, oob: bool = False) -> Any:
        from sklearn import ensemble

        kind = ("RandomForest" if self.bootstrap else "ExtraTrees") + (
            "Classifier" if self.is_classifier else "Regressor"
        )
        # sqrt of the columns per split for classes (Breiman's default), half of them for a
        # value (all of them, sklearn's regression default, was worse or equal on the three
        # regression tables tried: Wages, Star, OFP)
        features = self.params.get("max_features", "sqrt" if self.is_classifier else 0.5)
        return getattr(ensemble, kind)(
            n_estimators=trees,
            min_samples_leaf=leaf,
            max_features=features,
            bootstrap=self.bootstrap,
            oob_score=oob,
            n_jobs=int(self.params.get("n_jobs", 2)),
            random_state=self.seed,
            warm_start=True,
        )

    def _grow(
        self, model: Any, x: np.ndarray, y: np.ndarray, w: Any, trees: int, stop: float
    ) -> Any:
        """Add trees BATCH at a time until ``trees`` or the time is up (at least one batch)."""
        grown = 0
        while grown < trees:
            grown = min(trees, grown + BATCH)
            model.set_params(n_estimators=grown)
            model.fit(x, y, sample_weight=w)
            if time.perf_counter() > stop:
                break
        return model

    def _loss(self, y: np.ndarray, output: np.ndarray, w: Any) -> float:
        """Log loss, squared error or (for MAE) absolute error of validation outputs: the
        leaf size is chosen for what the run is judged by."""
        if self.is_classifier:
            p = np.clip(output[np.arange(len(y)), y], 1e-6, 1.0)
            return float(np.average(-np.log(p), weights=w))
        if self.params.get("metric") == "mae":
            return float(np.average(np.abs(output - y), weights=w))
        return float(np.average((output - y) ** 2, weights=w))

    def _leaf_sizes(self) -> list[int]:
        """The leaf sizes to choose among. Classes judged by the predicted class alone
        (``metric`` accuracy, balanced accuracy, macro-F1: the run's, passed by the task)
        grow leaves of one row, Breiman's default, without a probe: log loss, a proper
        score, rewards the smoother probabilities of bigger leaves, which accuracy does not
        see. It chose leaves of 8 rows on Males (0.773 accuracy on a fold against 0.797 with
        leaves of one row), and the error rate of quarter-size probe forests is too noisy
        to choose by (it still chose bigger leaves there: 0.787)."""
        if "min_samples_leaf" in self.params:
            return [int(self.params["min_samples_leaf"])]
        if self.is_classifier and self.params.get("metric") in ERROR_METRICS:
            return [1]
        return [int(s) for s in self.params.get("leaf_sizes", LEAF_SIZES)]

    def fit(
        self, table: Any, encoder: Any, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        """Choose the leaf size among ``leaf_sizes`` (or take ``min_samples_leaf``) by probe
        forests of a quarter of the trees, then grow ``n_estimators`` trees (100) with it,
        within ``time_limit`` seconds.

        Parameters (``candidate_params={"random-forest": {...}}``): ``n_estimators``,
        ``min_samples_leaf``, ``leaf_sizes``, ``max_features``, ``n_jobs`` (2), ``time_limit``,
        ``metric`` (the run's: which leaf sizes, :meth:`_leaf_sizes`, and by what loss)."""
        x = self._matrix(table)
        self.n_features = x.shape[1]
        cap = self.params.get("time_limit")
        stop = time.perf_counter() + (float(cap) if cap else np.inf)
        trees = int(self.params.get("n_estimators", TREES))
        sizes = self._leaf_sizes()
        self.leaf_size, best = sizes[0], np.inf
        for leaf in sizes if len(sizes) > 1 else []:
            loss = self._probe_loss(leaf, max(BATCH, trees // 4), x, y, sample_weight)
            if loss is not None and loss < best:
                best, self.leaf_size = loss, leaf
            if time.perf_counter() > stop:
                break
        model = self._grow(self._estimator(self.leaf_size, trees), x, y, sample_weight, trees, stop)
        classes = model.classes_.astype(np.int64) if self.is_classifier else None
        n_outputs = self.n_classes if self.is_classifier else 1
        self.arrays = flatten([e.tree_ for e in model.estimators_], n_outputs, classes)
        # kept in memory for this run's own predictions (the bake-off's folds, the test rows,
        # permutation importance): sklearn's compiled walk is ~20x faster than the numpy one
        # that a loaded forest uses, and agrees with it to 1e-6 (tests/tasks/tabular)
        self._sklearn = model

    def _probe_loss(
        self, leaf: int, trees: int, x: np.ndarray, y: np.ndarray, w: Any
    ) -> float | None:
        """The validation loss of a small forest with this leaf size; None: not measurable."""
        raise NotImplementedError

    def _columns(self, output: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Class outputs over the classes a fit saw, as every class's column."""
        full = np.zeros((len(output), self.n_classes))
        full[:, classes.astype(np.int64)] = output
        return full

    def _output(self, raw: np.ndarray) -> np.ndarray:
        if self.is_classifier:
            return raw / np.maximum(raw.sum(axis=1, keepdims=True), 1e-12)
        return raw[:, 0]

    def predict(self, table: Any, encoder: Any) -> np.ndarray:
        x = self._matrix(table)
        if x.shape[1] != self.n_features:  # a run folder whose files do not belong together
            raise RunFolderError(
                f"The forest was trained on {self.n_features} columns; the encoder gives "
                f"{x.shape[1]}.",
                FIX,
            )
        fitted = getattr(self, "_sklearn", None)
        if fitted is None:
            return self._output(walk(self.arrays, x))
        # two threads pay off on big batches only: starting them cost ~25 ms a call, which
        # made a bag of five forests look like 1 ms a row on 114 test rows
        fitted.set_params(n_jobs=1 if len(x) < 5000 else int(self.params.get("n_jobs", 2)))
        if self.is_classifier:
            return self._columns(fitted.predict_proba(x), fitted.classes_)
        return fitted.predict(x)

    def save(self, run: RunFolder) -> dict[str, Any]:
        from safetensors.numpy import save_file

        tensors = {k: np.ascontiguousarray(v) for k, v in self.arrays.items()}
        run.write_with(MODEL_FILE, lambda path: save_file(tensors, str(path)))
        return {
            "file": MODEL_FILE,
            "n_features": self.n_features,
            "trees": len(self.arrays["roots"]),
            "leaf_size": getattr(self, "leaf_size", None),
        }

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> _Forest:
        from layerwise.runs.weights import read_tensors

        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        model.n_features = int(info["n_features"])
        arrays = {k: v.numpy() for k, v in read_tensors(run, info["file"]).items()}
        n_outputs = model.n_classes if model.is_classifier else 1
        check(arrays, model.n_features, n_outputs, str(run.path))
        model.arrays = arrays
        return model


class RandomForestCandidate(_Forest):
    """Breiman's random forest: bootstrap samples, the best split among a random subset of the
    columns; the leaf size chosen by out-of-bag loss.

    >>> RandomForestCandidate("binary", n_classes=2).family
    'classical'
    """

    name: ClassVar[str] = "random-forest"
    description: ClassVar[str] = "random forest (leaf size by out-of-bag loss)"
    bootstrap: ClassVar[bool] = True

    def _probe_loss(self, leaf, trees, x, y, w):  # type: ignore[no-untyped-def]
        # out-of-bag: each row scored by the trees whose bootstrap left it out (no split);
        # the few rows every probe tree saw are left out of the loss (sklearn warns of them)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            probe = self._estimator(leaf, trees, oob=True).fit(x, y, sample_weight=w)
        if self.is_classifier:
            oob = self._columns(np.nan_to_num(probe.oob_decision_function_), probe.classes_)
            seen = oob.sum(axis=1) > 0
        else:
            oob = probe.oob_prediction_
            seen = np.isfinite(oob)
        if not seen.any():
            return None
        return self._loss(y[seen], oob[seen], None if w is None else w[seen])


class ExtraTreesCandidate(_Forest):
    """Geurts et al.'s extremely randomised trees: every row, random cut points; the leaf size
    chosen on an internal validation split, then grown on every row.

    >>> ExtraTreesCandidate("regression").name
    'extra-trees'
    """

    name: ClassVar[str] = "extra-trees"
    description: ClassVar[str] = "extra-trees (leaf size by validation loss)"
    bootstrap: ClassVar[bool] = False

    def _probe_loss(self, leaf, trees, x, y, w):  # type: ignore[no-untyped-def]
        from layerwise.candidates.boosting import early_stopping_split

        split = early_stopping_split(y, self.is_classifier, self.seed)
        if split is None:
            return None
        tr, va = split
        probe = self._estimator(leaf, trees).fit(
            x[tr], y[tr], sample_weight=None if w is None else w[tr]
        )
        if self.is_classifier:
            output = self._columns(probe.predict_proba(x[va]), probe.classes_)
        else:
            output = probe.predict(x[va])
        return self._loss(y[va], output, None if w is None else w[va])
