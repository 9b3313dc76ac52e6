"""Weights from a run folder, and the modules they belong to, without trusting the folder.

A run folder's preprocess.json says how to build each network (its architecture: widths,
layers, vocabulary sizes), and its ``.safetensors`` files hold the weights. Both come from
whoever sent the folder, so a network is never built from the declared architecture alone:
:func:`restore_module` first builds it on PyTorch's ``meta`` device (shapes only, no memory),
checks that every tensor it declares has exactly the shape the weights file stores, and that
its buffers are not far larger than the file; only then is it built for real and loaded. What a run folder can make layerwise allocate is so bounded by the size of the files
its manifest hashed, not by numbers in a JSON file.

>>> import tempfile, torch
>>> from layerwise.runs.folder import RunFolder
>>> from layerwise.engine.checkpoint import save_weights
>>> run = RunFolder.create(tempfile.mkdtemp(), "demo")
>>> save_weights(run.file("net.safetensors"), torch.nn.Linear(3, 2).state_dict())
>>> run.finalize({"task": "demo"})
>>> opened = RunFolder.open(run.path)
>>> restore_module(opened, "net.safetensors", lambda: torch.nn.Linear(3, 2)).weight.shape
torch.Size([2, 3])
>>> restore_module(opened, "net.safetensors", lambda: torch.nn.Linear(30000, 20000))
Traceback (most recent call last):
...
layerwise.errors.RunFolderError: 'net.safetensors' in run folder ... holds 'bias' of shape [2], but the architecture its preprocess.json declares needs [20000]: the two files do not belong together. Use the run folder as `layerwise train` wrote it, or train again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from layerwise.errors import LayerwiseError, RunFolderError
from layerwise.runs.verify import short_reason

# Buffers a module computes rather than stores (a causal mask, a filterbank) may add this much
# beyond what its weights file holds, in elements.
UNSTORED_ALLOWANCE = 1 << 24
_FIX = "Use the run folder as `layerwise train` wrote it, or train again."


def read_tensors(run: Any, name: str) -> dict[str, torch.Tensor]:
    """Every tensor of the ``.safetensors`` file ``name`` in ``run`` (listed in its manifest,
    hence hashed), on the CPU; a file safetensors refuses is one RunFolderError."""
    from safetensors.torch import load_file

    path = run.file(name)
    try:
        return load_file(str(path), device="cpu")
    except Exception as error:  # a header over safetensors' cap, a truncated file, ...
        raise _unreadable(run, name, error) from error


def config_from(config_class: type, stored: Any, run: Any) -> Any:
    """The architecture config ``config_class`` from the dict ``stored`` in ``run``'s
    preprocess.json; anything it cannot be made from (not an object, an unknown field, a value
    its checks refuse) is one RunFolderError."""
    if not isinstance(stored, dict):
        raise RunFolderError(
            f"The architecture in '{run.path}' is not a JSON object ({config_class.__name__}).",
            _FIX,
        )
    from layerwise.errors import dataclass_from_dict

    make = getattr(config_class, "from_dict", None)
    try:
        return make(stored) if make is not None else dataclass_from_dict(config_class, stored)
    except (LayerwiseError, TypeError, ValueError, KeyError, OverflowError) as error:
        reason = error.one_line() if isinstance(error, LayerwiseError) else short_reason(error)
        raise RunFolderError(
            f"The architecture in '{run.path}' is not a valid {config_class.__name__} ({reason}).",
            _FIX,
        ) from error


def restore_module(
    run: Any,
    name: str,
    build: Callable[[], torch.nn.Module],
    tensors: dict[str, torch.Tensor] | None = None,
    prefix: str = "",
) -> torch.nn.Module:
    """``build()`` loaded with the weights of ``name``, built only once a dry build on the meta
    device has shown that its tensors are the ones the file stores (see the module doc).

    ``tensors``: the file's tensors when the caller has read them already (and taken out its
    own extras); ``prefix``: only the tensors named ``<prefix>...`` are the module's."""
    tensors = read_tensors(run, name) if tensors is None else tensors
    own = {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
    try:
        with torch.device("meta"):
            probe = build()
    except LayerwiseError:
        raise
    except Exception as error:  # any failure of a constructor fed crafted numbers
        raise RunFolderError(
            f"The network stored as '{name}' in run folder '{run.path}' cannot be built from "
            f"its preprocess.json ({short_reason(error)}).",
            _FIX,
        ) from error
    check_shapes(run, name, probe, {key: list(value.shape) for key, value in own.items()})
    module = build()
    try:
        module.load_state_dict(own)
    except RuntimeError as error:  # a dtype or strict-loading difference the shapes did not show
        raise RunFolderError(
            f"'{name}' in run folder '{run.path}' does not fit its network ({short_reason(error)}).",
            _FIX,
        ) from error
    return module


def check_shapes(run: Any, name: str, probe: torch.nn.Module, shapes: dict[str, list[int]]) -> None:
    """A RunFolderError unless ``probe``'s state dict has exactly the stored tensors and shapes,
    and its unstored buffers stay within :data:`UNSTORED_ALLOWANCE` of the stored size."""
    declared = {key: list(value.shape) for key, value in probe.state_dict().items()}
    where = f"'{name}' in run folder '{run.path}'"
    for key in sorted(declared.keys() | shapes.keys()):
        if key not in shapes:
            raise RunFolderError(
                f"{where} has no '{key}', which the network its preprocess.json declares needs.",
                _FIX,
            )
        if key not in declared:
            raise RunFolderError(
                f"{where} holds '{key}', which the network its preprocess.json declares lacks.",
                _FIX,
            )
        if declared[key] != shapes[key]:
            raise RunFolderError(
                f"{where} holds '{key}' of shape {shapes[key]}, but the architecture its "
                f"preprocess.json declares needs {declared[key]}: the two files do not belong "
                "together.",
                _FIX,
            )
    stored = sum(_numel(shape) for shape in shapes.values())
    total = sum(t.numel() for t in probe.parameters()) + sum(t.numel() for t in probe.buffers())
    if total > 2 * stored + UNSTORED_ALLOWANCE:
        raise RunFolderError(
            f"The network of {where} would hold {total:,} numbers though the file stores "
            f"{stored:,}: its preprocess.json asks for more than the weights explain.",
            _FIX,
        )


def _numel(shape: list[int]) -> int:
    count = 1
    for size in shape:
        count *= int(size)
    return count


def _unreadable(run: Any, name: str, error: BaseException) -> LayerwiseError:
    if isinstance(error, LayerwiseError):
        return error
    return RunFolderError(
        f"'{name}' in run folder '{run.path}' is not a safetensors file layerwise can read "
        f"({short_reason(error)}).",
        _FIX,
    )
