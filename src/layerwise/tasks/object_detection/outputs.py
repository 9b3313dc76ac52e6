"""Write an object-detection run folder and load it back.

Files: the served detector (``centernet.safetensors`` or ``hog_svm.safetensors``, its
configuration in preprocess.json), ``history.csv`` (the detector's losses per epoch),
``examples/`` and ``pr_curves.json`` (test images with their boxes, the worst misses and false
alarms, precision-recall per class: :mod:`.examples`), metrics and decision.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from layerwise.core.bakeoff import bakeoff_metrics, decision_page, markdown_table
from layerwise.core.task import Run
from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.writer import StandardFiles, finish_run, task_schema
from layerwise.tasks.object_detection.examples import write_examples
from layerwise.tasks.object_detection.layer_views import write_views

DETECTION_OPTIONS = ("format", "score_threshold", "max_detections")


def box_rows(image_names: list[str], found: list[Any], classes: list[str]) -> pd.DataFrame:
    """One row per box: image, label, score, x1, y1, x2, y2 (pixels rounded to 0.1)."""
    rows = []
    for name, detections in zip(image_names, found, strict=True):
        for box, score, label in zip(detections.boxes, detections.scores, detections.labels,
                                     strict=True):  # fmt: skip
            x1, y1, x2, y2 = (round(float(v), 1) for v in box)
            rows.append((name, classes[int(label)], round(float(score), 4), x1, y1, x2, y2))
    return pd.DataFrame(rows, columns=["image", "label", "score", "x1", "y1", "x2", "y2"])


def draw_predictions(images: Any, found: list[Any], classes: list[str], target: Any) -> str:
    """``layerwise predict --draw``: each image with its boxes as a PNG at ``target`` (one
    image), or in the folder ``target`` (several, named after the images). Returns a note."""
    from pathlib import Path

    from PIL import Image

    from layerwise.io import atomic_write
    from layerwise.tasks.object_detection.drawing import draw

    target = Path(target)
    several = len(images) > 1 or target.is_dir()
    if several:
        target.mkdir(parents=True, exist_ok=True)
    for image, name, detections, scale in zip(images.images, images.names, found, images.scales,
                                              strict=True):  # fmt: skip
        picture = draw(image, detections.scaled(scale), classes)  # boxes on the stored copy
        path = target / (Path(name).stem + "_boxes.png") if several else target
        atomic_write(path, lambda p, a=picture: Image.fromarray(a).save(p, format="PNG"))
    return f"drew the boxes of {len(images)} images into {target}"


def write_detection_run(task: Any, run: RunFolder, images: Any, parts: dict[str, Any],
                        rows: list[dict], extras: dict, started: float) -> Run:  # fmt: skip
    info = task.model.save(run)
    info["kind"] = task.chosen
    preprocess = {"chosen": task.chosen, "classes": task.classes, "long_side": task.long_side,
                  "model": info, "options": {k: task.option(k) for k in DETECTION_OPTIONS}}  # fmt: skip
    write_examples(task, run, parts["test"], extras[task.chosen]["test_found"])
    write_views(task, run, parts["test"])
    metrics = _metrics(task, images, parts, rows, time.perf_counter() - started)
    if run.exists(info.get("file", "")):  # the served model's file, for the summary's size
        metrics["candidates"][task.chosen]["size_bytes"] = run.file(info["file"]).stat().st_size
    history = extras.get("centernet", {}).get("history")
    if history is not None:  # the report's learning curves mark the epoch the detector kept
        metrics["epoch_kept_by"] = {"column": "val_map50", "mode": "max"}
    files = StandardFiles(preprocess, task_schema(task), metrics, _decision(task, rows, metrics),
                          history)  # fmt: skip
    report = finish_run(task, run, files, task.chosen)
    return Run(run.path, task, run.read_json(names.METRICS), task.chosen, report,
               list(images.notes))  # fmt: skip


def _metrics(task: Any, images: Any, parts: dict[str, Any], rows: list[dict],
             seconds: float) -> dict[str, Any]:  # fmt: skip
    candidates = {}
    for row in rows:
        candidates[row["candidate"]] = {
            "family": row["family"], "fit_seconds": row["fit_seconds"],
            "predict_ms_per_image": row["predict_ms_per_image"],
            "predict_ms_per_row": row["predict_ms_per_image"],  # a row of the summary: an image
            "validation": row["validation"], "test": row["test"]}  # fmt: skip
    return bakeoff_metrics(
        task.name, metric="map50", greater_is_better=True,
        protocol=f"mAP@0.5 on {len(parts['val'])} validation images; test scores on "
        f"{len(parts['test'])} held-out images (boxes in the photos' own pixels)",
        chosen=task.chosen, test=dict(candidates[task.chosen]["test"]), candidates=candidates,
        images=len(images), boxes=images.n_boxes, classes=task.classes,
        long_side=task.long_side, seconds=seconds, notes=list(images.notes),
        skipped=list(images.skipped[:20]),
    )  # fmt: skip


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _decision(task: Any, rows: list[dict], metrics: dict) -> str:
    best = metrics["candidates"][task.chosen]
    choice = (f"**Served: {task.chosen}**: validation mAP@0.5 {_fmt(best['validation']['map50'])} "
              f"(the simpler detector is served within {0.01:.2f} of the best).")  # fmt: skip
    head = ["candidate", "family", "val mAP@0.5", "test mAP@0.5", "test mAP@0.5:0.95",
            "test AP small / medium / large", "fit s", "predict ms/image"]  # fmt: skip
    cells = []
    for row in rows:
        t = row["test"]
        sizes = " / ".join(_fmt(t.get(k)) for k in ("map_small", "map_medium", "map_large"))
        cells.append([row["candidate"], row["family"], _fmt(row["validation"]["map50"]),
                      _fmt(t["map50"]), _fmt(t["map"]), sizes, f"{row['fit_seconds']:.1f}",
                      f"{row['predict_ms_per_image']:.1f}"])  # fmt: skip
    by_name = {r["candidate"]: r for r in rows}
    verdict = []
    if "hog-svm" in by_name and "centernet" in by_name:
        gap = _gap(by_name["centernet"]["test"]["map50"], by_name["hog-svm"]["test"]["map50"])
        verdict = [f"On the test images the deep detector's mAP@0.5 is {gap} that of HOG + "
                   "linear SVM, the detector people used before deep learning."]  # fmt: skip
    notes = [f"- {n}" for n in metrics.get("notes", [])]
    return decision_page("Why this detector", choice,
                         [markdown_table(head, cells), verdict, notes])  # fmt: skip


def _gap(deep: Any, classical: Any) -> str:
    if deep is None or classical is None:
        return "not comparable with"
    difference = deep - classical
    return f"{abs(difference):.3f} {'above' if difference >= 0 else 'below'}"


def restore(cls: Any, run: RunFolder) -> Any:
    stored = run.read_json(names.PREPROCESS)
    task = cls(verbose=False, **stored.get("options", {}))
    task.chosen, task.classes = stored["chosen"], list(stored["classes"])
    task.long_side = int(stored["long_side"])
    info = stored["model"]
    if info["kind"] == "hog-svm":
        from layerwise.tasks.object_detection.hog_svm import HogSvmDetector as Detector
    else:
        from layerwise.tasks.object_detection.centernet_train import CenterNetDetector as Detector
    task.model = Detector.load(run, info)
    return task
