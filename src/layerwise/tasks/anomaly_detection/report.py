"""Report sections for anomaly-detection runs: the score distribution with the threshold,
precision-recall and ROC curves when labels exist, recall at each alert budget, and the most
unusual training rows with their reasons."""

from __future__ import annotations

import html
import json

import numpy as np

from layerwise.runs import plots
from layerwise.runs.folder import RunFolder
from layerwise.tasks.anomaly_detection.outputs import FLAGGED, SCORES  # the names it writes


def _data(run: RunFolder) -> dict | None:
    return json.loads(run.read_text(SCORES)) if run.exists(SCORES) else None


def score_distribution(run: RunFolder) -> str | None:
    data = _data(run)
    if not data:
        return None
    scores = np.asarray(data["scores"], dtype=float)
    labels = data.get("labels")
    fig, (ax,) = plots._figure(7.5, 3.0)
    shown = np.clip(scores, None, np.quantile(scores, 0.999) * 1.5 + 1)
    bins = np.linspace(shown.min(), shown.max(), 60)
    if labels is not None and any(v is not None for v in labels):
        kinds = np.array([-1 if v is None else v for v in labels])
        for value, name, color in ((-1, "unlabelled", plots.GREY), (0, "labelled normal",
                                   plots.BLUE), (1, "labelled anomaly", plots.RED)):  # fmt: skip
            if (kinds == value).any():
                ax.hist(shown[kinds == value], bins=bins, color=color, alpha=0.6, label=name)
    else:
        ax.hist(shown, bins=bins, color=plots.BLUE, alpha=0.8, label="training rows")
    threshold = float(data["threshold"]["threshold"])
    ax.axvline(threshold, color=plots.RED, linestyle="--", linewidth=1.2, label="threshold")
    ax.set_yscale("log")
    ax.set_xlabel("anomaly score (0 = typical, 1 = 90th percentile)", fontsize=8)
    ax.set_ylabel("rows (log scale)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    note = (
        f'<p class="note">Scores of the training rows by {html.escape(str(data["chosen"]))}; '
        f"rows right of the dashed line are flagged ({html.escape(data['threshold']['rule'])}).</p>"
    )
    return note + plots.img_tag(plots._encode(fig), "score distribution and threshold")


def curves(run: RunFolder) -> str | None:
    """Precision-recall and ROC curves on the held-out test rows (else the labelled rows)."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    data = _data(run)
    if not data:
        return None
    if data.get("test_labels"):
        y, s, where = np.array(data["test_labels"]), np.array(data["test_scores"]), "test rows"
    elif data.get("labels") and any(v is not None for v in data["labels"]):
        known = np.array([v is not None for v in data["labels"]])
        y = np.array([v for v in data["labels"] if v is not None])
        s, where = np.asarray(data["scores"])[known], "labelled training rows (in sample)"
    else:
        return None
    if y.min() == y.max():
        return None
    fig, (left, right) = plots._figure(9.0, 3.4, ncols=2)
    precision, recall, _ = precision_recall_curve(y, s)
    left.plot(recall, precision, color=plots.BLUE)
    left.axhline(y.mean(), color=plots.GREY, linestyle=":", label=f"base rate {y.mean():.1%}")
    left.set_xlabel("recall", fontsize=8)
    left.set_ylabel("precision", fontsize=8)
    left.legend(fontsize=7)
    fpr, tpr, _ = roc_curve(y, s)
    right.plot(fpr, tpr, color=plots.BLUE)
    right.plot([0, 1], [0, 1], color=plots.GREY, linestyle=":")
    right.set_xlabel("false positive rate", fontsize=8)
    right.set_ylabel("true positive rate", fontsize=8)
    for ax in (left, right):
        ax.tick_params(labelsize=7)
    note = f'<p class="note">On the {where}: {int(y.sum())} anomalies among {len(y)}.</p>'
    return note + plots.img_tag(plots._encode(fig), "precision-recall and ROC curves")


def budgets(run: RunFolder) -> str | None:
    data = _data(run)
    if not data:
        return None
    points = data["threshold"].get("operating_points", [])
    labelled = any("recall" in p for p in points)
    head = ["alert budget", "score threshold"] + (["precision", "recall"] if labelled else [])
    rows = []
    for p in points:
        cells = [f"{p['budget']:.1%}", f"{p['threshold']:.3f}"]
        if labelled:
            cells += [_pct(p.get("precision")), _pct(p.get("recall"))]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    note = (
        "Precision and recall measured on the labelled rows (out of fold for fraud models)."
        if labelled
        else "No labels: precision and recall at each budget cannot be known; label a few "
        "flagged rows and train with --target to measure them."
    )
    table = "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows)
    return table + f'</table><p class="note">{note}</p>'


def top_rows(run: RunFolder) -> str | None:
    if not run.exists(FLAGGED):
        return None
    import pandas as pd

    frame = pd.read_csv(run.file(FLAGGED)).head(15)
    return frame.to_html(index=False, border=0, float_format=lambda v: f"{v:.4g}")


def _pct(value) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.0%}"


# The sections this application adds to report.html, in page order (Task.report_sections).
SECTIONS = [
    ("Score distribution", score_distribution),
    ("Precision-recall and ROC", curves),
    ("Recall at each alert budget", budgets),
    ("Most unusual rows and why", top_rows),
]
