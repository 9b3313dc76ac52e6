"""A tabular and a text-classification run in two gloo processes on this CPU
(engine.distributed) choose the model one process chooses, with test scores within noise of it,
and write one run folder: the deep candidates trained by every rank together (DDP), the
classical ones by rank 0 alone (so their scores are exactly one process's). A rank that skipped
a deep fit the other made would leave that one waiting at a collective: each two-process run
has a deadline, so such a bug fails here instead of hanging. In tests/slow: two processes on
two cores, with a gloo all-reduce every step, 6 to 40 s a run (twice that on a busy machine)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from two_ranks import one_and_two, two_processes

pytestmark = pytest.mark.slow

QUIET = {"verbose": False, "report": False, "seed": 0}
RUNS = {
    # the class is the sign of a product: the linear model cannot learn it, TabM can, so the
    # choice is the MLP's whatever the noise of two processes
    "table": {"target": "y", "candidates": ["linear", "mlp"], **QUIET,
              "candidate_params": {"mlp": {"epochs": 40}}},
    # five folds and a final fit of a tiny MLP: the fold loop's orders, quickly
    "tiny table": {"target": "y", "candidates": ["linear", "mlp"], **QUIET,
                   "candidate_params": {"mlp": {"epochs": 3, "k": 2, "hidden": [16]}}},
    # a short warm-up and a higher rate: the text CNN learns the reviews in 12 epochs of 13 steps
    "texts": {"task": "text-classification", "target": "label", "text_column": "text",
              "candidates": ["tfidf-logistic", "text-cnn"], **QUIET,
              "candidate_params": {"text-cnn": {"epochs": 12, "dim": 32, "channels": 32,
                                                "max_length": 32, "vocab_size": 400,
                                                "warmup_steps": 10, "lr": 5e-3}}},
}  # fmt: skip


def signs(path: Path, rows: int, product: bool = True) -> Path:
    """A table whose class "y" is the sign of a x b (or of a alone), beside two noise columns."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4))
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["y"] = np.where((x[:, 0] * x[:, 1] if product else x[:, 0]) > 0, "same", "other")
    frame.to_csv(path, index=False)
    return path


def test_a_small_table_trains_in_two_processes(tmp_path):
    run = two_processes(
        str(signs(tmp_path / "t.csv", 120, product=False)), RUNS["tiny table"], tmp_path / "r"
    )
    assert {"linear", "mlp"} <= set(run["metrics"]["candidates"])
    assert run["metrics"]["candidates"]["mlp"]["test"]["accuracy"] > 0.5


def test_a_table_in_two_processes_chooses_what_one_chooses(tmp_path):
    two, one = one_and_two(str(signs(tmp_path / "signs.csv", 600)), RUNS["table"], tmp_path)
    assert two["chosen"] == one["chosen"] == "mlp"
    test = [run["metrics"]["candidates"]["mlp"]["test"]["accuracy"] for run in (two, one)]
    assert min(test) > 0.85 and abs(test[0] - test[1]) < 0.03
    linear = [run["metrics"]["candidates"]["linear"]["test"] for run in (two, one)]
    assert linear[0] == linear[1]  # trained once, on rank 0, as in one process


def test_a_streamed_table_in_two_processes_chooses_what_one_chooses(tmp_path):
    # --stream: the first process of the machine encodes the rows to the cache, the other waits
    # for it; both train the MLP from the rows on disk
    streamed = {**RUNS["table"], "stream": True}
    two, one = one_and_two(str(signs(tmp_path / "signs.csv", 600)), streamed, tmp_path)
    assert two["chosen"] == one["chosen"]
    test = [run["metrics"]["candidates"]["mlp"]["test"]["accuracy"] for run in (two, one)]
    assert min(test) > 0.8 and abs(test[0] - test[1]) < 0.05, test


def test_texts_in_two_processes_choose_what_one_chooses(tmp_path):
    from layerwise.tasks.text_classification.sources import reviews

    texts = reviews(1000, seed=0, noise=0.0)
    labels = [texts.classes[i] for i in texts.labels]
    pd.DataFrame({"text": texts.texts, "label": labels}).to_csv(tmp_path / "r.csv", index=False)
    two, one = one_and_two(str(tmp_path / "r.csv"), RUNS["texts"], tmp_path)
    assert two["chosen"] == one["chosen"]
    test = [run["metrics"]["candidates"]["text-cnn"]["test"]["accuracy"] for run in (two, one)]
    assert min(test) > 0.9 and abs(test[0] - test[1]) < 0.03
    ngrams = [run["metrics"]["candidates"]["tfidf-logistic"]["test"] for run in (two, one)]
    assert ngrams[0] == ngrams[1]  # trained once, on rank 0, as in one process
