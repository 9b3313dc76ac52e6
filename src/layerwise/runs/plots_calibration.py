"""Plots of a classifier's probabilities for the run report, each a base64-encoded PNG drawn
from the JSON the run folder keeps (:mod:`layerwise.runs.probability_report`): the reliability
diagram and the two-class metrics against the cut. Drawn as :mod:`layerwise.runs.plots` draws
(Agg canvas, no pyplot state)."""

from __future__ import annotations

from typing import Any

import numpy as np

from layerwise.runs.plots import BLUE, GREEN, GREY, ORANGE, RED, _encode, _figure

NAMES = {
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "balanced_accuracy": "balanced accuracy",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
}
STYLE = {  # colour, line width, line style, alpha
    "accuracy": (BLUE, 1.8, "-", 1.0),
    "macro_f1": (ORANGE, 1.8, "-", 1.0),
    "balanced_accuracy": (GREEN, 1.8, "-", 1.0),
    "sensitivity": ("#9467bd", 1.0, "-.", 0.6),
    "specificity": ("#8c564b", 1.0, (0, (1, 1)), 0.7),
}


def _points(bins: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean confidence, accuracy, rows) of the bins with rows."""
    rows = [
        (c, a, n)
        for c, a, n in zip(bins["confidence"], bins["accuracy"], bins["count"], strict=False)
        if c is not None and a is not None and n
    ]
    return tuple(np.array([r[i] for r in rows], dtype=float) for i in range(3))  # type: ignore[return-value]


def _curve(ax: Any, bins: dict, most: float, label: str, **style: Any) -> None:
    """One model's bins joined by a line, each dot's area growing with its rows (a bin of
    three rows is noise; the eye should weigh it so)."""
    x, y, rows = _points(bins)
    ax.plot(x, y, label=label, **style)
    ax.scatter(x, y, s=8 + 110 * np.sqrt(rows / most), color=style["color"], zorder=3,
               alpha=style.get("alpha", 1.0), edgecolors="white", linewidths=0.6)  # fmt: skip


def reliability_diagram(data: dict[str, Any]) -> str | None:
    """Accuracy against top-class confidence per bin, after calibration (and before, dashed),
    the diagonal of perfect calibration, and the rows in each bin as a faint histogram."""
    after = data.get("final")
    if not isinstance(after, dict) or not any(after.get("count") or []):
        return None
    before = data.get("raw") if isinstance(data.get("raw"), dict) else None
    edges = np.asarray(after["edges"], dtype=float)
    counts = np.asarray(after["count"], dtype=float)
    fig, (ax,) = _figure(6.8, 5.2)
    bars = ax.twinx()
    width = float(np.diff(edges).mean())
    bars.bar(edges[:-1] + width / 2, counts, width=0.92 * width, color=GREY, alpha=0.16)
    bars.set_ylim(0, counts.max() * 3.5)  # the bars stay in the lower part
    bars.set_ylabel("test rows per bin (grey bars)", fontsize=8, color=GREY)
    bars.tick_params(axis="y", labelsize=7, colors=GREY)
    bars.spines["top"].set_visible(False)
    ax.set_zorder(bars.get_zorder() + 1)
    ax.patch.set_visible(False)
    used = counts + (np.asarray(before["count"], dtype=float) if before is not None else 0)
    low = float(edges[int(np.flatnonzero(used)[0])])
    honest = "honest: as often right as it says"
    ax.plot([low, 1], [low, 1], color=GREY, linestyle=":", linewidth=1.2, label=honest)
    most = float(max(counts.max(), max(before["count"]) if before is not None else 0))
    if before is not None:
        label = f"before calibration: ECE {before['ece']:.3f}"
        _curve(ax, before, most, label, color=ORANGE, lw=1.2, ls="--", alpha=0.7)
    label = (
        f"after (temperature {float(data['temperature']):.2f}): ECE {after['ece']:.3f}"
        if before is not None and data.get("temperature") is not None
        else f"the model's probabilities: ECE {after['ece']:.3f}"
    )
    _curve(ax, after, most, label, color=BLUE, lw=2)
    ax.set_xlim(low - 0.01, 1.01)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("confidence: the probability of the predicted class")
    ax.set_ylabel("how often it is right (dot area: rows in the bin)")
    title = f"{data.get('model') or 'chosen model'} on {after.get('rows', '?')} test rows: "
    title += (
        f"ECE {before['ece']:.3f} before calibration, {after['ece']:.3f} after"
        if before is not None
        else f"ECE {after['ece']:.3f}"
    )
    ax.set_title(title, fontsize=9.5)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8, frameon=False)
    return _encode(fig)


def threshold_chart(data: dict[str, Any]) -> str | None:
    """Each metric of the test split against the cut, the validation curve of the metric the
    cut served dashed, and vertical lines at 0.5 and at the cut the run uses."""
    test = data.get("test")
    if not isinstance(test, dict) or not test.get("cut"):
        return None
    fig, (ax,) = _figure(8.4, 4.4)
    cuts = np.asarray(test["cut"], dtype=float)
    for name, (colour, width, style, alpha) in STYLE.items():
        if name in test:
            values = np.array([np.nan if v is None else v for v in test[name]], dtype=float)
            label = f"{NAMES[name]} (test)"
            ax.plot(cuts, values, color=colour, lw=width, ls=style, alpha=alpha, label=label)
    validation = data.get("validation")
    if isinstance(validation, dict) and validation.get("metric") in STYLE:
        metric = validation["metric"]
        values = np.array([np.nan if v is None else v for v in validation["values"]], dtype=float)
        label = f"{NAMES[metric]} ({validation['source']})"
        cuts = np.asarray(validation["cut"], dtype=float)
        ax.plot(cuts, values, color=STYLE[metric][0], lw=1.3, ls="--", label=label)
    cut = data.get("threshold")
    moved = cut is not None and abs(cut - 0.5) > 1e-9
    half = "0.5" if moved else "0.5, the run's cut"
    ax.axvline(0.5, color="#444444", linewidth=0.9, alpha=0.6, label=half)
    if moved:
        ax.axvline(cut, color=RED, linewidth=1.5, label=f"the run's cut, {cut:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"cut: {data.get('positive', 'class 1')} when its probability is at least")
    ax.set_ylabel("score")
    probability = "calibrated probability" if data.get("calibrated") else "probability"
    ax.set_title(f"Metrics against the cut on the {probability}", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return _encode(fig)
