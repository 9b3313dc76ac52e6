"""The deep candidate for tables: a TabularMLP trained by the engine, saved as safetensors."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.core.candidate import Candidate
from layerwise.runs.folder import RunFolder

MODEL_FILE = "model.safetensors"


class TorchCandidate(Candidate):
    """What the torch-model candidates share: a standardised regression target and weights
    saved as safetensors beside JSON info."""

    y_mean: float = 0.0
    y_std: float = 1.0

    def standardise(self, y: np.ndarray) -> np.ndarray:
        self.y_mean, self.y_std = float(np.mean(y)), float(np.std(y) or 1.0)
        return ((y - self.y_mean) / self.y_std).astype(np.float32)

    def unstandardise(self, values: np.ndarray) -> np.ndarray:
        return values * self.y_std + self.y_mean

    def save_weights(self, run: RunFolder, file: str, **info: Any) -> dict[str, Any]:
        from layerwise.engine.checkpoint import save_weights

        save_weights(run.file(file), self.model.state_dict())
        info = {"file": file, **info}
        if not self.is_classifier:
            info.update(y_mean=self.y_mean, y_std=self.y_std)
        return info

    def restore(self, run: RunFolder, info: dict[str, Any], build: Any) -> None:
        """Load the weights of ``info["file"]`` into ``build()``, checked against the file's
        shapes before anything is allocated (:func:`layerwise.runs.weights.restore_module`)."""
        from layerwise.runs.weights import restore_module

        self.model = restore_module(run, info["file"], build).eval()
        self.y_mean, self.y_std = info.get("y_mean", 0.0), info.get("y_std", 1.0)


class MLPCandidate(TorchCandidate):
    """MLP with categorical embeddings, early-stopped on a held-out 15% of its training data.

    >>> MLPCandidate("multiclass", n_classes=3).family
    'deep'
    """

    name: ClassVar[str] = "mlp"
    family: ClassVar[str] = "deep"
    complexity: ClassVar[int] = 3
    description: ClassVar[str] = "MLP with categorical embeddings, trained by the layerwise engine"

    def _inputs(self, table: Any, encoder: Any) -> tuple[Any, Any]:
        import torch

        numeric = torch.from_numpy(encoder.standardized(table).astype(np.float32))
        categorical = torch.from_numpy(table.categorical.astype(np.int64))
        return numeric, categorical

    def _build(self, n_numeric: int, cardinalities: list[int]) -> Any:
        from layerwise.models.tabular_mlp import TabularMLP, TabularMLPConfig

        n_outputs = self.n_classes if self.is_classifier else 1
        config = TabularMLPConfig(
            n_numeric=n_numeric,
            cardinalities=list(cardinalities),
            n_outputs=n_outputs,
            hidden=list(self.params.get("hidden", [256, 128])),
            dropout=float(self.params.get("dropout", 0.3 if self._rows < 5000 else 0.1)),
        )
        return TabularMLP(config)

    def _validation_split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.model_selection import train_test_split

        index = np.arange(len(y))
        stratify = y if self.is_classifier and np.bincount(y).min() >= 2 else None
        try:
            return train_test_split(
                index, test_size=0.15, random_state=self.seed, stratify=stratify
            )
        except ValueError:  # too few rows of a class for a stratified split
            return train_test_split(index, test_size=0.15, random_state=self.seed)

    def fit(
        self, table: Any, encoder: Any, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> None:
        import torch

        from layerwise.engine import Trainer, TrainerConfig

        torch.manual_seed(self.seed)
        numeric, categorical = self._inputs(table, encoder)
        if self.is_classifier:
            target = torch.from_numpy(y.astype(np.int64))
            weight = None
            if sample_weight is not None:
                counts = np.bincount(y, weights=sample_weight, minlength=self.n_classes)
                rows = np.maximum(np.bincount(y, minlength=self.n_classes), 1)
                weight = torch.tensor(counts / rows, dtype=torch.float32)
            loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
            metrics = {"accuracy": _accuracy}
        else:
            target = torch.from_numpy(self.standardise(y))
            loss_fn = _mse
            metrics = {}
        train_idx, val_idx = self._validation_split(y)
        self._rows = len(y)  # small tables get more dropout
        self.model = self._build(numeric.shape[1], table.cardinalities)
        n = len(train_idx)
        config = TrainerConfig.from_params(
            self.params,
            self.seed,
            {"epochs": 200, "batch_size": min(256, max(32, n // 16)), "lr": 2e-3,
             "weight_decay": 1e-4, "patience": 20},
            cpu_threads=1,  # a table's MLP is tiny: one thread is as fast and immune to contention
        )  # fmt: skip
        trainer = Trainer(self.model, loss_fn, config, metrics=metrics)
        tensors = (numeric, categorical, target)
        self.history = trainer.fit(
            tuple(t[train_idx] for t in tensors), val=tuple(t[val_idx] for t in tensors)
        )
        self.model = trainer.model.to("cpu").eval()

    def predict(self, table: Any, encoder: Any) -> np.ndarray:
        import torch

        numeric, categorical = self._inputs(table, encoder)
        outputs = []
        with torch.no_grad():
            for start in range(0, len(numeric), 4096):
                stop = start + 4096
                outputs.append(self.model(numeric[start:stop], categorical[start:stop]))
        raw = torch.cat(outputs) if outputs else torch.zeros(0, self.model.config.n_outputs)
        if self.is_classifier:
            return torch.softmax(raw.float(), dim=1).numpy().astype(np.float64)
        return self.unstandardise(raw[:, 0].double().numpy())

    def save(self, run: RunFolder) -> dict[str, Any]:
        return self.save_weights(run, MODEL_FILE, architecture=self.model.config.to_dict())

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> MLPCandidate:
        from layerwise.models.tabular_mlp import TabularMLP, TabularMLPConfig
        from layerwise.runs.weights import config_from

        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        config = config_from(TabularMLPConfig, info["architecture"], run)
        model.restore(run, info, lambda: TabularMLP(config))
        return model


def _accuracy(outputs: Any, targets: Any) -> float:
    return float((outputs.argmax(dim=1) == targets).float().mean())


def _mse(outputs: Any, targets: Any) -> Any:
    return ((outputs[:, 0].float() - targets) ** 2).mean()
