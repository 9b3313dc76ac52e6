"""An image-classification run in two gloo processes on this CPU (engine.distributed) chooses
the model one process chooses, with test scores within noise of it, and writes one run folder.
In tests/slow: two processes on two cores train the CNN about ten times slower than one (a
gloo all-reduce every step), about two minutes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import layerwise
from layerwise.engine.distributed import current_world, run_local

pytestmark = pytest.mark.slow

OPTIONS = {"candidates": ["pixel-logistic", "cnn"], "verbose": False, "report": False,
           "candidate_params": {"cnn": {"epochs": 30}}}  # fmt: skip


def fit_digits(folder: str, out: str) -> None:
    """One rank's fit; rank 0 (the one that returns a run) writes what it chose."""
    run = layerwise.fit(folder + "/digits", task="image-classification",
                        output_dir=folder + "/runs", **OPTIONS)  # fmt: skip
    if current_world().main:
        Path(out).write_text(json.dumps({"chosen": run.chosen, "metrics": run.metrics}))
    else:
        assert run is None


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from layerwise.data.image_sources import digits_folder

    folder = tmp_path_factory.mktemp("digits")
    digits_folder(folder)
    return folder


def test_two_processes_choose_what_one_chooses(digits, tmp_path):
    out = str(tmp_path / "two.json")
    run_local(2, fit_digits, str(digits), out)
    two = json.loads(Path(out).read_text())
    assert len(list((digits / "runs").iterdir())) == 1  # rank 0's folder only
    one = layerwise.fit(str(digits / "digits"), task="image-classification",
                        output_dir=str(tmp_path / "one"), **OPTIONS)  # fmt: skip
    assert two["chosen"] == one.chosen == "cnn"
    both = [m["candidates"][name]["test"]["accuracy"]
            for m in (two["metrics"], one.metrics) for name in ("cnn",)]  # fmt: skip
    assert min(both) > 0.9 and abs(both[0] - both[1]) < 0.03
    classical = [m["candidates"]["pixel-logistic"]["test"]["accuracy"]
                 for m in (two["metrics"], one.metrics)]  # fmt: skip
    assert classical[0] == classical[1]  # trained once, on rank 0, as in one process


def fit_streamed(folder: str, out: str) -> None:
    """One rank's streamed fit: the first process decodes the folder, the other waits for it."""
    run = layerwise.fit(folder + "/digits", task="image-classification", stream=True,
                        output_dir=folder + "/streamed", **{**OPTIONS, "candidate_params":
                        {"cnn": {"epochs": 3}}})  # fmt: skip
    if current_world().main:
        Path(out).write_text(json.dumps({"chosen": run.chosen, "metrics": run.metrics}))


def test_two_processes_train_from_one_cache(digits, tmp_path):
    out = str(tmp_path / "streamed.json")
    run_local(2, fit_streamed, str(digits), out)
    metrics = json.loads(Path(out).read_text())["metrics"]
    cache = digits / "streamed" / ".cache"
    assert len(list(cache.glob("*.u8"))) == 1 and not list(cache.glob(".*partial"))
    # the images read back right: the pixel model (rank 0's) as on digits in memory, and the
    # CNN both ranks trained for 3 epochs well above chance (0.1)
    assert metrics["candidates"]["pixel-logistic"]["test"]["accuracy"] > 0.9
    assert metrics["candidates"]["cnn"]["test"]["accuracy"] > 0.3
