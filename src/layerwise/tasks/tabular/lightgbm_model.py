"""LightGBM as a bake-off candidate: early stopping on an internal split of the training rows,
then a refit on every row with the best round count; saved in LightGBM's own text format."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.candidates.boosting import (
    boosting_threads,
    early_stopping_split,
    lightgbm_early_stopped,
)
from layerwise.core.candidate import Candidate
from layerwise.runs.folder import RunFolder

MODEL_FILE = "model.lgbm.txt"
# LightGBM settings passed through as given (``candidate_params``, or a portfolio preset)
TREE_SETTINGS = (
    "extra_trees", "feature_fraction", "bagging_fraction", "bagging_freq", "lambda_l1",
    "lambda_l2", "min_sum_hessian_in_leaf", "max_depth", "max_bin", "cat_smooth", "cat_l2",
)  # fmt: skip


class LightGBMCandidate(Candidate):
    """Gradient-boosted trees on raw numeric values and native categorical codes.

    >>> LightGBMCandidate("binary", n_classes=2).complexity
    2
    """

    name: ClassVar[str] = "lightgbm"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 2
    description: ClassVar[str] = "gradient-boosted trees (LightGBM, early-stopped)"

    preset: ClassVar[dict[str, Any]] = {}  # a portfolio member's settings (the user's win)

    def _params(self, rows: int) -> dict[str, Any]:
        given = {**self.preset, **self.params}
        params: dict[str, Any] = {
            "verbosity": -1,
            "seed": self.seed,
            "deterministic": True,
            "num_threads": given.get("num_threads", boosting_threads(rows)),
            "learning_rate": given.get("learning_rate", self._schedule(rows)[0]),
            "num_leaves": given.get("num_leaves", 31),
            "min_data_in_leaf": given.get("min_data_in_leaf", 20),
        }
        params.update({k: given[k] for k in TREE_SETTINGS if k in given})  # --tune searches some
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
        max_rounds = int(self.params.get("max_rounds", self._schedule(rows)[1]))
        refit = bool(self.params.get("refit", True))
        self.booster, self.best_iteration = lightgbm_early_stopped(
            params, dataset, split, max_rounds, patience, refit
        )

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


# A small portfolio of LightGBM settings that work across many tables, after AutoGluon's
# (Erickson et al. 2020): each is a candidate of its own, so the bake-off measures it and the
# weighted ensemble can combine them. Extremely randomised split points smooth what the default
# overfits on small noisy tables; larger, slower trees catch the interactions of larger ones.
class LightGBMExtraTrees(LightGBMCandidate):
    """LightGBM with random split points (``extra_trees``).

    >>> LightGBMExtraTrees("regression")._params(500)["extra_trees"]
    True
    """

    name: ClassVar[str] = "lightgbm-xt"
    description: ClassVar[str] = "gradient-boosted trees (LightGBM, random split points)"
    preset: ClassVar[dict[str, Any]] = {"extra_trees": True}


class LightGBMLarge(LightGBMCandidate):
    """LightGBM with 128 leaves, small leaves and a lower learning rate.

    >>> LightGBMLarge("regression")._params(500)["num_leaves"]
    128
    """

    name: ClassVar[str] = "lightgbm-large"
    description: ClassVar[str] = "gradient-boosted trees (LightGBM, 128 leaves, slower rate)"
    preset: ClassVar[dict[str, Any]] = {
        "num_leaves": 128,
        "min_data_in_leaf": 3,
        "learning_rate": 0.03,
        "feature_fraction": 0.9,
    }
