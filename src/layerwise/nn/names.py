"""Names that a Keras user types, resolved to PyTorch: activations, initialisers, losses,
optimizers and metrics. Unknown names raise :class:`~layerwise.errors.ConfigError` listing
the valid ones and suggesting the closest.

Example:
    >>> activation("relu")
    ReLU()
    >>> sorted(OPTIMIZERS)
    ['adam', 'adamw', 'rmsprop', 'sgd']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn as tnn

from layerwise.errors import ConfigError, closest

T = TypeVar("T")

ACTIVATIONS: dict[str, Callable[[], tnn.Module]] = {
    "linear": tnn.Identity,
    "relu": tnn.ReLU,
    "sigmoid": tnn.Sigmoid,
    "tanh": tnn.Tanh,
    "softmax": lambda: tnn.Softmax(dim=-1),
    "gelu": tnn.GELU,
    "silu": tnn.SiLU,
    "swish": tnn.SiLU,
    "elu": tnn.ELU,
    "leaky_relu": lambda: tnn.LeakyReLU(0.2),
    "selu": tnn.SELU,
    "softplus": tnn.Softplus,
}

INITIALIZERS: dict[str, Callable[[torch.Tensor], Any]] = {
    "glorot_uniform": tnn.init.xavier_uniform_,
    "glorot_normal": tnn.init.xavier_normal_,
    "xavier_uniform": tnn.init.xavier_uniform_,
    "he_normal": lambda w: tnn.init.kaiming_normal_(w, nonlinearity="relu"),
    "he_uniform": lambda w: tnn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "lecun_normal": lambda w: tnn.init.kaiming_normal_(w, nonlinearity="linear"),
    "zeros": tnn.init.zeros_,
    "ones": tnn.init.ones_,
    "random_normal": lambda w: tnn.init.normal_(w, std=0.05),
    "random_uniform": lambda w: tnn.init.uniform_(w, -0.05, 0.05),
    "orthogonal": tnn.init.orthogonal_,
}

# Keras default learning rates; "sgd" uses momentum 0.9 (see layerwise.engine.Trainer).
OPTIMIZERS: dict[str, float] = {"sgd": 0.01, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}
# Learning-rate schedules (names of layerwise.engine.TrainerConfig.schedule).
SCHEDULES: dict[str, str] = {"constant": "constant", "cosine": "cosine", "onecycle": "onecycle"}

# Losses that take logits when the model's last activation is fused into them.
FUSABLE = {
    "sparse_categorical_crossentropy": "softmax",
    "categorical_crossentropy": "softmax",
    "binary_crossentropy": "sigmoid",
}
LOSS_ALIASES = {"mean_squared_error": "mse", "mean_absolute_error": "mae", "huber_loss": "huber"}
LOSSES = (*FUSABLE, "mse", "mae", "huber", *LOSS_ALIASES)
METRIC_ALIASES = {"acc": "accuracy", "mean_squared_error": "mse", "mean_absolute_error": "mae"}
METRICS = ("accuracy", "mae", "mse", *METRIC_ALIASES)


def lookup(kind: str, name: str, table: Mapping[str, T]) -> T:
    """``table[name]`` (case-insensitive) or a ConfigError naming the valid names."""
    key = str(name).lower()
    if key in table:
        return table[key]
    guess = closest(str(name), table)
    hint = f"Did you mean '{guess}'? " if guess else ""
    raise ConfigError(f"Unknown {kind} '{name}'.", f"{hint}Valid {kind}s: {', '.join(table)}.")


def activation(name: str | None) -> tnn.Module:
    """A fresh module for activation ``name`` (None means linear)."""
    return lookup("activation", "linear" if name is None else name, ACTIVATIONS)()


def initializer(name: str) -> Callable[[torch.Tensor], Any]:
    """The in-place init function for ``name`` (e.g. "glorot_uniform", "he_normal")."""
    return lookup("initializer", name, INITIALIZERS)


def loss_name(name: str) -> str:
    """The canonical loss name (aliases resolved), checked."""
    key = lookup("loss", name, {n: n for n in LOSSES})
    return LOSS_ALIASES.get(key, key)


def _class_logits(out: torch.Tensor) -> torch.Tensor:
    # Softmax runs over the last axis (Keras); cross_entropy wants classes on axis 1.
    return out if out.dim() <= 2 else out.movedim(-1, 1)


def make_loss(name: str, from_logits: bool) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss function ``fn(outputs, target)`` for ``name``.

    With ``from_logits`` (the model's softmax/sigmoid was fused into the loss, or the model
    is a plain torch module returning logits) cross-entropies run on logits, which is
    numerically stable.
    """
    name = loss_name(name)
    if name in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        if from_logits:
            return lambda out, y: F.cross_entropy(_class_logits(out), y)
        return lambda out, y: F.nll_loss(torch.log(_class_logits(out).clamp_min(1e-7)), y)
    if name == "binary_crossentropy":
        if from_logits:
            return F.binary_cross_entropy_with_logits
        return lambda out, y: F.binary_cross_entropy(out.clamp(1e-7, 1 - 1e-7), y)
    return {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}[name]


def metric_name(name: str) -> str:
    key = lookup("metric", name, {n: n for n in METRICS})
    return METRIC_ALIASES.get(key, key)


def make_metric(name: str, loss: str, fused: str | None) -> Callable[..., torch.Tensor]:
    """Metric ``fn(outputs, target) -> 0-dim tensor``; ``fused`` is the activation kept out
    of the model outputs ("softmax", "sigmoid" or None)."""
    name, loss = metric_name(name), loss_name(loss)
    if name == "accuracy":
        if loss == "binary_crossentropy":
            cut = 0.0 if fused == "sigmoid" else 0.5
            return lambda out, y: ((out > cut).to(y.dtype) == y).float().mean()
        if loss == "categorical_crossentropy":
            return lambda out, y: (out.argmax(-1) == y.argmax(-1)).float().mean()
        return lambda out, y: (out.argmax(-1) == y).float().mean()
    act = {"softmax": lambda o: o.softmax(-1), "sigmoid": torch.sigmoid}.get(fused, lambda o: o)
    if name == "mae":
        return lambda out, y: (act(out) - y).abs().mean()
    return lambda out, y: ((act(out) - y) ** 2).mean()
