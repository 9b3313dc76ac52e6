"""Per-epoch history, early stopping, the per-step log with its NaN check, and LR schedules."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from layerwise.errors import ConfigError, TrainingError

MODES = ("min", "max")


def is_better(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` improves on ``best`` under ``mode`` ("min" or "max"); NaN never does."""
    if value is None or math.isnan(value):
        return False
    if best is None:
        return True
    return value < best if mode == "min" else value > best


class History:
    """The per-epoch records of one training run.

    Each record is a dict with ``epoch``, ``train_loss``, ``val_loss``, ``val_<metric>``,
    ``lr`` and ``seconds``.

    Example:
        >>> h = History([{"epoch": 1, "val_loss": 0.5}, {"epoch": 2, "val_loss": 0.4}])
        >>> h.best["epoch"], len(h)
        (2, 2)
    """

    def __init__(
        self,
        records: list[dict[str, Any]] | None = None,
        monitor: str = "val_loss",
        mode: str = "min",
    ):
        self.records: list[dict[str, Any]] = list(records or [])
        self.monitor = monitor
        self.mode = mode

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.records[index]

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, monitor={self.monitor!r}, mode={self.mode!r})"

    @property
    def last(self) -> dict[str, Any] | None:
        """The latest record, or None before the first epoch."""
        return self.records[-1] if self.records else None

    @property
    def best(self) -> dict[str, Any] | None:
        """The record of the best epoch on ``monitor`` (the first of ties), or None."""
        best, best_value = None, None
        for record in self.records:
            value = record.get(self.monitor)
            if value is not None and is_better(float(value), best_value, self.mode):
                best, best_value = record, float(value)
        return best

    @property
    def history(self) -> dict[str, list[Any]]:
        """Keras-style ``{"loss": [...], "val_loss": [...], "accuracy": [...], ...}``.

        ``train_<name>`` becomes ``<name>``; ``epoch`` and ``seconds`` are left out.
        """
        out: dict[str, list[Any]] = {}
        for key in self._columns():
            if key not in ("epoch", "seconds"):
                out[keras_name(key)] = self.column(key)
        return out

    @property
    def epoch(self) -> list[int]:
        """The 0-based epoch indices, as Keras gives them."""
        return [int(e) - 1 for e in self.column("epoch")]

    def column(self, key: str) -> list[Any]:
        """The values of one key over the epochs (None where missing)."""
        return [record.get(key) for record in self.records]

    def to_frame(self):
        """The history as a pandas DataFrame, one row per epoch."""
        import pandas as pd

        return pd.DataFrame.from_records(self.records, columns=self._columns())

    def _columns(self) -> list[str]:
        columns: list[str] = []
        for record in self.records:
            columns.extend(key for key in record if key not in columns)
        return columns

    def to_csv_text(self) -> str:
        """The history as CSV text (floats written exactly, so reading gives the same values)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self._columns(), lineterminator="\n")
        writer.writeheader()
        for record in self.records:
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in record.items()})
        return buffer.getvalue()

    def write_csv(self, path: str | Path) -> Path:
        """Write ``history.csv`` atomically (temp file, fsync, rename); return its path."""
        from layerwise.io import atomic_write

        path = Path(path)
        text = self.to_csv_text()
        atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return path

    @classmethod
    def read_csv(cls, path: str | Path, monitor: str = "val_loss", mode: str = "min") -> History:
        """Read a file written by :meth:`write_csv`."""
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        records = [{k: _parse(v) for k, v in row.items() if v != ""} for row in rows]
        return cls(records, monitor=monitor, mode=mode)


def keras_name(key: str) -> str:
    """``train_loss`` -> ``loss``; other keys unchanged."""
    return key[len("train_") :] if key.startswith("train_") else key


def keras_logs(record: Mapping[str, Any]) -> dict[str, Any]:
    """One epoch record with Keras names (``loss``, ``val_loss``, ``accuracy``, ``lr``...)."""
    return {keras_name(k): v for k, v in record.items()}


def _parse(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


class EarlyStopping:
    """Tracks the best value of ``monitor`` and says when ``patience`` epochs passed without one.

    Example:
        >>> stop = EarlyStopping("val_loss", "min", patience=1)
        >>> stop.update({"epoch": 1, "val_loss": 1.0}), stop.update({"epoch": 2, "val_loss": 2.0})
        (True, False)
        >>> stop.should_stop
        True
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "min",
        patience: int | None = 10,
        min_delta: float = 0.0,
    ):
        if mode not in MODES:
            raise ConfigError(f"mode={mode!r} is not valid.", "Use one of: 'min', 'max'.")
        if patience is not None and patience < 1:
            raise ConfigError(
                f"patience={patience!r} is not valid.", "Use a whole number >= 1, or None."
            )
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        # patience counts from the last improvement larger than min_delta (the best epoch is
        # still the one restored): a loss that keeps shrinking by crumbs, as on separable
        # classes, otherwise never stops
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.best_epoch = 0
        self.mark: float | None = None  # the value at the last improvement beyond min_delta
        self.mark_epoch = 0
        self.epoch = 0

    def update(self, record: dict[str, Any]) -> bool:
        """Take one epoch's record; return True when it is the best so far."""
        if self.monitor not in record:
            known = ", ".join(k for k in record if k not in ("epoch", "seconds", "lr"))
            raise ConfigError(
                f"monitor={self.monitor!r} is not a recorded metric.", f"Use one of: {known}."
            )
        self.epoch = int(record["epoch"])
        value = float(record[self.monitor])
        shifted = None
        if self.mark is not None:
            shifted = (
                self.mark - self.min_delta if self.mode == "min" else self.mark + self.min_delta
            )
        if is_better(value, shifted, self.mode):
            self.mark, self.mark_epoch = value, self.epoch
        if is_better(value, self.best, self.mode):
            self.best, self.best_epoch = value, self.epoch
            return True
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.epoch - self.mark_epoch >= self.patience

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "epoch": self.epoch,
                "mark": self.mark, "mark_epoch": self.mark_epoch}  # fmt: skip

    def load_state(self, state: dict[str, Any]) -> None:
        self.best = state.get("best")
        self.best_epoch = int(state.get("best_epoch", 0))
        self.epoch = int(state.get("epoch", 0))
        self.mark = state.get("mark", self.best)  # checkpoints from before min_delta
        self.mark_epoch = int(state.get("mark_epoch", self.best_epoch))


def lr_lambda(kind: str, total: int, warmup: int) -> Callable[[int], float]:
    """The LR multiplier per step for schedule ``kind`` (see :class:`TrainerConfig`)."""
    total = max(total, 1)
    if kind == "onecycle":
        up = warmup or max(1, int(0.3 * total))
        floor = 1.0 / (25 * 1e4)

        def onecycle(step: int) -> float:
            if step < up:
                return 1 / 25 + (1 - 1 / 25) * step / up
            progress = min(1.0, (step - up) / max(1, total - up))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        return onecycle

    def warm_then(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return warm_then


def step_floats(values: list[Any]) -> list[float]:
    """Step values as floats with one device sync for the whole list."""
    if len(values) > 1 and all(isinstance(v, torch.Tensor) for v in values):
        with contextlib.suppress(RuntimeError):  # tensors on different devices: go one by one
            return torch.stack([v.detach().float().reshape(()) for v in values]).tolist()
    return [float(v) for v in values]


class StepLog:
    """Collects what ``train_step`` returns and checks it for NaN/inf every ``check_every`` steps."""

    def __init__(self, epoch: int, check_every: int):
        self.epoch, self.check_every = epoch, check_every
        self.raw: dict[str, list[Any]] = {}
        self.floats: dict[str, list[float]] = {}
        self.sizes: list[int] = []
        self.checked = 0

    def add(self, out: Mapping[str, Any], size: int) -> None:
        for key, value in out.items():
            self.raw.setdefault(key, []).append(value)
        self.sizes.append(size)
        if len(self.sizes) - self.checked >= self.check_every:
            self.check()

    def check(self) -> None:
        for key, values in self.raw.items():
            window = step_floats(values)
            for offset, value in enumerate(window):
                if not math.isfinite(value):
                    raise TrainingError(
                        f"The training {key} became {value} at epoch {self.epoch}, step {self.checked + offset + 1}.",
                        "Lower the learning rate (lr), set clip_grad_norm (e.g. 1.0), "
                        "or check the inputs for NaN or infinite values.",
                    )
            self.floats.setdefault(key, []).extend(window)
            self.raw[key] = []
        self.checked = len(self.sizes)

    def means(self) -> dict[str, float]:
        self.check()
        total = sum(self.sizes)
        out = {}
        for key, values in self.floats.items():
            name = key if key.startswith("train_") else f"train_{key}"
            out[name] = sum(v * n for v, n in zip(values, self.sizes, strict=True)) / max(total, 1)
        return out


class Snapshots:
    """A callback that keeps up to ``count`` snapshots of training (sample texts, image grids)
    spread over the time limit: after epoch 1, then whenever another ``limit / count`` seconds
    have passed (every epoch without a limit). Subclasses define ``take(trainer, record,
    elapsed) -> dict``; the snapshots are in ``taken``.
    """

    def __init__(self, limit: float | None, count: int):
        self.limit, self.count = limit, count
        self.taken: list[dict[str, Any]] = []
        self.began = time.perf_counter()

    def take(self, trainer: Any, record: dict[str, Any], elapsed: float) -> dict[str, Any]:
        raise NotImplementedError

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        elapsed = time.perf_counter() - self.began
        due = (len(self.taken) + 1) * self.limit / self.count if self.limit else 0.0
        if record["epoch"] > 1 and elapsed < due:
            return
        self.taken.append(self.take(trainer, record, elapsed))
