"""Two-class thresholds serve the metric the user reads, and move from 0.5 only on evidence."""

from __future__ import annotations

import numpy as np
import pytest

from layerwise.thresholds import _metric_at_cuts, metric_threshold, youden_threshold


def _scores(n: int, prevalence: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fair classifier's probabilities on imbalanced classes (positives rank high)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    score = np.where(y == 1, rng.beta(5, 2, n), rng.beta(2, 5, n))
    return y, score


def _at(y, score, cut, metric):
    return float(_metric_at_cuts(y, score, np.array([cut]), metric)[0])


def test_the_cut_serves_macro_f1_better_than_youden_on_new_data():
    """Youden's J maximises sensitivity + specificity, which on imbalanced classes calls many
    negatives positive; the cut chosen for macro-F1 on validation does better on fresh rows."""
    y_val, s_val = _scores(600, 0.1, seed=0)
    y_test, s_test = _scores(20_000, 0.1, seed=1)
    cut, facts = metric_threshold(y_val, s_val, "macro_f1")
    youden = youden_threshold(y_val, s_val)
    assert cut != youden
    assert _at(y_test, s_test, cut, "macro_f1") > _at(y_test, s_test, youden, "macro_f1") + 0.02
    assert facts["metric_at_cut"] >= facts["metric_at_0.5"]


def test_squeezed_probabilities_move_the_cut():
    """Class weights with label smoothing squeezed a CNN's probabilities below 0.5 for most
    positives: at 0.5 it called almost everything negative."""
    y, score = _scores(500, 0.3, seed=2)
    squeezed = 0.1 + 0.35 * score
    cut, facts = metric_threshold(y, squeezed, "accuracy")
    assert facts["moved"] and cut < 0.45
    assert _at(y, squeezed, cut, "accuracy") > _at(y, squeezed, 0.5, "accuracy") + 0.1


@pytest.mark.parametrize("seed", range(5))
def test_a_calibrated_balanced_model_keeps_one_half(seed):
    """On balanced classes with calibrated probabilities the best validation cut differs from
    0.5 by noise only: the bootstrap spread of its gain keeps 0.5."""
    rng = np.random.default_rng(seed)
    p = rng.random(300)
    y = (rng.random(300) < p).astype(int)  # calibrated by construction
    cut, facts = metric_threshold(y, p, "accuracy", seed=seed)
    assert cut == 0.5 and not facts["moved"]


def test_one_class_or_an_unknown_metric():
    assert metric_threshold(np.zeros(10), np.linspace(0, 1, 10))[0] == 0.5
    with pytest.raises(ValueError, match="one of accuracy"):
        metric_threshold(np.r_[0, 1], np.r_[0.2, 0.8], "youden")


def test_calibration_error_tells_calibrated_from_overconfident_probabilities():
    """The figure metrics.json reports beside accuracy: near 0 for probabilities that match how
    often the model is right, large for the same ranking pushed towards 0 and 1."""
    from layerwise.metrics import classification_metrics, expected_calibration_error

    rng = np.random.default_rng(0)
    p = rng.random(20_000)
    y = (rng.random(20_000) < p).astype(int)
    calibrated = np.c_[1 - p, p]
    sharp = np.clip((p - 0.5) * 4 + 0.5, 0.001, 0.999)
    overconfident = np.c_[1 - sharp, sharp]
    assert expected_calibration_error(y, calibrated) < 0.02
    assert expected_calibration_error(y, overconfident) > 0.15
    assert classification_metrics(y, calibrated)["ece"] == expected_calibration_error(y, calibrated)


def test_temperature_recovers_an_overconfident_model_and_keeps_labels():
    from layerwise.metrics import (
        apply_temperature,
        expected_calibration_error,
        fit_temperature,
        threshold_after_temperature,
    )

    rng = np.random.default_rng(3)
    p = rng.random(4000)
    y = (rng.random(4000) < p).astype(int)
    sharp = apply_temperature(np.c_[1 - p, p], 0.4)
    t = fit_temperature(y, sharp)
    fixed = apply_temperature(sharp, t)
    assert 2.0 < t < 3.2
    assert expected_calibration_error(y, fixed) < expected_calibration_error(y, sharp) / 3
    assert (fixed.argmax(1) == sharp.argmax(1)).all()
    cut = 0.7
    moved = threshold_after_temperature(cut, t)
    assert ((sharp[:, 1] >= cut) == (fixed[:, 1] >= moved)).all()


@pytest.mark.parametrize("name", ["image-classification", "speech-recognition"])
def test_the_chosen_model_is_calibrated_and_a_loaded_run_predicts_the_same(contract_run, name):
    """metrics.json says what calibration did, and a loaded run predicts with it."""
    import layerwise

    run, _, inputs = contract_run(name)
    calibration = run.metrics.get("calibration")
    assert calibration is not None and calibration["temperature"] > 0
    assert calibration["validation_ece_after"] <= calibration["validation_ece_before"] + 1e-9
    loaded = layerwise.load(run.path)
    assert loaded.temperature == run.task.temperature
    assert loaded.predict(inputs).equals(run.task.predict(inputs))


def test_the_threshold_option_names_what_the_cut_serves(cli, tmp_path):
    """`--threshold` takes a metric or a probability; anything else is one line before any
    training (no folder left)."""
    from layerwise.core.operating_point import threshold_metric as _threshold_metric

    assert _threshold_metric("auto") == "auto"
    assert _threshold_metric("F1") == "macro_f1" == _threshold_metric("macro-f1")
    assert _threshold_metric("balanced-accuracy") == "balanced_accuracy"
    assert _threshold_metric("0.3") is None and _threshold_metric(None) is None
    from layerwise.data.image_sources import scans, write_folder

    folder = write_folder(scans(40, seed=0), tmp_path / "scans")
    code, _, err = cli("train", folder, "--threshold", "youden", "-o", tmp_path / "runs")
    assert code == 2 and "threshold='youden' is not valid" in err and "macro-f1" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    code, _, err = cli("train", folder, "--threshold", "1.5", "-o", tmp_path / "runs")
    assert code == 2 and "between 0 and 1" in err


def test_a_named_metric_reaches_the_cut(tmp_path):
    import layerwise
    from layerwise.data.image_sources import scans

    run = layerwise.fit(scans(300, seed=1), task="image-classification", threshold="balanced-accuracy",
                        candidates=["pixel-logistic"], output_dir=str(tmp_path), verbose=False,
                        report=False)  # fmt: skip
    assert run.task.option("threshold") == "balanced-accuracy"
    assert 0.0 < run.task.threshold < 1.0
    assert run.metrics["candidates"]["pixel-logistic"]["threshold"] is not None
