"""A speech-recognition and a forecasting run in two gloo processes on this CPU
(engine.distributed) choose the model one process chooses, with the deep test scores within
noise of it, and write one run folder: the deep candidates (and the speech transcriber) trained
by every rank together under DDP, the classical ones by rank 0 alone (so their scores are
exactly one process's). A rank that skipped a deep fit the other made would leave that one
waiting at a collective: each two-process run has a deadline, so such a bug fails here instead
of hanging. In tests/slow: two processes on two cores, with a gloo all-reduce every step."""

from __future__ import annotations

import pytest
from two_ranks import one_and_two

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


def speech() -> object:
    """Generated tone words (made alike in every process from their seed)."""
    from layerwise.tasks.speech_recognition.sources import tone_words

    return tone_words(per_word=30, seed=0)


def series() -> object:
    """A generated seasonal series of two channels (alike in every process)."""
    from layerwise.tasks.forecasting.sources import synthetic

    return synthetic(n_steps=300, n_channels=2, season=12, seed=0)


def test_speech_in_two_processes_chooses_what_one_chooses(tmp_path):
    two, one = one_and_two(speech, RUNS["speech"], tmp_path)
    assert two["chosen"] == one["chosen"]
    test = [run["metrics"]["candidates"]["speech-cnn"]["test"]["accuracy"] for run in (two, one)]
    assert abs(test[0] - test[1]) < 0.2  # 24 test clips: one clip is 0.04
    mfcc = [run["metrics"]["candidates"]["mfcc-logistic"]["test"] for run in (two, one)]
    assert mfcc[0] == mfcc[1]  # trained once, on rank 0, as in one process
    # the transcriber trained by both processes together, measured and saved by rank 0
    assert all("test_wer" in run["metrics"]["transcription"] for run in (two, one))


def test_a_series_in_two_processes_chooses_what_one_chooses(tmp_path):
    two, one = one_and_two(series, RUNS["series"], tmp_path)
    assert two["chosen"] == one["chosen"]
    test = [run["metrics"]["candidates"]["dlinear"]["test"]["mse"] for run in (two, one)]
    assert abs(test[0] - test[1]) < 0.1 * max(test)
    ridge = [run["metrics"]["candidates"]["ridge"]["test"] for run in (two, one)]
    assert ridge[0] == ridge[1]  # fitted once, on rank 0, as in one process
