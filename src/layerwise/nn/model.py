"""Keras-style models over PyTorch: :class:`Sequential`, :meth:`Model.wrap`, compile/fit/
evaluate/predict/summary/save. Training runs on :class:`layerwise.engine.Trainer`.

Example:
    >>> import numpy as np
    >>> from layerwise.nn import Sequential
    >>> model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2, activation="softmax")])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> x, y = np.random.rand(32, 3).astype("float32"), np.arange(32) % 2
    >>> len(model.fit(x, y, epochs=2, verbose=0).history["loss"])
    2
    >>> model.predict(x).shape
    (32, 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn as tnn

from layerwise.engine import History, Trainer, TrainerConfig
from layerwise.errors import ConfigError, DataError, TrainingError
from layerwise.nn import names
from layerwise.nn.layers import Dense, Embedding, Layer, Shape  # noqa: F401  (doctest)


class _Trainer(Trainer):
    """The engine's train step, also returning the compiled metrics for the batch."""

    def train_step(self, batch: tuple[Any, ...]) -> dict[str, Any]:
        *inputs, target = batch
        with self.autocast():
            out = self.parallel_model(*inputs)
            loss = self.loss_fn(out, target)
        self.backward_step(loss)
        logs: dict[str, Any] = {"loss": loss.detach()}
        with torch.no_grad():
            for name, fn in self.metrics.items():
                logs[name] = fn(out.detach(), target)
        return logs


class _Logits(tnn.Module):
    """What the trainer sees: the model with its fused final activation left out."""

    def __init__(self, model: Model):
        super().__init__()
        self.inner = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.logits(x) if self.inner.fused else self.inner(x)


def _tensor(a: Any, what: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu()
    try:
        return torch.as_tensor(np.asarray(a))
    except (TypeError, ValueError) as error:
        raise DataError(
            f"{what} must be a numpy array or tensor; got {type(a).__name__}."
        ) from error


class Model(tnn.Module):
    """Base of layerwise models: a ``torch.nn.Module`` with Keras's compile/fit/predict.

    Use :class:`Sequential`, or :meth:`Model.wrap` for your own module.
    """

    def __init__(self) -> None:
        super().__init__()
        self.compile_config: dict[str, Any] | None = None
        self.fused: str | None = None
        self.stopped_reason = ""

    # ---- hooks subclasses provide ---------------------------------------------------------
    input_shape: Shape | None = None
    final_activation: str | None = None

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)

    def ensure_built(self, input_shape: Shape) -> None:
        """Build from one sample's shape if not built yet (nothing to do for wrapped modules)."""

    @staticmethod
    def wrap(module: tnn.Module) -> Model:
        """A :class:`Model` around any ``torch.nn.Module`` (its outputs are taken as logits).

        Example:
            >>> import torch
            >>> model = Model.wrap(torch.nn.Linear(3, 2))
            >>> model.compile(loss="sparse_categorical_crossentropy")
        """
        return module if isinstance(module, Model) else Wrapped(module)

    # ---- compile --------------------------------------------------------------------------
    def compile(
        self,
        optimizer: str = "adam",
        loss: str = "mse",
        metrics: Sequence[str] | None = None,
        learning_rate: float | None = None,
        weight_decay: float = 0.0,
        schedule: str = "constant",
        jit_compile: bool = False,
    ) -> None:
        """Choose the optimizer, loss and metrics by name (see :mod:`layerwise.nn.names`).

        A final softmax/sigmoid with a matching cross-entropy is fused into the loss
        (computed on logits, numerically stable); :meth:`predict` still returns probabilities.
        ``schedule`` is the learning-rate schedule by name ("constant", "cosine", "onecycle");
        ``jit_compile`` runs the model through ``torch.compile`` (as Keras's flag of that name).
        """
        lr = names.lookup("optimizer", optimizer, names.OPTIMIZERS)
        loss = names.loss_name(loss)
        metrics = [names.metric_name(m) for m in (metrics or [])]
        self.compile_config = {
            "optimizer": str(optimizer).lower(),
            "loss": loss,
            "metrics": metrics,
            "learning_rate": float(learning_rate if learning_rate is not None else lr),
            "weight_decay": float(weight_decay),
            "schedule": names.lookup("schedule", schedule, names.SCHEDULES),
            "jit_compile": bool(jit_compile),
        }
        wanted = names.FUSABLE.get(loss)
        self.fused = wanted if wanted and self.final_activation == wanted else None

    def _losses(self) -> tuple[Any, dict[str, Any]]:
        if self.compile_config is None:
            raise ConfigError(
                "The model is not compiled.", "Call model.compile(optimizer=..., loss=...) first."
            )
        cfg = self.compile_config
        from_logits = self.fused is not None or self.final_activation is None
        loss = names.make_loss(cfg["loss"], from_logits)
        metrics = {m: names.make_metric(m, cfg["loss"], self.fused) for m in cfg["metrics"]}
        return loss, metrics

    # ---- data -----------------------------------------------------------------------------
    def _inputs(self, x: Any) -> torch.Tensor:
        x = _tensor(x, "x")
        if x.dim() == 0:
            raise DataError("x is a scalar.", "Give an array with one row per sample.")
        if self.input_shape is None:
            self.ensure_built(tuple(x.shape[1:]))
        if self.input_shape is not None and tuple(x.shape[1:]) != tuple(self.input_shape):
            raise DataError(
                f"The model expects samples of shape {tuple(self.input_shape)} (input of shape "
                f"(batch, {', '.join(map(str, self.input_shape))})); received {tuple(x.shape)}.",
                "Reshape the data (images are channels-first: (C, H, W)) or change input_shape.",
            )
        integer = not (x.is_floating_point() or x.is_complex())
        return x.long() if integer and self._takes_ids() else x.float()

    def _takes_ids(self) -> bool:
        return False

    def _targets(self, y: Any, n: int) -> torch.Tensor:
        y = _tensor(y, "y")
        if len(y) != n:
            raise DataError(f"x has {n} samples but y has {len(y)}.", "Give one label per sample.")
        loss = self.compile_config["loss"]
        out_shape = getattr(self, "output_shape", None)
        if loss == "sparse_categorical_crossentropy":
            if y.dim() == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.is_floating_point() and not torch.equal(y, y.round()):
                raise DataError(
                    "sparse_categorical_crossentropy needs integer class labels; y has fractions."
                )
            y = y.long()
            classes = out_shape[-1] if out_shape else None
            bad = y[(y < 0) | (y >= classes)] if classes else y[y < 0]
            if len(bad):
                raise DataError(
                    f"Labels must be in the range [0, {(classes or 1) - 1}] (the output has "
                    f"{classes} units); found label {int(bad[0])}.",
                    "Encode the classes as 0..n-1, or give the last layer more units.",
                )
            return y
        y = y.float()
        if out_shape and y.dim() == 1 and tuple(out_shape) == (1,):
            y = y[:, None]
        if loss == "binary_crossentropy" and len(y) and (y.min() < 0 or y.max() > 1):
            bad = y[(y < 0) | (y > 1)][0]
            raise DataError(
                f"binary_crossentropy needs labels in the range [0, 1]; found {float(bad)}."
            )
        return y

    # ---- fit / evaluate / predict ---------------------------------------------------------
    def fit(
        self,
        x: Any,
        y: Any,
        epochs: int = 1,
        batch_size: int = 32,
        validation_split: float = 0.0,
        validation_data: tuple[Any, Any] | None = None,
        callbacks: Iterable[Any] | None = None,
        verbose: int = 1,
        shuffle: bool = True,
        seed: int = 0,
        device: str = "auto",
    ) -> History:
        """Train; returns a History whose ``.history`` is Keras's dict of lists.

        ``validation_split`` holds out the *last* fraction of the samples (before shuffling),
        as Keras does. ``x``/``y`` are numpy arrays or tensors.
        """
        loss, metrics = self._losses()
        x = self._inputs(x)
        y = self._targets(y, len(x))
        val = None
        if validation_data is not None:
            vx = self._inputs(validation_data[0])
            val = (vx, self._targets(validation_data[1], len(vx)))
        elif validation_split:
            if not 0 < validation_split < 1:
                raise ConfigError(
                    f"validation_split={validation_split!r} is not valid.",
                    "Use a fraction in (0, 1).",
                )
            cut = len(x) - int(len(x) * validation_split)
            if cut in (0, len(x)):
                raise DataError(
                    f"validation_split={validation_split} leaves no samples on one side of {len(x)}."
                )
            x, y, val = x[:cut], y[:cut], (x[cut:], y[cut:])
        cfg = self.compile_config
        config = TrainerConfig(
            epochs=int(epochs), batch_size=int(batch_size), lr=cfg["learning_rate"],
            weight_decay=cfg["weight_decay"], optimizer=cfg["optimizer"],
            schedule=cfg.get("schedule", "constant"), compile=cfg.get("jit_compile", False),
            patience=None, restore_best=False, progress=bool(verbose), shuffle=shuffle,
            seed=seed, device=device,
        )  # fmt: skip
        callbacks = list(callbacks or [])
        trainer = _Trainer(_Logits(self), loss, config, metrics, callbacks)
        try:
            history = trainer.fit((x, y), val)
        except TrainingError:
            if not any(getattr(c, "terminate_on_nan", False) for c in callbacks):
                raise
            history = trainer.history
            trainer.stopped_reason = "NaN loss"
        self.stopped_reason = trainer.stopped_reason
        self.to("cpu")
        return history

    def _runner(self, batch_size: int) -> Trainer:
        config = TrainerConfig(
            batch_size=batch_size, eval_batch_size=batch_size, progress=False, device="cpu"
        )
        loss, metrics = self._losses() if self.compile_config else (None, {})
        return Trainer(_Logits(self), loss, config, metrics)

    def predict(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """The model's outputs (probabilities after a fused softmax/sigmoid) as a numpy array."""
        out = self._runner(batch_size).predict(self._inputs(x))
        if self.fused == "softmax":
            out = out.softmax(-1)
        elif self.fused == "sigmoid":
            out = torch.sigmoid(out)
        return out.numpy()

    def evaluate(self, x: Any, y: Any, batch_size: int = 256, return_dict: bool = False) -> Any:
        """Loss (and metrics) on ``(x, y)``: a float, a list ``[loss, *metrics]``, or a dict."""
        x = self._inputs(x)
        y = self._targets(y, len(x))
        runner = self._runner(batch_size)
        result = {k.removeprefix("val_"): v for k, v in runner.evaluate((x, y)).items()}
        if return_dict:
            return result
        values = list(result.values())
        return values[0] if len(values) == 1 else values

    # ---- summary and files ----------------------------------------------------------------
    def summary_rows(self) -> list[tuple[str, str, int]]:
        return [
            (f"{name} ({type(m).__name__})", "?", sum(p.numel() for p in m.parameters()))
            for name, m in self.named_children()
        ]

    def summary(self) -> None:
        """Print a table: layer, output shape, parameters, and the totals."""
        from rich.console import Console
        from rich.table import Table

        table = Table(title=type(self).__name__)
        for column in ("Layer (type)", "Output shape", "Param #"):
            table.add_column(column, justify="right" if column == "Param #" else "left")
        for name, shape, count in self.summary_rows():
            table.add_row(name, shape, f"{count:,}")
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        console = Console()
        console.print(table)
        console.print(
            f"Total params: {total:,}  Trainable: {trainable:,}  Non-trainable: {total - trainable:,}"
        )

    def save(self, path: str | Path) -> Path:
        """Write ``model.yaml``, ``model.safetensors`` and ``compile.json`` into folder ``path``.

        Only a :class:`~layerwise.nn.Sequential` has a model file; it overrides this.
        """
        raise not_saveable(self)

    def export(self, path: str | Path, input_shape: Shape | None = None) -> Path:
        """Write an ONNX file (dynamic batch size) whose outputs equal :meth:`predict`'s, verified
        with ONNX Runtime. ``input_shape`` (one sample) is needed only for wrapped modules.

        Example:
            >>> model.export("mlp.onnx")  # doctest: +SKIP
        """
        from layerwise.errors import ConfigError
        from layerwise.export.onnx import export_onnx

        shape = input_shape or self.input_shape
        if shape is None:
            raise ConfigError(
                "The model's input shape is not known.", "Pass input_shape=(...) for one sample."
            )
        if self._takes_ids():
            example = torch.zeros(2, *shape, dtype=torch.long)
        else:
            example = torch.randn(2, *shape)
        return export_onnx(self, (example,), path, input_names=["input"], output_names=["output"])


def not_saveable(model: Any) -> ConfigError:
    """The error for saving as a model file a model that has none (all but a Sequential)."""
    return ConfigError(
        f"Only Sequential models can be saved as model files; got {type(model).__name__}.",
        "Save a wrapped module's weights with safetensors.torch.save_file(model.state_dict(), ...).",
    )


class Wrapped(Model):
    """A user's ``torch.nn.Module`` with the Keras-style API; see :meth:`Model.wrap`."""

    def __init__(self, module: tnn.Module):
        super().__init__()
        self.module = module

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self.module(*inputs)


def compile(module: tnn.Module, **options: Any) -> Model:
    """Wrap ``module`` (if needed) and compile it: ``nn.compile(my_module, loss="mse")``."""
    model = Model.wrap(module)
    model.compile(**options)
    return model


def fit(module: tnn.Module, x: Any, y: Any, **options: Any) -> History:
    """Fit a compiled model or plain module (compiled with ``compile=dict(...)`` or defaults)."""
    model = Model.wrap(module)
    compile_options = options.pop("compile", None)
    if compile_options is not None or model.compile_config is None:
        model.compile(**(compile_options or {}))
    return model.fit(x, y, **options)
