"""The ensemble candidate: scored from out-of-fold outputs, saved as its members' own files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.candidates.linear import LinearCandidate
from layerwise.core.ensemble_selection import (
    cross_fitted,
    describe,
    greedy_weights,
    mix,
    smooth_loss,
)
from layerwise.data.profile import infer_column_types
from layerwise.data.tabular_encoder import TabularEncoder
from layerwise.errors import RunFolderError
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


def test_an_old_ensemble_without_weights_loads_with_equal_weights(tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    y = (frame["a"] + frame["b"] > 0).to_numpy().astype(np.int64)
    encoder = TabularEncoder(infer_column_types(frame)).fit(frame)
    table = encoder.transform(frame)
    members = {"linear": LinearCandidate("binary", 2), "lightgbm": LightGBMCandidate("binary", 2)}
    for member in members.values():
        member.fit(table, encoder, y)
    run = RunFolder(tmp_path)
    weighted = EnsembleCandidate.of(members, {"linear": 0.8, "lightgbm": 0.2})
    info = weighted.save(run)
    assert info["weights"] == {"linear": 0.8, "lightgbm": 0.2}
    outputs = {n: m.predict(table, encoder) for n, m in members.items()}
    expected = 0.8 * outputs["linear"] + 0.2 * outputs["lightgbm"]
    np.testing.assert_allclose(EnsembleCandidate.load(run, info).predict(table, encoder), expected)
    old = {"members": info["members"]}  # as runs before the weights wrote it
    np.testing.assert_allclose(
        EnsembleCandidate.load(run, old).predict(table, encoder),
        (outputs["linear"] + outputs["lightgbm"]) / 2,
    )
    with pytest.raises(RunFolderError, match="weights"):
        EnsembleCandidate.load(run, {**info, "weights": {"linear": -1.0, "lightgbm": 0.5}})


def _noisy_members(n=400, k=3, seed=0, fair=1.0):
    """Class probabilities of a good member, a worse one and pure noise, with true labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)

    def member(strength):
        logits = rng.normal(size=(n, k)) + strength * np.eye(k)[y]
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    return y, {"good": member(2.0), "fair": member(fair), "noise": member(0.0)}


def test_greedy_weights_prefer_the_better_member_as_a_convex_combination():
    y, oof = _noisy_members()
    loss = smooth_loss(y, True, None)
    weights = greedy_weights(oof, loss, np.arange(len(y)))
    assert abs(sum(weights.values()) - 1.0) < 1e-9
    assert all(0 < w <= 1 for w in weights.values())
    assert max(weights, key=weights.get) == "good"
    assert weights["good"] > weights.get("noise", 0.0)
    mixed = mix(oof, weights)
    assert loss(mixed, np.arange(len(y))) <= loss(oof["good"], np.arange(len(y))) + 1e-12
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0)  # still probabilities
    regression = greedy_weights(
        {"near": np.full(5, 1.0), "far": np.full(5, 4.0)},
        smooth_loss(np.zeros(5), False, None),
        np.arange(5),
    )
    assert regression == {"near": 1.0}


def test_cross_fitted_score_is_not_better_than_the_in_sample_one():
    folds = [(np.setdiff1d(np.arange(400), va), va) for va in np.array_split(np.arange(400), 5)]
    for seed in range(5):  # members equally good but noisy: in-sample weights fit the noise
        rng = np.random.default_rng(seed)
        y = rng.normal(size=400)
        oof = {f"m{i}": y + rng.normal(size=400) for i in range(4)}
        loss = smooth_loss(y, False, None)
        everything = np.arange(400)
        in_sample = mix(oof, greedy_weights(oof, loss, everything))
        honest = cross_fitted(oof, loss, folds)
        assert loss(honest, everything) >= loss(in_sample, everything) - 1e-12


def test_ensemble_row_is_scored_cross_fitted_and_keeps_only_weighted_members():
    y, oof = _noisy_members(seed=2, fair=1.9)  # two as good, with independent errors
    folds = [(np.setdiff1d(np.arange(400), va), va) for va in np.array_split(np.arange(400), 4)]
    rows = [
        {"candidate": n, "validation": 0.5, "validation_std": 0, "fit_seconds": 1.0} for n in oof
    ]
    loss = smooth_loss(y, True, None)

    def score(va, out):
        return float(np.mean(out.argmax(axis=1) == y[va]))

    row = ensemble_row(rows, oof, folds, score, loss)
    assert set(row["members"]) == set(row["weights"]) and "good" in row["members"]
    honest = cross_fitted(oof, loss, folds)
    assert row["validation"] == pytest.approx(np.mean([score(va, honest[va]) for _, va in folds]))
    assert len(row["evidence"].scores) == 4
    assert row["detail"].startswith(describe(row["weights"]))
    assert ensemble_row(rows[:1], oof, folds, score, loss) is None


def test_an_ensemble_that_keeps_one_member_is_skipped_with_the_reason():
    y = np.zeros(6)
    folds = [(np.arange(3, 6), np.arange(3)), (np.arange(3), np.arange(3, 6))]
    oof = {"a": y + 0.1, "b": y + 5.0}
    rows = [
        {"candidate": n, "validation": 0.5, "validation_std": 0, "fit_seconds": 1.0} for n in oof
    ]
    row = ensemble_row(rows, oof, folds, lambda va, out: 0.0, smooth_loss(y, False, None))
    assert row == {
        "candidate": "ensemble",
        "skipped": "the greedy selection gave all the weight to a",
    }


def _slope_and_step(n=300, seed=0):
    """A linear slope (which trees approximate in steps) plus a step (which a line cannot
    follow): the two models err differently, so their weighted mean beats both."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = 5 * x[:, 0] + 3 * (x[:, 1] > 0) + rng.normal(0, 0.3, n)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": y})


def test_a_run_shows_the_weights_and_serves_the_weighted_ensemble(tmp_path):
    frame = _slope_and_step()
    run = layerwise.fit(
        frame,
        target="y",
        output_dir=tmp_path,
        verbose=False,
        report=False,
        candidates=["linear", "lightgbm"],
        candidate_params={"lightgbm": {"num_leaves": 7}},
    )
    entry = run.metrics["candidates"]["ensemble"]
    weights = entry["weights"]
    assert set(weights) == {"linear", "lightgbm"} and sum(weights.values()) == pytest.approx(1)
    assert describe(weights) in (run.path / "decision.md").read_text()
    assert describe(weights) in entry["detail"]
    assert run.chosen == "ensemble"  # it wins by far more than the noise on this table
    stored = json.loads((run.path / "preprocess.json").read_text())["model"]
    assert stored["weights"] == weights
    loaded = layerwise.load(run.path)
    rows = frame.drop(columns=["y"]).head(20)
    np.testing.assert_allclose(
        loaded.predict(rows)["prediction"], run.task.predict(rows)["prediction"]
    )


def test_a_candidate_that_cannot_finish_in_time_is_skipped_with_its_projection(
    tmp_path, monkeypatch
):
    from layerwise.core import fold_bakeoff

    # the projection itself is tested on a fake clock (tests/core/test_advisor.py); here it is
    # fixed, so that what a skip leaves in the run does not depend on this machine's speed
    reason = (
        "its 5 folds and final fit would take ~900 s (150 s for the first fold), 60 s were left"
    )
    monkeypatch.setattr(fold_bakeoff, "time_skip_reason", lambda first, folds, left, refits: reason)
    frame = _slope_and_step(n=200)
    run = layerwise.fit(frame, target="y", output_dir=tmp_path, verbose=False, report=False,
                        time_limit=600, candidate_params={"mlp": {"epochs": 5}})  # fmt: skip
    assert run.metrics["candidates"]["mlp"]["skipped"] == reason
    assert reason in (run.path / "decision.md").read_text()
    assert "validation" in run.metrics["candidates"]["linear"]  # the cheapest ran first


def test_the_ensemble_is_as_complex_as_its_most_complex_member():
    from layerwise.tasks.tabular.ensemble import complexities

    rows = [{"candidate": "linear"}, {"candidate": "lightgbm"}, {"candidate": "mlp"},
            {"candidate": "ensemble", "members": ["linear", "lightgbm"]}]  # fmt: skip
    ranks = complexities(rows)
    assert ranks["ensemble"] == ranks["lightgbm"] > ranks["linear"]
    rows[-1]["members"] = ["lightgbm", "mlp"]
    assert complexities(rows)["ensemble"] == ranks["mlp"] > ranks["lightgbm"]
