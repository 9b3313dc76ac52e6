"""Import a Caffe network definition (``.prototxt``) as a layerwise model file.

The protobuf text format is parsed by :mod:`layerwise.nn.prototxt`, without a protobuf
dependency. Only chains of the classic layer types
are converted (LeNet, AlexNet-style networks); anything else is a clear
:class:`~layerwise.errors.ConfigError` naming the layer and its line.

Example:
    >>> config = caffe_to_config('''
    ... name: "Tiny"
    ... input: "data" input_dim: 1 input_dim: 4
    ... layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
    ...         inner_product_param { num_output: 2 } }
    ... ''')
    >>> config["input_shape"], config["layers"]
    ([4], [{'Dense': {'units': 2, 'use_bias': True}}])
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from layerwise.errors import ConfigError
from layerwise.nn.prototxt import LINE, field, parse_prototxt

__all__ = ["SUPPORTED_TYPES", "caffe_to_config", "import_caffe", "parse_prototxt"]

MODEL_FORMAT = "layerwise.model/1"


DATA_TYPES = {"Data", "ImageData", "HDF5Data", "WindowData", "MemoryData", "DummyData"}
SUPPORTED_TYPES = (
    "Input", "Data", "ImageData", "HDF5Data", "MemoryData", "DummyData", "Convolution",
    "Pooling", "InnerProduct", "ReLU", "Sigmoid", "TanH", "Softmax", "SoftmaxWithLoss",
    "Dropout", "Flatten", "LRN", "BatchNorm", "Scale (after BatchNorm)", "Accuracy (skipped)",
)  # fmt: skip
# The legacy V1 `layers { type: CONVOLUTION }` enum names, mapped to today's type strings.
_LEGACY_TYPES = {
    "CONVOLUTION": "Convolution", "POOLING": "Pooling", "INNER_PRODUCT": "InnerProduct",
    "RELU": "ReLU", "SIGMOID": "Sigmoid", "TANH": "TanH", "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss", "DROPOUT": "Dropout", "FLATTEN": "Flatten",
    "LRN": "LRN", "DATA": "Data", "IMAGE_DATA": "ImageData", "HDF5_DATA": "HDF5Data",
    "MEMORY_DATA": "MemoryData", "DUMMY_DATA": "DummyData", "WINDOW_DATA": "WindowData",
    "ACCURACY": "Accuracy", "CONCAT": "Concat", "ELTWISE": "Eltwise", "SPLIT": "Split",
    "SLICE": "Slice", "BNLL": "BNLL", "POWER": "Power", "ABSVAL": "AbsVal",
    "EUCLIDEAN_LOSS": "EuclideanLoss", "HINGE_LOSS": "HingeLoss", "ARGMAX": "ArgMax",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "DECONVOLUTION": "Deconvolution",
    "INFOGAIN_LOSS": "InfogainLoss", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "THRESHOLD": "Threshold", "MVN": "MVN", "SILENCE": "Silence", "IM2COL": "Im2col",
}  # fmt: skip


# --------------------------------------------------------------------------- conversion


class _Converter:
    def __init__(self, net: dict[str, Any], source: str):
        self.net, self.source = net, source
        self.layers: list[dict[str, Any]] = []
        self.loss: str | None = None
        self.spatial = True
        self.after_batchnorm = False

    def where(self, layer: dict[str, Any]) -> str:
        return f"layer '{self.name(layer)}' (type {self.type(layer)}, line {layer[LINE]})"

    @staticmethod
    def name(layer: dict[str, Any]) -> str:
        return str(field(layer, "name", "?"))

    @staticmethod
    def type(layer: dict[str, Any]) -> str:
        kind = str(field(layer, "type", "?"))
        return _LEGACY_TYPES.get(kind, kind)

    def fail(self, layer: dict[str, Any], problem: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"{self.source}: {self.where(layer)} {problem}", hint)

    def number(self, layer, param, key, default=None, kind=int, positive=False) -> Any:
        value = field(param, key, default) if param is not None else default
        if value is None:
            raise self.fail(layer, f"has no {key}.", f"Add `{key}: <number>` to its parameters.")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(layer, f"has {key}: {value!r}, expected a number.")
        if kind is int and value != int(value):
            raise self.fail(layer, f"has {key}: {value}, expected a whole number.")
        if positive and value <= 0:
            raise self.fail(layer, f"has {key}: {value}, expected a number above 0.")
        return kind(value)

    def pair(self, layer, param, key, default, positive=False) -> int | list[int]:
        """kernel_size / stride / pad: a square value, or ``key_h`` + ``key_w``."""
        name = {"kernel_size": "kernel"}.get(key, key)
        if param is not None and (f"{name}_h" in param or f"{name}_w" in param):
            height = self.number(layer, param, f"{name}_h", None, positive=positive)
            width = self.number(layer, param, f"{name}_w", None, positive=positive)
            return height if height == width else [height, width]
        values = list((param or {}).get(key) or [default])
        if default is None and values == [None]:
            raise self.fail(layer, f"has no {key}.", f"Add `{key}: <number>` to its parameters.")
        sizes = [self.number(layer, {key: [value]}, key, positive=positive) for value in values]
        if len(sizes) > 2:
            raise self.fail(layer, f"has {len(sizes)} values of {key}; only 2-D layers import.")
        return sizes[0] if len(set(sizes)) == 1 else sizes

    def add(self, kind: str, options: dict[str, Any]) -> None:
        self.layers.append({kind: options})

    def convert(self, layer: dict[str, Any]) -> None:
        kind = self.type(layer)
        batchnorm_before, self.after_batchnorm = self.after_batchnorm, kind == "BatchNorm"
        handler = getattr(self, f"_{kind.lower()}", None)
        if kind == "Scale" and batchnorm_before:
            return  # Caffe's BatchNorm + Scale together are one BatchNormalization
        if handler is None:
            raise self.fail(
                layer, "is not supported yet.", f"Supported types: {', '.join(SUPPORTED_TYPES)}."
            )
        handler(layer)

    def _convolution(self, layer: dict[str, Any]) -> None:
        param = field(layer, "convolution_param")
        if self.number(layer, param, "group", 1) != 1:
            raise self.fail(layer, "has group > 1; grouped convolutions are not supported yet.")
        dilation = self.pair(layer, param, "dilation", 1, positive=True)
        if dilation != 1:
            raise self.fail(layer, "has dilation > 1; dilated convolutions are not supported yet.")
        self.add("Conv2D", {
            "filters": self.number(layer, param, "num_output", positive=True),
            "kernel_size": self.pair(layer, param, "kernel_size", None, positive=True),
            "strides": self.pair(layer, param, "stride", 1, positive=True),
            "padding": self.pair(layer, param, "pad", 0),
            "use_bias": bool(field(param or {}, "bias_term", True)),
        })  # fmt: skip

    def _pooling(self, layer: dict[str, Any]) -> None:
        param = field(layer, "pooling_param") or {}
        pool = {0: "MAX", 1: "AVE", 2: "STOCHASTIC"}.get(field(param, "pool"), field(param, "pool"))
        pool = pool or "MAX"
        if pool not in ("MAX", "AVE"):
            raise self.fail(layer, f"has pool: {pool}; only MAX and AVE pooling are supported.")
        if field(param, "global_pooling", False):
            self.add("GlobalMaxPooling2D" if pool == "MAX" else "GlobalAveragePooling2D", {})
            self.spatial = False
            return
        self.add("MaxPool2D" if pool == "MAX" else "AvgPool2D", {
            "pool_size": self.pair(layer, param, "kernel_size", None, positive=True),
            "strides": self.pair(layer, param, "stride", 1, positive=True),
            "padding": self.pair(layer, param, "pad", 0),
            "ceil_mode": True,  # Caffe rounds pooling output sizes up
        })  # fmt: skip

    def _innerproduct(self, layer: dict[str, Any]) -> None:
        param = field(layer, "inner_product_param")
        if self.spatial:
            self.add("Flatten", {})
            self.spatial = False
        self.add("Dense", {
            "units": self.number(layer, param, "num_output", positive=True),
            "use_bias": bool(field(param or {}, "bias_term", True)),
        })  # fmt: skip

    def _relu(self, layer: dict[str, Any]) -> None:
        slope = self.number(layer, field(layer, "relu_param"), "negative_slope", 0, kind=float)
        if slope:
            self.add("Activation", {"activation": "leaky_relu", "negative_slope": slope})
        else:
            self.add("Activation", {"activation": "relu"})

    def _sigmoid(self, layer: dict[str, Any]) -> None:
        self.add("Activation", {"activation": "sigmoid"})

    def _tanh(self, layer: dict[str, Any]) -> None:
        self.add("Activation", {"activation": "tanh"})

    def _softmax(self, layer: dict[str, Any]) -> None:
        self.add("Activation", {"activation": "softmax"})

    def _softmaxwithloss(self, layer: dict[str, Any]) -> None:
        self._softmax(layer)
        self.loss = "sparse_categorical_crossentropy"

    def _dropout(self, layer: dict[str, Any]) -> None:
        param = field(layer, "dropout_param")
        rate = self.number(layer, param, "dropout_ratio", 0.5, kind=float)
        if not 0 <= rate < 1:
            raise self.fail(layer, f"has dropout_ratio: {rate}, expected 0 <= ratio < 1.")
        self.add("Dropout", {"rate": rate})

    def _flatten(self, layer: dict[str, Any]) -> None:
        self.add("Flatten", {})
        self.spatial = False

    def _lrn(self, layer: dict[str, Any]) -> None:
        param = field(layer, "lrn_param")
        if field(param or {}, "norm_region", "ACROSS_CHANNELS") not in ("ACROSS_CHANNELS", 0):
            raise self.fail(layer, "uses WITHIN_CHANNEL normalisation; only ACROSS_CHANNELS.")
        self.add("LocalResponseNormalization", {
            "size": self.number(layer, param, "local_size", 5, positive=True),
            "alpha": self.number(layer, param, "alpha", 1.0, kind=float),
            "beta": self.number(layer, param, "beta", 0.75, kind=float),
            "k": self.number(layer, param, "k", 1.0, kind=float),
        })  # fmt: skip

    def _batchnorm(self, layer: dict[str, Any]) -> None:
        eps = self.number(layer, field(layer, "batch_norm_param"), "eps", 1e-5, kind=float)
        self.add("BatchNormalization", {"epsilon": eps})


def _train_only(layer: dict[str, Any]) -> bool:
    """True for layers that exist only in the TRAIN phase (include or exclude rules)."""
    phases = [field(rule, "phase") for rule in layer.get("include", [])]
    excluded = [field(rule, "phase") for rule in layer.get("exclude", [])]
    return (bool(phases) and all(p in ("TRAIN", 0) for p in phases)) or "TEST" in excluded


def _shape(dims: list[Any], source: str, what: str) -> list[int]:
    if len(dims) < 2 or not all(isinstance(d, int) and d > 0 for d in dims):
        raise ConfigError(
            f"{source}: {what} gives the shape {dims}, expected batch + 1 to 3 positive sizes.",
            "Write it as N, C, H, W (e.g. 1, 1, 28, 28).",
        )
    return [int(d) for d in dims[1:]]


def _declared_input(net: dict[str, Any], source: str) -> list[int] | None:
    """The sample shape from top-level `input_dim`s or `input_shape { dim }`, if any."""
    if net.get("input_dim"):
        return _shape(net["input_dim"], source, "input_dim")
    if net.get("input_shape"):
        return _shape(net["input_shape"][0].get("dim", []), source, "input_shape")
    return None


def _layer_input(layer: dict[str, Any], kind: str, source: str) -> list[int] | None:
    """The sample shape an Input / MemoryData / DummyData layer declares, if any."""
    where = f"layer '{field(layer, 'name', '?')}' (line {layer[LINE]})"
    for param_name in ("input_param", "dummy_data_param"):
        shape = field(field(layer, param_name) or {}, "shape")
        if shape is not None:
            return _shape(shape.get("dim", []), source, where)
    memory = field(layer, "memory_data_param")
    if memory is not None:
        keys = ("batch_size", "channels", "height", "width")
        return _shape([field(memory, key, 1) for key in keys], source, where)
    if kind == "Input":
        raise ConfigError(f"{source}: {where} is an Input layer without input_param {{ shape }}.")
    return None


def _parse_shape(input_shape: Any) -> list[int]:
    """'1,28,28' or (1, 28, 28) -> [1, 28, 28]."""
    parts = re.split(r"[,x\s]+", input_shape.strip()) if isinstance(input_shape, str) else None
    try:
        shape = [int(p) for p in (parts if parts is not None else input_shape)]
    except (TypeError, ValueError):
        shape = []
    if not shape or len(shape) > 3 or min(shape) <= 0:
        raise ConfigError(
            f"--input-shape {input_shape!r} is not a shape of one sample.",
            "Give C,H,W (channels first) such as 1,28,28, without the batch size.",
        )
    return shape


def _read(text_or_path: str | Path) -> tuple[str, str, str | None]:
    """(text, name used in messages, source path or None when given text)."""
    if isinstance(text_or_path, str) and ("\n" in text_or_path or "{" in text_or_path):
        return text_or_path, "<prototxt>", None
    path = Path(text_or_path)
    if not path.is_file():
        raise ConfigError(
            f"Caffe network definition '{path}' does not exist"
            + (" (it is a folder)." if path.is_dir() else "."),
            "Pass the path of a .prototxt file, such as lenet.prototxt.",
        )
    return path.read_text(encoding="utf-8"), path.name, path.name


def caffe_to_config(text_or_path: str | Path, input_shape: Any = None) -> dict[str, Any]:
    """Convert a Caffe prototxt (its text or its path) to a layerwise model-file dict.

    Args:
        text_or_path: the prototxt text, or the path of a ``.prototxt`` file.
        input_shape: one sample's shape, channels first (``"1,28,28"`` or ``(1, 28, 28)``);
            needed when the network reads a Data layer, and overrides a declared shape.

    Example:
        >>> caffe_to_config('input: "x" input_dim: 1 input_dim: 3 '
        ...                 'layer { name: "s" type: "Sigmoid" bottom: "x" top: "x" }')["layers"]
        [{'Activation': {'activation': 'sigmoid'}}]
    """
    text, source, origin = _read(text_or_path)
    net = parse_prototxt(text, source)
    layers = net.get("layer", []) + net.get("layers", [])
    shape = _parse_shape(input_shape) if input_shape is not None else _declared_input(net, source)
    current = field(net, "input")
    labels: set[str] = set(net.get("input", [])[1:])
    data_layer = None
    convert = _Converter(net, source)
    for layer in sorted(layers, key=lambda item: item[LINE]):
        kind = convert.type(layer)
        if _train_only(layer) or kind == "Accuracy":
            continue
        tops, bottoms = layer.get("top", []), layer.get("bottom", [])
        if kind == "Input" or kind in DATA_TYPES:
            found = _layer_input(layer, kind, source)
            if input_shape is None and found is not None:
                shape = found  # an explicit --input-shape wins over what the file declares
            data_layer = data_layer or layer
            current, labels = (tops[0] if tops else current), labels | set(tops[1:])
            continue
        if not convert.layers:
            convert.spatial = shape is None or len(shape) > 1
        if not hasattr(convert, f"_{kind.lower()}") and not (
            kind == "Scale" and convert.after_batchnorm
        ):
            convert.convert(layer)  # raises "not supported yet" before any graph check
        inputs = [b for b in bottoms if b not in labels]
        if current is not None and inputs != [current]:
            raise convert.fail(
                layer,
                f"reads {inputs or 'nothing'} but the layer before it gives '{current}'; "
                "only chains of layers (each reading the previous layer's top) import.",
                "Branching graphs are not supported yet.",
            )
        convert.convert(layer)
        current = tops[0] if tops else current
    if shape is None:
        if data_layer is not None:
            raise ConfigError(
                f"{source}: the network reads its input from {convert.where(data_layer)}, "
                "which does not say the shape of one sample.",
                "Pass it with --input-shape C,H,W (input_shape=...), e.g. --input-shape 1,28,28.",
            )
        raise ConfigError(
            f"{source}: the network declares no input (no input_dim, input_shape, Input layer "
            "or Data layer).",
            'Add `input: "data" input_dim: 1 input_dim: C input_dim: H input_dim: W`.',
        )
    if not convert.layers:
        raise ConfigError(f"{source}: the network has no layers to import.")
    config: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "name": str(field(net, "name", Path(origin).stem if origin else "caffe_model")),
        "input_shape": shape,
    }
    if origin is not None:
        config["source"] = origin
    if convert.loss:
        config["loss"] = convert.loss
    config["layers"] = convert.layers
    return config


def import_caffe(
    path: str | Path, output: str | Path | None = None, input_shape: Any = None
) -> dict[str, Any]:
    """Convert ``path`` (a .prototxt) and, when ``output`` is given, write it as YAML.

    Example:
        >>> config = import_caffe("lenet.prototxt", "lenet.yaml")  # doctest: +SKIP
        >>> config["layers"][0]                                       # doctest: +SKIP
        {'Conv2D': {'filters': 20, 'kernel_size': 5, 'strides': 1, 'padding': 0, 'use_bias': True}}
    """
    config = caffe_to_config(Path(path), input_shape=input_shape)
    if output is not None:
        import yaml

        from layerwise.io import atomic_write

        text = f"# imported from {config['source']} by `layerwise import-caffe`\n"
        text += yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
        atomic_write(Path(output), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return config
