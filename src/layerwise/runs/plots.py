"""Plots for the run report, each returned as a base64-encoded PNG string.

Figures are drawn on matplotlib's Agg canvas directly (``Figure`` + ``FigureCanvasAgg``), so
nothing touches pyplot's global state or the user's chosen backend (a notebook keeps its
inline plots), and each figure is released as soon as it is saved. matplotlib is imported
inside the functions: importing this module is free.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

DPI = 110
BLUE, BLUE_LIGHT = "#1f77b4", "#a6c8e8"
GREEN, GREEN_LIGHT = "#2ca02c", "#98d69a"
ORANGE, RED, GREY = "#ff7f0e", "#d62728", "#7f7f7f"
CYCLE = [BLUE, ORANGE, GREEN, RED, "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", GREY]


def _figure(width: float, height: float, ncols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    for ax in axes:
        ax.grid(True, alpha=0.3, linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig, axes


def _encode(fig) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    fig.clear()
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _metric_of(split: Any, metric: str | None) -> float | None:
    """``split[metric]`` (or its first numeric value when the metric is missing), else None."""
    if not isinstance(split, dict):
        return None
    value = split.get(metric) if metric else None
    if value is None:
        value = next((v for v in split.values() if isinstance(v, (int, float))), None)
    return float(value) if isinstance(value, (int, float)) else None


def candidates_chart(candidates: dict, metric: str | None, chosen: str | None) -> str | None:
    """Horizontal bars of each candidate's validation and test score; the chosen one in green."""
    rows = []
    for name, info in candidates.items():
        info = info if isinstance(info, dict) else {}
        val = _metric_of(info.get("validation"), metric)
        test = _metric_of(info.get("test"), metric)
        if val is not None or test is not None:
            rows.append((str(name), val, test))
    if not rows:
        return None
    from matplotlib.patches import Patch

    fig, (ax,) = _figure(9.0, 1.3 + 0.62 * len(rows))
    height = 0.38
    y = np.arange(len(rows))[::-1]
    values = [v for _, a, b in rows for v in (a, b) if v is not None]
    texts = []
    for pos, (name, val, test) in zip(y, rows, strict=False):
        light, dark = (GREEN_LIGHT, GREEN) if name == chosen else (BLUE_LIGHT, BLUE)
        for offset, value, colour in ((height / 2, val, light), (-height / 2, test, dark)):
            if value is None:
                continue
            ax.barh(pos + offset, value, height=height, color=colour)
            texts.append((value, pos + offset))
    ax.set_yticks(y)
    labels = ax.set_yticklabels([f"{n}  (chosen)" if n == chosen else n for n, _, _ in rows])
    for label, (name, _, _) in zip(labels, rows, strict=False):
        if name == chosen:
            label.set_fontweight("bold")
    low, high = min(values), max(values)
    if low > 0 and (high - low) < 0.25 * high:
        # close scores (accuracy 0.96 vs 0.97): zoom in so the differences are visible
        ax.set_xlim(
            max(0.0, low - 2.5 * (high - low) - 0.02 * high),
            high + 0.6 * (high - low) + 0.02 * high,
        )
        ax.set_title("x axis zoomed to the range of the scores", fontsize=8, color=GREY, loc="left")
    else:
        lo, hi = min(0.0, low * 1.15), max(0.0, high * 1.15)
        ax.set_xlim(lo, hi if hi > lo else 1.0)
    left, right = ax.get_xlim()
    for value, pos in texts:
        ax.text(value + (right - left) * 0.006, pos, f"{value:.4g}", va="center", fontsize=8)
    ax.set_xlabel(metric or "score")
    ax.grid(axis="y", visible=False)
    handles = [Patch(color=GREY, alpha=0.45, label="validation"), Patch(color=GREY, label="test")]
    if chosen in {r[0] for r in rows}:
        handles.append(Patch(color=GREEN, label="chosen"))
    ax.legend(
        handles=handles, loc="lower left", bbox_to_anchor=(1.0, 0.0), fontsize=8, frameon=False
    )
    return _encode(fig)


def learning_curves(
    history: pd.DataFrame, monitor: str = "val_loss", mode: str = "min"
) -> str | None:
    """Train/val loss in one panel, validation metrics in another; the best epoch by
    ``monitor`` (lowest, or highest for ``mode="max"``) dashed."""
    epoch = history["epoch"] if "epoch" in history else pd.Series(np.arange(1, len(history) + 1))
    losses = [c for c in ("train_loss", "val_loss") if c in history]
    metrics = [c for c in history.columns if c.startswith("val_") and c != "val_loss"]
    if not losses and not metrics:
        return None
    from matplotlib.ticker import MaxNLocator

    panels = [p for p in (losses, metrics) if p]
    fig, axes = _figure(5.2 * len(panels), 3.6, ncols=len(panels))
    best = None
    if monitor in history and history[monitor].notna().any():
        values = history[monitor].to_numpy(dtype=float)
        best = epoch.iloc[int(np.nanargmax(values) if mode == "max" else np.nanargmin(values))]
    titles = [t for t, p in (("Loss", losses), ("Validation metrics", metrics)) if p]
    for ax, columns, title in zip(axes, panels, titles, strict=False):
        for i, column in enumerate(columns):
            colour = {"train_loss": BLUE, "val_loss": ORANGE}.get(column, CYCLE[(i + 2) % 10])
            marker = "o" if len(history) <= 30 else None
            ax.plot(epoch, history[column], label=column, color=colour, marker=marker, ms=3)
        if best is not None:
            ax.axvline(best, color=GREY, linestyle="--", linewidth=1, label=f"best epoch ({best})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    return _encode(fig)


def confusion_matrix(y_true: Sequence, y_pred: Sequence, classes: Sequence[str]) -> str:
    """Counts in each cell, colours normalised by row (recall); legible up to ~30 classes."""
    classes = [str(c) for c in classes]
    index = {c: i for i, c in enumerate(classes)}
    n = len(classes)
    counts = np.zeros((n, n), dtype=int)
    for t, p in zip(y_true, y_pred, strict=False):
        if str(t) in index and str(p) in index:
            counts[index[str(t)], index[str(p)]] += 1
    rows = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros_like(counts, dtype=float), where=rows > 0)
    side = min(12.0, max(4.2, 0.38 * n + 2.4))
    fig, (ax,) = _figure(side + 0.9, side)
    ax.grid(False)
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1, aspect="equal")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    font = 10 if n <= 8 else 8 if n <= 15 else 6 if n <= 25 else 5
    for i in range(n):
        for j in range(n):
            if counts[i, j] or n <= 15:
                colour = "white" if norm[i, j] > 0.55 else "black"
                ax.text(
                    j, i, str(counts[i, j]), ha="center", va="center", fontsize=font, color=colour
                )
    short = [c if len(c) <= 18 else c[:17] + "…" for c in classes]
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(
        short,
        rotation=45 if n <= 10 else 90,
        ha="right" if n <= 10 else "center",
        fontsize=max(font, 6),
    )
    ax.set_yticklabels(short, fontsize=max(font, 6))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix (n={int(counts.sum())})", fontsize=10)
    return _encode(fig)


def roc_curves(y_true: Sequence, proba: pd.DataFrame) -> str | None:
    """ROC from class probabilities (one column per class, named by the class).

    Binary: one curve for the second class as positive. Multiclass: one-vs-rest per class
    (the first 10 drawn) and the macro AUC over all of them.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    truth = np.asarray([str(t) for t in y_true])
    classes = [str(c) for c in proba.columns]
    curves = []  # (label, fpr, tpr, auc)
    for column, cls in zip(proba.columns, classes, strict=False):
        if len(classes) == 2 and cls == classes[0]:
            continue
        positive = truth == cls
        score = proba[column].to_numpy(dtype=float)
        if positive.all() or not positive.any() or not np.isfinite(score).all():
            continue
        fpr, tpr, _ = roc_curve(positive, score)
        curves.append((cls, fpr, tpr, float(roc_auc_score(positive, score))))
    if not curves:
        return None
    fig, (ax,) = _figure(5.6, 4.8)
    ax.plot([0, 1], [0, 1], color=GREY, linestyle=":", linewidth=1)
    if len(classes) == 2:
        label, fpr, tpr, auc = curves[0]
        ax.plot(fpr, tpr, color=BLUE, linewidth=2, label=f"positive = {label}  (AUC {auc:.3f})")
        ax.set_title("ROC curve", fontsize=10)
    else:
        for i, (label, fpr, tpr, auc) in enumerate(curves[:10]):
            ax.plot(fpr, tpr, color=CYCLE[i % 10], linewidth=1.4, label=f"{label}  (AUC {auc:.3f})")
        macro = float(np.mean([c[3] for c in curves]))
        shown = "" if len(curves) <= 10 else f", first 10 of {len(curves)} shown"
        ax.set_title(f"ROC one-vs-rest, macro AUC {macro:.3f}{shown}", fontsize=10)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.legend(loc="lower right", fontsize=8)
    return _encode(fig)


def _sample(y_true, y_pred, limit: int = 5000, seed: int = 0):
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    keep = np.isfinite(y_true) & np.isfinite(y_pred)
    y_true, y_pred = y_true[keep], y_pred[keep]
    if len(y_true) > limit:
        rows = np.random.default_rng(seed).choice(len(y_true), size=limit, replace=False)
        y_true, y_pred = y_true[rows], y_pred[rows]
    return y_true, y_pred


def regression_plots(y_true: Sequence, y_pred: Sequence) -> str | None:
    """Predicted vs actual with the identity line, and residuals vs predicted."""
    y_true, y_pred = _sample(y_true, y_pred)
    if len(y_true) == 0:
        return None
    alpha = 0.7 if len(y_true) < 500 else 0.35
    fig, (left, right) = _figure(10.4, 4.4, ncols=2)
    left.scatter(y_true, y_pred, s=10, alpha=alpha, color=BLUE, edgecolors="none")
    low = float(min(y_true.min(), y_pred.min()))
    high = float(max(y_true.max(), y_pred.max()))
    left.plot([low, high], [low, high], color=RED, linestyle="--", linewidth=1.2, label="y = x")
    left.set_xlabel("actual")
    left.set_ylabel("predicted")
    left.set_title("Predicted vs actual", fontsize=10)
    left.legend(fontsize=8)
    residuals = y_true - y_pred
    right.scatter(y_pred, residuals, s=10, alpha=alpha, color=ORANGE, edgecolors="none")
    right.axhline(0, color=RED, linestyle="--", linewidth=1.2)
    right.set_xlabel("predicted")
    right.set_ylabel("residual (actual - predicted)")
    right.set_title("Residuals vs predicted", fontsize=10)
    return _encode(fig)


def importance_chart(features: list[dict], metric: str | None, top: int = 20) -> str | None:
    """Top ``top`` features as horizontal bars with their standard deviation as error bars."""
    rows = [f for f in features if isinstance(f, dict) and "importance" in f]
    if not rows:
        return None
    rows = sorted(rows, key=lambda f: float(f["importance"]), reverse=True)[:top]
    rows.reverse()  # largest drawn at the top
    names = [str(f.get("feature", "?")) for f in rows]
    names = [n if len(n) <= 30 else n[:29] + "…" for n in names]
    values = [float(f["importance"]) for f in rows]
    errors = [float(f.get("std") or 0.0) for f in rows]
    fig, (ax,) = _figure(8.0, 1.0 + 0.3 * len(rows))
    colours = [BLUE if v >= 0 else GREY for v in values]
    ax.barh(
        range(len(rows)),
        values,
        xerr=errors,
        color=colours,
        capsize=3,
        error_kw={"elinewidth": 1, "ecolor": "#444444"},
    )
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(names, fontsize=8 if len(rows) > 12 else 9)
    ax.axvline(0, color="#444444", linewidth=0.8)
    ax.margins(y=0.01)
    ax.set_xlabel(f"drop in {metric or 'score'} when the feature is shuffled")
    ax.grid(axis="y", visible=False)
    return _encode(fig)


def trials_chart(
    trials: Sequence[dict], metric: str | None, greater_is_better: bool, baseline: float | None
) -> str | None:
    """A hyperparameter search's score by trial: finished trials as dots, pruned ones (their
    running mean when stopped) as crosses, the best so far as a step line and the untuned
    configuration (``baseline``) dashed. ``trials``: dicts with ``value`` and ``state``."""
    points = [
        (i + 1, float(t["value"]), str(t.get("state")))
        for i, t in enumerate(trials)
        if isinstance(t, dict) and isinstance(t.get("value"), int | float)
    ]
    if not points:
        return None
    fig, (ax,) = _figure(7.5, 3.4)
    done = [(n, v) for n, v, state in points if state == "complete"]
    cut = [(n, v) for n, v, state in points if state != "complete"]
    if done:
        ax.plot(*zip(*done, strict=True), "o", color=BLUE, ms=5, label="finished")
        pick = max if greater_is_better else min
        best, line = None, []
        for n, v in done:
            best = v if best is None else pick(best, v)
            line.append((n, best))
        ax.step(*zip(*line, strict=True), where="post", color=GREEN, label="best so far")
    if cut:
        ax.plot(*zip(*cut, strict=True), "x", color=GREY, ms=6, label="pruned (running mean)")
    if baseline is not None:
        ax.axhline(baseline, color=ORANGE, linestyle="--", linewidth=1, label="untuned")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{metric or 'score'} on the bake-off's folds")
    ax.legend(fontsize=8, loc="best")
    return _encode(fig)


def img_tag(b64: str | None, alt: str) -> str:
    """An ``<img>`` embedding a base64 PNG (from this module's plots); "" for no image."""
    if not b64:
        return ""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'
