"""Write a fitted tabular task's run folder: model, preprocessing, metrics, decision, report."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.tasks.base import Run


def _describe_data(data: Any) -> Any:
    if isinstance(data, (str, os.PathLike)):
        return str(Path(data).resolve())
    if isinstance(data, pd.DataFrame) and "source" in data.attrs:
        return data.attrs["source"]
    return f"<in-memory {type(data).__name__}>"


def _config(task: Any, data: Any) -> dict[str, Any]:
    options = {}
    for key, value in task.options.items():
        if key == "test_data" and value is not None:
            value = _describe_data(value)
        options[key] = str(value) if isinstance(value, os.PathLike) else value
    return {
        "task": task.name,
        "data": _describe_data(data),
        "target": task.target,
        "options": options,
    }


def _metrics(task: Any, plan: Any, rows: list[dict], chosen: str, seconds: float) -> dict[str, Any]:
    from layerwise.tasks.tabular_base import CANDIDATES

    candidates = {}
    for row in rows:
        name = row["candidate"]
        entry: dict[str, Any] = {"family": CANDIDATES.get(name).family}
        if "skipped" in row:
            entry["skipped"] = row["skipped"]
        else:
            entry.update(
                validation={
                    plan.metric: row["validation"],
                    f"{plan.metric}_std": row["validation_std"],
                },
                test=row.get("test", {}),
                fit_seconds=row.get("final_fit_seconds"),
                cv_fit_seconds=row["fit_seconds"],
                predict_ms_per_row=row.get("predict_us_per_row", 0.0) / 1000.0,
                size_bytes=row.get("size_bytes"),
            )
        candidates[name] = entry
    chosen_row = next(r for r in rows if r["candidate"] == chosen)
    return {
        "task": task.name,
        "metric": plan.metric,
        "greater_is_better": plan.greater_is_better,
        "validation_protocol": plan.protocol,
        "chosen": chosen,
        "test": chosen_row.get("test", {}),
        "candidates": candidates,
        "total_seconds": seconds,
    }


def _test_predictions(task: Any, test_df: pd.DataFrame) -> pd.DataFrame:
    features = test_df.drop(columns=[task.target])
    predicted = task.predict(features)
    columns = {
        "y_true": test_df[task.target].to_numpy(),
        "y_pred": predicted["prediction"].to_numpy(),
    }
    for label in task.classes:  # the frame is built at once: column by column, pandas warns
        columns[f"proba_{label}"] = predicted[f"probability_{label}"].to_numpy()
    return pd.DataFrame(columns)


def _importance(task: Any, test_df: pd.DataFrame, seed: int) -> dict[str, Any]:
    from layerwise.explain.importance import permutation_importance

    features = test_df[[c for c in task.encoder.feature_columns if c in test_df.columns]]
    y = task._codes(test_df[task.target])
    if task.kind == "classification":
        known = y >= 0
        features, y = features[known], y[known]

        def predict(frame: pd.DataFrame) -> np.ndarray:
            return task.predict_output(frame)[0].argmax(axis=1)

        def score(truth: np.ndarray, predicted: np.ndarray) -> float:
            return float(np.mean(truth == predicted))

        metric = "accuracy"
    else:

        def predict(frame: pd.DataFrame) -> np.ndarray:
            return task.predict_output(frame)[0]

        def score(truth: np.ndarray, predicted: np.ndarray) -> float:
            return -float(np.sqrt(np.mean((truth - predicted) ** 2)))

        metric = "negative rmse"
    if not len(y):  # no test row has a class seen in training: nothing to score against
        return {"method": "permutation", "metric": metric, "rows": 0, "features": []}
    ranked = permutation_importance(predict, features, y, score, n_repeats=3, seed=seed)
    return {"method": "permutation", "metric": metric, "rows": len(y), "features": ranked}


def open_run_folder(task: Any, data: Any) -> RunFolder:
    """A new run folder with config.yaml written first, or the interrupted one being resumed.

    The folder is tracked (``track_run``) from the moment it exists: if the fit then fails, a
    new folder is removed; if it is interrupted, it stays for ``--resume``."""
    from layerwise.errors import RunFolderError
    from layerwise.tasks.base import track_run

    resume = task.option("resume")
    if resume is None:
        run = RunFolder.create(task.option("output_dir"), task.name)
        track_run(task, run.path, created=True)
        run.write_yaml(names.CONFIG, _config(task, data))
        return run
    run = RunFolder(resume)
    if not run.exists(names.CONFIG):
        raise RunFolderError(
            f"Cannot resume '{resume}': it has no {names.CONFIG}, so it is not a run folder.",
            "Pass the folder that `layerwise train` printed, or train again without --resume.",
        )
    if run.exists(names.MANIFEST):
        raise RunFolderError(
            f"Cannot resume '{resume}': that run already finished.",
            "Use `layerwise train --config <run>/config.yaml` to train it again.",
        )
    track_run(task, run.path, created=False)
    _drop_unfinished_writes(run.path)
    return run


def _drop_unfinished_writes(folder: Path) -> None:
    """Remove the temporary files a kill left mid-write (``.<name>.<random>.tmp``: atomic writes
    never leave them otherwise). Checkpoint folders are the trainer's: it notes what it drops."""
    for path in folder.rglob(".*.tmp"):
        inside = path.relative_to(folder).parts
        if inside[0] != names.CHECKPOINTS and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)


def close_run(task: Any, run: RunFolder, chosen: str) -> Path | None:
    """Finish a written run folder: write the manifest, then drop the training checkpoints (the
    chosen model is saved; a kill between the two leaves a finished run, not one that must train
    again), then the report (after the manifest, so it lists the run's files) and the manifest
    again with it. Returns the report's path, or None without a report."""
    run.finalize({"task": task.name, "chosen": chosen})  # it never lists checkpoints/
    shutil.rmtree(run.file(names.CHECKPOINTS), ignore_errors=True)
    if not task.option("report"):
        return None
    from layerwise.runs.report import build_report

    report = build_report(run)
    run.finalize({})
    return report


def write_run(
    task: Any,
    run: RunFolder,
    *,
    frame: pd.DataFrame,
    plan: Any,
    rows: list[dict],
    chosen: str,
    fitted: dict[str, Any],
    decision: str,
    profile: Any,
    seconds: float,
) -> Run:
    """Write every file of the run folder, the manifest last, and return the Run."""
    model = fitted[chosen]
    info = {
        "candidate": chosen,
        "objective": task.objective,
        "n_classes": len(task.classes),
        "seed": task.option("seed"),
        **model.save(run),
    }
    run.write_json(
        names.PREPROCESS,
        {
            "target": task.target,
            "kind": task.kind,
            "classes": task.classes,
            "encoder": task.encoder.to_json(),
            "model": info,
        },
    )
    run.write_json(names.SCHEMA, {"input": task.input_schema(), "output": task.output_schema()})
    metrics = _metrics(task, plan, rows, chosen, seconds)
    run.write_json(names.METRICS, metrics)
    run.write_json("profile.json", profile.to_dict())
    deep = next((m for m in fitted.values() if m.history is not None), None)
    if deep is not None:
        deep.history.write_csv(run.file(names.HISTORY))
    run.write_with(
        names.PREDICTIONS, lambda p: _test_predictions(task, frame).to_csv(p, index=False)
    )
    run.write_json(names.IMPORTANCE, _importance(task, frame, task.option("seed")))
    run.write_text(names.DECISION, decision)
    report = close_run(task, run, chosen)
    return Run(
        path=run.path,
        task=task,
        metrics=metrics,
        chosen=chosen,
        report=report,
        notes=list(profile.notes),
    )
