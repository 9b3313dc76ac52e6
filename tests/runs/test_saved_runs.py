"""Run folders written before the code moved (issue [structure]) still load and predict the same.

A run folder stores registry names (task, candidate), never module paths, so moving modules
must not change what an old folder loads into. Three kinds are kept (a table with a linear
model, a recommender with torch weights, a PPO policy); report.html is left out for size.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

import layerwise
from layerwise.core.registry import TASKS

SAVED = Path(__file__).parent / "saved"


@pytest.mark.parametrize(
    "name", ["tabular-classification", "recommendation", "reinforcement-learning"]
)
def test_a_run_folder_saved_before_the_move_predicts_the_same(name):
    run = layerwise.load(SAVED / name)
    _, _, inputs = TASKS.get(name).contract_example(seed=0)
    expected = pd.read_csv(SAVED / f"{name}.predictions.csv")
    got = run.predict(inputs).reset_index(drop=True)
    got = pd.read_csv(io.StringIO(got.to_csv(index=False)))  # same dtypes as saved
    pd.testing.assert_frame_equal(got, expected, rtol=1e-5, atol=1e-6)
