"""The deep candidate for tables: a TabularMLP trained by the engine, saved as safetensors."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.core.candidate import Candidate
from layerwise.runs.folder import RunFolder

MODEL_FILE = "model.safetensors"
# the defaults of each architecture's searched hyperparameters (--tune starts from them)
DEFAULTS = {
    "tabm": {"hidden": [128, 128], "dropout": 0.1, "lr": 2e-3, "weight_decay": 3e-4},
    "plain": {"hidden": [256, 128], "lr": 2e-3, "weight_decay": 1e-4},  # dropout: by rows
}


def plain_dropout(rows: int) -> float:
    """The plain MLP's default dropout: more on fewer rows."""
    return 0.3 if rows < 5000 else 0.1


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
    """The deep candidate for tables, early-stopped on a held-out 15% of its training data.

    ``architecture`` (a param): "tabm" (the default), piecewise-linear embeddings of the numeric
    columns and an efficient ensemble of k MLPs (:mod:`layerwise.models.tabm`); "plain", the
    earlier MLP with categorical embeddings (:class:`~layerwise.models.tabular_mlp.TabularMLP`).

    >>> MLPCandidate("multiclass", n_classes=3).family
    'deep'
    """

    name: ClassVar[str] = "mlp"
    family: ClassVar[str] = "deep"
    complexity: ClassVar[int] = 3
    time_capped: ClassVar[bool] = True  # the task passes it a share of the time limit
    description: ClassVar[str] = (
        "TabM: an efficient ensemble of MLPs on piecewise-linear numeric embeddings"
    )

    def _inputs(self, table: Any, encoder: Any) -> tuple[Any, Any]:
        import torch

        numeric = torch.from_numpy(encoder.standardized(table).astype(np.float32))
        categorical = torch.from_numpy(table.categorical.astype(np.int64))
        return numeric, categorical

    @property
    def _ensemble(self) -> bool:
        return getattr(self.model, "config", None) is not None and hasattr(self.model.config, "k")

    def _build(self, numeric: Any, table: Any, train_idx: np.ndarray) -> Any:
        architecture = str(self.params.get("architecture", "tabm"))
        if architecture == "tabm":
            return self._build_tabm(numeric, table, train_idx)
        if architecture == "plain":
            from layerwise.models.tabular_mlp import TabularMLP, TabularMLPConfig

            config = TabularMLPConfig(
                n_numeric=numeric.shape[1],
                cardinalities=list(table.cardinalities),
                n_outputs=self.n_classes if self.is_classifier else 1,
                hidden=list(self.params.get("hidden", DEFAULTS["plain"]["hidden"])),
                dropout=float(self.params.get("dropout", plain_dropout(len(numeric)))),
            )
            return TabularMLP(config)
        from layerwise.errors import ConfigError

        raise ConfigError(
            f"The mlp's architecture={architecture!r} is not one it has.",
            "Use 'tabm' (the default) or 'plain'.",
        )

    def _build_tabm(self, numeric: Any, table: Any, train_idx: np.ndarray) -> Any:
        from layerwise.models.tabm import TabM, TabMConfig, quantile_edges

        p = self.params
        n_encoded = table.numeric.shape[1]  # the numeric columns; the missing indicators follow
        # ~100 training rows a bin, 8 to 48 (the papers' range): finer bins on few rows overfit.
        n_bins = int(p.get("n_bins", min(48, max(8, len(train_idx) // 100))))
        try:
            config = TabMConfig(
                n_numeric=numeric.shape[1],
                cardinalities=list(table.cardinalities),
                n_outputs=self.n_classes if self.is_classifier else 1,
                n_encoded=n_encoded if n_bins else 0,
                n_bins=n_bins,
                d_embedding=int(p.get("d_embedding", 16)),
                hidden=list(p.get("hidden", DEFAULTS["tabm"]["hidden"])),
                dropout=float(p.get("dropout", DEFAULTS["tabm"]["dropout"])),
                k=int(p.get("k", 8)),
                adapters=str(p.get("adapters", "hidden")),
            )
        except ValueError as error:  # adapters or k the network does not have
            from layerwise.errors import ConfigError

            raise ConfigError(
                f"The mlp's params do not make a TabM: {error}.",
                "Use adapters 'hidden', 'input' or 'all', k from 1 to 256, and hidden layers.",
            ) from error
        model = TabM(config)
        if model.ple is not None:
            # Edges at the quantiles of the training rows' observed values (a missing value is
            # 0 in the standardised input, with its indicator beside it, and no quantile here).
            raw = table.numeric[train_idx].astype(np.float64)
            values = np.where(np.isnan(raw), np.nan, numeric[train_idx, :n_encoded].numpy())
            model.ple.edges.copy_(torch_tensor(quantile_edges(values, n_bins)))
        return model

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
        if getattr(table, "streamed", False):  # rows on disk (--stream): stream_rows.py
            return table.fit_mlp(self, encoder)
        import torch

        from layerwise.engine import Trainer, TrainerConfig

        torch.manual_seed(self.seed)
        numeric, categorical = self._inputs(table, encoder)
        weight = None
        if self.is_classifier:
            target = torch.from_numpy(y.astype(np.int64))
            if sample_weight is not None:
                counts = np.bincount(y, weights=sample_weight, minlength=self.n_classes)
                rows = np.maximum(np.bincount(y, minlength=self.n_classes), 1)
                weight = torch.tensor(counts / rows, dtype=torch.float32)
        else:
            target = torch.from_numpy(self.standardise(y))
        train_idx, val_idx = self._validation_split(y)
        self.model = self._build(numeric, table, train_idx)
        loss_fn, metrics, fixed = _objective(self.is_classifier, self._ensemble, weight)
        n = len(train_idx)
        defaults = DEFAULTS["tabm" if self._ensemble else "plain"]
        config = TrainerConfig.from_params(
            self.params,
            self.seed,
            {"epochs": 200, "batch_size": min(256, max(32, n // 16)), "lr": defaults["lr"],
             "weight_decay": defaults["weight_decay"],
             "patience": 16 if self._ensemble else 20, "schedule": "cosine",
             # gains under 1e-4 of validation loss do not hold off early stopping: on
             # separable classes (penguins) the loss shrank by crumbs for 139 epochs
             "min_delta": 1e-4},
            cpu_threads=1,  # a table's MLP is tiny: one thread is as fast and immune to contention
            **fixed,
        )  # fmt: skip
        probe = _TooSlow.of(self.params, config.time_limit)
        trainer = Trainer(self.model, loss_fn, config, metrics=metrics, callbacks=probe)
        tensors = (numeric, categorical, target)
        self.history = trainer.fit(
            tuple(t[train_idx] for t in tensors), val=tuple(t[val_idx] for t in tensors)
        )
        self.model = trainer.model.to("cpu").eval()
        self.stopped_reason = trainer.stopped_reason  # "time limit": cut short by its cap
        # the probe is the fit's only callback: a stop by callback is the probe giving up, on
        # this rank or (timing its own epoch) another one, whose stop every rank takes
        if probe and (probe[0].gave_up or trainer.stopped_reason == "callback"):
            self.stopped_reason = "time limit"

    def predict(self, table: Any, encoder: Any) -> np.ndarray:
        import torch

        numeric, categorical = self._inputs(table, encoder)
        outputs = []
        with torch.no_grad():
            for start in range(0, len(numeric), 4096):
                stop = start + 4096
                out = self.model(numeric[start:stop], categorical[start:stop])
                if self._ensemble:
                    from layerwise.models.tabm import ensemble_mean

                    out = ensemble_mean(out, self.is_classifier)
                elif self.is_classifier:
                    out = torch.softmax(out.float(), dim=1)
                outputs.append(out)
        width = self.n_classes if self.is_classifier else 1
        raw = torch.cat(outputs) if outputs else torch.zeros(0, width)
        if self.is_classifier:
            return raw.double().numpy()
        return self.unstandardise(raw[:, 0].double().numpy())

    def save(self, run: RunFolder) -> dict[str, Any]:
        network = {"network": "tabm"} if self._ensemble else {}
        return self.save_weights(
            run, MODEL_FILE, architecture=self.model.config.to_dict(), **network
        )

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> MLPCandidate:
        from layerwise.runs.weights import config_from

        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        if info.get("network") == "tabm":  # run folders from before TabM have no "network"
            from layerwise.models.tabm import TabM as Network
            from layerwise.models.tabm import TabMConfig as Config
        else:
            from layerwise.models.tabular_mlp import TabularMLP as Network
            from layerwise.models.tabular_mlp import TabularMLPConfig as Config
        config = config_from(Config, info["architecture"], run)
        model.restore(run, info, lambda: Network(config))
        return model


def torch_tensor(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _objective(classifier: bool, ensemble: bool, weight: Any) -> tuple[Any, dict, dict]:
    """The loss, the validation metrics and the trainer options that follow from them.

    An ensemble trains on the mean of its members' losses (each member learns on its own,
    which keeps them diverse), but is early-stopped on the loss of its averaged prediction,
    the one it serves."""
    import torch

    if not ensemble:
        if classifier:
            return torch.nn.CrossEntropyLoss(weight=weight), {"accuracy": _accuracy}, {}
        return _mse, {}, {}
    if classifier:
        cross_entropy = torch.nn.CrossEntropyLoss(weight=weight)

        def members_loss(outputs: Any, targets: Any) -> Any:
            k = outputs.shape[1]
            return cross_entropy(outputs.flatten(0, 1), targets.repeat_interleave(k))

        def ensemble_loss(outputs: Any, targets: Any) -> float:
            mean = torch.softmax(outputs.float(), dim=-1).mean(dim=1)
            log = torch.log(mean.clamp_min(1e-12))
            return float(torch.nn.functional.nll_loss(log, targets, weight=weight))

        def ensemble_accuracy(outputs: Any, targets: Any) -> float:
            return _accuracy(torch.softmax(outputs.float(), dim=-1).mean(dim=1), targets)

        metrics = {"ensemble_loss": ensemble_loss, "accuracy": ensemble_accuracy}
        return members_loss, metrics, {"monitor": "val_ensemble_loss"}

    def members_mse(outputs: Any, targets: Any) -> Any:
        return ((outputs[..., 0].float() - targets.unsqueeze(1)) ** 2).mean()

    def ensemble_mse(outputs: Any, targets: Any) -> float:
        return float(((outputs[..., 0].float().mean(dim=1) - targets) ** 2).mean())

    return members_mse, {"ensemble_loss": ensemble_mse}, {"monitor": "val_ensemble_loss"}


def _accuracy(outputs: Any, targets: Any) -> float:
    return float((outputs.argmax(dim=1) == targets).float().mean())


def _mse(outputs: Any, targets: Any) -> Any:
    return ((outputs[:, 0].float() - targets) ** 2).mean()


class _TooSlow:
    """Stops a time-capped fit after its first epoch when ``min_epochs_in_time`` epochs of
    that length would not fit in its time limit: the bake-off's first fold of a deep model
    then costs one epoch, not its whole share, before the model is skipped as too slow for
    the limit (the task passes the parameter for that fold only: a final fit always runs)."""

    def __init__(self, epochs: int, seconds: float):
        self.epochs, self.seconds, self.gave_up = epochs, seconds, False

    @classmethod
    def of(cls, params: dict[str, Any], time_limit: float | None) -> list[_TooSlow]:
        epochs = params.get("min_epochs_in_time")
        return [cls(int(epochs), float(time_limit))] if epochs and time_limit else []

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if record.get("epoch") == 1 and record["seconds"] * self.epochs > self.seconds:
            self.gave_up = trainer.stop_training = True
