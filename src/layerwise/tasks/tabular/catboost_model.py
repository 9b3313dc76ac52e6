"""CatBoost as a bake-off candidate: categorical codes passed natively, early stopping on an
internal split of the training rows, saved in CatBoost's own binary format (``.cbm``).

catboost is an optional extra (``pip install "layerwise[catboost]"``): it is imported only
inside the methods that train or load, and the advisor leaves the candidate out when it is not
installed (:func:`layerwise.core.advisor.default_tabular_candidates`).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from layerwise.candidates.boosting import (
    boosting_threads,
    catboost_early_stopped,
    early_stopping_split,
    import_catboost,
    load_catboost,
)
from layerwise.core.candidate import Candidate
from layerwise.runs.folder import RunFolder

MODEL_FILE = "model.cbm"
FIXED_ITERATIONS = 200  # without early stopping (under 100 rows)


class _TimeCap:
    """A CatBoost callback that stops training once ``seconds`` have passed."""

    def __init__(self, seconds: float):
        self.deadline = time.perf_counter() + seconds

    def after_iteration(self, info: Any) -> bool:
        return time.perf_counter() < self.deadline


class CatBoostCandidate(Candidate):
    """Gradient-boosted oblivious trees with CatBoost's ordered target statistics for the
    categorical columns.

    Parameters (``candidate_params={"catboost": {...}}``): ``iterations`` (the most rounds,
    1000), ``learning_rate`` (0.08 under 10,000 rows, else 0.05), ``depth`` (6),
    ``l2_leaf_reg`` (3), ``early_stopping_rounds`` (50), ``validation_fraction`` (0.15 under
    2,000 rows, else 0.1), ``refit`` (True: refit on every row with the best round count; under 100 rows there is
    no split and 200 rounds are run),
    ``thread_count`` (one thread under 50,000 rows), ``time_limit`` (seconds, none).

    >>> CatBoostCandidate("binary", n_classes=2).complexity
    2
    """

    name: ClassVar[str] = "catboost"
    family: ClassVar[str] = "classical"
    # the same tier as LightGBM: the same model class (boosted trees), as hard to read and
    # about as costly to serve; within noise the better-scoring of the two is kept
    complexity: ClassVar[int] = 2
    description: ClassVar[str] = "gradient-boosted trees (CatBoost, native categories)"
    time_capped: ClassVar[bool] = True  # the task passes it a share of the time limit

    def _params(self, rows: int) -> dict[str, Any]:
        get = self.params.get
        params: dict[str, Any] = {
            "iterations": int(get("iterations", 1000)),
            "learning_rate": float(get("learning_rate", 0.08 if rows < 10_000 else 0.05)),
            "depth": int(get("depth", 6)),
            "l2_leaf_reg": float(get("l2_leaf_reg", 3.0)),
            "thread_count": int(get("thread_count", boosting_threads(rows))),
            "random_seed": self.seed,
            "allow_writing_files": False,
            "logging_level": "Silent",
        }
        if self.objective == "regression":
            params["loss_function"] = "RMSE"
        elif self.objective == "binary":
            params["loss_function"] = "Logloss"
        else:  # every class named, so a fold missing one still gives k columns
            params.update(loss_function="MultiClass", class_names=list(range(self.n_classes)))
        return params

    @staticmethod
    def _frame(table: Any) -> Any:
        """Numeric columns as floats (NaN kept), categorical codes as integers (0 = missing)."""
        import pandas as pd

        columns: dict[str, Any] = {
            f"n{i}": table.numeric[:, i].astype(np.float64) for i in range(table.numeric.shape[1])
        }
        columns.update(
            {
                f"c{i}": table.categorical[:, i].astype(np.int64)
                for i in range(table.categorical.shape[1])
            }
        )
        return pd.DataFrame(columns, index=pd.RangeIndex(len(table)))

    def _pool(self, frame: Any, y: Any = None, weight: Any = None) -> Any:
        cat = [c for c in frame.columns if c.startswith("c")]
        return import_catboost().Pool(frame, label=y, weight=weight, cat_features=cat)

    def fit(
        self, table: Any, encoder: Any, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        catboost = import_catboost()
        frame, rows = self._frame(table), len(table)
        params = self._params(rows)
        cap = self.params.get("time_limit")
        callbacks = [_TimeCap(float(cap))] if cap else None
        split = early_stopping_split(
            y, self.is_classifier, self.seed, self.params.get("validation_fraction")
        )
        patience = int(self.params.get("early_stopping_rounds", 50))
        self.best_iteration = None
        if split is not None and patience > 0:

            def pool(idx: np.ndarray) -> Any:
                weight = None if sample_weight is None else sample_weight[idx]
                return self._pool(frame.iloc[idx], y[idx], weight)

            refit = bool(self.params.get("refit", True))
            self.model, self.best_iteration = catboost_early_stopped(
                params, pool, split, patience, refit, callbacks
            )
            return
        # too few rows to spare a validation split: a fixed, modest number of rounds
        params["iterations"] = int(self.params.get("iterations", FIXED_ITERATIONS))
        self.model = catboost.CatBoost(params)
        self.model.fit(self._pool(frame, y, sample_weight), callbacks=callbacks)

    def predict(self, table: Any, encoder: Any) -> np.ndarray:
        pool = self._pool(self._frame(table))
        if self.objective == "regression":
            return np.asarray(self.model.predict(pool, prediction_type="RawFormulaVal"), float)
        return np.asarray(self.model.predict(pool, prediction_type="Probability"), float)

    def feature_importance(self) -> np.ndarray:
        return np.asarray(self.model.get_feature_importance(), dtype=np.float64)

    def save(self, run: RunFolder) -> dict[str, Any]:
        run.write_with(MODEL_FILE, lambda path: self.model.save_model(str(path), format="cbm"))
        return {"file": MODEL_FILE, "trees": int(self.model.tree_count_)}

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> CatBoostCandidate:
        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        model.model = load_catboost(run, info["file"])
        return model
