"""Fraud mode: supervised candidates trained on the labelled rows, with the unsupervised
detectors' scores among their features (a well-known gain on imbalanced labels).

Two candidates: LightGBM weighted so both classes count equally, and an MLP trained with the
focal loss (Lin et al. 2017), which down-weights the many easy normal rows. Both return the
probability of the positive (anomalous) class; ``out_of_fold`` scores every labelled row
with a model that never saw it, so they can be compared with the detectors on the same rows.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.runs.folder import RunFolder


class SupervisedCandidate:
    """What the fraud-mode candidates share: fit(x, y), proba(x), save/load."""

    name: ClassVar[str]
    family: ClassVar[str]
    complexity: ClassVar[int]
    description: ClassVar[str] = ""

    def __init__(self, seed: int = 0, **params: Any):
        self.seed = seed
        self.params = params
        self.history = None

    def score(self, x: np.ndarray) -> np.ndarray:
        """The log-odds of the positive class: the candidate's anomaly score."""
        p = np.clip(self.proba(x), 1e-9, 1 - 1e-9)
        return np.log(p / (1 - p))

    def contributions(self, x: np.ndarray) -> np.ndarray | None:
        return None


class FraudLightGBM(SupervisedCandidate):
    """LightGBM with the positive class weighted by the negative/positive ratio.

    >>> FraudLightGBM().family
    'classical'
    """

    name: ClassVar[str] = "lightgbm"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 2
    description: ClassVar[str] = "LightGBM, classes weighted equally, detector scores as features"

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        import lightgbm as lgb

        positives = max(int(y.sum()), 1)
        params = {
            "objective": "binary",
            "verbosity": -1,
            "seed": self.seed,
            "deterministic": True,
            "num_threads": self.params.get("num_threads", 2),
            "learning_rate": 0.05,
            "num_leaves": 15,
            "min_data_in_leaf": int(np.clip(positives // 4, 2, 20)),
            "feature_fraction": 0.8,
            "scale_pos_weight": (len(y) - positives) / positives,
        }
        rounds = int(self.params.get("rounds", 200))
        self.booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=rounds)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return self.booster.predict(x).astype(np.float64)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """SHAP-style contributions from LightGBM's ``pred_contrib``, the positive part of each
        column's push towards "anomalous", normalised to sum 1 per row."""
        raw = self.booster.predict(x, pred_contrib=True)[:, :-1]  # last column: the bias
        push = np.clip(raw, 0, None)
        return push / np.maximum(push.sum(axis=1, keepdims=True), 1e-12)

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        run.write_text(prefix + ".lgbm.txt", self.booster.model_to_string())
        return {"name": self.name, "file": prefix + ".lgbm.txt"}

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> FraudLightGBM:
        import lightgbm as lgb

        model = cls()
        model.booster = lgb.Booster(model_str=run.read_text(info["file"]))
        return model


class FraudMLP(SupervisedCandidate):
    """An MLP trained by the layerwise engine with the binary focal loss (gamma 2).

    >>> FraudMLP().family
    'deep'
    """

    name: ClassVar[str] = "mlp-focal"
    family: ClassVar[str] = "deep"
    complexity: ClassVar[int] = 3
    description: ClassVar[str] = "MLP with focal loss, detector scores as features"

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        import torch

        from layerwise.engine import Trainer, TrainerConfig
        from layerwise.models.tabular_mlp import TabularMLP, TabularMLPConfig

        torch.manual_seed(self.seed)
        config = TabularMLPConfig(n_numeric=x.shape[1], n_outputs=1, hidden=[64, 32], dropout=0.1)
        self.model = TabularMLP(config)
        inputs = torch.from_numpy(np.clip(x, -10, 10).astype(np.float32))
        empty = torch.zeros(len(x), 0, dtype=torch.int64)
        target = torch.from_numpy(y.astype(np.float32))
        train, val = _stratified_holdout(y, self.seed)
        data = (inputs, empty, target)
        trainer = Trainer(
            self.model,
            _focal_loss,
            TrainerConfig(
                epochs=int(self.params.get("epochs", 100)),
                batch_size=min(256, max(32, len(x) // 16)),
                lr=2e-3,
                weight_decay=1e-4,
                patience=15 if val is not None else None,
                time_limit=self.params.get("time_limit"),
                seed=self.seed,
                progress=bool(self.params.get("progress", False)),
                device=self.params.get("device", "auto"),
                cpu_threads=1,
            ),
        )
        self.history = trainer.fit(
            tuple(t[train] for t in data), None if val is None else tuple(t[val] for t in data)
        )
        self.model = trainer.model.to("cpu").eval()

    def proba(self, x: np.ndarray) -> np.ndarray:
        import torch

        inputs = torch.from_numpy(np.clip(x, -10, 10).astype(np.float32))
        with torch.no_grad():
            logits = self.model(inputs, torch.zeros(len(x), 0, dtype=torch.int64))[:, 0]
        return torch.sigmoid(logits.double()).numpy()

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        from layerwise.engine.checkpoint import save_weights

        save_weights(run.file(prefix + ".safetensors"), self.model.state_dict())
        return {
            "name": self.name,
            "file": prefix + ".safetensors",
            "architecture": self.model.config.to_dict(),
        }

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> FraudMLP:
        from layerwise.models.tabular_mlp import TabularMLP, TabularMLPConfig
        from layerwise.runs.weights import config_from, restore_module

        model = cls()
        config = config_from(TabularMLPConfig, info["architecture"], run)
        model.model = restore_module(run, info["file"], lambda: TabularMLP(config)).eval()
        return model


SUPERVISED = {c.name: c for c in (FraudLightGBM, FraudMLP)}


def out_of_fold(
    make: Any, x: np.ndarray, y: np.ndarray, seed: int = 0, folds: int = 5
) -> np.ndarray:
    """The positive-class probability of every labelled row from a model (``make()``) fitted on
    the other folds (stratified; fewer folds when there are fewer positives)."""
    from sklearn.model_selection import StratifiedKFold

    k = int(min(folds, y.sum(), len(y) - y.sum()))
    out = np.zeros(len(y))
    for train, held in StratifiedKFold(k, shuffle=True, random_state=seed).split(x, y):
        model = make()
        model.fit(x[train], y[train])
        out[held] = model.proba(x[held])
    return out


def _stratified_holdout(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """15% of the rows for early stopping when that holds at least 3 positives, else none."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    if y.sum() * 0.15 < 3 or (len(y) - y.sum()) * 0.15 < 3:
        return index, None
    train, val = train_test_split(index, test_size=0.15, random_state=seed, stratify=y)
    return train, val


def _focal_loss(logits: Any, target: Any, gamma: float = 2.0) -> Any:
    import torch.nn.functional as F

    logits = logits[:, 0].float()
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_true = (-bce).exp()  # the probability given to the true class
    return ((1 - p_true) ** gamma * bce).mean()
