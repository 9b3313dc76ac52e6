"""Helpers to craft run folders as a hostile sender would: copy a real run, change its files,
and sign the manifest again so that only the checks *beyond* integrity stand in the way."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np


def copy_run(run_path: Path, where: Path) -> Path:
    target = where / Path(run_path).name
    shutil.copytree(run_path, target, symlinks=True)
    return target


def sign(run: Path, files: dict[str, str] | None = None, **changes: Any) -> None:
    """Write manifest.json with the sha256 of every name it lists (existing names, hashed
    through links as a careless tool would), plus ``files`` entries and top-level ``changes``
    given verbatim."""
    manifest = json.loads((run / "manifest.json").read_text())
    if not isinstance(manifest, dict):
        return  # nothing to sign: the manifest itself is what was crafted
    listed = manifest.get("files")
    if isinstance(listed, dict):
        for name in list(listed):
            path = run / name
            if path.is_file():
                listed[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        listed.update(files or {})
    manifest.update(changes)
    (run / "manifest.json").write_text(json.dumps(manifest))


def edit_json(run: Path, name: str, change) -> None:
    data = json.loads((run / name).read_text())
    change(data)
    (run / name).write_text(json.dumps(data))


def swap_in_mlp(run: Path, hidden: list[int] | None = None) -> None:
    """Turn a tabular run (any chosen model) into one serving an untrained MLP: the same
    encoder, a TabularMLP of the right input sizes, weights in model.safetensors. Fast, and a
    real folder of the layout `layerwise train` writes for an MLP."""
    import torch

    from layerwise.engine.checkpoint import save_weights
    from layerwise.models.tabular_mlp import TabularMLP, TabularMLPConfig

    stored = json.loads((run / "preprocess.json").read_text())
    specs = stored["encoder"]["specs"]
    cardinalities = [len(s["categories"]) + 1 + int(s["other"]) for s in specs
                     if s["kind"] == "categorical"]  # fmt: skip
    n_numeric = len(stored["encoder"]["mean"]) + len(stored["encoder"]["indicators"])
    config = TabularMLPConfig(n_numeric=n_numeric, cardinalities=cardinalities,
                              n_outputs=max(2, len(stored["classes"])), hidden=hidden or [16, 8])  # fmt: skip
    torch.manual_seed(0)
    save_weights(run / "model.safetensors", TabularMLP(config).state_dict())
    stored["model"] = {"candidate": "mlp", "objective": "binary", "n_classes": 2, "seed": 0,
                       "file": "model.safetensors", "architecture": config.to_dict()}  # fmt: skip
    (run / "preprocess.json").write_text(json.dumps(stored))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"]["model.safetensors"] = ""
    (run / "manifest.json").write_text(json.dumps(manifest))
    sign(run)


def table_rows(n: int = 8) -> Any:
    import pandas as pd

    rng = np.random.default_rng(1)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                         "colour": rng.choice(["red", "green", "blue"], size=n)})  # fmt: skip
