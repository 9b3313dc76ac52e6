"""Report sections for image runs: layer views of test images and the most confidently wrong
ones (PNG files the task wrote into the run folder, embedded here), and per-class scores."""

from __future__ import annotations

import base64
import html

import pandas as pd

from layerwise.runs.folder import RunFolder

VIEWS = "layer_views"
WRONG = "wrong_examples.png"


def _embed(run: RunFolder, rel: str, alt: str) -> str:
    data = base64.b64encode(run.file(rel).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def layer_views(run: RunFolder) -> str | None:
    """Grad-CAM and the activations of every stage for a few test images, then the filters."""
    if not run.exists(VIEWS):
        return None
    folder = run.file(VIEWS)
    out = [
        '<p class="note">How the CNN sees a test image, layer by layer. Grad-CAM colours the '
        "places whose evidence pushed the predicted class most. Each row of the activation "
        "grid is one stage of the network: the first ones respond to edges and blobs of "
        "colour, deeper ones to larger parts. <code>layerwise explain RUN IMAGE</code> draws "
        "these for any image.</p>"
    ]
    n = 1
    while (folder / f"{n}_gradcam.png").exists():
        out.append(f"<h3>Test image {n}</h3>")
        out.append(_embed(run, f"{VIEWS}/{n}_gradcam.png", f"Grad-CAM of test image {n}"))
        if (folder / f"{n}_activations.png").exists():
            out.append(_embed(run, f"{VIEWS}/{n}_activations.png", f"activations {n}"))
        n += 1
    if (folder / "filters.png").exists():
        out.append("<h3>First-layer filters</h3>")
        out.append(_embed(run, f"{VIEWS}/filters.png", "first-layer filters"))
    return "".join(out) if len(out) > 1 else None


def wrong_examples(run: RunFolder) -> str | None:
    if not run.exists(WRONG):
        return None
    note = (
        '<p class="note">The test images the chosen model got wrong with the highest '
        "confidence: look for mislabelled images, ambiguous ones, or a pattern the model "
        "has not learned.</p>"
    )
    return note + _embed(run, WRONG, "most confidently wrong test images")


def per_class_table(frame: pd.DataFrame) -> str:
    """Precision, recall, F1 and support per class from y_true / y_pred columns."""
    from sklearn.metrics import precision_recall_fscore_support

    truth, predicted = frame["y_true"].astype(str), frame["y_pred"].astype(str)
    labels = sorted(set(truth) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td class=num>{p:.3f}</td><td class=num>{r:.3f}</td>"
        f"<td class=num>{f:.3f}</td><td class=num>{s}</td></tr>"
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    )
    return (
        "<h3>Per class</h3><table><tr><th>class</th><th>precision</th><th>recall</th>"
        f"<th>F1</th><th>test rows</th></tr>{rows}</table>"
    )
