"""The two-class operating point and the calibration of the chosen model, for the
applications that share the holdout machinery (core/holdout.py): what the ``threshold``,
``cost_fp``, ``cost_fn`` and ``prior`` options may say, the cut that serves them, temperature
scaling of the chosen model's probabilities, and the adjustment of those to a prior.

Targets of the cut (``threshold``): a metric (accuracy, macro-F1, balanced accuracy; "auto"
picks one), moved from 0.5 only on evidence; a stated goal (``recall@precision=0.9``,
``precision@recall=0.95``) or the lowest expected cost (``cost``, with ``cost_fp`` and
``cost_fn``), met as stated on validation without an evidence gate: the user named the goal;
a fixed probability; or None (the most probable class).

A prior P (``prior``: the share of class 1 where the model will be used) moves the chosen
model's probabilities by Bayes' rule from the share its training assumed (the training
prevalence, or 1/2 when training weighted the classes to balance) to P, after the temperature,
everywhere they are used: predict_proba, the test figures, the ONNX graph. The cut is then
chosen again on the validation probabilities adjusted the same way, with the validation rows
weighted to P (``prior_weights``). That is right for every target: accuracy, macro-F1,
precision and cost depend on the prevalence, so a cut chosen at the training prevalence and
carried over (mapped through the same odds shift) would serve the wrong mix of classes; for a
prevalence-free target (balanced accuracy, recall) the weights change nothing and the cut is
the mapped one, as it should be.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from layerwise.errors import ConfigError

GOALS = ("recall@precision", "precision@recall")
ACCEPTED = (
    "Use auto, accuracy, macro-f1 (or f1), balanced-accuracy, recall@precision=0.9, "
    "precision@recall=0.95, cost (with cost_fp / cost_fn), a probability such as 0.3, "
    "or None for the most probable class."
)


def threshold_metric(setting: Any) -> str | None:
    """What the ``threshold`` option asks the cut to serve: "auto", a metric of
    :data:`layerwise.thresholds.THRESHOLD_METRICS` (``f1`` and dashes accepted), a goal such as
    ``"recall@precision=0.9"``, ``"cost"``, or None for a fixed cut (a number) or no cut
    (None); a ConfigError for anything else.

    >>> threshold_metric("Recall@Precision = 0.90"), threshold_metric("f1")
    ('recall@precision=0.9', 'macro_f1')
    """
    from layerwise.thresholds import THRESHOLD_METRICS

    if isinstance(setting, str):
        try:  # "0.3" from a command line or a config file
            setting = float(setting)
        except ValueError:
            pass
    if setting is None or (isinstance(setting, (int, float)) and not isinstance(setting, bool)):
        if setting is not None and not 0.0 < float(setting) < 1.0:
            raise ConfigError(
                f"threshold={setting!r} is not valid.", "Use a probability between 0 and 1."
            )
        return None
    name = str(setting).strip().lower().replace(" ", "")
    if "@" in name:
        return _goal(setting, name)
    name = {"f1": "macro_f1"}.get(name.replace("-", "_"), name.replace("-", "_"))
    if name in ("auto", "cost") or name in THRESHOLD_METRICS:
        return name
    raise ConfigError(f"threshold={setting!r} is not valid.", ACCEPTED)


def _goal(setting: Any, name: str) -> str:
    goal, _, level = name.partition("=")
    try:
        value = float(level)
    except ValueError:
        value = math.nan
    if goal not in GOALS or not 0.0 < value <= 1.0:
        raise ConfigError(
            f"threshold={setting!r} is not valid.",
            "A goal reads recall@precision=L or precision@recall=L with 0 < L <= 1. " + ACCEPTED,
        )
    return f"{goal}={value:g}"


def goal_of(target: str | None) -> tuple[str, float] | None:
    """("recall@precision", 0.9) for "recall@precision=0.9"; None for any other target."""
    if target is None or "@" not in target:
        return None
    goal, _, level = target.partition("=")
    return goal, float(level)


def check_operating_options(options: dict[str, Any]) -> None:
    """One ConfigError before any training for a bad ``threshold``, a cost without
    ``threshold=cost``, or a prior that is not a share strictly between 0 and 1."""
    target = threshold_metric(options.get("threshold", "auto"))
    for key in ("cost_fp", "cost_fn"):
        value = options.get(key)
        if value is None:
            continue
        if not _positive(value):
            raise ConfigError(f"{key}={value!r} is not valid.", "Use a cost above 0, e.g. 20.")
        if target != "cost":
            raise ConfigError(
                f"{key}={value!r} is given but threshold={options.get('threshold', 'auto')!r}.",
                "Add --threshold cost (threshold='cost'): the cut that minimises "
                "cost_fp x false positives + cost_fn x false negatives on validation.",
            )
    prior = options.get("prior")
    if prior is not None and not (_positive(prior) and float(prior) < 1.0):
        raise ConfigError(
            f"prior={prior!r} is not valid.",
            "Give the share of the second class where the model will be used, between 0 and "
            "1 (exclusive), e.g. 0.05.",
        )


def _positive(value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool) and math.isfinite(number) and number > 0


def check_two_classes(task: Any) -> None:
    """After reading the data: a prior, a goal or a cost needs exactly two classes."""
    if len(task.classes) == 2:
        return
    target = threshold_metric(task.option("threshold"))
    asked = (
        f"prior={task.option('prior')!r}"
        if task.option("prior") is not None
        else f"threshold={task.option('threshold')!r}"
    )
    if task.option("prior") is not None or target == "cost" or goal_of(target):
        shown = ", ".join(map(str, task.classes[:5])) + ("..." if len(task.classes) > 5 else "")
        raise ConfigError(
            f"{asked} needs two classes; the data has {len(task.classes)} ({shown}).",
            "Leave it out: with more classes each example gets its most probable class.",
        )


def pick_operating_point(
    task: Any, labels: np.ndarray, proba: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float | None, dict[str, Any]]:
    """The cut on ``proba[:, 1]`` that serves the task's ``threshold`` option on these labels
    (rows weighted by ``weights``), and what it rests on: the target, the validation figures
    at 0.5 and at the cut, whether it moved, and the target's own facts."""
    from layerwise.thresholds import cost_threshold, cut_figures, goal_threshold, metric_threshold

    setting = task.option("threshold")
    if len(task.classes) != 2 or setting is None:
        return None, {}
    target = threshold_metric(setting)
    known = labels >= 0
    y, score = labels[known], proba[known, 1]
    w = None if weights is None else np.asarray(weights)[known]
    facts: dict[str, Any] = {}
    costs = None
    if target is None:
        cut, target = float(setting), "probability"
    elif target == "cost":
        costs = (float(task.option("cost_fp") or 1.0), float(task.option("cost_fn") or 1.0))
        cut, facts = cost_threshold(y, score, *costs, weights=w)
        facts = {"cost_fp": costs[0], "cost_fn": costs[1], **facts}
    elif goal_of(target):
        cut, facts = goal_threshold(y, score, *goal_of(target), weights=w)
    else:
        # The cut serves the metric the user reads (macro-F1 where imbalanced, accuracy
        # otherwise, or the one asked for), not sensitivity + specificity: Youden's J served
        # a chest X-ray CNN at 0.145, four points of accuracy below 0.5. It moves only on
        # evidence.
        if target == "auto":
            target = "macro_f1" if getattr(task, "_imbalanced", True) else "accuracy"
        seed = int(task.option("seed") or 0)
        cut, evidence = metric_threshold(y, score, target, seed=seed, weights=w)
        facts = {"gain": evidence["gain"], "gain_std": evidence["gain_std"]}
    figures = {
        "validation_at_0.5": cut_figures(y, score, 0.5, w, costs),
        "validation_at_cut": cut_figures(y, score, cut, w, costs),
    }
    if "bayes_cut" in facts:
        figures["validation_at_bayes_cut"] = cut_figures(y, score, facts["bayes_cut"], w, costs)
        facts.pop("cost_at_bayes_cut", None)
    moved = not math.isclose(cut, 0.5)
    return float(cut), {"target": target, **figures, "moved": moved, **facts}


def calibrate_chosen(task: Any, row: dict, test: Any) -> None:
    """Temperature scaling of the chosen model on its own validation (out-of-fold where it
    was cross-validated) probabilities: what it says becomes how often it is right. The
    ranking and every label stay the same (a two-class cut is moved with it); the test
    figures after it go to metrics.json beside the validation ECE before and after."""
    from layerwise.metrics import (
        apply_temperature,
        expected_calibration_error,
        fit_temperature,
        threshold_after_temperature,
    )

    if "calibration_data" not in row:  # built from others (an ensemble): left as it is
        return
    labels, proba = row["calibration_data"]
    known = labels >= 0
    labels, proba = labels[known], proba[known]
    task.temperature = fit_temperature(labels, proba)
    calibrated = apply_temperature(proba, task.temperature)
    task.calibration = {
        "method": "temperature",
        "temperature": task.temperature,
        "validation_ece_before": expected_calibration_error(labels, proba),
        "validation_ece_after": expected_calibration_error(labels, calibrated),
    }
    if task.temperature == 1.0:
        return
    if task.threshold is not None:
        task.threshold = threshold_after_temperature(task.threshold, task.temperature)
    row["test_proba_calibrated"] = apply_temperature(row["test_proba"], task.temperature)
    row["test_calibrated"] = task.score(test.labels, row["test_proba_calibrated"], task.threshold)


def settle_operating_point(task: Any, row: dict, test: Any, train_labels: np.ndarray) -> None:
    """After :func:`calibrate_chosen`: the prior (if asked), the cut on the probabilities a
    user reads, and its record for metrics.json and decision.md (``task.operating_point``).

    A goal or a cost is chosen again on the chosen model's calibrated validation
    probabilities (the same rows as before it, but its Bayes cut is read on the probabilities
    served); with a prior every target is chosen again on validation adjusted to it (see the
    module doc). A metric target without a prior keeps the chosen model's own cut, moved
    through the temperature."""
    from layerwise.thresholds import prior_log_odds, prior_weights, threshold_after_shift

    facts = dict(row.get("threshold_facts") or {})
    prior = task.option("prior")
    if prior is not None and len(task.classes) == 2:
        known = train_labels[train_labels >= 0]
        prevalence = float(np.mean(known == 1))
        # class weights in the loss balance the classes: its probabilities assume 1/2
        assumed = 0.5 if getattr(task, "_imbalanced", False) else prevalence
        task.prior = {
            "prior": float(prior),
            "training_prevalence": prevalence,
            "model_prevalence": assumed,
        }
        task.prior_shift = prior_log_odds(float(prior), assumed)
    target = threshold_metric(task.option("threshold"))
    data = row.get("threshold_data")
    again = task.prior is not None or target == "cost" or goal_of(target) is not None
    if task.threshold is not None and again and data is not None:
        labels, raw = data
        weights = prior_weights(labels, float(prior)) if task.prior is not None else None
        task.threshold, facts = pick_operating_point(task, labels, task.served(raw), weights)
        if task.prior is None and "test_proba_calibrated" in row:  # the test figures follow
            proba = row["test_proba_calibrated"]
            row["test_calibrated"] = task.score(test.labels, proba, task.threshold)
    elif task.threshold is not None and task.prior is not None:
        fixed = target is None  # a probability given: a cut on the probabilities served
        task.threshold = (
            float(task.option("threshold"))
            if fixed
            else threshold_after_shift(task.threshold, task.prior_shift)
        )
    if task.prior is not None:
        row["test_proba_prior"] = task.served(row["test_proba"])
        row["test_prior"] = task.score(
            test.labels,
            row["test_proba_prior"],
            task.threshold,
            weights=prior_weights(test.labels, float(prior)),
        )
    task.operating_point = _record(task, facts)


def _record(task: Any, facts: dict[str, Any]) -> dict[str, Any]:
    if task.threshold is None or not facts:
        return {}
    record = {"target": facts.get("target"), "value": task.threshold, **facts}
    if goal_of(record["target"]) and not facts.get("reached", True):
        goal, level = goal_of(record["target"])
        held = goal.split("@")[1]
        best = facts["validation_at_cut"][held]
        record["note"] = (
            f"no cut reached {held} {level:g} on validation; the cut with the best {held} "
            f"({best:.3f}) is used"
        )
    if task.prior is not None:
        record.update(task.prior, validation_weighted_to_prior=True)
    return record


def operating_point_sentence(task: Any) -> str:
    """decision.md's sentences on the cut, naming its target, and on the prior; "" without
    either."""
    record, threshold = task.operating_point, task.threshold
    if threshold is None or not record:
        return _prior_sentence(task, "each example gets its most probable class")
    positive = task.classes[1]
    at, base = record["validation_at_cut"], record["validation_at_0.5"]
    target = record["target"]
    head = f"'{positive}' is called when its probability is at least {threshold:.4g}"
    if target == "probability":
        why = "the probability given as the threshold"
    elif target == "cost":
        why = (
            f"the cut with the lowest expected cost on validation (false positive "
            f"{record['cost_fp']:g}, false negative {record['cost_fn']:g}: {at['cost']:.4g} "
            f"per example, {base['cost']:.4g} at 0.5; the Bayes cut for calibrated "
            f"probabilities, {record['bayes_cut']:.4g}, costs "
            f"{record['validation_at_bayes_cut']['cost']:.4g})"
        )
    elif goal_of(target):
        goal, level = goal_of(target)
        best, held = goal.split("@")
        why = (
            f"the cut with the highest {best} ({at[best]:.3f}) among those with {held} >= "
            f"{level:g} on validation ({held} {at[held]:.3f})"
            if record.get("reached")
            else f"target {target} not reached: {record['note']} ({best} {at[best]:.3f})"
        )
    else:
        label = target.replace("_", "-")
        why = (
            f"the cut that maximises {label} on validation ({at[target]:.4f} against "
            f"{base[target]:.4f} at 0.5; out-of-sample gain {record['gain']:.4f} ± "
            f"{record['gain_std']:.4f})"
            if record["moved"]
            else f"kept at 0.5 for {label}: no other cut's gain on validation held up on "
            f"held-out rows (gain {record['gain']:.4f} ± {record['gain_std']:.4f})"
        )
    cut = (
        "the cut is read on those probabilities"
        if target == "probability"
        else "the cut is chosen on validation adjusted the same way, its rows weighted to that "
        "prior"
    )
    return f"{head}: {why}." + (" " + _prior_sentence(task, cut) if task.prior else "")


def _prior_sentence(task: Any, then: str) -> str:
    prior = task.prior
    if prior is None:
        return ""
    balanced = prior["model_prevalence"] != prior["training_prevalence"]
    return (
        f"Probabilities are adjusted by Bayes' rule from a share of "
        f"{prior['model_prevalence']:.3g} for '{task.classes[1]}' (training: "
        f"{prior['training_prevalence']:.3g}"
        + ("; its loss weighted the classes to balance" if balanced else "")
        + f") to the prior {prior['prior']:g}, and {then}."
    )
