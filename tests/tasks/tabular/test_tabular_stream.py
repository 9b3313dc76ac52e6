"""A streamed tabular run (--stream): trained from a Parquet file read by row groups, scored
close to the in-memory run on the same table, and an ordinary run folder afterwards."""

from __future__ import annotations

import numpy as np
import pandas as pd

import layerwise

QUICK = {"candidates": ["lightgbm", "mlp"], "candidate_params": {"mlp": {"epochs": 3}},
         "verbose": False, "report": False, "seed": 0}  # fmt: skip


def _table(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    kind = rng.choice(["a", "b", "c"], n)
    signal = 2 * x[:, 0] - x[:, 1] + np.sin(3 * x[:, 2]) + 1.5 * (kind == "a")
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(5)]).assign(kind=kind)
    frame["value"] = signal + rng.normal(scale=0.3, size=n)
    frame["label"] = np.where(signal + rng.normal(scale=0.5, size=n) > 0.5, "yes", "no")
    return frame


def test_a_streamed_run_scores_close_to_the_in_memory_one_and_predicts(tmp_path):
    path = tmp_path / "table.parquet"
    frame = _table(5000)
    frame.drop(columns="value").to_parquet(path, row_group_size=700, index=False)
    streamed = layerwise.fit(path, target="label", stream=True, output_dir=tmp_path, **QUICK)
    memory = layerwise.fit(path, target="label", output_dir=tmp_path / "memory", **QUICK)
    accuracy = streamed.metrics["test"]["accuracy"]
    assert accuracy > 0.85 and abs(accuracy - memory.metrics["test"]["accuracy"]) < 0.03
    decision = (streamed.path / "decision.md").read_text()
    assert "Streamed from 'table.parquet'" in decision and "read from disk" in decision
    assert len(list((tmp_path / ".cache").glob("table-*.f4"))) == 1
    task = layerwise.load(streamed.path)  # an ordinary run folder: loaded, predicting
    predicted = task.predict(frame.drop(columns=["value", "label"]).head(50))
    assert (predicted["prediction"] == frame["label"].head(50)).mean() > 0.75
    again = layerwise.fit(
        path,
        target="label",
        stream=True,
        output_dir=tmp_path,
        **{**QUICK, "candidates": ["lightgbm"]},
    )
    assert "from the cache" in (again.path / "decision.md").read_text()


def test_a_streamed_regression_from_csv_beats_the_mean(tmp_path):
    path = tmp_path / "table.csv"
    _table(3000, seed=1).drop(columns="label").to_csv(path, index=False)
    run = layerwise.fit(path, target="value", stream=True, output_dir=tmp_path, **QUICK)
    assert run.task.name == "tabular-regression"
    assert run.metrics["test"]["r2"] > 0.8
