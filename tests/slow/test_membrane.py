"""The ISBI 2012 membrane set with the defaults (issue 28's target): the U-Net's Dice of the
membrane class at least the pixel forest's + 0.05, and the served model never more than 0.01
Dice below the forest on the test images. Skips cleanly without the data."""

from __future__ import annotations

from pathlib import Path

import pytest

import layerwise

pytestmark = pytest.mark.slow
MEMBRANE = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "segmentation" / "membrane"


def test_membrane_defaults_beat_the_pixel_forest(tmp_path):
    if not MEMBRANE.is_dir():
        pytest.skip(f"{MEMBRANE} is absent")
    run = layerwise.fit(str(MEMBRANE), task="segmentation", classes="membrane,interior",
                        output_dir=str(tmp_path), verbose=False)  # fmt: skip
    candidates = run.metrics["candidates"]
    unet, forest = candidates["unet"]["test"], candidates["pixel-forest"]["test"]
    assert unet["dice"]["membrane"] >= forest["dice"]["membrane"] + 0.05
    assert run.metrics["test"]["mean_dice"] >= forest["mean_dice"] - 0.01
