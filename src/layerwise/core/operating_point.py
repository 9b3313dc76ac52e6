"""The two-class operating point and the calibration of the chosen model, for the
applications that share the holdout machinery (core/holdout.py): what the ``threshold`` option
may say, and temperature scaling of the chosen model's probabilities."""

from __future__ import annotations

from typing import Any

from layerwise.errors import ConfigError


def threshold_metric(setting: Any) -> str | None:
    """What the ``threshold`` option asks the cut to maximise: "auto", a metric of
    :data:`layerwise.metrics.THRESHOLD_METRICS` (``f1`` and dashes accepted), or None for a
    fixed cut (a number) or no cut (None); a ConfigError for anything else."""
    from layerwise.metrics import THRESHOLD_METRICS

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
    name = str(setting).strip().lower().replace("-", "_")
    name = {"f1": "macro_f1"}.get(name, name)
    if name == "auto" or name in THRESHOLD_METRICS:
        return name
    raise ConfigError(
        f"threshold={setting!r} is not valid.",
        "Use auto, accuracy, macro-f1 (or f1), balanced-accuracy, a probability such as 0.3, "
        "or None for the most probable class.",
    )


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
