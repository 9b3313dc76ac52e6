"""YAML model files (the single source of a model's architecture), and save/load.

The format::

    format: layerwise.model/1
    name: mlp                 # optional
    input_shape: [784]        # one sample's shape; images channels-first: [C, H, W]
    layers:
      - Dense: {units: 64, activation: relu}
      - Dense: {units: 10, activation: softmax}

A saved model is a folder with ``model.yaml``, ``model.safetensors`` and ``compile.json``.

Example:
    >>> model = from_yaml("input_shape: [3]\\nlayers:\\n  - Dense: {units: 2}\\n")
    >>> model.output_shape
    (2,)
"""

from __future__ import annotations

import inspect
import json
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


def from_config(config: Any, source: str = "") -> Any:
    """Build a :class:`~layerwise.nn.Sequential` from a parsed model file."""
    from layerwise.nn.sequential import Sequential

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
    model = Sequential(name=config.get("name"))
    model.metadata = {k: config[k] for k in EXTRA_KEYS if k in config}
    for layer in layers:
        model.layers.append(layer)
    if config.get("input_shape") is not None:
        shape = config["input_shape"]
        if not isinstance(shape, list) or not all(isinstance(d, int) for d in shape):
            raise ConfigError(
                f"input_shape={shape!r}{_where(source)} is not valid.",
                "Use a list of ints, e.g. [1, 28, 28].",
            )
        model.build(tuple(shape))
    return model


def from_yaml(text_or_path: str | Path) -> Any:
    """Build a model from YAML text or the path of a ``.yaml`` file."""
    source, text = "", str(text_or_path)
    if isinstance(text_or_path, Path) or ("\n" not in text and text.endswith((".yaml", ".yml"))):
        path = Path(text_or_path)
        if path.is_dir():
            path = path / YAML
        if not path.is_file():
            raise ConfigError(f"Model file {path} does not exist.")
        source, text = str(path), path.read_text(encoding="utf-8")
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"The model file{_where(source)} is not valid YAML: {error}") from error
    return from_config(config, source)


def load_yaml(path: str | Path) -> Any:
    """Build an (untrained) model from a YAML model file.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.yaml"
        >>> _ = p.write_text("input_shape: [4]\\nlayers:\\n  - Dense: {units: 3}\\n")
        >>> load_yaml(p).output_shape
        (3,)
    """
    return from_yaml(Path(path))


def save_model(model: Any, path: str | Path) -> Path:
    """Write ``model.yaml`` + ``model.safetensors`` (+ ``compile.json``) into folder ``path``."""
    from safetensors.torch import save_file

    from layerwise.nn.sequential import Sequential

    if not isinstance(model, Sequential):
        raise ConfigError(
            f"Only Sequential models can be saved as model files; got {type(model).__name__}.",
            "Save a wrapped module's weights with safetensors.torch.save_file(model.state_dict(), ...).",
        )
    if not model.built:
        raise ConfigError(
            "The model is not built yet.", "Give the first layer input_shape, or fit it first."
        )
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / YAML).write_text(model.to_yaml(), encoding="utf-8")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    if model.compile_config is not None:
        (folder / COMPILE).write_text(json.dumps(model.compile_config, indent=2), encoding="utf-8")
    return folder


def load_model(path: str | Path) -> Any:
    """Rebuild a model saved by ``model.save(path)``: architecture, weights and compile options."""
    from safetensors.torch import load_file

    folder = Path(path)
    if not (folder / YAML).is_file() or not (folder / WEIGHTS).is_file():
        raise ConfigError(
            f"{folder} is not a saved model.",
            f"Expected {YAML} and {WEIGHTS} in it (written by model.save).",
        )
    model = from_yaml(folder / YAML)
    model.load_state_dict(load_file(str(folder / WEIGHTS)))
    if (folder / COMPILE).is_file():
        model.compile(**json.loads((folder / COMPILE).read_text(encoding="utf-8")))
    model.eval()
    return model
