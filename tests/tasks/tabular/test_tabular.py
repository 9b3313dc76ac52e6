"""Tabular tasks on data they build or that ships with scikit-learn: quality floors and column handling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.errors import ColumnError, ConfigError

FAST = {"candidate_params": {"mlp": {"epochs": 10}}}  # the scikit-learn tables: floors hold
MIXED = {"candidate_params": {"mlp": {"epochs": 30}}}  # the mixed table's MLP needs longer


def test_breast_cancer_accuracy_floor(tmp_path):
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    run = layerwise.fit(
        frame, target="target", output_dir=tmp_path, verbose=False, report=False, **FAST
    )
    assert run.metrics["test"]["accuracy"] > 0.94
    assert run.metrics["test"]["roc_auc"] > 0.97
    # all-numeric: CatBoost (for categorical columns) is left out even where installed
    assert set(run.metrics["candidates"]) == {
        "lightgbm",
        "lightgbm-xt",
        "random-forest",
        "extra-trees",
        "linear",
        "mlp",
        "ensemble",
    }  # fmt: skip  (569 rows: the 128-leaf LightGBM is for larger tables)
    decision = (run.path / "decision.md").read_text()
    assert "small data" in decision and "| mlp" in decision and "| lightgbm" in decision


def test_diabetes_regression_beats_predicting_the_mean(tmp_path):
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    run = layerwise.fit(
        frame, target="target", output_dir=tmp_path, verbose=False, report=False, **FAST
    )
    assert run.task.name == "tabular-regression"
    assert run.metrics["test"]["rmse"] < 65  # the target's std is ~77
    assert run.metrics["test"]["r2"] > 0.3


def _mixed_frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "signup": pd.date_range("2020-01-01", periods=n, freq="D").astype(str),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "monthly": rng.normal(40, 10, n).round(2),
            "active": rng.choice(["yes", "no"], n),
            "comment": [
                f"customer wrote a long comment number {i} about the service quality"
                for i in range(n)
            ],
        }
    )
    frame.loc[rng.choice(n, 30, replace=False), "monthly"] = np.nan
    logit = (
        (frame["plan"] == "basic") * 2.0 - (frame["active"] == "yes") * 1.5 + rng.normal(0, 0.5, n)
    )
    frame["churn"] = np.where(logit > 0.2, "yes", "no")
    return frame


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """(output folder, run): one fit of the mixed table, read by the tests below (none of them
    changes it); the same-seed test trains a second one into the same folder."""
    out = tmp_path_factory.mktemp("mixed")
    return out, layerwise.fit(
        _mixed_frame(), target="churn", output_dir=out, verbose=False, report=False, **MIXED
    )


def test_column_kinds_are_handled_and_noted(mixed_run):
    _, run = mixed_run
    assert run.metrics["test"]["accuracy"] > 0.8
    kinds = {c["name"]: c["kind"] for c in run.task.input_schema()["columns"]}
    assert (
        kinds["signup"] == "datetime"
        and kinds["active"] == "boolean"
        and "customer_id" not in kinds
    )
    notes = " ".join(run.notes)
    assert "customer_id" in notes and "comment" in notes


def test_unseen_categories_and_missing_values_at_predict_time(mixed_run):
    _, run = mixed_run
    frame = _mixed_frame()
    new = frame.drop(columns=["churn"]).head(3).copy()
    new.loc[new.index[0], "plan"] = "enterprise"  # never seen in training
    new.loc[new.index[1], "monthly"] = np.nan
    predictions = layerwise.load(run.path).predict(new)
    assert predictions["prediction"].isin(["yes", "no"]).all()
    assert np.isfinite(predictions.filter(like="probability_").to_numpy()).all()


def test_single_record_dict_and_missing_column_error(mixed_run):
    _, run = mixed_run
    frame = _mixed_frame()
    record = frame.drop(columns=["churn"]).iloc[0].to_dict()
    assert len(run.predict(record)) == 1
    record.pop("plan")
    with pytest.raises(ColumnError, match="'plan'"):
        run.predict(record)


def test_imbalanced_classes_get_weights_and_auc_selection(tmp_path):
    rng = np.random.default_rng(1)
    n = 600
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame["fraud"] = (frame["a"] + rng.normal(0, 0.3, n) > 1.8).astype(int)
    run = layerwise.fit(
        frame, target="fraud", output_dir=tmp_path, verbose=False, report=False, **FAST
    )
    assert run.metrics["metric"] == "roc_auc"
    assert "imbalanced classes" in (run.path / "decision.md").read_text()
    assert run.metrics["test"]["roc_auc"] > 0.9


def test_the_metric_a_user_asks_for_chooses_and_turns_class_weights_off(tmp_path):
    from layerwise.core import advisor
    from layerwise.data.profile import profile_table

    rng = np.random.default_rng(1)
    n = 600
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame["fraud"] = (frame["a"] + rng.normal(0, 0.3, n) > 1.8).astype(int)
    profile = profile_table(frame, "fraud", "classification")
    assert advisor.plan(profile).class_weights  # imbalanced: weighted, chosen by ROC-AUC
    asked = advisor.plan(profile, metric="accuracy")
    assert asked.metric == "accuracy" and not asked.class_weights
    run = layerwise.fit(frame, target="fraud", output_dir=tmp_path / "runs", verbose=False,
                        report=False, metric="accuracy", candidates=["linear"])  # fmt: skip
    assert run.metrics["metric"] == "accuracy" and run.metrics["test"]["accuracy"] > 0.9
    with pytest.raises(ConfigError, match="rmse") as error:
        layerwise.fit(frame, target="fraud", output_dir=tmp_path / "bad", metric="rmse")
    assert "accuracy" in error.value.hint and not (tmp_path / "bad").exists()


def test_interpretable_run_has_no_mlp(tmp_path):
    frame = _mixed_frame()
    run = layerwise.fit(
        frame, target="churn", output_dir=tmp_path, verbose=False, report=False, interpretable=True
    )
    assert "mlp" not in run.metrics["candidates"] and run.chosen in {
        "linear",
        "lightgbm",
        "catboost",
    }


def test_same_seed_same_result(mixed_run):
    out, first = mixed_run  # the same table, options and output folder as the shared run
    second = layerwise.fit(
        _mixed_frame(), target="churn", output_dir=out, verbose=False, report=False, **MIXED
    )
    assert first.metrics["candidates"]["mlp"]["test"] == second.metrics["candidates"]["mlp"]["test"]
    assert first.path != second.path


QUICK = {"candidates": ["lightgbm"], "verbose": False, "report": False}


def test_stray_words_are_counted_in_decision_and_predictions_carry_notes(tmp_path):
    rng = np.random.default_rng(3)
    n = 120
    frame = pd.DataFrame({"age": rng.integers(20, 70, n).astype(str), "b": rng.normal(size=n)})
    frame.loc[[5, 50], "age"] = ["forty", "unknown"]
    frame["y"] = np.where(frame["b"] > 0, "hi", "lo")
    run = layerwise.fit(frame, target="y", output_dir=tmp_path, **QUICK)
    decision = (run.path / "decision.md").read_text()
    assert "column 'age' is numeric, but 2 of its 120 values ('forty', 'unknown')" in decision
    new = pd.DataFrame({"age": ["thirty", "33", None], "b": [0.5, np.inf, None]})
    predicted = layerwise.load(run.path).predict(new)
    assert len(predicted) == 3 and predicted["prediction"].isin(["hi", "lo"]).all()
    assert predicted.attrs["notes"] == [
        "1 value in 'age' was not a finite number ('thirty') and was treated as missing",
        "1 value in 'b' was not a finite number (inf) and was treated as missing",
        "1 row has no feature values (row 3): a prediction that uses nothing from the row",
    ]


def test_test_predictions_of_many_classes_are_built_without_warnings():
    import warnings
    from types import SimpleNamespace

    from layerwise.tasks.tabular.outputs import _test_predictions

    classes = [f"k{i}" for i in range(120)]
    proba = np.full((4, len(classes)), 1 / len(classes))
    predicted = pd.DataFrame({"prediction": ["k0"] * 4}
                             | {f"probability_{c}": proba[:, i] for i, c in enumerate(classes)})  # fmt: skip
    task = SimpleNamespace(target="y", classes=classes, predict=lambda frame: predicted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' PerformanceWarning for a column-by-column frame
        out = _test_predictions(task, pd.DataFrame({"x": range(4), "y": ["k0"] * 4}))
    assert out.shape == (4, 2 + len(classes))


def test_holdout_is_not_stratified_when_classes_outnumber_test_rows():
    from layerwise.tasks.tabular.classification import TabularClassification

    labels = [f"pair{i // 2}" for i in range(500)] + [f"five{i // 5}" for i in range(500)]
    frame = pd.DataFrame({"x": range(1000), "y": labels})  # 350 classes, 200 test rows
    task = TabularClassification(verbose=False)
    task.target = "y"
    train, test = task._split(frame)  # stratifying would need a test row per class
    assert (len(train), len(test)) == (800, 200)
