"""Stated goals for the two-class cut (recall at a precision, precision at a recall, the lowest
cost) and a prior for where the model will be used: the numbers on data built here, the option
errors, and one run that carries them through metrics.json, predict, load and the ONNX graph."""

from __future__ import annotations

import json

import numpy as np
import pytest

from layerwise.metrics import apply_temperature
from layerwise.thresholds import (
    _every_cut,
    _metric_at_cuts,
    cost_threshold,
    cut_figures,
    goal_threshold,
    prior_log_odds,
    prior_weights,
    shift_probabilities,
    threshold_after_shift,
)


def _calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(0.6, 1.4, n)  # about 30% positives
    return (rng.random(n) < p).astype(int), p


@pytest.mark.parametrize("level", [0.6, 0.8, 0.9])
def test_recall_at_precision_is_the_best_recall_among_precise_enough_cuts(level):
    y, p = _calibrated(800, seed=1)
    cut, facts = goal_threshold(y, p, "recall@precision", level)
    cuts = _every_cut(p)
    precision = _metric_at_cuts(y, p, cuts, "precision")
    recall = _metric_at_cuts(y, p, cuts, "recall")
    at = cut_figures(y, p, cut)
    assert facts["reached"] and at["precision"] >= level
    assert at["recall"] == pytest.approx(recall[np.nan_to_num(precision) >= level].max())


def test_an_unreachable_precision_falls_back_to_the_best_precision():
    y = np.array([0, 1, 0, 1, 1, 0, 1, 0])  # the highest score is a negative
    score = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.9, 0.7, 0.6])
    cut, facts = goal_threshold(y, score, "recall@precision", 0.99)
    assert not facts["reached"]
    best = np.nanmax(_metric_at_cuts(y, score, _every_cut(score), "precision"))
    assert cut_figures(y, score, cut)["precision"] == pytest.approx(best)


def test_precision_at_recall_keeps_the_recall_and_maximises_precision():
    y, p = _calibrated(800, seed=2)
    cut, facts = goal_threshold(y, p, "precision@recall", 0.95)
    at = cut_figures(y, p, cut)
    cuts = _every_cut(p)
    recall = _metric_at_cuts(y, p, cuts, "recall")
    precision = _metric_at_cuts(y, p, cuts, "precision")
    assert facts["reached"] and at["recall"] >= 0.95
    assert at["precision"] == pytest.approx(np.nanmax(precision[recall >= 0.95]))


def test_cost_cut_lands_near_the_bayes_cut_on_calibrated_probabilities():
    y, p = _calibrated(20_000, seed=3)
    cut, facts = cost_threshold(y, p, cost_fp=1.0, cost_fn=20.0)
    assert facts["bayes_cut"] == pytest.approx(1 / 21)
    assert abs(cut - 1 / 21) < 0.02
    costs = (1.0, 20.0)
    at_cut, at_half = cut_figures(y, p, cut, costs=costs), cut_figures(y, p, 0.5, costs=costs)
    assert at_cut["cost"] <= facts["cost_at_bayes_cut"] <= at_half["cost"] / 3


def test_a_prior_moves_probabilities_by_the_odds_and_changes_nothing_at_the_same_share():
    """Two Gaussian classes: the posterior at one share of positives, moved by Bayes' rule,
    is the posterior at the other; at the training share the shift is nothing."""
    x = np.linspace(-3, 3, 41)

    def posterior(share: float) -> np.ndarray:
        odds = np.exp(2.0 * x) * share / (1 - share)  # likelihood ratio of N(1, 1) to N(-1, 1)
        return np.c_[1 / (1 + odds), odds / (1 + odds)]

    moved = shift_probabilities(posterior(0.25), prior_log_odds(0.05, 0.25))
    np.testing.assert_allclose(moved, posterior(0.05), atol=1e-12)
    assert prior_log_odds(0.25, 0.25) == 0.0
    same = posterior(0.25)
    assert shift_probabilities(same, 0.0) is same
    np.testing.assert_allclose(shift_probabilities(moved, prior_log_odds(0.25, 0.05)), same)
    shift = prior_log_odds(0.05, 0.25)  # a cut calls the same rows after the shift
    assert ((same[:, 1] >= 0.4) == (moved[:, 1] >= threshold_after_shift(0.4, shift))).all()
    weights = prior_weights(np.r_[np.zeros(75), np.ones(25)], 0.05)
    assert weights[75:].sum() / weights.sum() == pytest.approx(0.05)


def test_goal_and_cost_forms_and_their_errors():
    from layerwise.core.operating_point import check_operating_options, threshold_metric
    from layerwise.errors import ConfigError

    assert threshold_metric("recall@precision=0.90") == "recall@precision=0.9"
    assert threshold_metric("Precision@Recall=0.95") == "precision@recall=0.95"
    assert threshold_metric("cost") == "cost"
    check_operating_options({"threshold": "cost", "cost_fp": 1, "cost_fn": 20, "prior": 0.1})
    bad = [
        ({"threshold": "recall@precision=1.5"}, "threshold='recall@precision=1.5' is not valid"),
        ({"threshold": "recall@accuracy=0.9"}, "recall@precision=L"),
        ({"threshold": "auto", "cost_fp": 5.0}, "cost_fp=5.0 is given but threshold='auto'"),
        ({"threshold": "cost", "cost_fn": -1}, "cost_fn=-1 is not valid"),
        ({"prior": 1.5}, "prior=1.5 is not valid"),
        ({"prior": "often"}, "prior='often' is not valid"),
    ]
    for options, message in bad:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
            check_operating_options(options)


def test_bad_goal_cost_or_prior_is_one_line_before_training(cli, tmp_path):
    from layerwise.data.image_sources import scans, shapes, write_folder

    folder = write_folder(scans(40, size=12, seed=0), tmp_path / "scans")
    runs = tmp_path / "runs"
    for args, says in [
        (("--threshold", "recall@precision=1.5"), "recall@precision=L or precision@recall=L"),
        (("--cost-fp", "5"), "--threshold cost"),
        (("--prior", "1.2"), "prior=1.2 is not valid"),
    ]:
        code, _, err = cli("train", folder, *args, "-o", runs)
        assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    many = write_folder(shapes(40, size=12, seed=0), tmp_path / "shapes")
    code, _, err = cli("train", many, "--prior", "0.2", "-o", runs)
    assert code == 2 and "prior=0.2 needs two classes; the data has 4" in err
    assert not runs.exists() or not any(runs.iterdir())


def test_the_cost_cut_and_its_record(tmp_path):
    import layerwise
    from layerwise.data.image_sources import scans

    run = layerwise.fit(scans(300, seed=1), task="image-classification", threshold="cost",
                        cost_fn=10.0, candidates=["pixel-logistic"], output_dir=str(tmp_path),
                        verbose=False, report=False)  # fmt: skip
    record = run.metrics["threshold"]
    assert record["target"] == "cost" and record["value"] == run.task.threshold
    assert run.metrics["test"]["threshold"] == run.task.threshold  # the test figures follow it
    assert (record["cost_fp"], record["cost_fn"]) == (1.0, 10.0)
    assert record["bayes_cut"] == pytest.approx(1 / 11)
    cost = record["validation_at_cut"]["cost"]
    assert cost <= record["validation_at_bayes_cut"]["cost"]
    assert cost <= record["validation_at_0.5"]["cost"]
    assert "prior" not in run.metrics and "test_without_prior" not in run.metrics
    assert "lowest expected cost" in (run.path / "decision.md").read_text()


def test_a_goal_under_a_prior_through_metrics_predict_and_load(tmp_path):
    import layerwise
    from layerwise.data.image_sources import scans

    data = scans(300, seed=1)
    run = layerwise.fit(data, task="image-classification", threshold="recall@precision=0.8",
                        prior=0.3, candidates=["pixel-logistic"], output_dir=str(tmp_path),
                        verbose=False, report=False)  # fmt: skip
    task, metrics = run.task, run.metrics
    record = metrics["threshold"]
    assert record["target"] == "recall@precision=0.8" and record["value"] == task.threshold
    assert metrics["test"]["threshold"] == task.threshold
    assert record["prior"] == 0.3 and record["training_prevalence"] == pytest.approx(0.25, abs=0.02)
    if record["reached"]:
        assert record["validation_at_cut"]["precision"] >= 0.8
    else:
        assert "no cut reached precision 0.8" in record["note"]
    assert metrics["prior"]["prior"] == 0.3 and "under the prior" in metrics["prior"]["test"]
    assert metrics["test"] != metrics["test_without_prior"]
    # predict_proba: the model's probabilities, calibrated, then moved to the prior
    images = data.images[:25]
    raw = task.models[task.chosen].predict(images)
    shift = prior_log_odds(0.3, task.prior["model_prevalence"])
    expected = shift_probabilities(apply_temperature(raw, task.temperature), shift)
    np.testing.assert_allclose(task.predict_proba(images), expected, atol=1e-12)
    assert "recall (" in (run.path / "decision.md").read_text()
    stored = json.loads((run.path / "preprocess.json").read_text())
    assert stored["prior"] == 0.3 and 0 < stored["training_prevalence"] < 1
    loaded = layerwise.load(run.path)
    assert loaded.prior == task.prior and loaded.threshold == task.threshold
    assert loaded.predict(images).equals(task.predict(images))


def test_the_onnx_graph_carries_the_temperature_and_the_prior():
    """The CNN's exported module (export_run checks ONNX Runtime against it) gives what
    predict_proba gives: softmax(logits / T), moved to the prior."""
    from types import SimpleNamespace

    import torch

    from layerwise.tasks.image_classification.outputs import onnx_description, onnx_parts

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    prior = {"prior": 0.1, "training_prevalence": 0.4, "model_prevalence": 0.4}
    task = SimpleNamespace(chosen="cnn", models={"cnn": SimpleNamespace(model=net)},
                           classes=["normal", "lesion"], temperature=1.7, size=(4, 4),
                           channels=1, prior=prior, prior_shift=prior_log_odds(0.1, 0.4),
                           threshold=0.2)  # fmt: skip
    module, example, _, _ = onnx_parts(task)
    with torch.no_grad():
        got = module(example[0]).numpy()
        own = torch.softmax(net(example[0]), dim=1).numpy()
    want = shift_probabilities(apply_temperature(own, 1.7), task.prior_shift)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert "prior of 0.1" in onnx_description(task)[1]["meaning"]


def test_asking_for_accuracy_turns_class_weights_off(tmp_path):
    import layerwise
    from layerwise.data.image_sources import scans

    data = scans(300, prevalence=0.1, seed=2)  # imbalanced: the losses would be class-weighted
    runs = {
        threshold: layerwise.fit(
            data,
            task="image-classification",
            threshold=threshold,
            candidates=["pixel-logistic"],
            output_dir=str(tmp_path / threshold),
            verbose=False,
            report=False,
        )
        for threshold in ("auto", "accuracy")
    }
    note = "the losses are not class-weighted"
    assert note in (runs["accuracy"].path / "decision.md").read_text()
    assert note not in (runs["auto"].path / "decision.md").read_text()
    assert "imbalanced" in (runs["auto"].path / "decision.md").read_text()
