"""Report sections of a molecular-property run: predicted against measured on the test
molecules (or ROC curves), the errors by scaffold, the best and worst molecules drawn, each
atom's contribution, the forest's most important substructures and the ensemble's spread."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.tasks.molecules.drawings import BEST_WORST, CONTRIBUTIONS, FOREST_BITS
from layerwise.tasks.molecules.outputs import TEST_FILE


def _test_frame(run: RunFolder) -> pd.DataFrame | None:
    if not run.exists(TEST_FILE):
        return None
    import io

    return pd.read_csv(io.BytesIO(run.read_bytes(TEST_FILE, limit=64 << 20)))


def predictions(run: RunFolder) -> str | None:
    """The served model on the test molecules: parity and residuals, or ROC, per target."""
    from layerwise.runs.plots import img_tag, regression_plots, roc_curves

    frame = _test_frame(run)
    metrics = run.read_json(names.METRICS)
    if frame is None or not metrics.get("targets"):
        return None
    chosen, parts = metrics["chosen"], []
    for name in metrics["targets"][:4]:
        column = f"{name}|{chosen}"
        if name not in frame or column not in frame:
            continue
        y, p = frame[name].to_numpy(float), frame[column].to_numpy(float)
        keep = np.isfinite(y)
        if metrics.get("kind") == "classification":
            proba = pd.DataFrame({"0": 1 - p[keep], "1": p[keep]})
            image = roc_curves(y[keep].astype(int), proba)
        else:
            image = regression_plots(y[keep], p[keep])
        if image:
            parts.append(f"<h3>{html.escape(name)}</h3>" + img_tag(image, f"{name} on test"))
    if not parts:
        return None
    note = ('<p class="note">The served model on the test molecules, whose scaffolds training '
            "never saw when the split is by scaffold. Points far from the line are the "
            "molecules to look at below.</p>")  # fmt: skip
    return note + "".join(parts)


def scaffolds(run: RunFolder) -> str | None:
    """The served model's error on the largest scaffold groups of the test molecules."""
    rows = run.read_json(names.METRICS).get("errors_by_scaffold") or []
    if not rows:
        return None
    kind = run.read_json(names.METRICS).get("kind")
    what = "RMSE" if kind == "regression" else "share called wrong"
    body = "".join(f"<tr><td><code>{html.escape(str(r['scaffold']))}</code></td>"
                   f"<td>{r['count']}</td><td>{r['error']:.3f}</td></tr>" for r in rows)  # fmt: skip
    note = ('<p class="note">Test molecules grouped by their Bemis-Murcko scaffold (ring systems '
            "and linkers; acyclic molecules together). A scaffold with a large error is chemistry "
            "the model has not learned: more measured molecules like these would help most.</p>")  # fmt: skip
    return (note + f"<table><tr><th>scaffold</th><th>molecules</th><th>{what}</th></tr>"
            + body + "</table>")  # fmt: skip


def _image(run: RunFolder, name: str, alt: str, note: str) -> str | None:
    from layerwise.runs.report_images import _embed

    if not run.exists(name):
        return None
    return f'<p class="note">{note}</p>' + _embed(run, name, alt)


def best_worst(run: RunFolder) -> str | None:
    return _image(run, BEST_WORST, "best and worst test molecules",
                  "The four test molecules the served model predicted best and the four it "
                  "predicted worst (first property), with the measured and predicted values.")  # fmt: skip


def contributions(run: RunFolder) -> str | None:
    return _image(run, CONTRIBUTIONS, "atom contributions",
                  "How much each atom moves the served model's prediction, for test molecules "
                  "across the range of errors: green atoms raise the predicted value, pink ones "
                  "lower it. <code>layerwise explain RUN SMILES -o why.png</code> draws this for "
                  "any molecule.")  # fmt: skip


def forest_bits(run: RunFolder) -> str | None:
    return _image(run, FOREST_BITS, "the forest's most important fingerprint bits",
                  "The fingerprint bits the random forest relies on most (impurity importance), "
                  "each drawn as the atom environment that sets it in a training molecule "
                  "(highlighted).")  # fmt: skip


def uncertainty(run: RunFolder) -> str | None:
    """The ensemble's spread against its errors on test."""
    from layerwise.runs.plots import _encode, _figure, img_tag

    info = run.read_json(names.METRICS).get("uncertainty")
    frame = _test_frame(run)
    targets = run.read_json(names.METRICS).get("targets") or []
    if not info or frame is None or not targets:
        return None
    name = targets[0]
    columns = (name, f"{name}|dmpnn", f"{name}|dmpnn_spread")
    if not all(c in frame for c in columns):
        return None
    y, p, s = (frame[c].to_numpy(float) for c in columns)
    keep = np.isfinite(y) & np.isfinite(p) & np.isfinite(s)
    fig, (ax,) = _figure(5.6, 4.2)
    ax.scatter(s[keep], np.abs(p[keep] - y[keep]), s=12, alpha=0.7, edgecolors="none")
    ax.set_xlabel("ensemble spread (std over members)")
    ax.set_ylabel("absolute error")
    rho = info.get("spearman_spread_vs_error")
    ax.set_title(f"Spread vs error on test (Spearman {rho:.2f})" if rho is not None
                 else "Spread vs error on test", fontsize=10)  # fmt: skip
    note = (f'<p class="note">The network is an ensemble of {info["members"]} members trained '
            "from different seeds; where they disagree, the prediction is less certain. A "
            "spread that ranks the errors (Spearman well above 0) tells which predictions to "
            "check by experiment first.</p>")  # fmt: skip
    return note + img_tag(_encode(fig), "ensemble spread against absolute error")


SECTIONS = [
    ("Predictions on test", predictions),
    ("Errors by scaffold", scaffolds),
    ("Best and worst test molecules", best_worst),
    ("Atom contributions", contributions),
    ("What the forest looks at", forest_bits),
    ("Uncertainty", uncertainty),
]
