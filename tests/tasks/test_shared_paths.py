"""Where an application looks for the shared datasets by default: beside the checkout, as the
tests do. A module moved one folder deeper once looked inside the checkout instead, and every
run and benchmark that relied on the default quietly skipped its data."""

from __future__ import annotations

from pathlib import Path

from layerwise.tasks.recommendation.sources import SHARED
from layerwise.tasks.speech_recognition.sources import FSDD_HOME

# beside the checkout, as tests/conftest.py's SHARED_DATASETS
SHARED_DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def test_default_dataset_folders_are_the_shared_ones():
    assert SHARED == SHARED_DATASETS
    assert FSDD_HOME == SHARED_DATASETS / "fsdd" / "recordings"
