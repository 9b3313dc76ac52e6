"""Fraud mode's models: LightGBM early-stopped on evidence, CatBoost (an optional extra) saved as
.cbm, their greedy weighted ensemble scored cross-fitted, and the selection rule among them."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.core.ensemble_selection import describe
from layerwise.core.selection import folds as fold_evidence
from layerwise.errors import ConfigError, RunFolderError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.anomaly_detection.fraud_choice import ensemble_row, pick
from layerwise.tasks.anomaly_detection.model import FRAUD_ENSEMBLE, AnomalyModel
from layerwise.tasks.anomaly_detection.supervised import (
    FIXED_ROUNDS,
    MAX_ROUNDS,
    FraudLightGBM,
    stratified_folds,
)
from layerwise.tasks.anomaly_detection.task import AnomalyDetection

FAST = {"catboost": {"max_rounds": 300}, "lightgbm": {"max_rounds": 300}}
BOOSTED = ["isolation-forest", "lightgbm", "catboost", FRAUD_ENSEMBLE]


def labelled_table(n: int, seed: int, sharpness: float = 1.0) -> pd.DataFrame:
    """Fraud that no detector sees (an interaction and a wave, not outliers), about 12%."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    logit = 3.0 * x[:, 0] * x[:, 1] + 2.0 * np.sin(2 * x[:, 2]) + 1.5 * x[:, 3] - 4.0
    frame = pd.DataFrame(x.round(4), columns=[f"f{j}" for j in range(6)])
    frame["is_fraud"] = (rng.random(n) < 1 / (1 + np.exp(-sharpness * logit))).astype(int)
    return frame


def fit(frame, tmp_path, **options):
    options.setdefault("candidate_params", FAST)
    task = AnomalyDetection(output_dir=str(tmp_path), verbose=False, report=False, **options)
    return task.fit(frame, target="is_fraud")


@pytest.fixture(scope="module")
def catboost_run(tmp_path_factory):
    pytest.importorskip("catboost")
    frame = labelled_table(500, seed=2, sharpness=2.0)
    return frame, fit(frame, tmp_path_factory.mktemp("cb"), seed=2, candidates=BOOSTED)


def test_catboost_fraud_run_beats_the_detectors_and_a_floor(catboost_run):
    _, run = catboost_run
    assert run.metrics["mode"] == "fraud"
    test = run.metrics["candidates"]
    assert test["catboost"]["test"]["pr_auc"] > 0.6  # a prevalence of ~12% scores ~0.12
    assert test["catboost"]["test"]["pr_auc"] > test["isolation-forest"]["test"]["pr_auc"] + 0.3
    assert run.chosen in ("catboost", "lightgbm")
    assert run.metrics["test"]["pr_auc"] > 0.5


def test_catboost_run_folder_round_trips_to_the_same_scores(catboost_run):
    frame, run = catboost_run
    rows = frame.drop(columns="is_fraud")
    loaded = layerwise.load(run.path)
    pd.testing.assert_frame_equal(run.predict(rows), loaded.predict(rows))
    x = run.task.features.transform(rows)
    np.testing.assert_array_equal(
        run.task.model.all_scores(x)["catboost"], loaded.model.all_scores(x)["catboost"]
    )
    assert "fraud-catboost.cbm" in RunFolder.open(run.path).manifest["files"]  # hashed
    assert not list(run.path.glob("*.pkl"))


def test_fraud_ensemble_weights_are_in_decision_md(tmp_path):
    pytest.importorskip("catboost")
    run = fit(labelled_table(500, seed=3), tmp_path, seed=3, candidates=BOOSTED)
    entry = run.metrics["candidates"][FRAUD_ENSEMBLE]
    weights = entry["weights"]
    assert len(weights) == 2 and abs(sum(weights.values()) - 1) < 1e-9
    assert entry["validated_on"] == "out of fold"
    decision = (run.path / "decision.md").read_text()
    assert f"{FRAUD_ENSEMBLE} weights: {describe(weights)}" in decision
    assert (
        "cross-fitted" in decision
        and "The fraud ensemble against the best single fraud model:" in decision
    )
    loaded = layerwise.load(run.path).model
    assert loaded.weights == pytest.approx(weights)
    rows = labelled_table(500, seed=3).drop(columns="is_fraud").head(40)
    x = run.task.features.transform(rows)
    np.testing.assert_allclose(
        run.task.model.all_scores(x)[FRAUD_ENSEMBLE], loaded.all_scores(x)[FRAUD_ENSEMBLE]
    )


def test_a_run_without_catboost_installed_still_works(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "catboost" else real(name, *a)
    )
    monkeypatch.setitem(sys.modules, "catboost", None)  # importing it raises ImportError
    frame = labelled_table(300, seed=1, sharpness=2.0)
    quick = {**FAST, "autoencoder": {"epochs": 2}, "deep-svdd": {"epochs": 2,
             "pretrain_epochs": 1}, "mlp-focal": {"epochs": 5}}  # fmt: skip
    run = fit(frame, tmp_path / "a", candidate_params=quick)
    assert run.metrics["mode"] == "fraud"
    assert "catboost" not in run.metrics["candidates"]
    assert {"lightgbm", "mlp-focal"} <= set(run.metrics["candidates"])
    assert any('pip install "layerwise[catboost]"' in note for note in run.notes)
    with pytest.raises(ConfigError, match="layerwise\\[catboost\\]"):
        fit(frame, tmp_path / "b", candidates=["isolation-forest", "catboost"])
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_lightgbm_stops_on_its_split_and_refits_with_the_best_rounds():
    frame = labelled_table(800, seed=0, sharpness=2.0)
    x, y = frame.drop(columns="is_fraud").to_numpy(), frame["is_fraud"].to_numpy()
    model = FraudLightGBM(seed=0)
    model.fit(x, y)
    assert model.best_iteration is not None and model.best_iteration < MAX_ROUNDS
    assert model.booster.current_iteration() == model.best_iteration  # refitted on every row
    fixed = FraudLightGBM(seed=0, rounds=50)
    fixed.fit(x, y)
    assert fixed.best_iteration is None and fixed.booster.current_iteration() == 50
    few = np.zeros(200, dtype=int)
    few[:8] = 1  # about one anomaly in a 15% split: too few to stop on, fixed rounds
    sparse = FraudLightGBM(seed=0)
    sparse.fit(x[:200], few)
    assert sparse.best_iteration is None and sparse.booster.current_iteration() == FIXED_ROUNDS


def test_the_ensemble_is_scored_cross_fitted_not_on_its_own_fit():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.15).astype(int)
    folds = stratified_folds(y, seed=0)
    noisy = [np.clip(0.5 * y + rng.normal(0.25, 0.2, 300), 0.01, 0.99) for _ in range(2)]
    rows = [
        {"candidate": n, "oof": p, "fit_seconds": 1.0} for n, p in zip("ab", noisy, strict=True)
    ]
    row, weights, detail = ensemble_row(rows, y, folds)
    assert row is not None and set(weights) == {"a", "b"}
    in_sample = sum(w * rows["ab".index(n)]["oof"] for n, w in weights.items())
    assert not np.allclose(row["oof"], in_sample)  # each fold mixed by the other folds' weights
    assert describe(weights) in detail and row["fit_seconds"] == 2.0
    alone, none, why = ensemble_row(rows[:1], y, folds)
    assert alone is None and none == {} and "fewer than two" in why


def test_the_selection_rule_serves_the_simpler_model_within_the_noise():
    def row(name, pr_auc, per_fold):
        return {"candidate": name, "validation": {"pr_auc": pr_auc},
                "evidence": fold_evidence(per_fold)}  # fmt: skip

    rows = [
        row("lightgbm", 0.70, [0.6, 0.8, 0.7, 0.65, 0.75]),
        row(FRAUD_ENSEMBLE, 0.72, [0.7, 0.75, 0.72, 0.6, 0.83]),
    ]
    name, why = pick(rows)
    assert name == "lightgbm" and "simpler" in why
    clear = [
        row("lightgbm", 0.50, [0.5] * 5),
        row(FRAUD_ENSEMBLE, 0.80, [0.8, 0.81, 0.79, 0.8, 0.8]),
    ]
    assert pick(clear)[0] == FRAUD_ENSEMBLE


def test_damaged_ensemble_weights_are_refused():
    from layerwise.tasks.anomaly_detection.model import _checked_weights

    assert _checked_weights({"lightgbm": 0.5}, {"lightgbm": object()}) == {"lightgbm": 0.5}
    for bad in (
        {"svm": 1.0},
        {"lightgbm": -1.0},
        {"lightgbm": float("nan")},
        [1.0],
        {"lightgbm": 0},
    ):
        with pytest.raises(RunFolderError, match="weights"):
            _checked_weights(bad, {"lightgbm": object()})
    assert AnomalyModel().weights == {}


def test_the_extra_trees_lightgbm_learns_fraud_and_round_trips(tmp_path):
    frame = labelled_table(500, seed=2, sharpness=2.0)
    params = {"lightgbm-xt": {"max_rounds": 300}}
    run = fit(frame, tmp_path, seed=2, candidates=["isolation-forest", "lightgbm-xt"],
              candidate_params=params)  # fmt: skip
    test = run.metrics["candidates"]
    assert test["lightgbm-xt"]["test"]["pr_auc"] > test["isolation-forest"]["test"]["pr_auc"] + 0.2
    assert "fraud-lightgbm-xt.lgbm.txt" in RunFolder.open(run.path).manifest["files"]
    x = run.task.features.transform(frame.drop(columns="is_fraud"))
    loaded = layerwise.load(run.path).model
    np.testing.assert_array_equal(
        run.task.model.all_scores(x)["lightgbm-xt"], loaded.all_scores(x)["lightgbm-xt"]
    )
    booster = loaded.supervised["lightgbm-xt"].booster
    assert "extra_trees: 1" in booster.model_to_string()  # random split points, as named
