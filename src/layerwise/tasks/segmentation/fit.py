"""The segmentation bake-off: read the images and masks, split them by image, train the pixel
forest and the U-Net, score both on the validation and test images by Dice, serve the better
validation mean Dice (the forest when the U-Net is not at least ``DICE_TOLERANCE`` better).

In a world of several processes (``--devices N``, torchrun) every rank reads the images and
splits them alike (a seeded draw); rank 0 alone trains the forest, scores, chooses and writes
the run folder. The U-Net's parameters are resolved on rank 0 (its time limit, its checkpoint
folder in rank 0's run folder) and sent to the others, which train it with rank 0 (its epochs
planned once, by rank 0's probe: see :mod:`.unet_train`) and then return None.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from layerwise.core.task import Run
from layerwise.errors import DataError
from layerwise.tasks.segmentation.metrics import (
    boundary_f1,
    per_image_dice,
    pixel_confusion,
    segmentation_scores,
)
from layerwise.tasks.segmentation.readers import SegmentationSet
from layerwise.tasks.segmentation.two_class_cut import chosen_cut, decide

CANDIDATES = ("pixel-forest", "unet")
FAMILIES = {"pixel-forest": "classical", "unet": "deep"}
COMPLEXITY = {"pixel-forest": 0, "unet": 1}
DICE_TOLERANCE = 0.01  # the simpler model is served within a point of Dice
# The U-Net's training time when none is given. On a CPU it grows with the training pixels,
# so a larger set gets about as many passes as a small one: ISBI membrane (20 training images
# of 512x512) at seed 0 gave membrane-class Dice 0.783 after 66 epochs (600 s) and 0.81-0.82
# after 106 (two runs), still rising; 175 s per million pixels gives generated 128-px cells
# (96 images) 275 s. Within [120, 840] s: a tiny set still trains a while, and a CPU run stays
# within 15 minutes: at 900 s membrane's whole run (the forest, predictions, test-time views,
# report) took 15.6 minutes, for membrane-class Dice 0.822 against the forest's 0.753.
CPU_SECONDS_PER_MPX, CPU_BUDGET_S, GPU_BUDGET_S = 175.0, (120.0, 840.0), 900.0
MIN_IMAGES = 3  # one to train on, one to validate, one to test
METRIC = "mean_dice"


def fit_segmenters(task: Any, data: Any, started: float) -> Run | None:
    """The run (rank 0), or None on the other ranks of a world once the U-Net is trained."""
    from layerwise.engine.distributed import current_world, orders, release
    from layerwise.runs.writer import open_run_folder
    from layerwise.tasks.segmentation.outputs import write_segmentation_run

    world = current_world()
    sets = task.read_labelled(data)
    parts = split_images(task, sets)
    whole = sets["train"]
    task.classes, task.encoding = list(whole.classes), dict(whole.encoding)
    task.channels = 1 if whole.images[0].ndim == 2 else 3
    if not world.main:  # the U-Net with rank 0's parameters, if rank 0 trains one
        for params in orders():
            _fit_unet(task, params, parts)
        return None
    run = open_run_folder(task, data)  # after the data checks: bad input leaves no folder
    for note in whole.notes:
        task.say(f"[dim]note: {note}[/dim]")
    sides = [im.shape[:2] for im in whole.images]
    task.say(
        f"{sum(len(p) for p in parts.values())} images with masks of {len(task.classes)} "
        f"classes ({', '.join(task.classes[:8])}), median {int(np.median([s[1] for s in sides]))}"
        f"x{int(np.median([s[0] for s in sides]))} px; {len(parts['train'])} train / "
        f"{len(parts['val'])} validation / {len(parts['test'])} test"
    )
    rows, models, found = [], {}, {}
    for name in task.candidate_names(CANDIDATES):
        begun = time.perf_counter()
        model = _fit_one(task, name, parts, run)
        row = {"candidate": name, "family": FAMILIES[name],
               "fit_seconds": time.perf_counter() - begun}  # fmt: skip
        val_proba = model.predict_proba(parts["val"].images)
        if len(task.classes) == 2:  # where the line between the two classes is drawn
            model.cut = chosen_cut(val_proba, parts["val"].masks)
        row["validation"] = score_masks(task.classes, parts["val"].masks,
                                        [decide(p, model.cut) for p in val_proba])  # fmt: skip
        row["cut"] = model.cut
        t0 = time.perf_counter()
        found[name] = model.predict(parts["test"].images)
        row["predict_ms_per_image"] = 1000 * (time.perf_counter() - t0) / len(parts["test"])
        row["test"] = score_masks(task.classes, parts["test"].masks, found[name], summary=True)
        task.say(f"  {name:<12} validation Dice {_fmt(row['validation'][METRIC])}, IoU "
                 f"{_fmt(row['validation']['mean_iou'])} (fit {row['fit_seconds']:.1f} s)")  # fmt: skip
        for note in getattr(model, "notes", []):
            task.say(f"[dim]  {note}[/dim]")
            whole.notes.append(note)  # the run's notes: metrics.json and decision.md
        rows.append(row)
        models[name] = model
    release()  # the deep fit is done: the other ranks return
    task.chosen, reason = choose(rows)
    task.model = models[task.chosen]
    task.say(f"[bold green]chosen[/bold green] {reason}")
    # the U-Net's learning curves are the report's whichever model is served
    history = getattr(models.get("unet"), "history", None)
    return write_segmentation_run(task, run, whole, parts, rows, found, history, started)


def choose(rows: list[dict]) -> tuple[str, str]:
    """The best validation mean Dice; within ``DICE_TOLERANCE`` of it, the simpler model."""
    from types import SimpleNamespace

    from layerwise.core.selection import choose as select

    scored = [{"candidate": r["candidate"], "validation": r["validation"][METRIC] or 0.0}
              for r in rows]  # fmt: skip
    plan = SimpleNamespace(metric="mean Dice", greater_is_better=True, tolerance=DICE_TOLERANCE,
                           prefer=None, prefer_reason="")  # fmt: skip
    return select(scored, plan, COMPLEXITY)


def split_images(task: Any, sets: dict[str, SegmentationSet]) -> dict[str, SegmentationSet]:
    """Train, validation and test images: the NPZ's own splits where it has them, else drawn
    by image with the run's seed (``val_fraction``, ``test_fraction``, at least one each)."""
    whole = sets["train"]
    n = len(whole)
    own = {k: v for k, v in sets.items() if k != "train"}
    needed = MIN_IMAGES - len(own)
    if n < needed:
        raise DataError(
            f"Only {n} images with masks were read: segmentation needs at least {MIN_IMAGES} "
            "(some are held out to measure it).",
            "Add images with masks, or cut large images into tiles first.",
        )
    rng = np.random.default_rng(int(task.option("seed")))
    order = rng.permutation(n)
    n_test = 0 if "test" in own else max(1, round(float(task.option("test_fraction")) * n))
    n_val = 0 if "val" in own else max(1, round(float(task.option("val_fraction")) * n))
    if n - n_test - n_val < 1:
        n_val = 0 if "val" in own else 1
        n_test = 0 if "test" in own else n - n_val - 1
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    parts = {"train": whole.subset(np.sort(train))}
    parts["val"] = own.get("val") or whole.subset(np.sort(val))
    parts["test"] = own.get("test") or whole.subset(np.sort(test))
    return parts


def _fit_one(task: Any, name: str, parts: dict[str, SegmentationSet], run: Any) -> Any:
    seed = int(task.option("seed"))
    params = task.candidate_options(name)
    train = parts["train"]
    if name == "pixel-forest":
        from layerwise.tasks.segmentation.pixel_forest import PixelForest

        return PixelForest(seed=seed, **params).fit(train.images, train.masks, len(task.classes))
    from layerwise.engine.distributed import order
    from layerwise.runs import folder as names

    params.setdefault("time_limit", task.time_budget(cpu_budget(train.images), GPU_BUDGET_S))
    params.setdefault("device", task.option("device"))
    params.setdefault("progress", bool(task.option("verbose")))
    params.setdefault("checkpoint_dir", str(run.file(names.CHECKPOINTS) / name))
    params.setdefault("resume", task.option("resume") is not None)
    vflip = task.option("vflip")
    # up-down flips: a grey image is a scan or a micrograph, which has no up; a colour photo has
    params.setdefault("vflip", task.channels == 1 if vflip is None else bool(vflip))
    order(params)  # the other ranks of a world train it alongside, with these parameters
    return _fit_unet(task, params, parts)


def _fit_unet(task: Any, params: dict[str, Any], parts: dict[str, SegmentationSet]) -> Any:
    from layerwise.tasks.segmentation.unet_train import UNetSegmenter

    train, val = parts["train"], parts["val"]
    model = UNetSegmenter(seed=int(task.option("seed")), **params)
    return model.fit(train.images, train.masks, task.classes, val.images, val.masks)


def cpu_budget(images: list[np.ndarray]) -> float:
    """The U-Net's default training seconds on a CPU for these training images (see
    ``CPU_SECONDS_PER_MPX``).

    Example:
        >>> cpu_budget([np.zeros((512, 512))] * 20), cpu_budget([np.zeros((64, 64))] * 10)
        (840.0, 120.0)
    """
    pixels = sum(im.shape[0] * im.shape[1] for im in images) / 1e6
    return float(np.clip(pixels * CPU_SECONDS_PER_MPX, *CPU_BUDGET_S))


def score_masks(classes: list[str], truths: list[np.ndarray], predicted: list[np.ndarray],
                summary: bool = False) -> dict[str, Any]:  # fmt: skip
    """Dice and IoU (foreground mean, background apart, per class by name), pixel accuracy;
    with ``summary`` also the per-image Dice's median and worst, and for two classes the mean
    boundary F1 within 2 px. NaN (a class in neither truth nor prediction) becomes None."""
    n = len(classes)
    confusion = sum(pixel_confusion(t, p, n) for t, p in zip(truths, predicted, strict=True))
    scores = segmentation_scores(confusion)
    out = {k: _plain(scores[k]) for k in ("mean_dice", "mean_iou", "pixel_accuracy",
                                          "background_dice", "background_iou")}  # fmt: skip
    out["dice"] = {c: _plain(v) for c, v in zip(classes, scores["dice"], strict=True)}
    out["iou"] = {c: _plain(v) for c, v in zip(classes, scores["iou"], strict=True)}
    if summary:
        from layerwise.tasks.segmentation.masks import IGNORE

        ignores = [t == IGNORE for t in truths]
        each = per_image_dice(truths, predicted, n, ignores)
        out["per_image_dice"] = [_plain(v) for v in each]
        finite = each[np.isfinite(each)]
        out["median_image_dice"] = _plain(np.median(finite)) if len(finite) else None
        out["worst_image_dice"] = _plain(finite.min()) if len(finite) else None
        out["confusion"] = confusion.astype(int).tolist()
        if n == 2:
            f1 = [boundary_f1(np.where(i, 0, t) == 1, np.where(i, 0, p) == 1)
                  for t, p, i in zip(truths, predicted, ignores, strict=True)]  # fmt: skip
            out["boundary_f1"] = _plain(np.mean(f1))
    return out


def _plain(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if not np.isfinite(value) else value


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"
