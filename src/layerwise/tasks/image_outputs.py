"""Write a fitted image-classification run folder: both models, metrics, test predictions,
layer views of a few test images, the most confidently wrong ones, decision.md and the report."""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np
import pandas as pd

from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.tasks.base import Run

VIEWS = "layer_views"
WRONG = "wrong_examples.png"
N_VIEWED = 3  # test images whose layer views the report shows
N_WRONG = 16


def _save_models(task: Any, run: RunFolder, rows: list[dict]) -> dict[str, Any]:
    """Every trained model is kept: the chosen one predicts, the CNN also explains."""
    infos = {}
    for name, model in task.models.items():
        before = {p for p in run.path.iterdir() if p.is_file()}
        info = {
            "candidate": name,
            "objective": model.objective,
            "n_classes": model.n_classes,
            "seed": model.seed,
            "threshold": getattr(model, "threshold", None),
            **model.save(run),
        }
        infos[name] = info
        written = {p for p in run.path.iterdir() if p.is_file()} - before
        row = next(r for r in rows if r["candidate"] == name)
        row["size_bytes"] = sum(p.stat().st_size for p in written)
    return infos


def _metrics(task: Any, plan: Any, rows: list[dict], seconds: float, profile: Any) -> dict:
    from layerwise.tasks.image_classification import CANDIDATES

    candidates = {}
    for row in rows:
        model = task.models[row["candidate"]]
        entry = {
            "family": CANDIDATES.get(row["candidate"]).family,
            "validation": {
                plan.metric: row["validation"],
                f"{plan.metric}_std": 0.0,
                **row["validation_metrics"],
            },
            "test": row["test"],
            "fit_seconds": row["fit_seconds"],
            "predict_ms_per_row": row["predict_us_per_row"] / 1000.0,
            "size_bytes": row.get("size_bytes"),
            "threshold": getattr(model, "threshold", None),
        }
        if row["candidate"] == "cnn":
            entry.update(
                epochs=len(model.history) if model.history is not None else None,
                stopped=getattr(model, "stopped_reason", ""),
                parameters=int(sum(p.numel() for p in model.model.parameters())),
                tta=bool(model.tta),
                augment=model.augment_config.to_dict(),
            )
        candidates[row["candidate"]] = entry
    chosen_row = next(r for r in rows if r["candidate"] == task.chosen)
    return {
        "task": task.name,
        "metric": plan.metric,
        "greater_is_better": True,
        "validation_protocol": plan.protocol,
        "chosen": task.chosen,
        "test": chosen_row["test"],
        "candidates": candidates,
        "skipped_images": len(profile.skipped),
        "total_seconds": seconds,
    }


def _test_predictions(task: Any, test: Any, proba: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "image": test.names,
            "y_true": [task.classes[i] for i in test.labels],
            "y_pred": task.labels_of(proba),
        }
    )
    for i, label in enumerate(task.classes):
        frame[f"proba_{label}"] = proba[:, i]
    return frame


def _views(task: Any, run: RunFolder, test: Any, proba: np.ndarray) -> None:
    """Layer views of one correctly classified test image from each of the first classes."""
    import torch

    from layerwise.explain import layer_views as lv

    if "cnn" not in task.models:
        return
    predicted = proba.argmax(axis=1)
    picked = []
    for k in range(len(task.classes)):
        hits = np.flatnonzero((test.labels == k) & (predicted == k))
        if len(hits):
            picked.append(int(hits[0]))
        if len(picked) == N_VIEWED:
            break
    model = task.models["cnn"].model
    for n, i in enumerate(picked, 1):
        tensor = torch.from_numpy(np.ascontiguousarray(test.images[i].transpose(2, 0, 1)))
        views = lv.layer_views(model, tensor)
        run.write_bytes(f"{VIEWS}/{n}_gradcam.png", lv.grad_cam_png(views, task.classes))
        run.write_bytes(f"{VIEWS}/{n}_activations.png", lv.activations_png(views))
        if n == 1:  # the filters are the same whatever the image
            run.write_bytes(f"{VIEWS}/filters.png", lv.filters_png(views.filters))


def _wrong(task: Any, run: RunFolder, test: Any, proba: np.ndarray) -> None:
    from layerwise.explain.layer_views import image_grid_png

    predicted = np.array([task.classes.index(c) for c in task.labels_of(proba)])
    wrong = np.flatnonzero(predicted != test.labels)
    if len(wrong) == 0:
        return
    confidence = proba[wrong, predicted[wrong]]
    worst = wrong[np.argsort(-confidence)][:N_WRONG]
    titles = [
        f"true {task.classes[test.labels[i]]}\npred {task.classes[predicted[i]]} ({proba[i, predicted[i]]:.2f})"
        for i in worst
    ]
    png = image_grid_png(
        test.images[worst], titles, ncols=8, title="Most confidently wrong test images"
    )
    run.write_bytes(WRONG, png)


def write_image_run(
    task: Any,
    run: RunFolder,
    *,
    test: Any,
    plan: Any,
    rows: list[dict],
    reason: str,
    profile: Any,
    seconds: float,
) -> Run:
    """Write every file of the run folder, the manifest last, and return the Run."""
    from layerwise.advisor import decision_markdown
    from layerwise.tasks.image_classification import CANDIDATES

    infos = _save_models(task, run, rows)  # first: decision.md shows the model sizes
    families = {n: CANDIDATES.get(n).family for n in CANDIDATES.names()}
    decision = decision_markdown(profile, plan, rows, task.chosen, reason, families)
    run.write_json(
        names.PREPROCESS,
        {
            "classes": task.classes,
            "size": list(task.size),
            "channels": task.channels,
            "target": task.target,
            "image_column": task.option("image_column"),
            "threshold": task.threshold,
            "chosen": task.chosen,
            "models": infos,
        },
    )
    run.write_json(names.SCHEMA, {"input": task.input_schema(), "output": task.output_schema()})
    metrics = _metrics(task, plan, rows, seconds, profile)
    run.write_json(names.METRICS, metrics)
    run.write_json("profile.json", profile.to_dict())
    cnn = task.models.get("cnn")
    if cnn is not None and cnn.history is not None:
        cnn.history.write_csv(run.file(names.HISTORY))
    proba = next(r for r in rows if r["candidate"] == task.chosen)["test_proba"]
    frame = _test_predictions(task, test, proba)
    run.write_with(names.PREDICTIONS, lambda p: frame.to_csv(p, index=False))
    cnn_row = next((r for r in rows if r["candidate"] == "cnn"), None)
    if cnn_row is not None:
        _views(task, run, test, cnn_row["test_proba"])
    _wrong(task, run, test, proba)
    run.write_text(names.DECISION, decision)
    shutil.rmtree(run.file(names.CHECKPOINTS), ignore_errors=True)
    run.finalize({"task": task.name, "chosen": task.chosen})
    report = None
    if task.option("report"):
        from layerwise.runs.report import build_report

        report = build_report(run)
        run.finalize({})
    for row in rows:
        row.pop("test_proba", None)
    return Run(
        path=run.path,
        task=task,
        metrics=metrics,
        chosen=task.chosen,
        report=report,
        notes=list(profile.notes),
    )


def onnx_parts(task: Any) -> tuple[Any, tuple, list[str], list[str]]:
    """The chosen CNN with a softmax, an example batch, and input/output names for ONNX export."""
    import torch

    from layerwise.errors import ConfigError

    if task.chosen != "cnn":
        raise ConfigError(
            f"The chosen model of this run is {task.chosen}, not a neural network.",
            "Its model.pixels.json is plain JSON (downsample, standardise, one matrix product); "
            "train with --candidates cnn to export a CNN.",
        )
    wrapped = torch.nn.Sequential(task.models["cnn"].model.eval(), torch.nn.Softmax(dim=1))
    height, width = task.size
    generator = torch.Generator().manual_seed(0)
    example = (torch.rand(4, task.channels, height, width, generator=generator),)
    return wrapped.eval(), example, ["image"], ["probabilities"]


def onnx_description(task: Any) -> tuple[list[dict], dict, str]:
    height, width = task.size
    inputs = [
        {
            "name": "image",
            "dtype": "float32",
            "shape": ["batch", task.channels, height, width],
            "encoding": f"pixels / 255 in [0, 1], channels first ({'gray' if task.channels == 1 else 'RGB'}), "
            f"resized to {height}x{width}; the per-channel normalisation is inside the graph",
        }
    ]
    output = {
        "name": "probabilities",
        "dtype": "float32",
        "shape": ["batch", len(task.classes)],
        "classes": task.classes,
        "meaning": "class probabilities, columns in 'classes' order (without test-time "
        "augmentation)",
    }
    if task.threshold is not None:
        output["threshold"] = task.threshold
        output["meaning"] += f"; call '{task.classes[1]}' when its probability >= threshold"
    return inputs, output, "cnn"
