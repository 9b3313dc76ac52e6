"""YAML model files (the single source of a model's architecture): the format, read and checked.

The format::

    format: layerwise.model/1
    name: mlp                 # optional
    input_shape: [784]        # one sample's shape; images channels-first: [C, H, W]
    layers:
      - Dense: {units: 64, activation: relu}
      - Dense: {units: 10, activation: softmax}

A saved model is a folder with ``model.yaml``, ``model.safetensors`` and ``compile.json``.
:mod:`layerwise.nn.sequential` builds a model from a file, saves and loads it: this module
knows no model class, so that the model can use it.

Example:
    >>> config, _ = read_yaml("input_shape: [3]\\nlayers:\\n  - Dense: {units: 2}\\n")
    >>> layers, input_shape = check_config(config)
    >>> [type(layer).__name__ for layer in layers], input_shape
    (['Dense'], (3,))
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import yaml

from layerwise.core.registry import Registry
from layerwise.errors import ConfigError, closest

FORMAT = "layerwise.model/1"
YAML, WEIGHTS, COMPILE = "model.yaml", "model.safetensors", "compile.json"

LAYERS = Registry("layer")
for _name in (
    "Dense Activation Dropout Flatten Reshape Conv1D Conv2D MaxPool1D MaxPool2D AvgPool1D "
    "AvgPool2D GlobalAveragePooling1D GlobalAveragePooling2D GlobalMaxPooling2D "
    "BatchNormalization LayerNormalization LocalResponseNormalization Embedding"
).split():
    LAYERS.register(_name, f"layerwise.nn.layers:{_name}")
for _name in ("LSTM", "GRU", "MultiHeadAttention", "TransformerEncoder"):
    LAYERS.register(_name, f"layerwise.nn.recurrent:{_name}")
# Informational keys, kept on ``model.metadata`` and written back: "source" (the file it was
# imported from), "description", and "loss" (the loss the network was defined with).
EXTRA_KEYS = ("source", "description", "loss")
TOP_KEYS = ("format", "name", "input_shape", "layers", *EXTRA_KEYS)


def dump_yaml(config: dict[str, Any]) -> str:
    """YAML text with one line per layer: ``- Dense: {units: 64, activation: relu}``."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None)


def _where(source: str) -> str:
    return f" in {source}" if source else ""


def _layer(index: int, entry: Any, source: str) -> Any:
    where = f"{source}: layers[{index}]" if source else f"layers[{index}]"
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ConfigError(
            f"{where} is {entry!r}.",
            "Write each layer as a one-key mapping, e.g. '- Dense: {units: 64}'.",
        )
    ((kind, kwargs),) = entry.items()
    if kind not in LAYERS:
        guess = closest(str(kind), LAYERS.names())
        hint = f"Did you mean '{guess}'? " if guess else ""
        raise ConfigError(
            f"{where}: unknown layer '{kind}'.", f"{hint}Valid layers: {', '.join(LAYERS.names())}."
        )
    kwargs = kwargs or {}
    if not isinstance(kwargs, dict):
        raise ConfigError(f"{where} ({kind}): the arguments must be a mapping; got {kwargs!r}.")
    cls = LAYERS.get(kind)
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in kwargs:
        if key not in valid:
            guess = closest(str(key), valid)
            hint = f"Did you mean '{guess}'? " if guess else ""
            raise ConfigError(
                f"{where} ({kind}): unknown key '{key}'.", f"{hint}Valid keys: {', '.join(valid)}."
            )
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ConfigError(
            f"{where} ({kind}): {error}.", f"Valid keys: {', '.join(valid)}."
        ) from error
    except ConfigError as error:
        raise ConfigError(f"{where} ({kind}): {error.message}", error.hint) from error


def check_config(config: Any, source: str = "") -> tuple[list[Any], tuple[int, ...] | None]:
    """The layers of a parsed model file, built from their entries, and its ``input_shape``
    (None when the file leaves it to the data), every key checked."""
    if not isinstance(config, dict) or "layers" not in config:
        raise ConfigError(
            f"The model file{_where(source)} has no 'layers' list.",
            "See layerwise.nn.spec for the format.",
        )
    for key in config:
        if key not in TOP_KEYS:
            guess = closest(str(key), TOP_KEYS)
            hint = f"Did you mean '{guess}'? " if guess else ""
            raise ConfigError(
                f"Unknown key '{key}' in the model file{_where(source)}.",
                f"{hint}Valid keys: {', '.join(TOP_KEYS)}.",
            )
    if config.get("format", FORMAT) != FORMAT:
        raise ConfigError(
            f"format={config['format']!r}{_where(source)} is not supported.",
            f"Use format: {FORMAT}.",
        )
    if not isinstance(config["layers"], list) or not config["layers"]:
        raise ConfigError(f"'layers'{_where(source)} must be a non-empty list.")
    layers = [_layer(i, entry, source) for i, entry in enumerate(config["layers"])]
    shape = config.get("input_shape")
    if shape is None:
        return layers, None
    if not isinstance(shape, list) or not all(isinstance(d, int) for d in shape):
        raise ConfigError(
            f"input_shape={shape!r}{_where(source)} is not valid.",
            "Use a list of ints, e.g. [1, 28, 28].",
        )
    return layers, tuple(shape)


def read_yaml(text_or_path: str | Path) -> tuple[Any, str]:
    """The parsed content of YAML text or of a ``.yaml`` file (or a saved model's folder), and
    where it came from ("" for text)."""
    source, text = "", str(text_or_path)
    if isinstance(text_or_path, Path) or ("\n" not in text and text.endswith((".yaml", ".yml"))):
        path = Path(text_or_path)
        if path.is_dir():
            path = path / YAML
        if not path.is_file():
            raise ConfigError(f"Model file {path} does not exist.")
        source, text = str(path), path.read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text), source
    except yaml.YAMLError as error:
        raise ConfigError(f"The model file{_where(source)} is not valid YAML: {error}") from error
