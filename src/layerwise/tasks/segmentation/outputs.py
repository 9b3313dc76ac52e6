"""Write a segmentation run folder and load it back.

Files: the served model (``unet.safetensors`` with its architecture in preprocess.json, or
``pixel_forest.txt``, LightGBM's text model), ``history.csv`` (the U-Net's loss and validation
Dice per epoch), ``examples/`` (overlays of test images, the pixel confusion and the Dice of
each test image: :mod:`.examples`), the layer views, metrics and decision.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from layerwise.core.bakeoff import bakeoff_metrics, decision_page, markdown_table
from layerwise.core.task import Run
from layerwise.errors import DataError, RunFolderError
from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.writer import StandardFiles, finish_run, task_schema

FOREST_FILE = "pixel_forest.txt"
STORED_OPTIONS = ("image_column", "mask_column")


def write_segmentation_run(task: Any, run: RunFolder, whole: Any, parts: dict[str, Any],
                           rows: list[dict], found: dict[str, list], history: Any,
                           started: float) -> Run:  # fmt: skip
    from layerwise.tasks.segmentation.examples import write_examples
    from layerwise.tasks.segmentation.layer_views import write_views

    info = save_model(task, run)
    preprocess = {"chosen": task.chosen, "classes": task.classes, "encoding": task.encoding,
                  "channels": task.channels, "model": info,
                  "options": {k: task.option(k) for k in STORED_OPTIONS}}  # fmt: skip
    served = next(r for r in rows if r["candidate"] == task.chosen)
    write_examples(task, run, parts["test"], found[task.chosen], served["test"]["per_image_dice"])
    write_views(task, run, parts["test"])
    metrics = _metrics(task, whole, parts, rows, time.perf_counter() - started)
    metrics["candidates"][task.chosen]["size_bytes"] = run.file(info["file"]).stat().st_size
    if history is not None:  # the report's learning curves mark the epoch the U-Net kept
        metrics["epoch_kept_by"] = {"column": "val_dice", "mode": "max"}
    files = StandardFiles(preprocess, task_schema(task), metrics, _decision(task, rows, metrics),
                          history)  # fmt: skip
    report = finish_run(task, run, files, task.chosen)
    return Run(run.path, task, run.read_json(names.METRICS), task.chosen, report,
               list(whole.notes))  # fmt: skip


def save_model(task: Any, run: RunFolder) -> dict[str, Any]:
    if task.chosen == "unet":
        return {"kind": "unet", **task.model.save(run)}
    run.write_text(FOREST_FILE, task.model.to_text())
    return {"kind": "pixel-forest", "file": FOREST_FILE, "params": task.model.params,
            "cut": task.model.cut}  # fmt: skip


def restore(cls: Any, run: RunFolder) -> Any:
    from layerwise.tasks.segmentation.masks import MAX_CLASSES
    from layerwise.tasks.segmentation.two_class_cut import checked_cut

    stored = run.read_json(names.PREPROCESS)
    task = cls(verbose=False, **stored.get("options", {}))
    task.chosen, task.classes = str(stored["chosen"]), [str(c) for c in stored["classes"]]
    task.encoding, task.channels = dict(stored["encoding"]), int(stored["channels"])
    if task.channels not in (1, 3) or not 2 <= len(task.classes) <= MAX_CLASSES:
        raise RunFolderError(f"'{run.path}' declares {task.channels} channels and "
                             f"{len(task.classes)} classes.", "Train again.")  # fmt: skip
    _check_encoding(task.encoding, len(task.classes), run)
    info = stored["model"]
    if info["kind"] == "unet":
        from layerwise.tasks.segmentation.unet_train import UNetSegmenter

        task.model = UNetSegmenter.load(run, info)
        if task.model.model.config.n_classes != len(task.classes):
            raise RunFolderError(f"The U-Net of '{run.path}' does not have its "
                                 f"{len(task.classes)} classes.", "Train again.")  # fmt: skip
        task.model.classes = list(task.classes)
    elif info["kind"] == "pixel-forest":
        from layerwise.tasks.segmentation.pixel_forest import PixelForest

        try:
            task.model = PixelForest.from_text(run.read_text(info["file"]), len(task.classes))
        except Exception as error:  # LightGBM's own parse error
            raise RunFolderError(f"'{info['file']}' in '{run.path}' is not a LightGBM model "
                                 f"({type(error).__name__}).", "Train again.") from error  # fmt: skip
        task.model.cut = checked_cut(info.get("cut"), run)
    else:
        raise RunFolderError(f"'{run.path}' serves an unknown model {info['kind']!r}.",
                             "Train again.")  # fmt: skip
    return task


def _check_encoding(encoding: dict[str, Any], n_classes: int, run: RunFolder) -> None:
    """The mask encoding of preprocess.json as :func:`~.masks.encoding_for` writes it: a kind
    it knows, one whole-number code per class, sorted (new masks are read with it)."""
    codes, threshold = encoding.get("codes"), encoding.get("threshold")
    valid = (
        encoding.get("kind") in ("binary", "codes", "thresholded")
        and isinstance(codes, list)
        and len(codes) == n_classes
        and all(isinstance(c, int) and 0 <= c < 1 << 24 for c in codes)
        and codes == sorted(set(codes))
        and (threshold is None or isinstance(threshold, int))
    )
    if not valid:
        raise RunFolderError(f"The mask encoding in '{run.path}' is not one layerwise writes.",
                             "Use the run folder as `layerwise train` wrote it, or train again.")  # fmt: skip


def _metrics(task: Any, whole: Any, parts: dict[str, Any], rows: list[dict],
             seconds: float) -> dict[str, Any]:  # fmt: skip
    candidates = {}
    for row in rows:
        candidates[row["candidate"]] = {
            "family": row["family"], "fit_seconds": row["fit_seconds"],
            "predict_ms_per_image": row["predict_ms_per_image"],
            "predict_ms_per_row": row["predict_ms_per_image"],  # a row of the summary: an image
            "validation": row["validation"], "test": row["test"]}  # fmt: skip
        if len(task.classes) == 2:  # class 1 from this probability up; None: the argmax
            candidates[row["candidate"]]["cut"] = row.get("cut")
    sizes = [list(im.shape[:2]) for im in whole.images]
    return bakeoff_metrics(
        task.name, metric="mean_dice", greater_is_better=True,
        protocol=f"mean Dice of the foreground classes on {len(parts['val'])} validation "
        f"images; test scores on {len(parts['test'])} held-out images",
        chosen=task.chosen, test=dict(candidates[task.chosen]["test"]), candidates=candidates,
        images=len(whole), classes=task.classes, channels=task.channels,
        largest_image=max(sizes, key=lambda s: s[0] * s[1]), seconds=seconds,
        notes=list(whole.notes), skipped=list(whole.skipped[:20]),
    )  # fmt: skip


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _decision(task: Any, rows: list[dict], metrics: dict) -> str:
    best = metrics["candidates"][task.chosen]
    choice = (f"**Served: {task.chosen}**: validation mean Dice "
              f"{_fmt(best['validation']['mean_dice'])} over the foreground classes (the "
              "simpler model is served within 0.01 of the best).")  # fmt: skip
    head = ["candidate", "family", "val Dice", "test Dice", "test IoU", "test background Dice",
            "median / worst image Dice", "fit s", "predict ms/image"]  # fmt: skip
    cells = []
    for row in rows:
        t = row["test"]
        cells.append([row["candidate"], row["family"], _fmt(row["validation"]["mean_dice"]),
                      _fmt(t["mean_dice"]), _fmt(t["mean_iou"]), _fmt(t["background_dice"]),
                      f"{_fmt(t.get('median_image_dice'))} / {_fmt(t.get('worst_image_dice'))}",
                      f"{row['fit_seconds']:.1f}", f"{row['predict_ms_per_image']:.0f}"])  # fmt: skip
    by_name = {r["candidate"]: r for r in rows}
    verdict = []
    if "pixel-forest" in by_name and "unet" in by_name:
        deep, classical = (
            by_name["unet"]["test"]["mean_dice"],
            by_name["pixel-forest"]["test"]["mean_dice"],
        )
        if deep is not None and classical is not None:
            gap = deep - classical
            verdict = [f"On the test images the U-Net's mean Dice is {abs(gap):.3f} "
                       f"{'above' if gap >= 0 else 'below'} that of the pixel forest (LightGBM "
                       "on multiscale pixel features, the way ilastik segments without deep "
                       "learning)."]  # fmt: skip
    notes = [f"- {n}" for n in metrics.get("notes", [])]
    return decision_page("Why this segmenter", choice,
                         [markdown_table(head, cells), verdict, notes])  # fmt: skip


def output_fields(classes: list[str]) -> dict[str, str]:
    """The columns of a prediction (one row per image)."""
    fields = {"image": "str: the image's file name (or its index)",
              "width": "int: pixels", "height": "int: pixels"}  # fmt: skip
    for name in classes:
        fields[f"area_{name}"] = f"float: the share of the image's pixels that are {name}"
    fields["mask_png"] = ("str: the mask as a base64 palette PNG of the image's size, pixel "
                          "values the class indices (with masks_to: 'mask', the file written)")  # fmt: skip
    return fields


def mask_rows(task: Any, names: list[str], images: Any, masks_to: Any,
              overlay: bool) -> pd.DataFrame:  # fmt: skip
    """Each image's mask, one at a time (a folder of large images is never all in memory), as
    a row of :func:`output_fields`; written into ``masks_to`` when given."""
    from pathlib import Path

    import numpy as np

    from layerwise.io import atomic_write
    from layerwise.runs.image_grid import png_bytes
    from layerwise.tasks.segmentation.drawing import base64_png, mask_png, palette_for
    from layerwise.tasks.segmentation.drawing import overlay as overlaid

    palette = palette_for(len(task.classes), task.encoding)
    folder = Path(masks_to) if masks_to is not None else None
    rows = []
    for name, image in zip(names, images, strict=True):
        if image is None:  # unreadable: noted by the reader
            continue
        mask = task.masks([image])[0]
        counts = np.bincount(mask.reshape(-1), minlength=len(task.classes))[: len(task.classes)]
        row: dict[str, Any] = {"image": name, "width": int(mask.shape[1]),
                               "height": int(mask.shape[0])}  # fmt: skip
        for c, n in zip(task.classes, counts, strict=True):
            row[f"area_{c}"] = round(float(n) / mask.size, 6)
        encoded = mask_png(mask, palette)
        if folder is None:
            row["mask_png"] = base64_png(encoded)
        else:
            stem = Path(name).with_suffix("")
            target = folder / stem.parent / f"{stem.name}_mask.png"
            atomic_write(target, lambda p, b=encoded: Path(p).write_bytes(b))
            row["mask"] = str(target)
            if overlay:
                picture = png_bytes(overlaid(image, mask, palette))
                atomic_write(target.with_name(f"{stem.name}_overlay.png"),
                             lambda p, b=picture: Path(p).write_bytes(b))  # fmt: skip
        rows.append(row)
    if not rows:
        raise DataError("No image could be read.", "Give PNG, JPEG, TIFF, GIF or BMP files.")
    return pd.DataFrame(rows)
