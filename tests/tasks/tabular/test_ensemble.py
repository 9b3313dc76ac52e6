"""The ensemble candidate: scored from out-of-fold outputs, saved as its members' own files."""

from __future__ import annotations

import numpy as np
import pandas as pd

from layerwise.candidates.linear import LinearCandidate
from layerwise.data.profile import infer_column_types
from layerwise.data.tabular_encoder import TabularEncoder
from layerwise.runs.folder import RunFolder
from layerwise.tasks.tabular.ensemble import EnsembleCandidate, ensemble_row
from layerwise.tasks.tabular.lightgbm_model import LightGBMCandidate


def test_ensemble_round_trip_reproduces_the_mean(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "c": rng.choice(["x", "y", "z"], 200)})
    y = ((frame["a"] > 0) ^ (frame["c"] == "x")).to_numpy().astype(np.int64)
    encoder = TabularEncoder(infer_column_types(frame)).fit(frame)
    table = encoder.transform(frame)
    members = {"linear": LinearCandidate("binary", 2), "lightgbm": LightGBMCandidate("binary", 2)}
    for member in members.values():
        member.fit(table, encoder, y)
    ensemble = EnsembleCandidate.of(members)
    expected = (
        members["linear"].predict(table, encoder) + members["lightgbm"].predict(table, encoder)
    ) / 2
    np.testing.assert_allclose(ensemble.predict(table, encoder), expected)

    run = RunFolder(tmp_path)
    info = ensemble.save(run)
    assert {"model.json", "model.lgbm.txt"} <= {p.name for p in tmp_path.iterdir()}
    loaded = EnsembleCandidate.load(run, info)
    np.testing.assert_allclose(loaded.predict(table, encoder), expected)


def test_ensemble_row_scores_each_fold_of_the_mean():
    y = np.array([0, 1, 0, 1])
    folds = [(np.array([2, 3]), np.array([0, 1])), (np.array([0, 1]), np.array([2, 3]))]
    oof = {"a": np.array([0.0, 1.0, 1.0, 1.0]), "b": np.array([0.0, 1.0, 0.0, 0.0])}
    rows = [
        {"candidate": n, "validation": 0.5, "validation_std": 0, "fit_seconds": 1.0} for n in oof
    ]
    row = ensemble_row(rows, oof, folds, lambda va, out: float(np.mean(np.abs(out - y[va]))))
    assert row["members"] == ["a", "b"] and row["fit_seconds"] == 2.0
    assert row["validation"] == 0.25  # fold 1: exact; fold 2: mean 0.5 off on both rows
    assert ensemble_row(rows[:1], oof, folds, lambda va, out: 0.0) is None
