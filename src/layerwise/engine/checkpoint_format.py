"""The format of a checkpoint set, and its checks as untrusted input.

A checkpoint is a file a user can be handed (a run folder shared before it finished), so
``state.json`` is parsed field by field and the weights' headers are read before any tensor:
what does not check out is an :class:`Unusable` set (skipped for an older one), and what does
not fit the model, optimizer or schedule at hand is a one-line :class:`TrainingError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from layerwise.errors import TrainingError

LAST = "last.safetensors"
BEST = "best.safetensors"
OPTIMIZER = "optimizer.safetensors"
STATE = "state.json"
FORMAT_VERSION = 1
MAX_STATE_BYTES = 256 << 20  # every epoch's record and the optimizer's scalars: megabytes at most
SET = re.compile(r"^set-(\d{6,})$")
_RNG_BYTES = {"shuffle": 5056, "torch": 5056}  # torch's CPU (Mersenne Twister) state


class Unusable(Exception):
    """A set that cannot be resumed from. ``interrupted``: a write that did not finish (the
    folder trains again from the first epoch), as opposed to a damaged or crafted file."""

    def __init__(self, reason: str, interrupted: bool = False):
        reason = " ".join(reason.split())  # a library's message may span lines; ours is one
        super().__init__(reason)
        self.reason, self.interrupted = reason, interrupted


def header(path: Path) -> tuple[str | None, dict[str, tuple[int, ...]]]:
    """The token and the tensor shapes of a safetensors file, from its header alone."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        shapes = {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}
        return (handle.metadata() or {}).get("token"), shapes


def jsonable(value: Any) -> Any:
    """``value`` with tensors and tuples turned into lists, for ``json.dumps``."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
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
                scalars.setdefault(str(index), {})[key] = jsonable(value)
    meta = {"param_groups": jsonable(state_dict["param_groups"]), "scalars": scalars}
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


# ---- reading, as untrusted input ------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _plain(value: Any) -> bool:
    """A JSON scalar, or a flat list of them: all that state.json holds below its fields."""
    if isinstance(value, list):
        return all(v is None or isinstance(v, bool | int | float | str) for v in value)
    return value is None or isinstance(value, bool | int | float | str)


def _index(text: str) -> bool:
    """A parameter index as flatten_optimizer writes it: ASCII digits (``"²".isdigit()`` too)."""
    return text.isascii() and text.isdigit()


def _rng_ok(name: str, text: Any) -> bool:
    try:
        raw = base64.b64decode(text, validate=True) if isinstance(text, str) else None
    except (binascii.Error, ValueError):
        return False
    return raw is not None and len(raw) == _RNG_BYTES.get(name, len(raw))


def validate_state(raw: Any) -> dict[str, Any]:
    """``raw`` (parsed state.json) checked field by field; an :class:`Unusable` names the first
    field that is not what this module writes."""

    def bad(what: str) -> Unusable:
        return Unusable(f"{STATE} {what}")

    if not isinstance(raw, dict):
        raise bad("is not a JSON object")
    version = raw.get("format_version")
    if not _is_int(version) or version < 1:
        raise bad(f"has format_version {version!r}, expected 1")
    if version > FORMAT_VERSION:
        raise bad(f"is format {version}, from a newer layerwise (upgrade layerwise to resume)")
    if not isinstance(raw.get("token"), str):
        raise bad("has no token")
    epoch = raw.get("epoch")
    if not _is_int(epoch) or epoch < 0:
        raise bad(f"has epoch {epoch!r}, expected a whole number >= 0")
    best_epoch = raw.get("best_epoch", 0)
    if not _is_int(best_epoch) or not 0 <= best_epoch <= epoch:
        raise bad(f"has best_epoch {best_epoch!r}, expected a whole number from 0 to {epoch}")
    if raw.get("best_metric") is not None and not _is_number(raw["best_metric"]):
        raise bad(f"has best_metric {raw['best_metric']!r}, expected a number")
    history = raw.get("history", [])
    if not isinstance(history, list) or not all(
        isinstance(r, dict) and _is_int(r.get("epoch")) and all(map(_plain, r.values()))
        for r in history
    ):
        raise bad("has a history that is not a list of per-epoch records")
    scheduler = raw.get("scheduler")
    if scheduler is not None and not (
        isinstance(scheduler, dict) and all(map(_plain, scheduler.values()))
    ):
        raise bad("has a scheduler state that is not an object of numbers")
    rng = raw.get("rng", {})
    if not isinstance(rng, dict) or not all(_rng_ok(k, v) for k, v in rng.items()):
        raise bad("has random number generator states that are not valid")
    if "optimizer" in raw and not _optimizer_meta_ok(raw["optimizer"]):
        raise bad("has optimizer settings that are not param_groups and scalars")
    return raw


def _optimizer_meta_ok(meta: Any) -> bool:
    if not isinstance(meta, dict) or not isinstance(meta.get("param_groups"), list):
        return False
    for group in meta["param_groups"]:
        if not isinstance(group, dict) or not isinstance(group.get("params"), list):
            return False
        if not all(map(_is_int, group["params"])) or not all(map(_plain, group.values())):
            return False
    scalars = meta.get("scalars")
    return isinstance(scalars, dict) and all(
        _index(k) and isinstance(v, dict) and all(map(_plain, v.values()))
        for k, v in scalars.items()
    )


def read_state(folder: Path, old: bool) -> dict[str, Any]:
    """``folder``'s state.json: a regular file under the size cap, valid JSON, checked field by
    field. ``old``: the layout before sets, where a missing file means an interrupted write."""
    path = folder / STATE
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise Unusable(f"it has no {STATE}", interrupted=old) from None
    if not stat.S_ISREG(info.st_mode):
        raise Unusable(f"{STATE} is not a regular file")
    if info.st_size > MAX_STATE_BYTES:
        raise Unusable(f"{STATE} is {info.st_size} bytes, over the {MAX_STATE_BYTES} cap")
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise Unusable(f"{STATE} is not valid JSON ({error})") from None
    return validate_state(raw)


def check_files(folder: Path, state: dict[str, Any], old: bool) -> dict[str, dict]:
    """Each weights file of the set: a regular file with a readable header and, for ``last``
    and ``optimizer``, state.json's token. Returns the tensor shapes of each."""
    from safetensors import SafetensorError

    names = [LAST] + ([OPTIMIZER] if "optimizer" in state else [])
    names += [BEST] if (folder / BEST).exists() else []
    shapes = {}
    for name in names:
        path = folder / name
        if not path.is_file() or path.is_symlink():
            raise Unusable(f"{name} is missing (a write was interrupted)", interrupted=old)
        try:
            token, shapes[name] = header(path)
        except (SafetensorError, OSError, ValueError) as error:
            raise Unusable(f"{name} is not a readable safetensors file ({error})") from None
        if name != BEST and token != state["token"]:
            raise Unusable(
                f"{name} is not from epoch {state['epoch']} (a write was interrupted)",
                interrupted=old,
            )
    if BEST in shapes and shapes[BEST] != shapes[LAST]:
        raise Unusable(f"{BEST} does not hold the same tensors as {LAST}")
    return shapes


def misfit(folder: Path, what: str, detail: str) -> TrainingError:
    """The error for a sound checkpoint that does not fit the model (optimizer, schedule) here:
    falling back to an older set would not help, so it stops the resume."""
    root = folder.parent if SET.match(folder.name) else folder
    return TrainingError(
        f"The checkpoint in {folder} does not fit this {what}: {detail}.",
        f"Resume with the same {what} settings, or delete {root} to train it again from the "
        "first epoch.",
    )


def _same_kind(saved: Any, current: Any) -> bool:
    """Whether a saved setting can stand for the live one: a flag for a flag, a finite number
    for a number, a list of as many for a tuple (betas), text for text."""
    if current is None or isinstance(current, bool):
        return saved is None or isinstance(saved, bool)
    if _is_number(current):
        return _is_number(saved) and math.isfinite(saved)
    if isinstance(current, tuple | list):
        return (
            isinstance(saved, list)
            and len(saved) == len(current)
            and all(map(_same_kind, saved, current))
        )
    return isinstance(saved, str) if isinstance(current, str) else True


def optimizer_state(
    folder: Path, tensors: dict[str, torch.Tensor], meta: dict, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """The optimizer state dict to load, once every tensor is checked against the parameter it
    is for (torch's load_state_dict checks group sizes, not shapes: a wrong shape would fail
    mid-training) and every setting against the live one."""
    live = optimizer.param_groups
    params = [p for group in live for p in group["params"]]
    for name, tensor in tensors.items():
        parts = name.split("/")
        if len(parts) != 3 or parts[0] != "state" or not _index(parts[1]):
            raise misfit(folder, "optimizer", f"it holds a tensor named {name!r}")
        if int(parts[1]) >= len(params):
            raise misfit(
                folder, "optimizer", f"{name} is for parameter {parts[1]} of {len(params)}"
            )
        if tensor.dim() and tensor.shape != params[int(parts[1])].shape:
            raise misfit(folder, "optimizer", f"{name} has shape {list(tensor.shape)}, "
                          f"its parameter {list(params[int(parts[1])].shape)}")  # fmt: skip
    if any(int(index) >= len(params) for index in meta["scalars"]):
        raise misfit(folder, "optimizer", "it has state for more parameters than the model")
    groups = meta["param_groups"]
    if [len(g["params"]) for g in groups] != [len(g["params"]) for g in live]:
        raise misfit(folder, "optimizer", "its parameter groups hold other parameters")
    for saved, current in zip(groups, live, strict=True):
        for key, value in saved.items():
            if key != "params" and key in current and not _same_kind(value, current[key]):
                raise misfit(folder, "optimizer", f"{key} is {value!r}, here {current[key]!r}")
    return unflatten_optimizer(tensors, meta)


def scheduler_state(saved: dict[str, Any], scheduler: Any, folder: str | Path) -> dict[str, Any]:
    """A saved LR-schedule state reduced to the keys ``scheduler`` has, each of its kind (a
    scheduler's ``load_state_dict`` sets whatever keys it is given as attributes)."""
    current = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    for key, value in saved.items():
        if key in current and not _same_kind(value, current[key]):
            raise misfit(Path(folder), "learning-rate schedule", f"{key} is {value!r}")
    kept = {k: v for k, v in saved.items() if k in current}
    return {**kept, "lr_lambdas": [None] * len(scheduler.lr_lambdas)}
