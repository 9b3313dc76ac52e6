"""Keras-style callbacks, run by :class:`layerwise.engine.Trainer` at the end of each epoch.

Each gets Keras-named logs (``loss``, ``val_loss``, ``accuracy``, ``val_accuracy``, ``lr``).

Example:
    >>> stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from layerwise.engine.callbacks import keras_logs
from layerwise.errors import ConfigError


class Callback:
    """Base class: override any of the hooks; ``trainer.model.inner`` is the Keras model."""

    def on_train_begin(self, trainer: Any) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        """Called after each epoch with the trainer's record."""

    def on_train_end(self, trainer: Any) -> None:
        """Called once after the last epoch."""


class _Monitor(Callback):
    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0):
        if mode not in ("auto", "min", "max"):
            raise ConfigError(f"mode={mode!r} is not valid.", "Use 'auto', 'min' or 'max'.")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)
        self.best: float | None = None

    def value(self, record: dict[str, Any]) -> float:
        logs = keras_logs(record)
        if self.monitor not in logs:
            known = ", ".join(k for k in logs if k not in ("epoch", "seconds"))
            raise ConfigError(
                f"monitor={self.monitor!r} is not a recorded metric.", f"Use one of: {known}."
            )
        return float(logs[self.monitor])

    def improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    Example:
        >>> EarlyStopping("val_accuracy", patience=3).mode
        'max'
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.restore_best_weights = int(patience), restore_best_weights
        self.wait, self.stopped_epoch, self.best_weights = 0, 0, None

    def on_train_begin(self, trainer: Any) -> None:
        self.best, self.wait, self.stopped_epoch, self.best_weights = None, 0, 0, None

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        value = self.value(record)
        if self.improved(value):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                state = trainer.model.state_dict()
                self.best_weights = {k: v.detach().clone() for k, v in state.items()}
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = int(record["epoch"])
            trainer.stop_training = True

    def on_train_end(self, trainer: Any) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement.

    The new rate applies from the next epoch (``history["lr"]`` records the rate each epoch used).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        mode: str = "auto",
        min_delta: float = 1e-4,
        min_lr: float = 0.0,
    ):
        super().__init__(monitor, mode, min_delta)
        if not 0 < factor < 1:
            raise ConfigError(f"factor={factor!r} is not valid.", "Use a number in (0, 1).")
        self.factor, self.patience, self.min_lr, self.wait = factor, int(patience), min_lr, 0

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        value = self.value(record)
        if self.improved(value):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience and trainer.optimizer is not None:
            lr = trainer.optimizer.param_groups[0]["lr"]
            trainer.set_lr(max(lr * self.factor, self.min_lr))
            self.wait = 0


class ModelCheckpoint(_Monitor):
    """Save the model's weights (safetensors) to ``filepath`` after each epoch, or only when
    ``monitor`` improved with ``save_best_only``. ``filepath`` may use ``{epoch}``."""

    def __init__(
        self,
        filepath: str | Path,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: str = "auto",
    ):
        super().__init__(monitor, mode)
        self.filepath, self.save_best_only = str(filepath), save_best_only

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        from safetensors.torch import save_file

        if self.save_best_only:
            value = self.value(record)
            if not self.improved(value):
                return
            self.best = value
        logs = {k: v for k, v in keras_logs(record).items() if k != "epoch"}
        path = Path(self.filepath.format(epoch=int(record["epoch"]), **logs))
        path.parent.mkdir(parents=True, exist_ok=True)
        model = getattr(trainer.model, "inner", trainer.model)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(path))


class CSVLogger(Callback):
    """Write one CSV row per epoch (``epoch`` from 0, then the Keras-named logs)."""

    def __init__(self, filename: str | Path, separator: str = ",", append: bool = False):
        self.filename, self.separator, self.append = Path(filename), separator, append
        self.keys: list[str] | None = None

    def on_train_begin(self, trainer: Any) -> None:
        self.keys = None
        if not self.append and self.filename.exists():
            self.filename.unlink()

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        logs = {k: v for k, v in keras_logs(record).items() if k not in ("epoch", "seconds")}
        row = {"epoch": int(record["epoch"]) - 1, **logs}
        new = self.keys is None and not (self.append and self.filename.exists())
        self.keys = self.keys or list(row)
        self.filename.parent.mkdir(parents=True, exist_ok=True)
        with open(self.filename, "a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(
                handle, fieldnames=self.keys, delimiter=self.separator, extrasaction="ignore"
            )
            if new:
                writer.writeheader()
            writer.writerow(row)


class TerminateOnNaN(Callback):
    """Stop training (without raising) when the loss becomes NaN or infinite."""

    terminate_on_nan = True

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if not math.isfinite(float(record.get("train_loss", 0.0))):
            trainer.stop_training = True
