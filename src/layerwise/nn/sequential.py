"""A linear stack of layers, built lazily: only the first layer needs ``input_shape``.

Example:
    >>> from layerwise.nn.layers import Dense
    >>> model = Sequential([Dense(64, activation="relu", input_shape=(784,)), Dense(10)])
    >>> model.output_shape
    (10,)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn as tnn

from layerwise.errors import ConfigError
from layerwise.nn.layers import Embedding, Layer, Shape
from layerwise.nn.model import Model, not_saveable
from layerwise.nn.spec import (
    COMPILE,
    EXTRA_KEYS,
    FORMAT,
    WEIGHTS,
    YAML,
    check_config,
    dump_yaml,
    read_yaml,
)


class Sequential(Model):
    """Layers applied one after the other; a ``torch.nn.Module`` with compile/fit/predict.

    Shapes are inferred by running a dummy batch through each layer as it is built.
    Images are channels-first ``(C, H, W)``.
    """

    def __init__(self, layers: Iterable[Layer] | None = None, name: str | None = None):
        super().__init__()
        self.name = name
        self.layers = tnn.ModuleList()
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        self._shapes: list[Shape] = []
        self.metadata: dict[str, Any] = {}  # "source", "description", "loss" of a model file
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        """Append ``layer`` (built at once when the input shape is known)."""
        if not isinstance(layer, Layer):
            raise ConfigError(
                f"Sequential takes layerwise.nn layers; got {type(layer).__name__}.",
                "Use nn.Dense, nn.Conv2D, ... or nn.Model.wrap(your_module) for a torch module.",
            )
        self.layers.append(layer)
        if len(self.layers) == 1 and layer.input_shape is not None:
            self.build(layer.input_shape)
        elif self.output_shape is not None:
            self._build_layer(layer, self.output_shape)

    @property
    def built(self) -> bool:
        return self.input_shape is not None

    def build(self, input_shape: Shape) -> None:
        """Build every layer for one sample of ``input_shape`` (no batch axis)."""
        self.input_shape = tuple(int(d) for d in input_shape)
        self.output_shape, self._shapes = self.input_shape, []
        for layer in self.layers:
            self._build_layer(layer, self.output_shape)

    def ensure_built(self, input_shape: Shape) -> None:
        if not self.built:
            self.build(input_shape)

    def _build_layer(self, layer: Layer, shape: Shape) -> None:
        if not layer.built:
            layer.build(shape)
            layer.built = True
        dtype = torch.long if isinstance(layer, Embedding) else torch.float32
        was_training = layer.training
        layer.eval()
        try:
            with torch.no_grad():
                out = layer(torch.zeros((1, *shape), dtype=dtype))
        except RuntimeError as error:
            index = len(self._shapes)
            raise ConfigError(
                f"Layer {index} ({type(layer).__name__}) cannot take a sample of shape {tuple(shape)}: {error}",
                "Check the layer sizes (images are channels-first: (C, H, W)).",
            ) from error
        layer.train(was_training)
        layer.output_shape = tuple(out.shape[1:])
        self.output_shape = layer.output_shape
        self._shapes.append(layer.output_shape)

    def _takes_ids(self) -> bool:
        return bool(len(self.layers)) and isinstance(self.layers[0], Embedding)

    @property
    def final_activation(self) -> str | None:  # type: ignore[override]
        return self.layers[-1].activation_name if len(self.layers) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The output before the last layer's activation."""
        for layer in self.layers[:-1]:
            x = layer(x)
        return self.layers[-1].call(x)

    def summary_rows(self) -> list[tuple[str, str, int]]:
        rows = []
        for i, layer in enumerate(self.layers):
            shape = "?" if layer.output_shape is None else str((None, *layer.output_shape))
            count = sum(p.numel() for p in layer.parameters())
            rows.append(
                (f"{type(layer).__name__.lower()}_{i} ({type(layer).__name__})", shape, count)
            )
        return rows

    def get_config(self) -> dict[str, Any]:
        """The model file's content as a dict (see :mod:`layerwise.nn.spec`)."""
        out: dict[str, Any] = {"format": FORMAT}
        if self.name:
            out["name"] = self.name
        if self.input_shape is not None:
            out["input_shape"] = list(self.input_shape)
        out.update(self.metadata)
        out["layers"] = [{type(layer).__name__: layer.get_config()} for layer in self.layers]
        return out

    def to_yaml(self) -> str:
        """The architecture as YAML text.

        Example:
            >>> from layerwise.nn.layers import Dense
            >>> print(Sequential([Dense(2, input_shape=(3,))]).to_yaml().strip())
            format: layerwise.model/1
            input_shape: [3]
            layers:
            - Dense: {units: 2}
        """
        return dump_yaml(self.get_config())

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> Sequential:
        """Build a model from YAML text or a ``.yaml`` file (see :func:`layerwise.nn.load_yaml`)."""
        return from_yaml(text_or_path)

    def save(self, path: str | Path) -> Path:
        """Write ``model.yaml``, ``model.safetensors`` and ``compile.json`` into folder ``path``."""
        from safetensors.torch import save_file

        if not self.built:
            raise ConfigError(
                "The model is not built yet.", "Give the first layer input_shape, or fit it first."
            )
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / YAML).write_text(self.to_yaml(), encoding="utf-8")
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS))
        if self.compile_config is not None:
            text = json.dumps(self.compile_config, indent=2)
            (folder / COMPILE).write_text(text, encoding="utf-8")
        return folder


def from_config(config: Any, source: str = "") -> Sequential:
    """Build a :class:`Sequential` from a parsed model file (see :mod:`layerwise.nn.spec`)."""
    layers, input_shape = check_config(config, source)
    model = Sequential(name=config.get("name"))
    model.metadata = {k: config[k] for k in EXTRA_KEYS if k in config}
    for layer in layers:
        model.layers.append(layer)
    if input_shape is not None:
        model.build(input_shape)
    return model


def from_yaml(text_or_path: str | Path) -> Sequential:
    """Build a model from YAML text or the path of a ``.yaml`` file."""
    return from_config(*read_yaml(text_or_path))


def load_yaml(path: str | Path) -> Sequential:
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
    if not isinstance(model, Sequential):
        raise not_saveable(model)
    return model.save(path)


def load_model(path: str | Path) -> Sequential:
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
