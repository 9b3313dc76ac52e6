"""The pictures and curves a detection run keeps of its test images: the first ones with
their true and found boxes, the ones with the most missed objects and with the most false
alarms (at the run's score threshold), and each class's precision-recall curve at IoU 0.5."""

from __future__ import annotations

from typing import Any

import numpy as np

from layerwise.runs.folder import RunFolder

EXAMPLES = "examples/test_boxes.png"
MISSES = "examples/misses.png"
FALSE_ALARMS = "examples/false_alarms.png"
PR_CURVES = "pr_curves.json"
SHOWN_IMAGES = 12  # in the first grid
WORST_IMAGES = 8  # in each of the other two
MATCH_IOU = 0.5


def write_examples(task: Any, run: RunFolder, test: Any, found: list[Any]) -> None:
    """The three grids and the curves from the served detector's detections ``found`` on the
    test images (the bake-off's, in the stored images' pixels)."""
    from layerwise.tasks.object_detection.average_precision import evaluate_detections
    from layerwise.tasks.object_detection.drawing import draw_grid

    threshold = float(task.option("score_threshold"))
    run.file("examples").mkdir(exist_ok=True)
    first = list(range(min(SHOWN_IMAGES, len(test))))
    grids = [(EXAMPLES, first)]
    counted = np.array([errors(test, i, found[i], threshold) for i in range(len(test))]).reshape(
        -1, 2
    )
    for name, counts in ((MISSES, counted[:, 0]), (FALSE_ALARMS, counted[:, 1])):
        worst = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
        if worst:
            grids.append((name, worst[:WORST_IMAGES]))
    for name, index in grids:
        shown = test.subset(index)
        picked = [found[i] for i in index]
        run.write_with(name, lambda path, s=shown, p=picked: draw_grid(
            s, p, task.classes, threshold, path))  # fmt: skip
    truth = list(zip(test.boxes, test.labels, test.crowd, strict=True))
    result = evaluate_detections(truth, found, len(task.classes))
    run.write_json(PR_CURVES, _curves(task.classes, result["pr_curves"]))


def errors(images: Any, i: int, detections: Any, threshold: float) -> tuple[int, int]:
    """(true boxes no detection of their class found at IoU 0.5, detections that found none)
    for image ``i``, counting the detections scoring at least ``threshold``; crowd boxes
    neither count as missed nor make a detection on them a false alarm."""
    from layerwise.tasks.object_detection.boxes import box_iou

    keep = detections.scores >= threshold
    boxes, labels = detections.boxes[keep], detections.labels[keep]
    truth, kinds, crowd = images.boxes[i], images.labels[i], images.crowd[i]
    if not len(truth):
        return 0, len(boxes)
    overlap = box_iou(truth, boxes) * (kinds[:, None] == labels[None, :])
    hit = overlap >= MATCH_IOU
    missed = int((~hit.any(axis=1) & ~crowd).sum())
    false = int((~hit.any(axis=0)).sum())
    return missed, false


def _curves(classes: list[str], curves: list[Any]) -> dict[str, Any]:
    out = {}
    for name, curve in zip(classes, curves, strict=True):
        if curve is None:  # no true box of this class among the test images
            continue
        recall, precision = np.asarray(curve["recall"]), np.asarray(curve["precision"])
        step = max(1, len(recall) // 200)  # a curve of 200 points draws the same
        out[name] = {"recall": np.round(recall[::step], 4).tolist(),
                     "precision": np.round(precision[::step], 4).tolist()}  # fmt: skip
    return out
