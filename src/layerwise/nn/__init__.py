"""layerwise.nn: define networks the Keras way, train them on the layerwise engine.

Layers are PyTorch modules built lazily (only the first needs ``input_shape``); images are
channels-first ``(C, H, W)``. Importing this package is instant: submodules load on first use.

Example:
    >>> from layerwise import nn
    >>> model = nn.Sequential([
    ...     nn.Dense(64, activation="relu", input_shape=(784,)),
    ...     nn.Dense(10, activation="softmax"),
    ... ])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> model.output_shape
    (10,)
"""

from __future__ import annotations

import importlib
from typing import Any

_LAYERS = (
    "Layer Dense Activation Dropout Flatten Reshape Conv1D Conv2D MaxPool1D MaxPool2D AvgPool1D "
    "AvgPool2D GlobalAveragePooling1D GlobalAveragePooling2D GlobalMaxPooling2D "
    "BatchNormalization LayerNormalization LocalResponseNormalization Embedding"
).split()
_EXPORTS: dict[str, str] = {name: "layerwise.nn.layers" for name in _LAYERS}
_EXPORTS.update(
    {
        n: "layerwise.nn.recurrent"
        for n in ("LSTM", "GRU", "MultiHeadAttention", "TransformerEncoder")
    }
)
_EXPORTS.update({n: "layerwise.nn.model" for n in ("Model", "compile", "fit")})
_EXPORTS["Sequential"] = "layerwise.nn.sequential"
_EXPORTS.update(
    {n: "layerwise.nn.sequential" for n in ("load_model", "load_yaml", "from_yaml", "save_model")}
)
_EXPORTS.update(
    {
        n: "layerwise.nn.callbacks"
        for n in (
            "Callback",
            "EarlyStopping",
            "ModelCheckpoint",
            "CSVLogger",
            "ReduceLROnPlateau",
            "TerminateOnNaN",
        )
    }
)
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'layerwise.nn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
