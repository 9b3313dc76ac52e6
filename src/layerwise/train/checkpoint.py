"""Training checkpoints without pickle: safetensors for tensors, JSON for everything else.

A checkpoint directory holds:

- ``last.safetensors``: the model weights after the latest finished epoch;
- ``optimizer.safetensors``: the optimizer state tensors, flattened as ``state/<param>/<key>``;
- ``best.safetensors``: the weights of the best epoch so far;
- ``state.json``: epoch, best metric and epoch, history records, scheduler state, optimizer
  param groups and scalars, random number generator states.

Each file is written atomically (temp name in the same directory, fsync, ``os.replace``) and
``state.json`` is written last. ``last`` and ``optimizer`` carry a token in their safetensors
metadata that ``state.json`` repeats, so a write interrupted between files is detected at load
time instead of silently mixing two epochs.

Example:
    >>> import tempfile, torch
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> folder = tempfile.mkdtemp()
    >>> save_checkpoint(folder, model, opt, {"epoch": 1})
    >>> load_checkpoint(folder, model, opt)["epoch"]
    1
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from layerwise.errors import TrainingError
from layerwise.runs.folder import atomic_write

LAST = "last.safetensors"
BEST = "best.safetensors"
OPTIMIZER = "optimizer.safetensors"
STATE = "state.json"
FORMAT_VERSION = 1


def plain_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous tensors that share no storage (what ``safetensors`` accepts)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            continue
        tensor = value.detach().to("cpu").contiguous()
        # Tied weights share storage; safetensors refuses that, so store a copy.
        ptr = tensor.untyped_storage().data_ptr() if tensor.numel() else None
        if ptr is not None and ptr in seen:
            tensor = tensor.clone()
        elif ptr is not None:
            seen.add(ptr)
        out[name] = tensor
    return out


def save_weights(
    path: str | Path, state_dict: Mapping[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """Write a state dict to a ``.safetensors`` file atomically."""
    from safetensors.torch import save_file

    tensors = plain_tensors(state_dict)
    atomic_write(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` file written by :func:`save_weights`."""
    from safetensors.torch import load_file

    return load_file(str(path), device=str(device))


def _file_token(path: Path) -> str | None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return (handle.metadata() or {}).get("token")


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors (for safetensors) and JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state_dict["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state/{index}/{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = _jsonable(value)
    meta = {"param_groups": _jsonable(state_dict["param_groups"]), "scalars": scalars}
    return tensors, meta


def unflatten_optimizer(
    tensors: Mapping[str, torch.Tensor], meta: dict[str, Any]
) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer`."""
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        _, index, key = name.split("/", 2)
        state.setdefault(int(index), {})[key] = tensor
    for index, entry in meta["scalars"].items():
        state.setdefault(int(index), {}).update(entry)
    groups = []
    for group in meta["param_groups"]:
        group = dict(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    directory: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    state: dict[str, Any],
    best_state: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Write one consistent checkpoint into ``directory`` (``state.json`` last).

    Args:
        directory: the checkpoint folder (created if missing).
        model: the model whose weights go to ``last.safetensors``.
        optimizer: its optimizer, or None.
        state: JSON-able training state (epoch, history, scheduler state, ...).
        best_state: weights for ``best.safetensors``; None leaves that file as it is.
    """
    directory = Path(directory)
    token = uuid.uuid4().hex
    metadata = {"token": token, "epoch": str(state.get("epoch", ""))}
    state = dict(state, format_version=FORMAT_VERSION, token=token)
    if optimizer is not None:
        tensors, meta = flatten_optimizer(optimizer.state_dict())
        save_weights(directory / OPTIMIZER, tensors, metadata)
        state["optimizer"] = meta
    save_weights(directory / LAST, model.state_dict(), metadata)
    if best_state is not None:
        save_weights(directory / BEST, best_state)
    text = json.dumps(_jsonable(state), indent=1)
    atomic_write(directory / STATE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def has_checkpoint(directory: str | Path | None) -> bool:
    """Whether ``directory`` holds a checkpoint that :func:`load_checkpoint` can read."""
    return directory is not None and (Path(directory) / STATE).is_file()


def load_checkpoint(
    directory: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load weights (and optimizer state) from ``directory`` into ``model``; return state.json.

    Raises:
        TrainingError: if the checkpoint is incomplete or does not match the model.
    """
    directory = Path(directory)
    state = json.loads((directory / STATE).read_text(encoding="utf-8"))
    token = state.get("token")
    files = [directory / LAST] + ([directory / OPTIMIZER] if "optimizer" in state else [])
    for path in files:
        if not path.is_file() or _file_token(path) != token:
            raise TrainingError(
                f"The checkpoint in {directory} is incomplete: {path.name} does not belong to "
                f"epoch {state.get('epoch')} (a write was interrupted).",
                "Start without resume=True, or point checkpoint_dir to a new folder.",
            )
    try:
        model.load_state_dict(load_weights(directory / LAST, device))
    except RuntimeError as error:
        raise TrainingError(
            f"The checkpoint in {directory} does not fit this model: {error}",
            "Resume with the same model architecture, or use a new checkpoint_dir.",
        ) from error
    if optimizer is not None and "optimizer" in state:
        tensors = load_weights(directory / OPTIMIZER, "cpu")
        try:
            optimizer.load_state_dict(unflatten_optimizer(tensors, state["optimizer"]))
        except (ValueError, KeyError) as error:
            raise TrainingError(
                f"The optimizer state in {directory} does not fit this optimizer: {error}",
                "Resume with the same optimizer and model, or use a new checkpoint_dir.",
            ) from error
    return state


def _encode_rng(state: torch.Tensor) -> str:
    return base64.b64encode(state.cpu().numpy().tobytes()).decode("ascii")


def _decode_rng(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8).clone()


def capture_rng(generator: torch.Generator, device: torch.device) -> dict[str, str]:
    """The states of the shuffling generator and torch's global RNGs, as JSON-able text."""
    rng = {
        "shuffle": _encode_rng(generator.get_state()),
        "torch": _encode_rng(torch.get_rng_state()),
    }
    if device.type == "cuda":
        rng["cuda"] = _encode_rng(torch.cuda.get_rng_state(device))
    return rng


def restore_rng(rng: dict[str, str], generator: torch.Generator, device: torch.device) -> None:
    """Inverse of :func:`capture_rng`; missing entries are left as they are."""
    if "shuffle" in rng:
        generator.set_state(_decode_rng(rng["shuffle"]))
    if "torch" in rng:
        torch.set_rng_state(_decode_rng(rng["torch"]))
    if "cuda" in rng and device.type == "cuda":
        torch.cuda.set_rng_state(_decode_rng(rng["cuda"]), device)
