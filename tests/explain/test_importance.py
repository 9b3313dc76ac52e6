import numpy as np
import pandas as pd
import pytest

from layerwise.explain.importance import permutation_importance


def _accuracy(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _frame(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "c": pd.Categorical(rng.choice(["x", "y", "z"], size=n)),
        }
    )
    y = (X["a"] > 0).astype(int).to_numpy()
    return X, y


def test_only_relevant_column_matters_with_a_fitted_model():
    from sklearn.linear_model import LogisticRegression

    X, y = _frame()
    model = LogisticRegression().fit(X[["a", "b"]], y)

    def predict(frame):
        assert isinstance(frame["c"].dtype, pd.CategoricalDtype)  # dtype survives shuffling
        return model.predict(frame[["a", "b"]])

    result = permutation_importance(predict, X, y, _accuracy, n_repeats=3, seed=0)
    assert next(r["feature"] for r in result) == "a"
    assert {r["feature"] for r in result} == {"a", "b", "c"}
    top, rest = result[0], result[1:]
    assert top["importance"] > 0.3
    assert all(top["importance"] > r["importance"] + 0.2 for r in rest)
    assert all(abs(r["importance"]) < 0.05 for r in rest)
    assert all(r["std"] >= 0 for r in result)
    importances = [r["importance"] for r in result]
    assert importances == sorted(importances, reverse=True)


def test_seeded_and_subsampled():
    X, y = _frame(n=3000)
    calls = []

    def predict(frame):
        calls.append(len(frame))
        return (frame["a"] > 0).astype(int).to_numpy()

    first = permutation_importance(predict, X, pd.Series(y), _accuracy, seed=3, max_rows=500)
    second = permutation_importance(predict, X, y, _accuracy, seed=3, max_rows=500)
    assert first == second
    assert all(rows % 500 == 0 for rows in calls)  # the subsample, alone or in batched copies
    assert sum(calls) == 2 * 500 * (1 + 3 * 3)  # baseline + 3 columns x 3 repeats, twice


def test_rejects_misaligned_input():
    X, y = _frame(n=50)
    with pytest.raises(ValueError, match="rows"):
        permutation_importance(lambda f: f["a"], X, y[:10], _accuracy)
    with pytest.raises(TypeError, match="DataFrame"):
        permutation_importance(lambda f: f, X.to_numpy(), y, _accuracy)


def test_a_time_budget_scores_fewer_rows_of_a_slow_model():
    import time

    X, y = _frame(n=2000)
    calls = []

    def slow(frame):  # ~50 us a row: 2,000 rows x 9 shuffles would take ~0.9 s
        calls.append(len(frame))
        time.sleep(50e-6 * len(frame))
        return (frame["a"] > 0).astype(int).to_numpy()

    result = permutation_importance(slow, X, y, _accuracy, seed=0, seconds=0.2, min_rows=100)
    assert calls[0] == 2000  # the baseline, timed on every row
    assert 100 <= result.rows < 2000  # the shuffles on the rows the budget affords
    assert all(rows % result.rows == 0 for rows in calls[1:])
    assert result[0]["feature"] == "a" and result[0]["importance"] > 0.3
    unbudgeted = permutation_importance(slow, X, y, _accuracy, seed=0)
    assert unbudgeted.rows == 2000


def test_a_tables_importance_takes_a_tenth_of_its_time_limit():
    import time
    from types import SimpleNamespace

    from layerwise.tasks.tabular.outputs import _importance_seconds

    def task(limit, left):
        deadline = None if limit is None else time.perf_counter() + left
        return SimpleNamespace(option=lambda name: limit, _deadline=deadline)

    assert _importance_seconds(task(None, 0)) == 30.0  # no limit: a fixed cap
    assert 5.9 < _importance_seconds(task(60, 40)) <= 6.0  # a tenth of the limit
    assert 2.9 < _importance_seconds(task(60, 3)) <= 3.0  # no more than is left
    assert _importance_seconds(task(60, -5)) == 2.0  # the limit spent: 2 s still
