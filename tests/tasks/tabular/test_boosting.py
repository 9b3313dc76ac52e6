"""The boosted-trees candidates: LightGBM stops on evidence, CatBoost takes categories natively;
both round-trip through a run folder with the same predictions."""

from __future__ import annotations

import numpy as np
import pytest

from layerwise.candidates.boosting import early_stopping_split
from layerwise.data.tabular_encoder import EncodedTable
from layerwise.runs.folder import RunFolder
from layerwise.tasks.tabular.lightgbm_model import LightGBMCandidate


def _table(n: int = 600, seed: int = 0) -> tuple[EncodedTable, np.ndarray, np.ndarray]:
    """Two numeric columns (with missing cells) and one categorical column of codes 0..4 that
    carries most of the signal; a binary label and a continuous target."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, 2))
    numeric[rng.choice(n, n // 20, replace=False), 1] = np.nan
    codes = rng.integers(0, 5, size=(n, 1))
    effect = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])[codes[:, 0]]
    value = effect + 0.8 * numeric[:, 0] + rng.normal(0, 0.4, n)
    table = EncodedTable(numeric, codes, ["a", "b"], ["c"], [5])
    return table, (value > 0).astype(np.int64), value


def _rows(table: EncodedTable, index: np.ndarray) -> EncodedTable:
    return EncodedTable(table.numeric[index], table.categorical[index], ["a", "b"], ["c"], [5])


def _round_trip(model, tmp_path, test):
    run = RunFolder.create(tmp_path, "tabular-classification")
    info = {"objective": model.objective, "n_classes": model.n_classes, **model.save(run)}
    run.finalize({"task": "tabular-classification"})
    assert info["file"] in run.manifest["files"]  # listed with its sha256
    loaded = type(model).load(RunFolder.open(run.path), info)
    np.testing.assert_allclose(loaded.predict(test, None), model.predict(test, None), atol=1e-9)


def test_early_stopping_split_is_seeded_and_stratified():
    y = np.r_[np.zeros(180, int), np.ones(20, int)]
    train, val = early_stopping_split(y, True, seed=3)
    again, _ = early_stopping_split(y, True, seed=3)
    assert np.array_equal(train, again) and len(val) == 30 and y[val].sum() == 3
    assert early_stopping_split(y[:50], True, seed=0) is None  # too few rows to spare


def test_lightgbm_stops_before_its_most_rounds_and_round_trips(tmp_path):
    table, y, _ = _table()
    train, test = np.arange(500), np.arange(500, 600)
    model = LightGBMCandidate("binary", n_classes=2, seed=0)
    model.fit(_rows(table, train), None, y[train])
    assert model.best_iteration is not None and model.best_iteration < 1000
    assert model.booster.current_iteration() == model.best_iteration  # refit on every row
    accuracy = (model.predict(_rows(table, test), None).argmax(1) == y[test]).mean()
    assert accuracy > 0.85  # the majority class is ~0.5
    _round_trip(model, tmp_path, _rows(table, test))
    again = LightGBMCandidate("binary", n_classes=2, seed=0)
    again.fit(_rows(table, train), None, y[train])
    assert again.best_iteration == model.best_iteration  # the same seed, the same model


def test_lightgbm_n_estimators_still_fixes_the_rounds():
    table, y, _ = _table(200)
    model = LightGBMCandidate("binary", n_classes=2, seed=0, n_estimators=7)
    model.fit(table, None, y)
    assert model.best_iteration is None and model.booster.current_iteration() == 7


def test_catboost_categories_natively_beats_the_baselines_and_round_trips(tmp_path):
    pytest.importorskip("catboost")
    from layerwise.tasks.tabular.catboost_model import CatBoostCandidate

    table, y, value = _table()
    train, test = np.arange(500), np.arange(500, 600)
    fast = {"iterations": 300, "learning_rate": 0.1}
    model = CatBoostCandidate("binary", n_classes=2, seed=0, **fast)
    model.fit(_rows(table, train), None, y[train], np.ones(500))
    assert model.best_iteration is not None and model.best_iteration < 300
    proba = model.predict(_rows(table, test), None)
    assert proba.shape == (100, 2) and np.allclose(proba.sum(1), 1.0)
    assert (proba.argmax(1) == y[test]).mean() > 0.85
    _round_trip(model, tmp_path / "binary", _rows(table, test))

    regressor = CatBoostCandidate("regression", seed=0, **fast)
    regressor.fit(_rows(table, train), None, value[train])
    rmse = np.sqrt(np.mean((regressor.predict(_rows(table, test), None) - value[test]) ** 2))
    assert rmse < 0.6 * value[train].std()  # predicting the mean scores ~1.0
    _round_trip(regressor, tmp_path / "regression", _rows(table, test))

    three = np.digitize(value, [-1.0, 1.0])
    absent = train[three[train] != 2][:400]  # a fold that lacks a class: still k columns
    multi = CatBoostCandidate("multiclass", n_classes=3, seed=0, **fast)
    multi.fit(_rows(table, absent), None, three[absent])
    assert multi.predict(_rows(table, test), None).shape == (100, 3)


def test_a_missing_optional_candidate_is_left_out_with_a_note(monkeypatch):
    import importlib.util

    from layerwise.core import advisor

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "catboost" else real(name, *a)
    )
    names, notes = advisor.default_tabular_candidates()
    assert "catboost" not in names and names[:2] == ["lightgbm", "linear"]
    assert 'pip install "layerwise[catboost]"' in notes[0]
