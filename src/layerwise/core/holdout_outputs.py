"""Write the run folder of a holdout classification task (images, texts): every trained model,
metrics, test predictions, decision.md, the task's own extras (``write_extras``) and the report."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from layerwise.core.bakeoff import bakeoff_metrics, candidate_entries
from layerwise.core.task import Run
from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.writer import StandardFiles, finish_run, task_schema


def save_models(task: Any, run: RunFolder, rows: list[dict]) -> dict[str, Any]:
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
    def entry_of(row: dict) -> dict:
        model = task.models[row["candidate"]]
        entry = {
            "validation": {
                plan.metric: row["validation"],
                f"{plan.metric}_std": row["validation_std"],
                **row["validation_metrics"],
            },
            "test": row["test"],
            "fit_seconds": row["fit_seconds"],
            "predict_ms_per_row": row["predict_us_per_row"] / 1000.0,
            "size_bytes": row.get("size_bytes"),
            "threshold": getattr(model, "threshold", None),
        }
        if "test_at_0.5" in row:
            entry["test_at_0.5"] = row["test_at_0.5"]
        if model.history is not None:
            entry.update(
                epochs=len(model.history),
                stopped=getattr(model, "stopped_reason", ""),
                parameters=int(sum(p.numel() for p in model.model.parameters())),
            )
        entry.update(getattr(model, "facts", dict)())
        return entry

    families = {r["candidate"]: task.CANDIDATES.get(r["candidate"]).family for r in rows}
    chosen_row = next(r for r in rows if r["candidate"] == task.chosen)
    unshifted = chosen_row.get("test_calibrated", chosen_row["test"])
    prior: dict[str, Any] = {}
    if task.prior is not None:
        prior = {
            "prior": {
                **task.prior,
                "test": "test figures are under the prior: probabilities adjusted to it and the "
                "test rows weighted to its share of the second class (P/p for it, (1-P)/(1-p) "
                "for the other, p its share in the test split, which has about the training "
                "prevalence); test_without_prior: the probabilities without the prior and the "
                "cut chosen without it, on the test split as it is",
            },
            "test_without_prior": unshifted,
        }
    return bakeoff_metrics(
        task.name,
        metric=plan.metric,
        greater_is_better=True,
        protocol=plan.protocol,
        chosen=task.chosen,
        test=chosen_row.get("test_prior", unshifted),
        candidates=candidate_entries(rows, entry_of, families),
        **{f"skipped_{task.unit}": len(getattr(profile, "skipped", []))},
        total_seconds=seconds,
        **({"calibration": task.calibration} if task.calibration else {}),
        **({"threshold": task.operating_point} if task.operating_point else {}),
        **prior,
        **task.extra_metrics(),
    )


def _test_predictions(task: Any, test: Any, proba: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            task.unit.rstrip("s"): test.names,
            "y_true": [task.classes[i] for i in test.labels],
            "y_pred": task.labels_of(proba),
        }
    )
    for i, label in enumerate(task.classes):
        frame[f"proba_{label}"] = proba[:, i]
    return frame


def _served_metric(task: Any) -> str | None:
    """The metric the run's two-class cut was chosen for (the target in its operating point,
    as ``core/operating_point.py`` resolved the ``threshold`` option); None for a fixed cut, no
    cut, or a goal or cost (no metric curve of theirs is drawn)."""
    from layerwise.thresholds import THRESHOLD_METRICS

    if task.threshold is None:
        return None
    target = (getattr(task, "operating_point", None) or {}).get("target")
    return target if target in THRESHOLD_METRICS else None


def _validation_scores(task: Any, row: dict) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The rows the chosen model's cut was chosen on, with their calibrated probability of
    class 1: its out-of-fold or validation probabilities (an ensemble: its holdout ones)."""
    if "calibration_data" in row:
        labels, proba = row["calibration_data"]
        source = "out-of-fold training + validation rows" if "oof" in row else "validation"
    elif "val_proba" in row and getattr(task, "_val_labels", None) is not None:
        labels, proba, source = task._val_labels, row["val_proba"], "validation"
    else:
        return None
    return labels, task.served(proba)[:, 1], source  # temperature and prior, as predict_proba


def write_probability_files(task: Any, run: RunFolder, test: Any, row: dict) -> None:
    """reliability.json and, for two classes, threshold_curves.json, from the chosen model's
    test probabilities (:mod:`layerwise.runs.probability_report`)."""
    from layerwise.runs.probability_report import write_reliability, write_threshold_curves

    calibrated = "test_proba_calibrated" in row
    proba = row["test_proba_calibrated"] if calibrated else row["test_proba"]
    proba = row.get("test_proba_prior", proba)  # with a prior: what a user is served
    write_reliability(
        run,
        test.labels,
        proba,
        model=task.chosen,
        raw=row["test_proba"] if calibrated else None,
        calibration=task.calibration,
    )
    if len(task.classes) == 2:
        write_threshold_curves(
            run,
            test.labels,
            proba[:, 1],
            positive=task.classes[1],
            threshold=task.threshold,
            served=_served_metric(task),
            validation=_validation_scores(task, row),
        )


def write_holdout_run(
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
    from layerwise.core.advisor import decision_markdown
    from layerwise.core.operating_point import operating_point_sentence

    infos = save_models(task, run, rows)  # first: decision.md shows the model sizes
    families = {n: task.CANDIDATES.get(n).family for n in task.CANDIDATES.names()}
    decision = decision_markdown(profile, plan, rows, task.chosen, reason, families)
    sentence = operating_point_sentence(task)
    if sentence:
        decision = decision.rstrip("\n") + f"\n\n## Decision threshold\n\n{sentence}\n"
    metrics = _metrics(task, plan, rows, seconds, profile)
    run.write_json("profile.json", profile.to_dict())
    history = None
    deep = [m for m in task.models.values() if m.history is not None]
    if deep:  # the chosen deep model's curves, else the first deep model's
        chosen = task.models[task.chosen]
        history = (chosen if chosen.history is not None else deep[0]).history
    chosen_row = next(r for r in rows if r["candidate"] == task.chosen)
    proba = chosen_row.get("test_proba_calibrated", chosen_row["test_proba"])
    proba = chosen_row.get("test_proba_prior", proba)
    frame = _test_predictions(task, test, proba)
    run.write_with(names.PREDICTIONS, lambda p: frame.to_csv(p, index=False))
    write_probability_files(task, run, test, chosen_row)
    task.write_extras(run, test, {r["candidate"]: r["test_proba"] for r in rows})
    preprocess = {
        "classes": task.classes,
        "target": task.target,
        "threshold": task.threshold,
        "temperature": task.temperature,
        **(task.prior or {}),  # prior, training_prevalence, model_prevalence
        "chosen": task.chosen,
        **task.preprocess_json(),
        "models": infos,
    }
    files = StandardFiles(preprocess, task_schema(task), metrics, decision, history)
    report = finish_run(task, run, files, task.chosen)
    for row in rows:
        row.pop("test_proba", None)
        row.pop("val_proba", None)
        row.pop("oof", None)
        for key in (
            "calibration_data",
            "test_proba_calibrated",
            "test_calibrated",
            "threshold_data",
            "threshold_facts",
            "test_proba_prior",
            "test_prior",
        ):
            row.pop(key, None)
    return Run(
        path=run.path,
        task=task,
        metrics=metrics,
        chosen=task.chosen,
        report=report,
        notes=list(profile.notes),
    )
