"""LightGBM as a bake-off candidate; saved in LightGBM's own text format."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.core.candidate import Candidate
from layerwise.runs.folder import RunFolder

MODEL_FILE = "model.lgbm.txt"


class LightGBMCandidate(Candidate):
    """Gradient-boosted trees on raw numeric values and native categorical codes.

    >>> LightGBMCandidate("binary", n_classes=2).complexity
    2
    """

    name: ClassVar[str] = "lightgbm"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 2
    description: ClassVar[str] = "gradient-boosted trees (LightGBM defaults)"

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "verbosity": -1,
            "seed": self.seed,
            "deterministic": True,
            "num_threads": self.params.get("num_threads", 2),
            "learning_rate": self.params.get("learning_rate", 0.1),
            "num_leaves": self.params.get("num_leaves", 31),
            "min_data_in_leaf": self.params.get("min_data_in_leaf", 20),
        }
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

    def fit(
        self, table: Any, encoder: Any, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        import lightgbm as lgb

        matrix, cat_index = self._matrix(table)
        dataset = lgb.Dataset(
            matrix,
            label=y,
            weight=sample_weight,
            categorical_feature=cat_index or "auto",
            free_raw_data=False,
            params={"verbosity": -1},
        )
        rounds = int(self.params.get("n_estimators", 100))
        self.booster = lgb.train(self._params(), dataset, num_boost_round=rounds)

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
        return {"file": MODEL_FILE}

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> LightGBMCandidate:
        import lightgbm as lgb

        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        model.booster = lgb.Booster(model_str=run.read_text(info["file"]))
        return model
