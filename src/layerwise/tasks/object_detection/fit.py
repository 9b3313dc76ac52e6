"""The object-detection bake-off: read the images and boxes, split them by image, train HOG +
linear SVM and the CenterNet detector, score both on the validation and test images by mAP,
serve the better validation mAP@0.5 (the simpler detector within a point of it).

In a world of several processes (``--devices N``, torchrun) every rank reads the images and
splits them alike (a seeded draw); rank 0 alone trains HOG + SVM, scores, chooses, sets the
score threshold and writes the run folder. The CenterNet's parameters are resolved on rank 0
(its time limit, its checkpoint folder in rank 0's run folder) and sent to the others, which
train it with rank 0 (its epochs planned once, by rank 0's probe: :mod:`.centernet_plan`) and
then return None.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from layerwise.core.task import Run
from layerwise.errors import DataError

CANDIDATES = ("hog-svm", "centernet")
FAMILIES = {"hog-svm": "classical", "centernet": "deep"}
COMPLEXITY = {"hog-svm": 0, "centernet": 1}
MAP_TOLERANCE = 0.01  # a simpler detector within a point of mAP@0.5 is served
CPU_BUDGET_S, GPU_BUDGET_S = 600.0, 900.0  # the detector's training time when none is given
MIN_IMAGES = 10  # fewer cannot hold out validation and test images
METRIC = "map50"
DEFAULT_THRESHOLD = 0.3  # served when no validation box can choose one
THRESHOLD_RANGE = (0.02, 0.95)


def fit_detectors(task: Any, data: Any, started: float) -> Run | None:
    """The run (rank 0), or None on the other ranks of a world once the CenterNet is trained."""
    from layerwise.engine.distributed import current_world, orders, release
    from layerwise.runs.writer import open_run_folder
    from layerwise.tasks.object_detection.outputs import write_detection_run

    world = current_world()
    images = task.read(data)
    parts = split_images(task, images)
    names = task.candidate_names(CANDIDATES)
    if task.option("backbone") and "centernet" in names:
        from layerwise.tasks.object_detection.backbone import read_backbone

        read_backbone(task.option("backbone"))  # a bad file is refused before anything trains
    if not world.main:  # the CenterNet with rank 0's parameters, if rank 0 trains one
        for params in orders():
            _fit_centernet(task, params, parts)
        return None
    run = open_run_folder(task, data)  # after the data checks: bad input leaves no folder
    for note in images.notes:
        task.say(f"[dim]note: {note}[/dim]")
    task.say(
        f"{len(images)} images, {images.n_boxes} boxes of {len(task.classes)} classes "
        f"({', '.join(task.classes[:8])}) from {images.source}; long side {task.long_side} px; "
        f"{len(parts['train'])} train / {len(parts['val'])} validation / {len(parts['test'])} test"
    )
    rows, models, extras = [], {}, {}
    for name in names:
        begun = time.perf_counter()
        model, extra = _fit_one(task, name, parts, run)
        row = {"candidate": name, "family": FAMILIES[name],
               "fit_seconds": time.perf_counter() - begun}  # fmt: skip
        extra["val_found"] = model.predict(parts["val"].images)
        row["validation"] = score_detector(task, extra["val_found"], parts["val"])
        t0 = time.perf_counter()
        found = model.predict(parts["test"].images)  # kept: the run's pictures draw them
        row["predict_ms_per_image"] = 1000 * (time.perf_counter() - t0) / max(len(found), 1)
        row["test"] = score_detector(task, found, parts["test"], summary=True)
        extra["test_found"] = found
        task.say(f"  {name:<9} validation mAP@0.5 {row['validation'][METRIC]:.3f}, "
                 f"mAP@0.5:0.95 {row['validation']['map']:.3f} (fit {row['fit_seconds']:.1f} s)")  # fmt: skip
        for note in getattr(model, "notes", []):  # e.g. the epochs planned: the run's notes
            task.say(f"[dim]  {note}[/dim]")
            images.notes.append(note)
        rows.append(row)
        models[name], extras[name] = model, extra
    release()  # the deep fit is done: the other ranks return
    task.chosen, reason = choose(rows)
    task.model = models[task.chosen]
    task.say(f"[bold green]chosen[/bold green] {reason}")
    if task.options.get("score_threshold") is None:  # not given: the best F1 on validation
        threshold = f1_threshold(task, extras[task.chosen]["val_found"], parts["val"])
        task.options["score_threshold"] = threshold
        task.say(f"served boxes score at least {threshold:.3f} (the best F1 of precision and "
                 "recall on the validation images; --score-threshold sets it)")  # fmt: skip
    return write_detection_run(task, run, images, parts, rows, extras, started)


def choose(rows: list[dict]) -> tuple[str, str]:
    """The best validation mAP@0.5; within MAP_TOLERANCE of it, the simpler detector."""
    from types import SimpleNamespace

    from layerwise.core.selection import choose as select

    scored = [{"candidate": r["candidate"], "validation": r["validation"][METRIC]} for r in rows]
    plan = SimpleNamespace(metric="mAP@0.5", greater_is_better=True, tolerance=MAP_TOLERANCE,
                           prefer=None, prefer_reason="")  # fmt: skip
    return select(scored, plan, COMPLEXITY)


def split_images(task: Any, images: Any) -> dict[str, Any]:
    """Train, validation and test images (by image: boxes of one photo stay together)."""
    if len(images) < MIN_IMAGES:
        raise DataError(
            f"Only {len(images)} images with boxes were read: a detector needs at least "
            f"{MIN_IMAGES} (some are held out to measure it).",
            "Add annotated images.",
        )
    rng = np.random.default_rng(int(task.option("seed")))
    order = rng.permutation(len(images))
    n_test = max(1, round(float(task.option("test_fraction")) * len(images)))
    n_val = max(1, round(float(task.option("val_fraction")) * len(images)))
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return {k: images.subset(np.sort(v)) for k, v in (("train", train), ("val", val),
                                                      ("test", test))}  # fmt: skip


def _fit_one(task: Any, name: str, parts: dict[str, Any], run: Any) -> tuple[Any, dict]:
    seed = int(task.option("seed"))
    params = task.candidate_options(name)
    verbose = bool(task.option("verbose"))
    if name == "hog-svm":
        from layerwise.tasks.object_detection.hog_svm import HogSvmDetector

        model = HogSvmDetector(seed=seed, **params)
        model.fit(parts["train"], parts["val"], progress=verbose)
        return model, {}
    from layerwise.engine.distributed import order
    from layerwise.runs import folder as names

    if task.option("backbone"):
        params.setdefault("backbone", str(task.option("backbone")))
    params.setdefault("time_limit", task.time_budget(CPU_BUDGET_S, GPU_BUDGET_S))
    params.setdefault("device", task.option("device"))
    params.setdefault("progress", verbose)
    params.setdefault("checkpoint_dir", str(run.file(names.CHECKPOINTS) / name))
    params.setdefault("resume", task.option("resume") is not None)
    order(params)  # the other ranks of a world train it alongside, with these parameters
    model = _fit_centernet(task, params, parts)
    return model, {"history": getattr(model, "history", None)}


def _fit_centernet(task: Any, params: dict[str, Any], parts: dict[str, Any]) -> Any:
    from layerwise.tasks.object_detection.centernet_train import CenterNetDetector

    model = CenterNetDetector(seed=int(task.option("seed")), **params)
    model.fit(parts["train"], parts["val"])
    return model


def score_detector(task: Any, found: list[Any], images: Any, summary: bool = False) -> dict:
    """mAP of the detections ``found`` on ``images`` (in the stored images' pixels), measured
    in the photos' own pixels (COCO's size buckets are about the photo, not the resized copy);
    ``summary`` adds AP per class."""
    from layerwise.tasks.object_detection.average_precision import evaluate_detections

    found = [d.scaled(1.0 / s) for d, s in zip(found, images.scales, strict=True)]
    truth = [
        (boxes / scale, labels, crowd)
        for boxes, labels, crowd, scale in zip(
            images.boxes, images.labels, images.crowd, images.scales, strict=True
        )
    ]
    result = evaluate_detections(truth, found, len(task.classes),
                                 max_detections=int(task.option("max_detections")))  # fmt: skip
    keys = ["map50", "map", "map75", "voc_map50", "map_small", "map_medium", "map_large"]
    out = {k: _plain(result[k]) for k in keys if k in result}
    if summary:
        out["ap50_per_class"] = dict(zip(task.classes, map(_plain, result["ap50_per_class"]),
                                         strict=True))  # fmt: skip
        out["ap_per_class"] = dict(zip(task.classes, map(_plain, result["ap_per_class"]),
                                       strict=True))  # fmt: skip
    return out


def f1_threshold(task: Any, found: list[Any], images: Any) -> float:
    """The score above which detections best balance precision and recall (the highest F1 at
    IoU 0.5, all classes pooled) on ``images``; ``DEFAULT_THRESHOLD`` without any truth.
    mAP ranks every detection, but a user sees only the boxes above a threshold: a fixed 0.3
    showed one box in twelve raccoon test photos from a detector of mAP@0.5 0.79 whose best
    scores are about 0.2."""
    from layerwise.tasks.object_detection.average_precision import evaluate_detections

    truth = list(zip(images.boxes, images.labels, images.crowd, strict=True))
    result = evaluate_detections(truth, found, len(task.classes))
    scores, hits = [], []
    for curve in result["pr_curves"]:
        if curve is None or not len(curve["scores"]):
            continue
        # precision is cumulative along the class's detections, best first: TP = P x count
        true_positives = np.rint(curve["precision"] * np.arange(1, len(curve["scores"]) + 1))
        scores.append(curve["scores"])
        hits.append(np.diff(true_positives, prepend=0.0))
    if not scores or not result["n_truth"]:
        return DEFAULT_THRESHOLD
    order = np.argsort(-np.concatenate(scores), kind="stable")
    ranked, hit = np.concatenate(scores)[order], np.concatenate(hits)[order]
    tp = np.cumsum(hit)
    f1 = 2 * tp / (np.arange(1, len(tp) + 1) + result["n_truth"])
    best = int(np.argmax(f1))
    return float(np.clip(ranked[best], *THRESHOLD_RANGE))


def _plain(value: Any) -> float | None:
    """A JSON number, or None for an AP that has no ground truth to be measured on."""
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) or value < 0 else value
