"""Real MedMNIST data with the defaults, against the published ResNet-18 results.

Runs on every MedMNIST NPZ found in ``../shared/datasets/medmnist/`` or named by the
LAYERWISE_MEDMNIST environment variable (a file or a folder); skips cleanly when there is none.
Published test results (MedMNIST v2, 28x28): PneumoniaMNIST ResNet-18 accuracy 0.854 / AUC 0.944,
BreastMNIST 0.833 / 0.901. The floors below are those of ResNet-18 (28).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import layerwise

pytestmark = pytest.mark.slow
SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "medmnist"
FLOORS = {"pneumoniamnist": (0.854, 0.944), "breastmnist": (0.833, 0.901)}


def _files() -> list[Path]:
    given = os.environ.get("LAYERWISE_MEDMNIST")
    roots = [Path(given)] if given else [SHARED]
    files = []
    for root in roots:
        files += [root] if root.is_file() else sorted(root.glob("*.npz")) if root.is_dir() else []
    return files


@pytest.mark.parametrize("path", _files() or [None], ids=lambda p: p.stem if p else "none")
def test_medmnist_defaults_reach_resnet18(path, tmp_path):
    if path is None:
        pytest.skip("no MedMNIST NPZ found (set LAYERWISE_MEDMNIST)")
    run = layerwise.fit(str(path), task="image-classification", output_dir=str(tmp_path))
    accuracy, auc = FLOORS.get(path.stem.split("_")[0], (0.0, 0.0))
    assert run.metrics["test"]["accuracy"] >= accuracy
    assert run.metrics["test"]["roc_auc"] >= auc
