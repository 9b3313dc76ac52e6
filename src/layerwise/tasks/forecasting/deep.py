"""The deep forecasters in the bake-off: DLinear, PatchTST and SegRNN, trained by the engine on
the training windows (every origin, all channels at once; the models are channel-independent)
with early stopping on the validation windows, and saved as safetensors + their config.

The lookback is the one the ridge baseline chose on validation among (96, 192, 336, 512, 720),
unless ``lookback`` is given: that choice is cheap for ridge and carries over well.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import numpy as np

from layerwise.runs.folder import RunFolder
from layerwise.tasks.forecasting.base import ForecastCandidate, Windows

# At most this many training windows per epoch (an even subsample of the origins beyond it).
MAX_TRAIN_WINDOWS = 60_000


class ForecastDeepCandidate(ForecastCandidate):
    """What the deep forecasters share. ``params``: horizon, season, lookback (336), epochs
    (30), batch_size (64), lr, weight_decay, patience (5), loss ("mse" or "mae"),
    time_limit, device, progress, checkpoint_dir, resume, and the architecture's own fields.
    """

    family: ClassVar[str] = "deep"
    model_file: ClassVar[str]
    architecture: ClassVar[str]  # "module:Class"; its config is <Class>Config
    config_fields: ClassVar[tuple[str, ...]]
    default_lr: ClassVar[float] = 1e-3

    @classmethod
    def _classes(cls) -> tuple[Any, Any]:
        module_name, name = cls.architecture.split(":")
        module = importlib.import_module(module_name)
        return getattr(module, name), getattr(module, f"{name}Config")

    def _config(self, n_channels: int) -> Any:
        given = {k: self.params[k] for k in self.config_fields if k in self.params}
        return self._classes()[1](
            lookback=self.lookback, horizon=self.horizon, n_channels=n_channels, **given
        )

    def fit(self, train: Windows, val: Windows) -> None:
        import torch

        from layerwise.engine import Trainer, TrainerConfig

        torch.manual_seed(self.seed)
        self.lookback = int(self.params.get("lookback", 336))
        train = train.with_full_history(self.lookback)
        if len(train) > MAX_TRAIN_WINDOWS:
            train = train.every(int(np.ceil(len(train) / MAX_TRAIN_WINDOWS)))
        self.model = self._classes()[0](self._config(train.n_channels))
        x, y = torch.from_numpy(train.history(self.lookback)), torch.from_numpy(train.targets())
        xv, yv = torch.from_numpy(val.history(self.lookback)), torch.from_numpy(val.targets())
        loss = torch.nn.L1Loss() if self.params.get("loss", "mse") == "mae" else torch.nn.MSELoss()
        config = TrainerConfig.from_params(
            self.params,
            self.seed,
            {"epochs": 30, "batch_size": 64, "lr": float(self.default_lr), "weight_decay": 0.0,
             "patience": 5},
            schedule="cosine",
            clip_grad_norm=1.0,
        )  # fmt: skip
        trainer = Trainer(self.model, loss, config, {"mae": _mae})
        self.history = trainer.fit((x, y), val=(xv, yv))
        self.stopped_reason = trainer.stopped_reason
        self.model = trainer.model.to("cpu").eval()

    def forecast(self, windows: Windows) -> np.ndarray:
        import torch

        parts = []
        with torch.no_grad():
            for start in range(0, len(windows), 1024):
                chunk = windows.subset(slice(start, start + 1024))
                parts.append(self.model(torch.from_numpy(chunk.history(self.lookback))).numpy())
        if not parts:
            return np.zeros((0, self.horizon, windows.n_channels), np.float32)
        return np.concatenate(parts).astype(np.float32)

    def facts(self) -> dict[str, Any]:
        return {"lookback": self.lookback}

    def save(self, run: RunFolder) -> dict[str, Any]:
        from layerwise.engine.checkpoint import save_weights

        save_weights(run.file(self.model_file), self.model.state_dict())
        return {
            "file": self.model_file,
            "architecture": self.model.config.to_dict(),
            "horizon": self.horizon,
            "season": self.season,
        }

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> ForecastDeepCandidate:
        from layerwise.runs.weights import config_from, restore_module

        module, config_class = cls._classes()
        model = cls(horizon=info["horizon"], season=info["season"])
        config = config_from(config_class, info["architecture"], run)
        model.model = restore_module(run, info["file"], lambda: module(config)).eval()
        model.lookback = model.model.config.lookback
        return model


def _mae(outputs: Any, targets: Any) -> float:
    return float((outputs - targets).abs().mean())


class DLinearCandidate(ForecastDeepCandidate):
    """DLinear (Zeng et al. 2023): linear maps of the trend and the remainder.

    >>> DLinearCandidate(horizon=24).complexity
    2
    """

    name: ClassVar[str] = "dlinear"
    complexity: ClassVar[int] = 2
    description: ClassVar[str] = "DLinear: trend + seasonal linear maps, trained by gradient"
    model_file: ClassVar[str] = "model.dlinear.safetensors"
    architecture: ClassVar[str] = "layerwise.models.dlinear:DLinear"
    config_fields: ClassVar[tuple[str, ...]] = ("kernel_size", "individual")
    default_lr: ClassVar[float] = 5e-3


class PatchTSTCandidate(ForecastDeepCandidate):
    """PatchTST (Nie et al. 2023): a Transformer over patches of each channel.

    >>> PatchTSTCandidate(horizon=24).family
    'deep'
    """

    name: ClassVar[str] = "patchtst"
    complexity: ClassVar[int] = 4
    description: ClassVar[str] = "PatchTST: channel-independent patch Transformer with RevIN"
    model_file: ClassVar[str] = "model.patchtst.safetensors"
    architecture: ClassVar[str] = "layerwise.models.patchtst:PatchTST"
    config_fields: ClassVar[tuple[str, ...]] = (
        "patch_len", "stride", "dim", "depth", "heads", "ff_dim", "dropout", "head_dropout",
        "revin",
    )  # fmt: skip


class SegRNNCandidate(ForecastDeepCandidate):
    """SegRNN (Lin et al. 2023): a GRU over segments, parallel multi-step decoding.

    >>> SegRNNCandidate(horizon=24).complexity
    3
    """

    name: ClassVar[str] = "segrnn"
    complexity: ClassVar[int] = 3
    description: ClassVar[str] = "SegRNN: GRU over segments of the lookback"
    model_file: ClassVar[str] = "model.segrnn.safetensors"
    architecture: ClassVar[str] = "layerwise.models.segrnn:SegRNN"
    config_fields: ClassVar[tuple[str, ...]] = ("segment", "hidden", "dropout", "cell")
