"""The forests: sklearn grows them, layerwise walks the exported arrays (no pickle) to the same
predictions; the leaf size is chosen on evidence; a doctored forest file is refused; and the
LightGBM portfolio members carry their own settings."""

from __future__ import annotations

import numpy as np
import pytest

from layerwise.candidates.forest_arrays import flatten, walk
from layerwise.data.tabular_encoder import EncodedTable
from layerwise.errors import RunFolderError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.tabular.forest import MODEL_FILE, ExtraTreesCandidate, RandomForestCandidate
from layerwise.tasks.tabular.lightgbm_model import LightGBMExtraTrees, LightGBMLarge


def _table(n: int = 500, seed: int = 0) -> tuple[EncodedTable, np.ndarray, np.ndarray]:
    """Numeric columns with missing cells, a categorical column that matters; 3 classes and
    a continuous target."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, 3))
    numeric[rng.choice(n, n // 10, replace=False), 0] = np.nan
    codes = rng.integers(0, 4, size=(n, 1))
    value = np.nan_to_num(numeric[:, 0]) + numeric[:, 1] + 0.7 * codes[:, 0] + rng.normal(0, 0.3, n)
    classes = np.digitize(value, np.quantile(value, [1 / 3, 2 / 3]))
    return EncodedTable(numeric, codes, ["a", "b", "c"], ["d"], [4]), classes, value


def _saved(model, tmp_path):
    run = RunFolder.create(tmp_path, "tabular-classification")
    info = {"objective": model.objective, "n_classes": model.n_classes, **model.save(run)}
    run.finalize({"task": "tabular-classification"})
    assert info["file"] in run.manifest["files"]
    return run, info


def test_the_walk_gives_sklearns_predictions_with_missing_values():
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestRegressor

    table, classes, value = _table()
    x = np.hstack([table.numeric, table.categorical]).astype(np.float32)
    forest = RandomForestRegressor(20, random_state=0, max_features=0.5).fit(x, value)
    arrays = flatten([e.tree_ for e in forest.estimators_], 1, None)
    np.testing.assert_allclose(walk(arrays, x)[:, 0], forest.predict(x), rtol=1e-5, atol=1e-6)
    seen = classes != 1  # a fit that saw two of three classes still gives three columns
    trees = ExtraTreesClassifier(20, random_state=0).fit(x[seen], classes[seen])
    arrays = flatten([e.tree_ for e in trees.estimators_], 3, trees.classes_)
    output = walk(arrays, x)
    np.testing.assert_allclose(output[:, [0, 2]], trees.predict_proba(x), atol=1e-6)
    assert np.all(output[:, 1] == 0)


@pytest.mark.parametrize("kind", [RandomForestCandidate, ExtraTreesCandidate])
def test_forests_learn_classes_and_values_and_round_trip(kind, tmp_path):
    table, classes, value = _table()
    train, test = np.arange(400), np.arange(400, 500)
    model = kind("multiclass", n_classes=3, seed=0, n_estimators=40)
    model.fit(table.rows(train), None, classes[train])
    proba = model.predict(table.rows(test), None)
    assert proba.shape == (100, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == classes[test]).mean() > 0.6  # chance is 1/3
    assert model.leaf_size in (1, 3, 8)
    run, info = _saved(model, tmp_path / "c")
    loaded = kind.load(RunFolder.open(run.path), info)  # walks the arrays; the fit, sklearn
    np.testing.assert_allclose(loaded.predict(table.rows(test), None), proba, atol=1e-6)

    regressor = kind("regression", seed=0, n_estimators=40)
    regressor.fit(table.rows(train), None, value[train])
    rmse = np.sqrt(np.mean((regressor.predict(table.rows(test), None) - value[test]) ** 2))
    assert rmse < 0.6 * np.std(value[test])


def test_the_leaf_size_follows_the_evidence():
    """Pure noise: big leaves (more averaging) must win; a clean step: small leaves may."""
    rng = np.random.default_rng(1)
    numeric = rng.normal(size=(600, 2))
    table = EncodedTable(numeric, np.zeros((600, 0), np.int64), ["a", "b"], [], [])
    noisy = RandomForestCandidate("regression", seed=0, n_estimators=40)
    noisy.fit(table, None, rng.normal(size=600))
    assert noisy.leaf_size == 8
    fixed = ExtraTreesCandidate("regression", seed=0, n_estimators=20, min_samples_leaf=5)
    fixed.fit(table, None, rng.normal(size=600))
    assert fixed.leaf_size == 5


def test_a_doctored_forest_is_refused(tmp_path):
    """A forest file whose split points back to itself would walk forever, one whose splits
    name columns the table lacks would index past it: both refused on load, in one line."""
    from safetensors.numpy import save_file

    table, classes, _ = _table(200)
    model = RandomForestCandidate("multiclass", n_classes=3, seed=0, n_estimators=5)
    model.fit(table, None, classes)
    arrays = {k: v.copy() for k, v in model.arrays.items()}
    inner = int(np.flatnonzero(arrays["left"] >= 0)[1])
    arrays["left"][inner] = inner  # a cycle
    paths = []
    for name, stored in (("honest", model.arrays), ("cycle", arrays)):
        run = RunFolder.create(tmp_path / name, "tabular-classification")
        run.write_with(MODEL_FILE, lambda path, a=stored: save_file(dict(a), str(path)))
        run.finalize({"task": "tabular-classification"})
        paths.append(run.path)
    info = {"objective": "multiclass", "n_classes": 3, "file": MODEL_FILE, "n_features": 4}
    honest = RunFolder.open(paths[0])
    assert RandomForestCandidate.load(honest, info).predict(table, None).shape == (200, 3)
    with pytest.raises(RunFolderError, match="column outside"):
        RandomForestCandidate.load(honest, {**info, "n_features": 1})
    with pytest.raises(RunFolderError, match="trained on 9 columns"):  # n_features lies
        RandomForestCandidate.load(honest, {**info, "n_features": 9}).predict(table, None)
    with pytest.raises(RunFolderError, match="child does not come after"):
        RandomForestCandidate.load(RunFolder.open(paths[1]), info)


def test_portfolio_members_carry_their_settings_and_the_users_win():
    assert LightGBMExtraTrees("binary", 2)._params(500)["extra_trees"] is True
    large = LightGBMLarge("regression", seed=0, num_leaves=64)._params(5000)
    assert large["num_leaves"] == 64 and large["learning_rate"] == 0.03
    table, classes, _ = _table(300)
    model = LightGBMExtraTrees("multiclass", 3, seed=0)
    model.fit(table, None, classes)
    assert model.predict(table, None).shape == (300, 3)


@pytest.mark.parametrize(
    "metric, sizes",
    [("accuracy", [1]), ("macro_f1", [1]), ("log_loss", [1, 3, 8]), (None, [1, 3, 8])],
)
def test_a_run_judged_by_the_class_alone_grows_leaves_of_one_row(metric, sizes):
    """Log loss prefers the smoother probabilities of bigger leaves, which accuracy does not
    see: a run judged by accuracy-like metrics gets Breiman's leaves of one row, unprobed."""
    table, classes, _ = _table()
    model = RandomForestCandidate("multiclass", n_classes=3, seed=0, n_estimators=25,
                                  **({} if metric is None else {"metric": metric}))  # fmt: skip
    assert model._leaf_sizes() == sizes
    model.fit(table.rows(np.arange(300)), None, classes[:300])
    assert model.leaf_size in sizes
