"""Report sections of an object-detection run: test images with their boxes, the
precision-recall curves per class, and AP by class and by object size."""

from __future__ import annotations

import html
from typing import Any

from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.report_images import layer_views
from layerwise.tasks.object_detection.examples import EXAMPLES, FALSE_ALARMS, MISSES, PR_CURVES


def test_boxes(run: RunFolder) -> str | None:
    from layerwise.runs.report_images import _embed

    if not run.exists(EXAMPLES):
        return None
    note = ('<p class="note">Test images the detector never saw: green frames are the true '
            "boxes, coloured ones what the served detector found (with its score, above the "
            "run's score threshold). A green frame with nothing on it is a miss; a coloured box "
            "on no green frame is a false alarm.</p>")  # fmt: skip
    return note + _embed(run, EXAMPLES, "test images with true and found boxes")


def worst_images(run: RunFolder) -> str | None:
    """The test images with the most missed objects, then with the most false alarms."""
    from layerwise.runs.report_images import _embed

    parts = []
    if run.exists(MISSES):
        parts.append("<h3>Most objects missed</h3>" + _embed(run, MISSES, "most missed objects"))
    if run.exists(FALSE_ALARMS):
        parts.append("<h3>Most false alarms</h3>" + _embed(run, FALSE_ALARMS, "most false alarms"))
    if not parts:
        return None
    note = ('<p class="note">Counted at the run\'s score threshold and IoU 0.5. Misses that are '
            "all small say the image size is too low (<code>--long-side</code>); false alarms "
            "on one kind of background say what the detector has not seen enough of.</p>")  # fmt: skip
    return note + "".join(parts)


def pr_curves(run: RunFolder) -> str | None:
    """Precision against recall at IoU 0.5, one curve per class (the served detector, test)."""
    from layerwise.runs.plots import CYCLE, _encode, _figure, img_tag

    if not run.exists(PR_CURVES):
        return None
    curves = {name: c for name, c in run.read_json(PR_CURVES).items() if c.get("recall")}
    if not curves:
        return None
    fig, (ax,) = _figure(5.6, 4.8)  # the report's figure style (runs/plots.py)
    for i, (name, curve) in enumerate(list(curves.items())[:10]):
        ax.plot(curve["recall"], curve["precision"], color=CYCLE[i % 10], linewidth=1.6,
                label=str(name))  # fmt: skip
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_title("Precision-recall at IoU 0.5 (test images)", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    note = ('<p class="note">Each point is a score threshold: lower thresholds find more of '
            "the objects (recall) at the cost of more false alarms (precision). AP@0.5 is the "
            "area under each curve.</p>")  # fmt: skip
    return note + img_tag(_encode(fig), "precision-recall curves")


def ap_table(run: RunFolder) -> str | None:
    """AP per class (at IoU 0.5 and averaged over 0.5:0.95) and by object size."""
    metrics = run.read_json(names.METRICS)
    test = metrics.get("test", {})
    per_class = test.get("ap50_per_class") or {}
    if not per_class:
        return None
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{_cell(ap)}</td>"
        f"<td>{_cell(test.get('ap_per_class', {}).get(name))}</td></tr>"
        for name, ap in per_class.items()
    )
    sizes = "".join(
        f"<tr><td>{label}</td><td>{_cell(test.get(key))}</td></tr>"
        for key, label in (("map_small", "small (under 32x32 px)"),
                           ("map_medium", "medium (32x32 to 96x96 px)"),
                           ("map_large", "large (over 96x96 px)"))
    )  # fmt: skip
    return (
        "<table><tr><th>class</th><th>AP@0.5</th><th>AP@0.5:0.95</th></tr>" + rows + "</table>"
        "<h3>By object size (COCO's buckets, in the photos' pixels)</h3>"
        "<table><tr><th>size</th><th>mAP@0.5:0.95</th></tr>" + sizes + "</table>"
    )


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


SECTIONS = [
    ("Boxes on test images", test_boxes),
    ("Where it fails", worst_images),
    ("Precision and recall", pr_curves),
    ("Average precision by class and size", ap_table),
    ("What each layer sees", layer_views),
]
