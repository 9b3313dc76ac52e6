"""A speech-recognition and a forecasting run in two gloo processes on this CPU
(engine.distributed) choose the model one process chooses, with the deep test scores within
noise of it, and write one run folder: the deep candidates (and the speech transcriber) trained
by every rank together under DDP, the classical ones by rank 0 alone (so their scores are
exactly one process's). A rank that skipped a deep fit the other made would leave that one
waiting at a collective: each two-process run has a deadline, so such a bug fails here instead
of hanging. In tests/slow: two processes on two cores, with a gloo all-reduce every step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import layerwise
from layerwise.engine.distributed import current_world

pytestmark = pytest.mark.slow

QUIET = {"verbose": False, "report": False, "seed": 0}
RUNS = {
    # made-up tone words; epochs given, so no timed probe decides them (each rank's would differ)
    "speech": {"task": "speech-recognition", "synthetic_per_word": 0,
               "candidates": ["mfcc-logistic", "speech-cnn"], **QUIET,
               "candidate_params": {"speech-cnn": {"epochs": 6, "widths": [16, 32]}},
               "transcriber_params": {"epochs": 1, "utterances_per_epoch": 64,
                                      "batch_size": 16}},
    # one seasonal series of two channels: ridge against DLinear
    "series": {"task": "forecasting", "horizon": 6, "lookback": 48,
               "candidates": ["naive", "ridge", "dlinear"], **QUIET,
               "candidate_params": {"dlinear": {"epochs": 8}}},
}  # fmt: skip


def data_of(kind: str):
    """The generated data set of ``kind`` (made alike in every process from its seed)."""
    if kind == "speech":
        from layerwise.tasks.speech_recognition.sources import tone_words

        return tone_words(per_word=30, seed=0)
    from layerwise.tasks.forecasting.sources import synthetic

    return synthetic(n_steps=300, n_channels=2, season=12, seed=0)


def fit_rank(kind: str, runs: str, out: str) -> None:
    """One rank's fit; rank 0 (the one that returns a run) writes what it chose."""
    run = layerwise.fit(data_of(kind), output_dir=runs, **RUNS[kind])
    if current_world().main:
        Path(out).write_text(json.dumps({"chosen": run.chosen, "metrics": run.metrics}))
    else:
        assert run is None


def two_processes(kind: str, runs: Path, seconds: float = 300) -> dict:
    """``fit_rank`` in two processes (as ``run_local`` starts them), failed after ``seconds``
    rather than waiting on a rank that waits for the other; rank 0's chosen model and metrics."""
    from layerwise.engine.distributed import run_local

    out = runs.parent / f"{runs.name}.json"
    try:
        run_local(2, fit_rank, kind, str(runs), str(out), timeout=seconds)
    except TimeoutError:
        pytest.fail(f"still training after {seconds:.0f} s: a rank waits for the other")
    assert len(list(runs.iterdir())) == 1  # rank 0's folder only
    return json.loads(out.read_text())


def one_and_two(kind: str, tmp_path: Path) -> tuple[dict, dict]:
    """The run's chosen model and metrics in two processes, then in this one."""
    two = two_processes(kind, tmp_path / "two")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each of the two has
    try:
        one = layerwise.fit(data_of(kind), output_dir=str(tmp_path / "one"), **RUNS[kind])
    finally:
        torch.set_num_threads(threads)
    return two, {"chosen": one.chosen, "metrics": one.metrics}


def test_speech_in_two_processes_chooses_what_one_chooses(tmp_path):
    two, one = one_and_two("speech", tmp_path)
    assert two["chosen"] == one["chosen"]
    test = [run["metrics"]["candidates"]["speech-cnn"]["test"]["accuracy"] for run in (two, one)]
    assert abs(test[0] - test[1]) < 0.2  # 24 test clips: one clip is 0.04
    mfcc = [run["metrics"]["candidates"]["mfcc-logistic"]["test"] for run in (two, one)]
    assert mfcc[0] == mfcc[1]  # trained once, on rank 0, as in one process
    # the transcriber trained by both processes together, measured and saved by rank 0
    assert all("test_wer" in run["metrics"]["transcription"] for run in (two, one))


def test_a_series_in_two_processes_chooses_what_one_chooses(tmp_path):
    two, one = one_and_two("series", tmp_path)
    assert two["chosen"] == one["chosen"]
    test = [run["metrics"]["candidates"]["dlinear"]["test"]["mse"] for run in (two, one)]
    assert abs(test[0] - test[1]) < 0.1 * max(test)
    ridge = [run["metrics"]["candidates"]["ridge"]["test"] for run in (two, one)]
    assert ridge[0] == ridge[1]  # fitted once, on rank 0, as in one process
