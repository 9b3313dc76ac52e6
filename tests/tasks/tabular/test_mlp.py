"""The tables' deep candidate fitted directly: TabM (the default) and the plain MLP learn a
generated table with missing values and a categorical column, save and load to the same
predictions, and a run folder from before TabM still loads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerwise.data.profile import profile_table
from layerwise.data.tabular_encoder import TabularEncoder
from layerwise.runs.folder import RunFolder
from layerwise.tasks.tabular.mlp import MLPCandidate


def _table(kind: str, n: int = 900, seed: int = 0):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.uniform(-2, 2, size=n)
    color = rng.choice(["red", "green", "blue"], n)
    # a step in x2 (easy for trees, hard for a plain MLP) and an interaction with the colour
    signal = 1.5 * x1 + 2.0 * (x2 > 0.5) + (color == "red") * x1
    frame = pd.DataFrame({"x1": x1, "x2": x2, "color": color})
    frame.loc[rng.choice(n, n // 10, replace=False), "x1"] = np.nan  # missing values
    if kind == "classification":
        frame["y"] = np.where(signal + rng.normal(0, 0.3, n) > 0.7, "yes", "no")
    else:
        frame["y"] = signal + rng.normal(0, 0.3, n)
    return frame


def _encoded(kind: str):
    frame = _table(kind)
    train, test = frame.iloc[:700], frame.iloc[700:]
    encoder = TabularEncoder(profile_table(train, "y", kind).columns).fit(train)
    if kind == "classification":
        y_train, y_test = (train["y"] == "yes").to_numpy(int), (test["y"] == "yes").to_numpy(int)
    else:
        y_train, y_test = train["y"].to_numpy(), test["y"].to_numpy()
    return encoder, encoder.transform(train), encoder.transform(test), y_train, y_test


def _round_trip(model: MLPCandidate, tmp_path) -> MLPCandidate:
    run = RunFolder.create(tmp_path, "tabular-classification")
    info = {"candidate": "mlp", "objective": model.objective, "n_classes": model.n_classes,
            "seed": model.seed, **model.save(run)}  # fmt: skip
    run.finalize({"task": "tabular-classification"})
    return MLPCandidate.load(RunFolder.open(run.path), info)


@pytest.mark.parametrize("architecture", ["tabm", "plain"])
def test_classifier_learns_and_round_trips(tmp_path, architecture):
    encoder, table, test_table, y_train, y_test = _encoded("classification")
    model = MLPCandidate("binary", n_classes=2, seed=0, architecture=architecture, epochs=40)
    model.fit(table, encoder, y_train)
    probabilities = model.predict(test_table, encoder)
    assert probabilities.shape == (200, 2) and np.allclose(probabilities.sum(axis=1), 1.0)
    assert np.mean(probabilities.argmax(axis=1) == y_test) > 0.85
    loaded = _round_trip(model, tmp_path)
    assert np.array_equal(loaded.predict(test_table, encoder), probabilities)
    if architecture == "tabm":  # the bin edges travel in the weights file
        assert loaded.model.ple.edges.abs().sum() > 0
        assert np.array_equal(loaded.model.ple.edges.numpy(), model.model.ple.edges.numpy())


def test_regressor_beats_the_mean_and_round_trips(tmp_path):
    encoder, table, test_table, y_train, y_test = _encoded("regression")
    model = MLPCandidate("regression", seed=0, epochs=40)
    model.fit(table, encoder, y_train)
    predicted = model.predict(test_table, encoder)
    rmse = float(np.sqrt(np.mean((predicted - y_test) ** 2)))
    assert rmse < 0.5 * float(np.std(y_test))
    loaded = _round_trip(model, tmp_path)
    assert np.array_equal(loaded.predict(test_table, encoder), predicted)


def test_unknown_architecture_is_a_clear_error():
    from layerwise.errors import ConfigError

    encoder, table, _, y_train, _ = _encoded("classification")
    model = MLPCandidate("binary", n_classes=2, architecture="transformer")
    with pytest.raises(ConfigError, match="architecture='transformer'"):
        model.fit(table, encoder, y_train)


@pytest.mark.parametrize("seconds, epochs_run", [(1e-6, 1), (600.0, 3)])
def test_a_probe_gives_up_after_one_epoch_only_when_too_few_fit_in_its_time(seconds, epochs_run):
    """The bake-off's first fold of the deep model stops after one epoch when its share of the
    time limit cannot hold ``min_epochs_in_time`` epochs, and says it was cut short."""
    encoder, train, _, y_train, _ = _encoded("classification")
    model = MLPCandidate("binary", 2, seed=0, epochs=3, time_limit=seconds, min_epochs_in_time=25)
    model.fit(train, encoder, y_train)
    assert len(model.history) == epochs_run
    assert (model.stopped_reason == "time limit") == (epochs_run == 1)
