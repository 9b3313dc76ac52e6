"""Training checkpoints without pickle: safetensors for tensors, JSON for everything else.

A checkpoint directory holds numbered sets, each one whole checkpoint::

    checkpoint_dir/set-000007/
        last.safetensors       the model weights after the latest finished epoch
        optimizer.safetensors  the optimizer state tensors, flattened as state/<param>/<key>
        best.safetensors       the weights of the best epoch so far
        state.json             epoch, best metric and epoch, history records, scheduler state,
                               optimizer param groups and scalars, random number generator states

Why sets: overwriting one checkpoint's files in place leaves, after a kill between two writes,
files of two epochs that cannot be used together, and the run cannot resume. A set is written
into a hidden folder (``.set-000008.tmp``), each file fsynced, then renamed to its final name
in one atomic step; only then are older sets deleted. So the newest ``set-*`` folder is always
complete and the previous one stays until the next one is. Loading takes the newest set that
checks out, falls back to an older one with a note (a :class:`LayerwiseWarning`), and clears
what interrupted writes left. Directories written before sets (files at the top level) load too.

``last`` and ``optimizer`` carry a token in their safetensors metadata that ``state.json``
repeats, so files that do not belong together are caught, and ``state.json`` is parsed as
untrusted input: a bad one is a one-line :class:`TrainingError`, never a traceback.

Example:
    >>> import tempfile, torch
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> folder = tempfile.mkdtemp()
    >>> save_checkpoint(folder, model, opt, {"epoch": 1}).name
    'set-000001'
    >>> load_checkpoint(folder, model, opt)["epoch"]
    1
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from layerwise.engine.checkpoint_format import (
    BEST,
    FORMAT_VERSION,
    LAST,
    OPTIMIZER,
    SET,
    STATE,
    Unusable,
    check_files,
    flatten_optimizer,
    jsonable,
    misfit,
    optimizer_state,
    read_state,
    scheduler_state,
    unflatten_optimizer,
)
from layerwise.errors import LayerwiseWarning, TrainingError
from layerwise.io import atomic_write

__all__ = [
    "BEST", "LAST", "OPTIMIZER", "STATE", "capture_rng", "flatten_optimizer", "has_checkpoint",
    "load_checkpoint", "load_weights", "plain_tensors", "restore_rng", "save_checkpoint",
    "save_weights", "scheduler_state", "unflatten_optimizer",
]  # fmt: skip


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


# ---- the sets on disk -----------------------------------------------------------------------


def _sets(directory: Path) -> list[Path]:
    """The published sets, newest first."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := SET.match(p.name))]
    return [p for _, p in sorted(found, reverse=True) if p.is_dir() and not p.is_symlink()]


def _leftovers(directory: Path) -> list[Path]:
    """Hidden ``*.tmp`` files and folders: writes that a kill interrupted."""
    if not directory.is_dir():
        return []
    return [p for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _prune(directory: Path, keep: Path | None) -> None:
    """Delete every set but ``keep``, the leftovers of interrupted writes, and the top-level
    files of the layout before sets once a set replaces them."""
    for path in _sets(directory):
        if path != keep:
            _remove(path)
    for path in _leftovers(directory):
        _remove(path)
    if keep != directory:
        for name in (LAST, BEST, OPTIMIZER, STATE):
            _remove(directory / name)


def _fsync_dir(path: Path) -> None:
    """Make the entries of ``path`` durable (skipped where folders cannot be opened: Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _publish(tmp: Path, final: Path) -> None:
    """The one atomic step that makes a finished set visible."""
    os.rename(tmp, final)
    _fsync_dir(final.parent)


def _carry(source: Path, target: Path) -> None:
    """The previous set's best weights, unchanged: a hard link (files are never rewritten in
    place, so two sets can share one), or a copy where links are not supported."""
    try:
        os.link(source, target)
    except OSError:
        atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


def save_checkpoint(
    directory: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    state: dict[str, Any],
    best_state: Mapping[str, torch.Tensor] | None = None,
    previous: str | Path | None = None,
) -> Path:
    """Write one complete checkpoint set into ``directory``; return its folder.

    Args:
        directory: the checkpoint folder (created if missing).
        model: the model whose weights go to ``last.safetensors``.
        optimizer: its optimizer, or None.
        state: JSON-able training state (epoch, history, scheduler state, ...).
        best_state: weights for ``best.safetensors``; None carries over ``previous``'s.
        previous: the set this training wrote or resumed from last (None: there is none).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for path in _leftovers(directory):
        _remove(path)
    sets = _sets(directory)
    number = int(SET.match(sets[0].name).group(1)) + 1 if sets else 1
    final = directory / f"set-{number:06d}"
    tmp = directory / f".{final.name}.tmp"
    tmp.mkdir()
    token = uuid.uuid4().hex
    metadata = {"token": token, "epoch": str(state.get("epoch", ""))}
    state = dict(state, format_version=FORMAT_VERSION, token=token)
    if optimizer is not None:
        tensors, meta = flatten_optimizer(optimizer.state_dict())
        save_weights(tmp / OPTIMIZER, tensors, metadata)
        state["optimizer"] = meta
    save_weights(tmp / LAST, model.state_dict(), metadata)
    if best_state is not None:
        save_weights(tmp / BEST, best_state)
    elif previous is not None and (Path(previous) / BEST).is_file():
        _carry(Path(previous) / BEST, tmp / BEST)
    text = json.dumps(jsonable(state), indent=1)
    atomic_write(tmp / STATE, lambda path: path.write_text(text, encoding="utf-8"))
    _fsync_dir(tmp)
    _publish(tmp, final)
    _prune(directory, keep=final)
    return final


def has_checkpoint(directory: str | Path | None) -> bool:
    """Whether ``directory`` holds anything :func:`load_checkpoint` should look at."""
    if directory is None:
        return False
    directory = Path(directory)
    return bool(_sets(directory) or _leftovers(directory) or (directory / STATE).exists())


def _load_into(
    folder: Path,
    state: dict[str, Any],
    shapes: dict[str, dict],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    device: str | torch.device,
) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if shapes[LAST] != expected:
        wrong = sorted(set(expected) ^ set(shapes[LAST])) or [
            k for k in expected if expected[k] != shapes[LAST][k]
        ]
        raise misfit(folder, "model", f"{len(wrong)} tensors differ, e.g. {wrong[0]!r}")
    model.load_state_dict(load_weights(folder / LAST, device))
    if optimizer is not None and "optimizer" in state:
        tensors = load_weights(folder / OPTIMIZER, "cpu")
        loaded = optimizer_state(folder, tensors, state["optimizer"], optimizer)
        try:
            optimizer.load_state_dict(loaded)
        except (ValueError, KeyError, TypeError, RuntimeError) as error:
            raise misfit(folder, "optimizer", str(error)) from error


def _fallback_note(
    directory: Path, leftovers: list[Path], skipped: list[tuple[Path, Unusable]], epoch: int | None
) -> str | None:
    reasons = ["an unfinished checkpoint write was discarded"] if leftovers else []
    reasons += [f"{folder.name} was skipped ({why.reason})" for folder, why in skipped]
    if not reasons:
        return None
    if epoch is None:
        tail = "no complete checkpoint is left, so this model trains again from the first epoch"
    else:
        tail = f"fell back to the last complete checkpoint (epoch {epoch})"
    return f"Checkpoint {directory}: {'; '.join(reasons)}; {tail}."


def load_checkpoint(
    directory: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any] | None:
    """Load the newest complete checkpoint in ``directory`` into ``model`` (and ``optimizer``)
    and return its state.json, with ``folder``: the set it came from.

    A set that does not check out is skipped for the one before it, and the leftovers of
    interrupted writes are removed, with a note (a :class:`LayerwiseWarning`). When only
    interrupted writes are there, the note says so and the result is None: train from epoch 1.

    Raises:
        TrainingError: if the checkpoint does not fit the model or optimizer, or if no set is
            usable and one is damaged (not merely unfinished).
    """
    directory = Path(directory)
    leftovers, skipped = _leftovers(directory), []
    candidates = _sets(directory)
    if (directory / STATE).exists() or (directory / LAST).exists():
        candidates.append(directory)  # the layout before sets: one checkpoint at the top level
    for folder in candidates:
        old = folder == directory
        try:
            state = read_state(folder, old)
            shapes = check_files(folder, state, old)
        except Unusable as why:
            skipped.append((folder, why))
            continue
        _load_into(folder, state, shapes, model, optimizer, device)
        note = _fallback_note(directory, leftovers, skipped, state["epoch"])
        if note:
            warnings.warn(note, LayerwiseWarning, stacklevel=2)
        _prune(directory, keep=folder)
        return {**state, "folder": str(folder)}
    damaged = [(folder, why) for folder, why in skipped if not why.interrupted]
    if damaged:
        folder, why = damaged[0]
        raise TrainingError(
            f"Cannot resume from the checkpoint in {folder}: {why.reason}.",
            f"Delete {directory} to train this model again from the first epoch.",
        )
    note = _fallback_note(directory, leftovers, skipped, None)
    if note:
        warnings.warn(note, LayerwiseWarning, stacklevel=2)
    _prune(directory, keep=None)
    return None


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
