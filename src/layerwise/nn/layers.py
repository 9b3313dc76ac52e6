"""Keras-style layers as PyTorch modules, built lazily from the shape of their input.

Only the first layer of a model needs ``input_shape`` (one sample's shape, without the
batch axis). Images are **channels-first**, ``(C, H, W)``, the PyTorch convention, and 1-D
signals are ``(C, L)``; sequences for LSTM/GRU/attention are ``(T, features)``.

Example:
    >>> import torch
    >>> layer = Dense(3, activation="relu")
    >>> layer.build((5,))
    >>> layer(torch.zeros(2, 5)).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from torch import nn as tnn

from layerwise.errors import ConfigError
from layerwise.nn.names import activation as make_activation
from layerwise.nn.names import initializer

Shape = tuple[int, ...]


class Layer(tnn.Module):
    """Base of every layerwise layer: remembers its constructor arguments (for YAML) and
    builds its weights in :meth:`build` once the input shape is known."""

    activation_name: str | None = None

    def __init__(self, input_shape: Shape | None = None):
        super().__init__()
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        self.built = False
        self.output_shape: Shape | None = None
        self._config: dict[str, Any] = {}

    def _remember(self, args: dict[str, Any]) -> None:
        """Keep the non-default constructor arguments as this layer's config."""
        signature = inspect.signature(type(self).__init__)
        for name, param in signature.parameters.items():
            if name in ("self", "input_shape") or name not in args:
                continue
            value = args[name]
            if isinstance(value, tuple):
                value = list(value)
            default = param.default
            if isinstance(default, tuple):
                default = list(default)
            if param.default is inspect.Parameter.empty or value != default:
                self._config[name] = value

    def get_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this layer (as written in a YAML model file)."""
        return dict(self._config)

    def build(self, input_shape: Shape) -> None:
        """Create the weights for one sample's ``input_shape``; overridden by layers with weights."""

    def call(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's output before its activation."""
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.call(x)
        return self.act(out) if hasattr(self, "act") else out

    def _set_activation(self, name: str | None) -> None:
        self.activation_name = None if name in (None, "linear") else str(name).lower()
        if self.activation_name is not None:
            self.act = make_activation(self.activation_name)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self._config.items())


def _pair(value: int | list[int] | tuple[int, ...], n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    if (
        isinstance(value, list | tuple)
        and len(value) == n
        and all(isinstance(v, int) for v in value)
    ):
        return tuple(value)
    raise ConfigError(f"{name}={value!r} is not valid.", f"Use an int or a list of {n} ints.")


def _padding(padding: str | int | list[int], kernel: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(padding, int) and not isinstance(padding, bool):
        return (padding,) * len(kernel)
    if isinstance(padding, (list, tuple)) and len(padding) == len(kernel):  # one per dimension
        if all(isinstance(p, int) and not isinstance(p, bool) for p in padding):
            return tuple(padding)
    if padding == "valid":
        return (0,) * len(kernel)
    if padding == "same":
        return tuple(k // 2 for k in kernel)
    raise ConfigError(
        f"padding={padding!r} is not valid.",
        "Use 'valid', 'same', an int, or one int per kernel dimension.",
    )


def _init(module: tnn.Module, kernel: str, bias: str) -> None:
    initializer(kernel)(module.weight.data)
    if getattr(module, "bias", None) is not None:
        initializer(bias)(module.bias.data)


def _check_rank(layer: Layer, shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    if len(shape) not in ranks:
        raise ConfigError(
            f"{type(layer).__name__} expects inputs of shape {what}; it received one sample "
            f"of shape {tuple(shape)}.",
            "Check the layers before it (images are channels-first: (C, H, W)).",
        )


class Dense(Layer):
    """A fully connected layer ``activation(x @ W + b)`` on the last axis.

    Example:
        >>> Dense(64, activation="relu", input_shape=(784,)).get_config()
        {'units': 64, 'activation': 'relu'}
    """

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        input_shape: Shape | None = None,
    ):
        super().__init__(input_shape)
        self._remember(locals())
        self.units, self.use_bias = int(units), use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        initializer(kernel_initializer), initializer(bias_initializer)  # check the names now
        self._set_activation(activation)

    def build(self, input_shape: Shape) -> None:
        self.linear = tnn.Linear(input_shape[-1], self.units, bias=self.use_bias)
        _init(self.linear, self.kernel_initializer, self.bias_initializer)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class Activation(Layer):
    """Apply a named activation, e.g. ``Activation("softmax")``.

    ``negative_slope`` sets the slope of "leaky_relu" (Caffe's ReLU negative_slope).
    """

    def __init__(
        self, activation: str, negative_slope: float | None = None, input_shape: Shape | None = None
    ):
        super().__init__(input_shape)
        self._remember(locals())
        self._set_activation(activation)
        if negative_slope is not None:
            if self.activation_name != "leaky_relu":
                raise ConfigError(
                    f"negative_slope is for activation 'leaky_relu', not {activation!r}.",
                    "Use activation: leaky_relu, or drop negative_slope.",
                )
            self.act = tnn.LeakyReLU(float(negative_slope))


class Dropout(Layer):
    """Zero a fraction ``rate`` of the inputs while training."""

    def __init__(self, rate: float, input_shape: Shape | None = None):
        super().__init__(input_shape)
        self._remember(locals())
        self.dropout = tnn.Dropout(float(rate))

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x)


class Flatten(Layer):
    """Flatten each sample to one axis: ``(N, C, H, W) -> (N, C*H*W)``."""

    def __init__(self, input_shape: Shape | None = None):
        super().__init__(input_shape)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape: list[int] | tuple[int, ...], input_shape: Shape | None = None):
        super().__init__(input_shape)
        self._remember(locals())
        self.target_shape = tuple(int(d) for d in target_shape)

    def build(self, input_shape: Shape) -> None:
        known = math.prod(d for d in self.target_shape if d != -1)
        size = math.prod(input_shape)
        ok = size % known == 0 if -1 in self.target_shape else size == known
        if not ok:
            raise ConfigError(
                f"Reshape cannot turn a sample of shape {tuple(input_shape)} ({size} values) "
                f"into {self.target_shape}.",
                "Give a target_shape with the same number of values.",
            )

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), *self.target_shape)


class _Conv(Layer):
    rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size: int | list[int],
        strides: int | list[int] = 1,
        padding: str | int = "valid",
        activation: str | None = None,
        dilation_rate: int = 1,
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        input_shape: Shape | None = None,
    ):
        super().__init__(input_shape)
        self._remember(locals())
        n = self.rank
        self.filters = int(filters)
        self.kernel = _pair(kernel_size, n, "kernel_size")
        self.strides = _pair(strides, n, "strides")
        self.dilation = _pair(dilation_rate, n, "dilation_rate")
        self.pad = _padding(
            padding, tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation, strict=True))
        )
        self.use_bias = use_bias
        self.inits = (kernel_initializer, bias_initializer)
        initializer(kernel_initializer), initializer(bias_initializer)
        self._set_activation(activation)

    def build(self, input_shape: Shape) -> None:
        what = "(C, L)" if self.rank == 1 else "(C, H, W), channels-first"
        _check_rank(self, input_shape, (self.rank + 1,), what)
        kind = tnn.Conv1d if self.rank == 1 else tnn.Conv2d
        self.conv = kind(
            input_shape[0], self.filters, self.kernel, self.strides, self.pad,
            dilation=self.dilation, bias=self.use_bias,
        )  # fmt: skip
        _init(self.conv, *self.inits)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Conv2D(_Conv):
    """2-D convolution over channels-first images ``(C, H, W)``; ``padding`` is "valid",
    "same" or an int.

    Example:
        >>> import torch
        >>> conv = Conv2D(8, 3, padding="same", activation="relu")
        >>> conv.build((1, 8, 8))
        >>> conv(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 8, 8, 8])
    """

    rank = 2


class Conv1D(_Conv):
    """1-D convolution over channels-first signals ``(C, L)``."""

    rank = 1


class _Pool(Layer):
    rank = 2
    kind = "max"

    def __init__(
        self,
        pool_size: int | list[int] = 2,
        strides: int | list[int] | None = None,
        padding: str | int = "valid",
        ceil_mode: bool = False,
        input_shape: Shape | None = None,
    ):
        super().__init__(input_shape)
        self._remember(locals())
        n = self.rank
        size = _pair(pool_size, n, "pool_size")
        stride = size if strides is None else _pair(strides, n, "strides")
        pad = _padding(padding, size)
        ops = {
            ("max", 1): tnn.MaxPool1d, ("max", 2): tnn.MaxPool2d,
            ("avg", 1): tnn.AvgPool1d, ("avg", 2): tnn.AvgPool2d,
        }  # fmt: skip
        extra = {} if self.kind == "max" else {"count_include_pad": False}
        self.pool = ops[self.kind, n](size, stride, pad, ceil_mode=ceil_mode, **extra)

    def build(self, input_shape: Shape) -> None:
        what = "(C, L)" if self.rank == 1 else "(C, H, W), channels-first"
        _check_rank(self, input_shape, (self.rank + 1,), what)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


class MaxPool2D(_Pool):
    """Max pooling over channels-first images ``(C, H, W)``; ``ceil_mode`` as in Caffe."""


class AvgPool2D(_Pool):
    """Average pooling over channels-first images ``(C, H, W)``."""

    kind = "avg"


class MaxPool1D(_Pool):
    """Max pooling over channels-first signals ``(C, L)``."""

    rank = 1


class AvgPool1D(_Pool):
    """Average pooling over channels-first signals ``(C, L)``."""

    rank, kind = 1, "avg"


class _GlobalPool(Layer):
    rank, kind = 2, "avg"

    def __init__(self, input_shape: Shape | None = None):
        super().__init__(input_shape)

    def build(self, input_shape: Shape) -> None:
        what = "(C, L)" if self.rank == 1 else "(C, H, W), channels-first"
        _check_rank(self, input_shape, (self.rank + 1,), what)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(2, x.dim()))
        return x.mean(dims) if self.kind == "avg" else x.amax(dims)


class GlobalAveragePooling2D(_GlobalPool):
    """Mean over H and W: ``(N, C, H, W) -> (N, C)``."""


class GlobalMaxPooling2D(_GlobalPool):
    """Max over H and W: ``(N, C, H, W) -> (N, C)``."""

    kind = "max"


class GlobalAveragePooling1D(_GlobalPool):
    """Mean over L: ``(N, C, L) -> (N, C)``."""

    rank = 1


class BatchNormalization(Layer):
    """Batch normalisation over the channel axis (axis 1, channels-first).

    ``momentum`` is Keras's (weight of the old running average, default 0.99).
    """

    def __init__(
        self, momentum: float = 0.99, epsilon: float = 1e-3, input_shape: Shape | None = None
    ):
        super().__init__(input_shape)
        self._remember(locals())
        self.momentum, self.epsilon = float(momentum), float(epsilon)

    def build(self, input_shape: Shape) -> None:
        _check_rank(self, input_shape, (1, 2, 3), "(F,), (C, L) or (C, H, W)")
        kind = tnn.BatchNorm2d if len(input_shape) == 3 else tnn.BatchNorm1d
        self.norm = kind(input_shape[0], eps=self.epsilon, momentum=1 - self.momentum)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class LayerNormalization(Layer):
    """Layer normalisation over the last axis."""

    def __init__(self, epsilon: float = 1e-3, input_shape: Shape | None = None):
        super().__init__(input_shape)
        self._remember(locals())
        self.epsilon = float(epsilon)

    def build(self, input_shape: Shape) -> None:
        self.norm = tnn.LayerNorm(input_shape[-1], eps=self.epsilon)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class LocalResponseNormalization(Layer):
    """Local response normalisation across channels (AlexNet, Caffe's LRN)."""

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        k: float = 1.0,
        input_shape: Shape | None = None,
    ):
        super().__init__(input_shape)
        self._remember(locals())
        self.lrn = tnn.LocalResponseNorm(int(size), float(alpha), float(beta), float(k))

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self.lrn(x)


class Embedding(Layer):
    """Map integer ids in ``[0, input_dim)`` to vectors: ``(T,) -> (T, output_dim)``."""

    def __init__(self, input_dim: int, output_dim: int, input_shape: Shape | None = None):
        super().__init__(input_shape)
        self._remember(locals())
        self.embedding = tnn.Embedding(int(input_dim), int(output_dim))

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x.long())
