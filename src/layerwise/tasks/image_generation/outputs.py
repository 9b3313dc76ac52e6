"""Write an image-generation run folder and load it back.

Files: the served generator (``model.safetensors``: the GAN generator's averaged weights, the
VAE's decoder with its fitted prior, or the pixel mixtures' arrays), ``judge.safetensors`` (the feature ResNet and the test images'
feature statistics, so ``evaluate`` needs no training images), ``preprocess.json`` (side,
channels, classes, architectures), ``history.csv`` (the GAN's losses and validation distance
per epoch), ``samples/`` (sample grids taken during training, and final grids of each
candidate beside real test images), ``samples.json`` (their index), metrics, decision.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from layerwise.core.bakeoff import bakeoff_metrics, decision_page, markdown_table
from layerwise.core.task import Run
from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.writer import StandardFiles, finish_run, task_schema

JUDGE = "judge.safetensors"
SAMPLES = "samples.json"
SAMPLE_DIR = "samples"
GENERATION_OPTIONS = ("image_size", "channels", "conditional", "n_samples")


def write_image_run(task: Any, run: RunFolder, images: Any, rows: list[dict], extras: dict,
                    judging: dict, started: float) -> Run:  # fmt: skip
    from layerwise.engine.checkpoint import save_weights

    info = _save_model(task, run, extras[task.chosen])
    tensors, meta = task.judge.state()
    save_weights(run.file(JUDGE), tensors)
    options = {k: task.option(k) for k in GENERATION_OPTIONS}
    preprocess = {
        "chosen": task.chosen, "side": task.side, "channels": task.channels,
        "classes": task.classes, "model": info, "judge": meta, "options": options}  # fmt: skip
    deep = _traced(task.chosen, extras)  # whose curves and grids the run keeps
    models = {name: extra["model"] for name, extra in extras.items()}
    grids = extras[deep]["grids"] if deep else []
    run.write_json(SAMPLES, {"model": deep, **_write_grids(task, run, images, grids, models)})
    metrics = _metrics(task, images, rows, extras, judging, run, time.perf_counter() - started)
    files = StandardFiles(preprocess, task_schema(task), metrics, _decision(task, rows, metrics),
                          extras[deep]["history"] if deep else None)  # fmt: skip
    report = finish_run(task, run, files, task.chosen)
    return Run(run.path, task, run.read_json(names.METRICS), task.chosen, report,
               list(images.notes))  # fmt: skip


def _traced(chosen: str, extras: dict) -> str | None:
    """The deep model whose training the run folder shows: the served one, else the GAN."""
    if chosen in ("gan", "vae"):
        return chosen
    return next((name for name in ("gan", "vae") if name in extras), None)


def _save_model(task: Any, run: RunFolder, extra: dict[str, Any]) -> dict[str, Any]:
    from layerwise.engine.checkpoint import save_weights

    if task.chosen == "gmm":
        import torch

        arrays, meta = task.model.state()
        save_weights(run.file("model.safetensors"),
                     {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()})  # fmt: skip
        return {"file": "model.safetensors", "kind": "gmm", "meta": meta}
    save_weights(run.file("model.safetensors"), task.model.state_dict())
    return {"file": "model.safetensors", "kind": task.chosen, "architecture": extra["architecture"]}


def _write_grids(task: Any, run: RunFolder, images: Any, grids: list[dict],
                 models: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Grids during training, then each candidate's final grid beside real images."""
    from layerwise.runs.image_grid import save_grid
    from layerwise.tasks.image_generation.sampling import GRID_PER_CLASS, grid_codes, sample_uint8

    run.file(SAMPLE_DIR).mkdir(exist_ok=True)
    codes = grid_codes(task)
    columns = GRID_PER_CLASS if codes is not None else None
    during = []
    for i, g in enumerate(grids):
        name = f"{SAMPLE_DIR}/training_{i + 1:02d}.png"
        save_grid(run.file(name), g["images"], columns)
        during.append({"file": name, "epoch": g["epoch"], "seconds": g["seconds"], "fd": g["fd"]})
    final = {"real": _real_grid(images, codes, run, columns)}
    served = task.chosen
    n = len(codes) if codes is not None else 64
    for name_ in models:  # each candidate's samples from one seed
        task.chosen, task.model = name_, models[name_]
        final[name_] = f"{SAMPLE_DIR}/final_{name_}.png"
        save_grid(run.file(final[name_]), sample_uint8(task, n, codes, seed=1234), columns)
    task.chosen, task.model = served, models[served]
    return {"per_class": GRID_PER_CLASS if codes is not None else 0,
            "classes": task.classes[: len(set(codes.tolist()))] if codes is not None else [],
            "during_training": during, "final": final}  # fmt: skip


def _real_grid(images: Any, codes: np.ndarray | None, run: RunFolder, columns: int | None) -> str:
    from layerwise.runs.image_grid import save_grid

    rng = np.random.default_rng(0)
    if codes is None:
        pick = rng.permutation(len(images))[:64]
    else:
        pick = np.concatenate([rng.permutation(np.flatnonzero(images.labels == c))[:1]
                               for c in codes])  # fmt: skip
    name = f"{SAMPLE_DIR}/real.png"
    save_grid(run.file(name), images.images[pick], columns)
    return name


def _metrics(task: Any, images: Any, rows: list[dict], extras: dict, judging: dict,
             run: RunFolder, seconds: float) -> dict[str, Any]:  # fmt: skip
    candidates = {}
    for row in rows:
        entry = {"family": row["family"], "fit_seconds": row["fit_seconds"],
                 "validation": row["validation"], "test": row["test"]}  # fmt: skip
        extra = extras.get(row["candidate"]) or {}
        for key in ("architecture", "epochs", "best_epoch", "stopped", "parameters"):
            if key in extra:
                entry[key] = extra[key]
        candidates[row["candidate"]] = entry
    candidates[task.chosen]["size_bytes"] = run.file("model.safetensors").stat().st_size
    judge = judging["judge"]
    return bakeoff_metrics(
        task.name, metric="fd", greater_is_better=False,
        protocol="Fréchet distance between the judge's penultimate features of "
        f"{int(task.option('n_samples'))} generated images and of the held-out real images",
        chosen=task.chosen, test=dict(candidates[task.chosen]["test"]), candidates=candidates,
        floor=judging["floor"], judge={k: judge[k] for k in judge if k != "config"},
        images=len(images), side=task.side, channels=task.channels,
        classes=task.classes, seconds=seconds, notes=list(images.notes),
    )  # fmt: skip


def _decision(task: Any, rows: list[dict], metrics: dict) -> str:
    best = metrics["candidates"][task.chosen]
    judge, floor = metrics["judge"], metrics["floor"]
    what = "classes" if judge["kind"] == "classes" else "rotation of each image (no classes given)"
    choice = (f"**Served: {task.chosen}**: the smaller Fréchet distance to the validation "
              f"images ({best['validation']['fd']:.2f}).")  # fmt: skip
    judged = [f"The judge is a ResNet trained here on the training images' {what}; validation "
              f"accuracy {judge['val_accuracy']:.1%}. Distances are on its penultimate features, "
              "so they compare models on this data, not with published FIDs (Inception's). "
              f"Real training images score {floor['test']:.2f} against the test images: "
              "the best a generator can hope for."]  # fmt: skip
    cells = []
    for row in rows:
        accuracy = row["test"].get("class_accuracy")
        shown = "-" if accuracy is None else f"{accuracy:.1%}"
        cells.append([row["candidate"], row["family"], f"{row['validation']['fd']:.2f}",
                      f"{row['test']['fd']:.2f}", shown, f"{row['fit_seconds']:.1f}"])  # fmt: skip
    head = ["candidate", "family", "validation FD", "test FD", "test accuracy on asked class",
            "fit s"]  # fmt: skip
    blocks = [judged, markdown_table(head, cells)]
    for name, what in (("gan", "GAN: generator"), ("vae", "VAE: decoder")):
        entry = metrics["candidates"].get(name)
        if entry:
            blocks.append([f"{what} of {entry['parameters']:,} parameters, {entry['epochs']} "
                           f"epochs, best at epoch {entry['best_epoch']}, stopped by "
                           f"{entry['stopped']}."])  # fmt: skip
    return decision_page("Why this model", choice, blocks)


def restore(cls: Any, run: RunFolder) -> Any:
    from layerwise.models.resnet import ResNet, ResNetConfig
    from layerwise.runs.weights import config_from, read_tensors, restore_module
    from layerwise.tasks.image_generation.quality import QualityJudge

    stored = run.read_json(names.PREPROCESS)
    task = cls(verbose=False, **stored.get("options", {}))
    task.chosen, task.side, task.channels = stored["chosen"], stored["side"], stored["channels"]
    task.classes = list(stored["classes"])
    info = stored["model"]
    if info["kind"] == "gmm":
        from layerwise.tasks.image_generation.gmm import PixelGMM

        weights = read_tensors(run, info["file"])
        task.model = PixelGMM.from_state({k: v.numpy() for k, v in weights.items()}, info["meta"])
    elif info["kind"] == "vae":
        from layerwise.models.conv_vae import ConvVAEConfig, VAEDecoder

        config = config_from(ConvVAEConfig, info["architecture"], run)
        task.model = restore_module(run, info["file"], lambda: VAEDecoder(config)).eval()
    else:
        from layerwise.models.dcgan import DCGANConfig, Generator

        config = config_from(DCGANConfig, info["architecture"], run)
        task.model = restore_module(run, info["file"], lambda: Generator(config)).eval()
    judge = config_from(ResNetConfig, stored["judge"]["config"], run)
    tensors = read_tensors(run, JUDGE)
    network = restore_module(run, JUDGE, lambda: ResNet(judge), tensors, prefix="model.")
    task.judge = QualityJudge.from_state(tensors, stored["judge"], network)
    return task
