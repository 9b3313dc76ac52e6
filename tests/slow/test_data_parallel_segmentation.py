"""A segmentation run in two gloo processes on this CPU (engine.distributed) chooses what one
process chooses and writes one run folder: the U-Net trained by both ranks together (DDP), each
drawing its own crops for its share of the step's views, the pixel forest, the scores, the
two-class cut and the test-time views rank 0's (the forest's figures are exactly one
process's). With a time limit and no epochs, rank 0's timed probe plans the epochs of both:
each rank's own probe would plan its own, and the rank with more epochs would wait for the other
at a collective (the deadline of ``two_processes`` fails such a run instead of hanging). In
tests/slow: two processes on two cores, a gloo all-reduce every step."""

from __future__ import annotations

from pathlib import Path

import pytest
from two_ranks import one_and_two, two_processes

pytestmark = pytest.mark.slow

QUIET = {"task": "segmentation", "verbose": False, "report": False, "seed": 0}
UNET = {"crop": 64, "widths": [8, 16, 32], "cpu_threads": 1}
RUNS = {
    "epochs": {**QUIET, "candidate_params": {"unet": {**UNET, "epochs": 20}}},
    "planned": {**QUIET, "candidates": ["unet"],
                "candidate_params": {"unet": {**UNET, "time_limit": 20}}},
}  # fmt: skip


def cells(folder: Path, n: int = 24) -> str:
    """Generated cell images and their masks as images/ and masks/ PNG files."""
    from PIL import Image

    from layerwise.tasks.segmentation.cells import generated_masks

    images, masks, _ = generated_masks(n, size=64, seed=0)
    for part in ("images", "masks"):
        (folder / part).mkdir(parents=True, exist_ok=True)
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        Image.fromarray(image).save(folder / "images" / f"cell_{i:03d}.png")
        Image.fromarray((mask * 255).astype("uint8")).save(folder / "masks" / f"cell_{i:03d}.png")
    return str(folder)


def test_cells_in_two_processes_choose_what_one_chooses(tmp_path):
    two, one = one_and_two(cells(tmp_path / "cells"), RUNS["epochs"], tmp_path)
    both = [run["metrics"]["candidates"] for run in (two, one)]
    validation = {n: [b[n]["validation"]["mean_dice"] for b in both] for n in both[0]}
    assert two["chosen"] == one["chosen"], validation  # U-Net 0.855 / 0.852, forest 0.827
    assert both[0]["pixel-forest"]["test"] == both[1]["pixel-forest"]["test"]  # rank 0's alone
    dice = [b["unet"]["test"]["mean_dice"] for b in both]
    assert min(dice) > 0.7 and abs(dice[0] - dice[1]) < 0.05, dice


def test_the_unets_epochs_are_planned_once_for_both_processes(tmp_path):
    run = two_processes(cells(tmp_path / "cells", 12), RUNS["planned"], tmp_path / "two")
    notes = " ".join(run["metrics"].get("notes", []))
    assert "epochs of ~" in notes, notes  # rank 0's plan, which the other rank followed
