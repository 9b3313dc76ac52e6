"""Write a fitted tabular task's run folder: model, preprocessing, metrics, decision, report."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from layerwise.core.bakeoff import bakeoff_metrics, candidate_entries
from layerwise.core.task import Run
from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.writer import StandardFiles, finish_run, task_schema
from layerwise.tasks.tabular.candidates import CANDIDATES


def _metrics(
    task: Any, plan: Any, rows: list[dict], chosen: str, seconds: tuple[float, float]
) -> dict[str, Any]:
    """metrics.json; ``seconds``: to the trained models (bake-off and refits), and in all."""

    def entry_of(row: dict) -> dict[str, Any]:
        return {
            "validation": {
                plan.metric: row["validation"],
                f"{plan.metric}_std": row["validation_std"],
            },
            "test": row.get("test", {}),
            "fit_seconds": row.get("final_fit_seconds"),
            "cv_fit_seconds": row["fit_seconds"],
            "predict_ms_per_row": row.get("predict_us_per_row", 0.0) / 1000.0,
            "size_bytes": row.get("size_bytes"),
            **({"weights": row["weights"], "detail": row["detail"]} if "weights" in row else {}),
        }

    families = {r["candidate"]: CANDIDATES.get(r["candidate"]).family for r in rows}
    chosen_row = next(r for r in rows if r["candidate"] == chosen)
    return bakeoff_metrics(
        task.name,
        metric=plan.metric,
        greater_is_better=plan.greater_is_better,
        protocol=plan.protocol,
        chosen=chosen,
        test=chosen_row.get("test", {}),
        candidates=candidate_entries(rows, entry_of, families),
        train_seconds=seconds[0],
        total_seconds=seconds[1],
    )


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


def _write_probability_files(
    task: Any, run: RunFolder, test_df: pd.DataFrame, predictions: pd.DataFrame, chosen: str
) -> None:
    """reliability.json and, for two classes, threshold_curves.json from the test predictions
    (the most probable class: no calibration, no moved cut)."""
    from layerwise.runs.probability_report import write_reliability, write_threshold_curves

    labels = task._codes(test_df[task.target])
    proba = predictions[[f"proba_{c}" for c in task.classes]].to_numpy(dtype=float)
    write_reliability(run, labels, proba, model=chosen)
    if len(task.classes) == 2:
        write_threshold_curves(
            run, labels, proba[:, 1], positive=str(task.classes[1]), threshold=None
        )


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
    ranked = permutation_importance(
        predict, features, y, score, n_repeats=3, seed=seed, seconds=_importance_seconds(task)
    )
    return {"method": "permutation", "metric": metric, "rows": ranked.rows, "features": ranked}


def _importance_seconds(task: Any) -> float:
    """The shuffled predictions' budget: a tenth of the time limit, no more than it leaves,
    and at least 2 s; 30 s without a limit. A bag of forests predicts ~100 us a row:
    unbudgeted, 2,000 rows of 14 columns took 17 s, past a 30 s limit the fit had already
    used. A diagnostic takes a small share of the time asked for: the model takes the rest."""
    limit = task.option("time_limit")
    deadline = getattr(task, "_deadline", None)
    if limit is None or deadline is None:
        return 30.0
    return max(2.0, min(0.1 * float(limit), deadline - time.perf_counter()))


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
    seconds: tuple[float, float],
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
    preprocess = {
        "target": task.target,
        "kind": task.kind,
        "classes": task.classes,
        "encoder": task.encoder.to_json(),
        "model": info,
    }
    metrics = _metrics(task, plan, rows, chosen, seconds)
    run.write_json("profile.json", profile.to_dict())
    deep = next((m for m in fitted.values() if m.history is not None), None)
    predictions = _test_predictions(task, frame)
    run.write_with(names.PREDICTIONS, lambda p: predictions.to_csv(p, index=False))
    if task.kind == "classification":
        _write_probability_files(task, run, frame, predictions, chosen)
    run.write_json(names.IMPORTANCE, _importance(task, frame, task.option("seed")))
    history = None if deep is None else deep.history
    files = StandardFiles(preprocess, task_schema(task), metrics, decision, history)
    report = finish_run(task, run, files, chosen)
    return Run(
        path=run.path,
        task=task,
        metrics=metrics,
        chosen=chosen,
        report=report,
        notes=list(profile.notes),
    )
