"""How far a classifier's probabilities can be trusted, and where its two-class cut sits: the
files a classification run keeps for it (``reliability.json``, ``threshold_curves.json``,
written from the chosen model's test probabilities before the manifest) and the report
sections drawn from them, so a report rebuilt from the folder alone shows the same figures.

A folder written before these files existed has neither: its report leaves both sections out.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from layerwise.runs.folder import RELIABILITY, THRESHOLD_CURVES, RunFolder

CURVE_METRICS = ("accuracy", "macro_f1", "balanced_accuracy", "sensitivity", "specificity")
LABELS = {"accuracy": "accuracy", "macro_f1": "macro-F1", "balanced_accuracy": "balanced accuracy"}


def _known(labels: Any, proba: Any) -> tuple[np.ndarray, np.ndarray]:
    """The rows whose class the model knows (a class unseen in training is coded -1)."""
    labels, proba = np.asarray(labels), np.asarray(proba, dtype=float)
    return labels[labels >= 0], proba[labels >= 0]


def write_reliability(
    run: RunFolder,
    labels: Any,
    proba: Any,
    *,
    model: str | None = None,
    raw: Any = None,
    calibration: dict[str, Any] | None = None,
) -> None:
    """``reliability.json``: the reliability bins (:func:`layerwise.metrics.reliability_bins`)
    of ``proba``, the probabilities the model gives on the test rows, and of ``raw``, the same
    before calibration (None: not calibrated), with the fitted ``calibration`` (temperature,
    validation ECE before and after) when there is one.

    >>> import tempfile
    >>> run = RunFolder.create(tempfile.mkdtemp(), "image-classification")
    >>> write_reliability(run, [0, 1, 1], [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6]], model="cnn")
    >>> run.read_json("reliability.json")["final"]["ece"]
    0.3
    """
    from layerwise.metrics import reliability_bins

    labels_known, final = _known(labels, proba)
    data: dict[str, Any] = {
        "model": model,
        "split": "test",
        "binning": "15 equal-width bins of the predicted class's probability",
        "final": {**reliability_bins(labels_known, final), "rows": len(labels_known)},
    }
    if raw is not None:
        _, raw = _known(labels, raw)
        data["raw"] = {**reliability_bins(labels_known, raw), "rows": len(labels_known)}
    if calibration:
        data.update({k: v for k, v in calibration.items() if k != "method"})
    run.write_json(RELIABILITY, data)


def write_threshold_curves(
    run: RunFolder,
    labels: Any,
    score: Any,
    *,
    positive: str,
    threshold: float | None,
    served: str | None = None,
    validation: tuple[Any, Any, str] | None = None,
) -> None:
    """``threshold_curves.json``: the two-class metrics of the test rows at 101 cuts on
    ``score`` (the probability of class ``positive``; :func:`layerwise.thresholds.threshold_curves`),
    at 0.5 and at ``threshold``, the cut the run uses (None: the most probable class, which is
    0.5). ``served``: the metric the cut was chosen for; with ``validation`` (labels, scores,
    where they come from) its curve there is kept too.

    >>> import tempfile
    >>> run = RunFolder.create(tempfile.mkdtemp(), "text-classification")
    >>> write_threshold_curves(run, [0, 1, 1], [0.2, 0.9, 0.4], positive="spam", threshold=0.3)
    >>> run.read_json("threshold_curves.json")["at_cut"]["accuracy"]
    1.0
    """
    from layerwise.thresholds import threshold_curves

    labels, score = _known(labels, score)
    data: dict[str, Any] = {
        "positive": positive,
        "split": "test",
        "rows": len(labels),
        "threshold": threshold,
        "served": served,
        "headline": served if served in CURVE_METRICS else "accuracy",
        "test": threshold_curves(labels, score),
    }
    points = threshold_curves(labels, score, [0.5, 0.5 if threshold is None else threshold])
    data["at_0.5"] = {m: points[m][0] for m in CURVE_METRICS}
    data["at_cut"] = {m: points[m][1] for m in CURVE_METRICS}
    if validation is not None and served in CURVE_METRICS:
        val_labels, val_score = _known(validation[0], validation[1])
        curve = threshold_curves(val_labels, val_score)
        data["validation"] = {
            "metric": served,
            "source": validation[2],
            "rows": len(val_labels),
            "cut": curve["cut"],
            "values": curve[served],
        }
    run.write_json(THRESHOLD_CURVES, data)


# ---- report sections ---------------------------------------------------------------------
def _read(run: RunFolder, name: str) -> dict[str, Any] | None:
    """``name``'s JSON object, None without the file; a file that is not JSON is a ValueError,
    which the report shows as one line in its section."""
    from layerwise.errors import RunFolderError

    if not run.exists(name):
        return None
    try:
        data = run.read_json(name)
    except RunFolderError as error:
        raise ValueError(str(error)) from error
    return data if isinstance(data, dict) else None


def _meaning(ece: float) -> str:
    if ece < 0.02:
        return (
            "its probabilities can be taken at face value: of the cases it gives 80 %, "
            "about 80 % are right."
        )
    if ece < 0.05:
        return "read its probabilities as approximate: a stated 80 % may be a few points off."
    return "its probabilities are off by that much on average: use them to rank cases, not as odds."


def reliability(run: RunFolder) -> str | None:
    """The reliability diagram, and what the ECE means for the person reading the scores."""
    from layerwise.runs import plots_calibration
    from layerwise.runs.plots import img_tag

    data = _read(run, RELIABILITY)
    if data is None:
        return None
    image = plots_calibration.reliability_diagram(data)
    if not image:
        return None
    final, raw = data["final"], data.get("raw")
    ece = float(final["ece"])
    note = (
        f'<p class="note">The expected calibration error (ECE) is the average gap between the '
        f"confidence the model states and how often it is right: <b>{100 * ece:.1f} "
        f"percentage points</b> on the test rows, so {_meaning(ece)}"
    )
    if raw is not None and data.get("temperature") is not None:
        note += (
            f" Temperature scaling (T = {float(data['temperature']):.2f}, fitted on validation) "
            f"took it from {100 * float(raw['ece']):.1f} points; the ranking and every "
            "predicted label stay the same."
        )
    note += " Each dot is one bin of test rows; dots on the diagonal are honest.</p>"
    return img_tag(image, "reliability diagram") + note


def _at(values: dict, metric: str) -> str:
    value = values.get(metric) if isinstance(values, dict) else None
    return "–" if value is None else f"{float(value):.3f}"


def threshold(run: RunFolder) -> str | None:
    """The metrics against the cut, and what the run's cut gives on test against 0.5."""
    from layerwise.runs import plots_calibration
    from layerwise.runs.plots import img_tag

    data = _read(run, THRESHOLD_CURVES)
    if data is None:
        return None
    calibrated = "temperature" in (_read(run, RELIABILITY) or {})  # fitted on validation
    image = plots_calibration.threshold_chart({**data, "calibrated": calibrated})
    if not image:
        return None
    metric = str(data.get("headline") or "accuracy")
    name = LABELS.get(metric, metric)
    cut = data.get("threshold")
    at_half, at_cut = _at(data.get("at_0.5"), metric), _at(data.get("at_cut"), metric)
    if cut is not None and abs(float(cut) - 0.5) > 1e-9:
        said = (
            f"On test, {name} is <b>{at_half}</b> at 0.5 and <b>{at_cut}</b> at the run's cut "
            f"{float(cut):.3f}, which was chosen on validation rows, not on these."
        )
    else:
        values = [np.nan if v is None else v for v in data["test"].get(metric, [])]
        best = int(np.nanargmax(values)) if values and not np.isnan(values).all() else None
        said = f"The run cuts at 0.5; on test, {name} there is <b>{at_half}</b>."
        if best is not None and values[best] > float(data["at_0.5"][metric]) + 1e-9:
            said += (
                f" The best cut on the test rows themselves would give {values[best]:.3f} "
                f"(at {data['test']['cut'][best]:.2f}): an upper bound, not a cut to use, as "
                "it is picked on the rows it is scored on."
            )
    positive = html.escape(str(data.get("positive")))
    note = (
        f'<p class="note">{said} A row is called <code>{positive}</code> when its '
        f"{'calibrated ' if calibrated else ''}probability is at least the cut; moving the cut "
        "trades sensitivity for specificity."
    )
    validation = data.get("validation")
    if isinstance(validation, dict):
        note += (
            f" The dashed line is {LABELS.get(validation['metric'], validation['metric'])} on "
            f"{html.escape(str(validation['source']))} ({validation['rows']} rows), where the "
            "cut was chosen."
        )
    return img_tag(image, "metrics against the cut") + note + "</p>"


# The sections report.html adds after the test predictions, in page order.
SECTIONS = [("Are its probabilities honest?", reliability), ("Metrics against the cut", threshold)]
