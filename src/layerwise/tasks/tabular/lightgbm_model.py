"""LightGBM as a bake-off candidate: early stopping on an internal split of the training rows,
then a refit on every row with the best round count; saved in LightGBM's own text format."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.core.candidate import Candidate
from layerwise.runs.folder import RunFolder

MODEL_FILE = "model.lgbm.txt"
MIN_EARLY_STOPPING_ROWS = 100  # fewer training rows: a fixed number of rounds
SEARCHED = ("feature_fraction", "bagging_fraction", "bagging_freq", "lambda_l2", "extra_trees")


def early_stopping_split(
    y: np.ndarray, classification: bool, seed: int, fraction: float | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Training and validation rows for early stopping (stratified for classes when every
    class can be on both sides), 15% of them under 2,000 rows and 10% above; None when there
    are too few rows to spare any.

    >>> tr, va = early_stopping_split(np.arange(200) % 2, True, seed=0)
    >>> len(tr), len(va)
    (170, 30)
    """
    from sklearn.model_selection import train_test_split

    rows = len(y)
    if rows < MIN_EARLY_STOPPING_ROWS:
        return None
    fraction = fraction or (0.15 if rows < 2000 else 0.1)
    stratify = None
    if classification:
        counts = np.bincount(np.asarray(y, dtype=np.int64))
        present = counts[counts > 0]
        if present.min() >= 2 and int(np.ceil(fraction * rows)) >= len(present):
            stratify = y
    train, val = train_test_split(
        np.arange(rows), test_size=fraction, random_state=seed, stratify=stratify
    )
    return np.sort(train), np.sort(val)


class LightGBMCandidate(Candidate):
    """Gradient-boosted trees on raw numeric values and native categorical codes.

    >>> LightGBMCandidate("binary", n_classes=2).complexity
    2
    """

    name: ClassVar[str] = "lightgbm"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 2
    description: ClassVar[str] = "gradient-boosted trees (LightGBM, early-stopped)"

    def _params(self, rows: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "verbosity": -1,
            "seed": self.seed,
            "deterministic": True,
            "num_threads": self.params.get("num_threads", 2),
            "learning_rate": self.params.get("learning_rate", self._schedule(rows)[0]),
            "num_leaves": self.params.get("num_leaves", 31),
            "min_data_in_leaf": self.params.get("min_data_in_leaf", 20),
        }
        for name in SEARCHED:  # set only when given (--tune searches them: tuning.py)
            if name in self.params:
                params[name] = self.params[name]
        if params.get("bagging_fraction", 1.0) < 1.0:
            params.setdefault("bagging_freq", 1)  # LightGBM bags only with a frequency
        if self.objective == "regression":
            params["objective"] = "regression"
        elif self.objective == "binary":
            params["objective"] = "binary"
        else:
            params.update(objective="multiclass", num_class=self.n_classes)
        return params

    @staticmethod
    def _matrix(table: Any) -> tuple[np.ndarray, list[int]]:
        numeric = table.numeric.astype(np.float64)
        categorical = table.categorical.astype(np.float64)
        matrix = np.hstack([numeric, categorical]) if categorical.size else numeric
        cat_index = list(range(numeric.shape[1], matrix.shape[1]))
        return matrix, cat_index

    @staticmethod
    def _schedule(rows: int) -> tuple[float, int]:
        """Learning rate and most rounds by size: 0.1 and 1000 rounds under 2,000 rows (the
        validation split is small and noisy: fewer, larger steps), 0.05 and 2000 up to 100,000
        rows, 0.1 and 1000 beyond (each round is costly there)."""
        if 2000 <= rows <= 100_000:
            return 0.05, 2000
        return 0.1, 1000

    def fit(
        self, table: Any, encoder: Any, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        """Early stopping on an internal split, then a refit on every row with the best round
        count (``n_estimators`` given: that many rounds, no early stopping, as before).

        Parameters (``candidate_params={"lightgbm": {...}}``): ``n_estimators``,
        ``max_rounds`` and ``learning_rate`` (by size: :meth:`_schedule`),
        ``early_stopping_rounds`` (50), ``validation_fraction``, ``refit`` (True),
        ``num_leaves``, ``min_data_in_leaf``, ``num_threads``; and, left to LightGBM's
        defaults unless given, ``feature_fraction``, ``bagging_fraction`` (bagged every round
        when under 1), ``lambda_l2``, ``extra_trees``."""
        import lightgbm as lgb

        matrix, cat_index = self._matrix(table)
        rows = len(y)
        params = self._params(rows)

        def dataset(idx: np.ndarray, reference: Any = None) -> Any:
            return lgb.Dataset(
                matrix[idx],
                label=y[idx],
                weight=None if sample_weight is None else sample_weight[idx],
                categorical_feature=cat_index or "auto",
                free_raw_data=False,
                reference=reference,
                params={"verbosity": -1},
            )

        everything = np.arange(rows)
        self.best_iteration = None
        patience = int(self.params.get("early_stopping_rounds", 50))
        split = early_stopping_split(
            y, self.is_classifier, self.seed, self.params.get("validation_fraction")
        )
        if "n_estimators" in self.params or split is None or patience <= 0:
            rounds = int(self.params.get("n_estimators", 100))
            self.booster = lgb.train(params, dataset(everything), num_boost_round=rounds)
            return
        train, val = split
        fitting = dataset(train)
        max_rounds = int(self.params.get("max_rounds", self._schedule(rows)[1]))
        booster = lgb.train(
            params,
            fitting,
            num_boost_round=max_rounds,
            valid_sets=[dataset(val, reference=fitting)],
            callbacks=[lgb.early_stopping(patience, first_metric_only=True, verbose=False)],
        )
        self.best_iteration = max(int(booster.best_iteration or max_rounds), 1)
        if not self.params.get("refit", True):
            self.booster = booster
            return
        self.booster = lgb.train(params, dataset(everything), num_boost_round=self.best_iteration)

    def predict(self, table: Any, encoder: Any) -> np.ndarray:
        matrix, _ = self._matrix(table)
        raw = np.asarray(self.booster.predict(matrix))
        if self.objective == "binary":
            return np.column_stack([1.0 - raw, raw])
        return raw

    def feature_importance(self) -> np.ndarray:
        return self.booster.feature_importance(importance_type="gain")

    def save(self, run: RunFolder) -> dict[str, Any]:
        run.write_text(MODEL_FILE, self.booster.model_to_string())
        return {"file": MODEL_FILE, "rounds": int(self.booster.current_iteration())}

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> LightGBMCandidate:
        import lightgbm as lgb

        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        model.booster = lgb.Booster(model_str=run.read_text(info["file"]))
        return model
