"""Write an anomaly-detection run folder: the models, preprocess.json (features, scales,
threshold, calibration), metrics.json, decision.md, the scores the report plots
(anomaly_scores.json) and the most unusual training rows with their reasons (flagged.csv)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from layerwise.core.bakeoff import bakeoff_metrics, decision_page, markdown_table
from layerwise.core.task import Run
from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.writer import StandardFiles, finish_run, task_schema

SCORES = "anomaly_scores.json"
FLAGGED = "flagged.csv"
TOP_ROWS = 25
PLOT_ROWS = 5000


def write_anomaly_run(
    task: Any,
    run: RunFolder,
    rows: list[dict],
    fitted: tuple,
    test: tuple | None,
    reason: str,
    notes: list[str],
    started: float,
) -> Run:
    """Write every file of the run folder and return the :class:`Run`."""
    x, y, lab, frame, reference = fitted
    model = task.model
    test_scores = _test_scores(task, rows, test)
    info = model.save(run)
    _measure(task, rows, info, run, x)
    preprocess = {
        "target": task.target, "positive": task.positive, "features": task.features.to_json(),
        "model": info, "threshold": task.threshold,
        "calibrator": None if task.calibrator is None else task.calibrator.to_json()}  # fmt: skip
    metrics = _metrics(task, rows, test_scores, x, lab, notes, time.perf_counter() - started)
    run.write_json(SCORES, _plot_data(task, reference, y, lab, test))
    flagged = _top_rows(task, frame, x, reference)
    run.write_with(FLAGGED, lambda p: flagged.to_csv(p, index=False))
    histories = [d.history for d in model.detectors.values() if d.history is not None]
    decision = _decision(task, rows, reason, metrics)
    files = StandardFiles(preprocess, task_schema(task), metrics, decision,
                          histories[0] if histories else None)  # fmt: skip
    report = finish_run(task, run, files, model.chosen)
    return Run(run.path, task, run.read_json(names.METRICS), model.chosen, report, notes)


def _measure(task: Any, rows: list[dict], info: dict, run: RunFolder, x: np.ndarray) -> None:
    """Each candidate's file size and scoring time per row (on up to 2,000 training rows), as
    the sums over the models that serve it: the ensemble's members; a fraud model and every
    detector it reads; the fraud ensemble's weighted models and those detectors."""
    from layerwise.tasks.anomaly_detection.model import ENSEMBLE, FRAUD_ENSEMBLE

    model, sample = task.model, x[:2000]
    files = {**info["detectors"], **info["supervised"]}
    size = {name: run.file(entry["file"]).stat().st_size for name, entry in files.items()}

    def us_per_row(score: Any) -> float:
        start = time.perf_counter()
        score()
        return 1e6 * (time.perf_counter() - start) / max(len(sample), 1)

    cost = {name: us_per_row(lambda d=d: d.score(sample)) for name, d in model.detectors.items()}
    if model.supervised:
        inputs = model.with_scores(sample, model.detector_scores(sample), list(model.detectors))
        cost.update(
            {n: us_per_row(lambda m=m: m.score(inputs)) for n, m in model.supervised.items()}
        )
    for row in rows:
        name = row["candidate"]
        parts = {ENSEMBLE: model.members, FRAUD_ENSEMBLE: [*model.detectors, *model.weights]}.get(
            name, [*model.detectors, name] if name in model.supervised else [name]
        )
        row["size_bytes"] = sum(size.get(p, 0) for p in parts)
        row["predict_us_per_row"] = sum(cost.get(p, 0.0) for p in parts)


def _test_scores(task: Any, rows: list[dict], test: tuple | None) -> dict[str, dict]:
    """Every candidate's ROC-AUC and PR-AUC on the held-out labelled rows, and the chosen
    one's precision and recall at the threshold."""
    if test is None:
        return {}
    from layerwise.tasks.anomaly_detection.scoring import precision_recall_at, ranking_metrics

    x_test, y_test = test
    scores = task.model.all_scores(x_test)
    out = {r["candidate"]: ranking_metrics(y_test, scores[r["candidate"]]) for r in rows}
    served = task.model.served(x_test, scores)
    out[task.model.chosen].update(
        precision_recall_at(y_test, served, float(task.threshold["threshold"]))
    )
    return out


def _metrics(
    task: Any, rows: list[dict], test: dict, x: np.ndarray, lab: np.ndarray, notes: list,
    seconds: float,
) -> dict[str, Any]:  # fmt: skip
    labelled = task.target is not None
    candidates = {}
    for row in rows:
        entry: dict[str, Any] = {
            "family": row["family"],
            "fit_seconds": row["fit_seconds"],
            "predict_ms_per_row": row.get("predict_us_per_row", 0.0) / 1000.0,
            "size_bytes": row.get("size_bytes"),
        }
        if "validation" in row:
            entry["validation"] = row["validation"]
            entry["validated_on"] = "out of fold" if row.get("out_of_fold") else "labelled rows"
        for fact in ("weights", "paired"):  # the fraud ensemble's; the selection rule's
            if fact in row:
                entry[fact] = row[fact]
        if row["candidate"] in test:
            entry["test"] = test[row["candidate"]]
        candidates[row["candidate"]] = entry
    mode = "unsupervised"
    if labelled:
        mode = "fraud" if task.model.supervised else "labels choose"
    return bakeoff_metrics(
        task.name,
        metric="pr_auc" if labelled else "flagged_share",
        greater_is_better=labelled,
        protocol=(
            "the labelled rows (fraud models out of fold)" if labelled else "none: no labels"
        ),
        chosen=task.model.chosen,
        test=test.get(task.model.chosen, {}),
        candidates=candidates,
        mode=mode,
        threshold=task.threshold,
        rows=len(x),
        labelled_rows=int(lab.sum()),
        features=int(x.shape[1]),
        dropped_columns=task.features.dropped,
        seconds=seconds,
        notes=notes,
        fraud_models=task.fraud or None,
    )


def _decision(task: Any, rows: list[dict], reason: str, metrics: dict) -> str:
    mode = [f"Mode: {metrics['mode']}; {metrics['rows']} training rows, "
            f"{metrics['labelled_rows']} of them labelled."]  # fmt: skip
    head = ["candidate", "family", "validation ROC-AUC", "validation PR-AUC", "test ROC-AUC",
            "test PR-AUC", "fit s"]  # fmt: skip
    cells = []
    for row in rows:
        entry = metrics["candidates"][row["candidate"]]
        val, tst = entry.get("validation", {}), entry.get("test", {})
        cells.append([row["candidate"], row["family"], _f(val.get("roc_auc")),
                      _f(val.get("pr_auc")), _f(tst.get("roc_auc")), _f(tst.get("pr_auc")),
                      f"{row['fit_seconds']:.1f}"])  # fmt: skip
    unlabelled = None
    if task.target is None:
        unlabelled = ["No labels were given, so no candidate has a validation score. "
                      "Give a label column (--target; a few labelled rows are enough) to let "
                      "measured precision choose."]  # fmt: skip
    t = task.threshold
    threshold = ["## Threshold", "", f"Rule: {t['rule']}; flags score >= {t['threshold']:.3f}, "
                 f"about {t['expected_flagged_share']:.2%} of rows like the training ones."]  # fmt: skip
    if "precision" in t:
        threshold.append(
            f"On the labelled rows: precision {_f(t['precision'])}, recall {_f(t['recall'])}."
        )
    points = markdown_table(
        ["alert budget", "threshold", "precision", "recall"],
        ([f"{p['budget']:.1%}", f"{p['threshold']:.3f}", _f(p.get("precision")),
          _f(p.get("recall"))] for p in t["operating_points"]),
    )  # fmt: skip
    fraud = None
    if metrics.get("fraud_models"):
        chosen = metrics["fraud_models"]
        fraud = ["## Fraud models", "", chosen.get("ensemble", "")]
        if "choice" in chosen:
            fraud += ["", f"The fraud ensemble against the best single fraud model: "
                      f"{chosen['choice']}"]  # fmt: skip
    dropped = None
    if metrics["dropped_columns"]:
        dropped = [f"Columns not used: {', '.join(metrics['dropped_columns'])}."]
    return decision_page(
        "Why this model", f"**Served: {task.model.chosen}**. {reason}",
        [mode, ["## Candidates", "", *markdown_table(head, cells)], fraud, unlabelled,
         threshold, points, dropped],
    )  # fmt: skip


def _f(value: Any) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.3f}"


def _plot_data(task: Any, reference: np.ndarray, y: Any, lab: np.ndarray, test: Any) -> dict:
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(reference), min(PLOT_ROWS, len(reference)), replace=False))
    data: dict[str, Any] = {"chosen": task.model.chosen, "threshold": task.threshold,
                            "scores": reference[pick].round(4).tolist()}  # fmt: skip
    if y is not None:
        data["labels"] = [
            None if not k else int(v) for v, k in zip(y[pick], lab[pick], strict=True)
        ]
    if test is not None:
        data["test_scores"] = task.model.served(test[0]).round(4).tolist()
        data["test_labels"] = test[1].tolist()
    return data


def _top_rows(task: Any, frame: pd.DataFrame, x: np.ndarray, reference: np.ndarray) -> pd.DataFrame:
    from layerwise.tasks.anomaly_detection.features import reasons

    order = np.argsort(-reference, kind="stable")[:TOP_ROWS]
    top = frame.iloc[order].reset_index(drop=True)
    top.insert(0, "score", reference[order].round(3))
    shares = task.model.contributions(x[order])
    if shares is not None:
        names_, per_column = task.features.columns_of(shares)
        top.insert(1, "reasons", reasons(names_, per_column))
    return top
