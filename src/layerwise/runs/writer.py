"""Open, resume and close a run folder: the same lifecycle for every application.

``open_run_folder`` writes config.yaml first (so an interrupted run knows how to resume);
``finish_run`` writes the standard files (``StandardFiles``) after the application's own, then
``close_run`` writes the manifest, drops the checkpoints and builds the report.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder


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


def open_run_folder(task: Any, data: Any) -> RunFolder:
    """A new run folder with config.yaml written first, or the interrupted one being resumed.

    The folder is tracked (``track_run``) from the moment it exists: if the fit then fails, a
    new folder is removed; if it is interrupted, it stays for ``--resume``."""
    from layerwise.core.task import track_run
    from layerwise.errors import RunFolderError

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


@dataclass
class StandardFiles:
    """The files every run folder has beside config.yaml (and the report), as
    ``write_standard_files`` writes them: preprocess.json, schema.json, metrics.json, history.csv
    (only with a ``history``: anything with ``write_csv(path)``, the trainer's History) and
    decision.md."""

    preprocess: dict[str, Any]
    schema: dict[str, Any]
    metrics: dict[str, Any]
    decision: str
    history: Any = None


def task_schema(task: Any) -> dict[str, Any]:
    """schema.json: the task's input and output schemas."""
    return {"input": task.input_schema(), "output": task.output_schema()}


def write_standard_files(run: RunFolder, files: StandardFiles) -> None:
    """Write the standard files, each atomically, in a fixed order: decision.md last, after every
    file it describes. The application's own files (models, extras) are written before."""
    run.write_json(names.PREPROCESS, files.preprocess)
    run.write_json(names.SCHEMA, files.schema)
    run.write_json(names.METRICS, files.metrics)
    if files.history is not None:
        files.history.write_csv(run.file(names.HISTORY))
    run.write_text(names.DECISION, files.decision)


def finish_run(task: Any, run: RunFolder, files: StandardFiles, chosen: str) -> Path | None:
    """The standard files, then ``close_run`` (the manifest, lastly the report): the end of every
    application's fit. Returns the report's path, or None without a report."""
    write_standard_files(run, files)
    return close_run(task, run, chosen)
