"""The advisor's rules and its choice between candidates."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from layerwise.core import advisor, fold_bakeoff, selection
from layerwise.data.profile import ColumnInfo


def _profile(**overrides):
    base = dict(
        modality="tabular",
        n_rows=500,
        n_columns=10,
        task_kind="classification",
        n_classes=2,
        minority_fraction=0.4,
        missing_fraction=0.0,
        columns={},
        notes=[],
    )
    base.update(overrides)
    return SimpleNamespace(**base)


def _fired(plan):
    return {rule.name for rule in plan.fired()}


def test_small_structured_data_puts_boosting_first_with_cv():
    plan = advisor.plan(_profile())
    assert plan.candidates[0] == "lightgbm"
    assert {"structured data", "small data"} <= _fired(plan)
    assert plan.n_splits == 5 and plan.metric == "accuracy"


def test_large_data_uses_a_holdout():
    plan = advisor.plan(_profile(n_rows=200_000))
    assert "large data" in _fired(plan) and plan.n_splits == 0


def test_interpretability_excludes_the_mlp():
    plan = advisor.plan(_profile(), interpretable=True)
    assert "mlp" not in plan.candidates and "interpretability requested" in _fired(plan)


def test_imbalance_switches_metric_and_weights():
    plan = advisor.plan(_profile(minority_fraction=0.03))
    assert plan.class_weights and plan.metric == "roc_auc"
    multi = advisor.plan(_profile(minority_fraction=0.03, n_classes=4))
    assert multi.metric == "macro_f1"


def test_wide_data_favours_linear():
    plan = advisor.plan(_profile(n_rows=100, n_columns=300))
    assert plan.candidates[0] == "linear" and "wide data" in _fired(plan)


def test_regression_is_chosen_by_rmse():
    plan = advisor.plan(_profile(task_kind="regression", n_classes=None, minority_fraction=None))
    assert plan.metric == "rmse" and not plan.greater_is_better


def test_high_cardinality_and_missing_rules():
    columns = {"city": ColumnInfo("city", "categorical", 0.0, 300)}
    plan = advisor.plan(_profile(columns=columns, missing_fraction=0.1))
    assert {"high-cardinality categories", "missing values"} <= _fired(plan)


COMPLEXITY = {"linear": 1, "lightgbm": 2, "mlp": 3}


def _rows(**scores):
    return [
        {"candidate": n, "validation": s, "validation_std": 0.0, "fit_seconds": 0.1}
        for n, s in scores.items()
    ]


def test_choose_prefers_simpler_within_tolerance():
    plan = advisor.plan(_profile())
    chosen, reason = selection.choose(
        _rows(lightgbm=0.950, linear=0.949, mlp=0.951), plan, COMPLEXITY
    )
    assert chosen == "linear" and "simpler" in reason


def test_a_preferred_candidate_wins_within_tolerance_only():
    plan = advisor.plan(_profile())
    plan.prefer, plan.prefer_reason = "mlp", "validation cannot see new voices."
    chosen, reason = selection.choose(
        _rows(lightgbm=0.950, linear=0.950, mlp=0.949), plan, COMPLEXITY
    )
    assert chosen == "mlp" and "new voices" in reason
    chosen, _ = selection.choose(_rows(lightgbm=0.95, linear=0.95, mlp=0.90), plan, COMPLEXITY)
    assert chosen == "linear"


def test_choose_takes_the_clear_winner():
    plan = advisor.plan(_profile())
    chosen, _ = selection.choose(_rows(lightgbm=0.90, linear=0.85, mlp=0.95), plan, COMPLEXITY)
    assert chosen == "mlp"


def test_choose_lower_is_better_for_rmse():
    plan = advisor.plan(_profile(task_kind="regression", n_classes=None, minority_fraction=None))
    chosen, _ = selection.choose(_rows(lightgbm=10.0, linear=12.0, mlp=11.0), plan, COMPLEXITY)
    assert chosen == "lightgbm"


def test_bake_off_skips_candidates_after_the_time_limit():
    plan = advisor.plan(_profile(), time_limit=0.0)
    folds = [(np.arange(5), np.arange(5, 10))]
    rows = fold_bakeoff.bake_off(plan, lambda name, tr, va: 0.5, folds, time_limit=0.0)
    assert "validation" in rows[0]  # the first always runs
    assert all("skipped" in row for row in rows[1:])


def test_bake_off_skips_a_candidate_its_first_fold_projects_past_the_time_left(monkeypatch):
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(fold_bakeoff, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    cost = {"linear": 1.0, "lightgbm": 2.0, "mlp": 10.0}  # seconds per fold
    ran: list[str] = []

    def fit_and_score(name, tr, va):
        ran.append(name)
        clock.now += cost[name]
        return 0.5

    plan = advisor.plan(_profile(), time_limit=40.0, candidates=list(cost))
    folds = [(np.arange(8), np.arange(8, 10))] * 5
    rows = fold_bakeoff.bake_off(
        plan, fit_and_score, folds, 40.0, run_order=["linear", "lightgbm", "mlp"]
    )
    assert [r["candidate"] for r in rows] == plan.candidates  # the plan's order
    by_name = {r["candidate"]: r for r in rows}
    assert ran[:5] == ["linear"] * 5  # the cheapest first
    assert "validation" in by_name["linear"] and "validation" in by_name["lightgbm"]
    # at 15 s, with 1.25 + 2.5 s of final fits reserved: 40 - 15 - 3.75 = 21.25 s left
    assert by_name["mlp"]["skipped"] == (
        "its 5 folds and final fit would take ~62 s (10 s for the first fold), 21 s were left"
    )
    assert ran.count("mlp") == 1  # measured once, not abandoned midway


def test_projection_counts_the_other_folds_and_the_final_fit():
    folds = [(np.arange(80), np.arange(80, 100))] * 5
    assert fold_bakeoff.projected_seconds(1.0, folds) == pytest.approx(4 + 1.25)
    holdout = [(np.arange(80), np.arange(80, 100))]
    assert fold_bakeoff.time_skip_reason(4.0, holdout, 6.0).startswith("its validation fit")
    assert fold_bakeoff.time_skip_reason(4.0, holdout, 9.0) is None


def test_nothing_scored_is_an_error():
    plan = advisor.plan(_profile())
    with pytest.raises(ValueError):
        selection.choose([{"candidate": "mlp", "skipped": "time"}], plan, COMPLEXITY)


def test_ensemble_competes_unless_interpretable():
    assert advisor.plan(_profile()).ensemble
    assert not advisor.plan(_profile(), interpretable=True).ensemble


def test_many_balanced_classes_are_not_imbalanced():
    plan = advisor.plan(_profile(n_classes=10, minority_fraction=0.097))  # digits
    assert not plan.class_weights and plan.metric == "accuracy"


def test_advise_refuses_a_non_positive_time_limit():
    import pandas as pd

    import layerwise
    from layerwise.errors import ConfigError

    frame = pd.DataFrame({"x": range(20), "y": [0, 1] * 10})
    with pytest.raises(ConfigError, match="not a valid time limit"):
        layerwise.advise(frame, target="y", time_limit=0)


def test_advise_on_a_task_without_a_profile_says_to_train_it():
    """Task.profile_and_plan is part of the contract: an application without one (an
    environment, a corpus) answers with the fix, not an AttributeError."""
    import layerwise
    from layerwise.errors import ConfigError

    with pytest.raises(ConfigError, match="layerwise train .* --task reinforcement-learning"):
        layerwise.advise("CartPole-v1", task="reinforcement-learning")


def test_only_a_task_that_takes_interpretable_gets_it():
    import pandas as pd

    import layerwise
    from layerwise.errors import ConfigError

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "y": [0, 1] * 20})
    assert layerwise.advise(frame, target="y", interpretable=True).plan.recommendation
    with pytest.raises(ConfigError, match="--interpretable applies to tables"):
        layerwise.advise(frame, target="y", task="anomaly-detection", interpretable=True)
