"""The options of the one training loop (:class:`TrainerConfig`, checked as they are set) and
the device a name resolves to; :mod:`layerwise.engine.trainer` runs them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from layerwise.engine.callbacks import MODES
from layerwise.errors import ConfigError

OPTIMIZERS = ("adamw", "adam", "sgd", "rmsprop")
SCHEDULES = ("cosine", "onecycle", "constant")
PRECISIONS = ("auto", "off", "bf16", "fp16")


def _choice(name: str, value: str, valid: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in valid:
        raise ConfigError(
            f"{name}={value!r} is not valid.",
            "Use one of: " + ", ".join(repr(v) for v in valid) + ".",
        )
    return value.lower()


@dataclass
class TrainerConfig:
    """Every option of :class:`Trainer`; the defaults suit most models.

    ``schedule``: "cosine" decays per step to 0 over ``epochs`` after ``warmup_steps`` of
    linear warmup; "onecycle" rises from lr/25 to lr over ``warmup_steps`` (default 30% of
    the steps) and anneals to lr/250000 with a cosine; "constant" keeps lr after warmup.
    ``mixed_precision`` applies on CUDA only ("auto": bf16 where supported, else fp16 with
    a gradient scaler); the CPU path is always float32 and deterministic.

    Example:
        >>> TrainerConfig(epochs=5, lr=3e-3, patience=None).optimizer
        'adamw'
    """

    epochs: int = 100
    # At most this many steps an epoch (tensor data; None: a whole pass). A set too large for
    # the time at hand trains on part of a pass; each epoch draws a new shuffle.
    steps_per_epoch: int | None = None
    time_limit: float | None = None
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adamw"
    schedule: str = "cosine"
    warmup_steps: int = 0
    clip_grad_norm: float | None = None
    patience: int | None = 10
    min_delta: float = 0.0  # an improvement of the monitor no larger than this resets no patience
    monitor: str = "val_loss"
    mode: str = "min"
    restore_best: bool = True
    mixed_precision: str = "auto"
    device: str = "auto"
    seed: int = 0
    checkpoint_dir: str | Path | None = None
    resume: bool = False
    progress: bool = True
    shuffle: bool = True
    eval_batch_size: int | None = None
    channels_last: bool = False  # convnets: NHWC weights and 4-D batches, often faster on GPU
    compile: bool = (
        False  # torch.compile the model; off by default (not faster for small CPU models)
    )
    # CPU intra-op threads while training (None: torch's setting). Tiny models train as fast on one
    # thread, and then two trainings on one machine don't slow each other down (OpenMP spin-waits).
    cpu_threads: int | None = None
    # Train in this process alone, even in a world of several (a model that rank 0 alone trains
    # and uses, e.g. image generation's judge): no DDP, no collective, nothing agreed.
    alone: bool = False

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], seed: int, tunable: Mapping[str, Any], **fixed: Any
    ) -> TrainerConfig:
        """A candidate's config: each ``tunable`` option (name -> the candidate's default) taken
        from the user's ``params`` when given there (coerced to the default's type), ``fixed``
        ones as the candidate sets them, and the run-level keys every candidate passes on from
        its params: time_limit, progress (off), device, checkpoint_dir, resume.

        Example:
            >>> TrainerConfig.from_params({"lr": "0.01"}, 0, {"lr": 1e-3, "epochs": 5}).lr
            0.01
        """
        options: dict[str, Any] = {}
        for name, default in tunable.items():
            value = params.get(name, default)
            kind = type(default)
            options[name] = kind(value) if kind in (int, float) and value is not None else value
        return cls(
            **options,
            **fixed,
            seed=seed,
            time_limit=params.get("time_limit"),
            progress=bool(params.get("progress", False)),
            device=params.get("device", "auto"),
            checkpoint_dir=params.get("checkpoint_dir"),
            resume=bool(params.get("resume", False)),
        )

    def __post_init__(self) -> None:
        self.optimizer = _choice("optimizer", self.optimizer, OPTIMIZERS)
        self.schedule = _choice("schedule", self.schedule, SCHEDULES)
        self.mode = _choice("mode", self.mode, MODES)
        self.mixed_precision = _choice("mixed_precision", self.mixed_precision, PRECISIONS)
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(
                    f"{name}={getattr(self, name)!r} is not valid.", "Use a whole number >= 1."
                )
        if self.steps_per_epoch is not None and not (
            isinstance(self.steps_per_epoch, int) and self.steps_per_epoch >= 1
        ):
            raise ConfigError(f"steps_per_epoch={self.steps_per_epoch!r} is not valid.",
                              "Use a whole number >= 1, or None for whole passes.")  # fmt: skip
        if self.time_limit is not None and not self.time_limit >= 0:
            raise ConfigError(
                f"time_limit={self.time_limit!r} is not valid.", "Use seconds >= 0, or None."
            )
        if self.warmup_steps < 0:
            raise ConfigError(
                f"warmup_steps={self.warmup_steps!r} is not valid.", "Use a whole number >= 0."
            )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["checkpoint_dir"] = None if self.checkpoint_dir is None else str(self.checkpoint_dir)
        return out


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> cuda if available else cpu; otherwise the named device, checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(
            f"device={name!r} is not valid.", "Use 'auto', 'cpu', 'cuda' or 'cuda:<index>'."
        ) from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device={name!r} was asked for but CUDA is not available.",
            "Use device='auto' or 'cpu'.",
        )
    return device
