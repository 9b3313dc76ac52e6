"""Write and read a recommendation run folder: the served models, preprocess.json (columns, id
maps, rating scale), interactions.safetensors (every user's history, for excluding seen items
and for history-based models), metrics.json, decision.md, history.csv and the data the report
plots (recommend_plots.json)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from layerwise.core.bakeoff import bakeoff_metrics, candidate_entries, decision_page, markdown_table
from layerwise.core.task import Run
from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.writer import StandardFiles, finish_run, task_schema
from layerwise.tasks.recommendation.base import RANKERS, RATERS, Interactions

INTERACTIONS = "interactions.safetensors"
PLOTS = "recommend_plots.json"
EXAMPLE_USERS = 8
SCORE_USERS = 200


def write_recommend_run(
    task: Any, run: RunFolder, log: Any, split: Any, rows: list[dict], fitted: dict,
    chosen: str, reason: str, raters: list[dict], started: float,
) -> Run:  # fmt: skip
    """Write every file of the run folder, the manifest last, and return the Run."""
    from layerwise.engine.checkpoint import save_weights

    data = log.interactions
    import torch

    save_weights(run.file(INTERACTIONS), {"users": torch.from_numpy(data.users),
                                          "items": torch.from_numpy(data.items)})  # fmt: skip
    ranker_info = task.ranker.save(run, "model")
    rater_name = task.rater.name if task.rater is not None else None
    rater_info = task.rater.save(run, "rating_model") if task.rater is not None else None
    preprocess = {
        "columns": task.columns, "user_ids": task.user_ids, "item_ids": task.item_ids,
        "rating_range": task.rating_range, "has_time": task.has_time,
        "ranker": {"name": chosen, "info": ranker_info},
        "rater": None if rater_name is None else {"name": rater_name, "info": rater_info},
        "interactions": INTERACTIONS,
    }  # fmt: skip
    size = sum(run.file(f).stat().st_size for f in _files_of(ranker_info))
    metrics = _metrics(task, log, split, rows, chosen, raters, size, time.perf_counter() - started)
    run.write_json(PLOTS, _plot_data(task, split, rows, fitted, chosen))
    history = getattr(task.ranker, "validation_history", None) or fitted[chosen].history
    if history is None:
        history = next((m.history for m in fitted.values() if m.history is not None), None)
    decision = _decision(task, log, split, rows, chosen, reason, raters)
    files = StandardFiles(preprocess, task_schema(task), metrics, decision, history)
    report = finish_run(task, run, files, chosen)
    return Run(run.path, task, run.read_json(names.METRICS), chosen, report, list(log.notes))


def _files_of(info: dict) -> list[str]:
    return [v for k, v in info.items() if k.endswith("file") and isinstance(v, str)]


def restore(cls: Any, run: RunFolder) -> Any:
    """A fitted Recommendation from a verified run folder."""
    from layerwise.runs.weights import read_tensors

    stored = run.read_json(names.PREPROCESS)
    task = cls(verbose=False)
    task.columns, task.user_ids, task.item_ids = (
        stored["columns"],
        stored["user_ids"],
        stored["item_ids"],
    )
    task.rating_range = None if stored["rating_range"] is None else tuple(stored["rating_range"])
    task.has_time = bool(stored["has_time"])
    arrays = read_tensors(run, stored["interactions"])
    data = Interactions(len(task.user_ids), len(task.item_ids), arrays["users"].numpy(),
                        arrays["items"].numpy())  # fmt: skip
    task.histories, task.counts = data.histories(), data.item_counts()
    task.ranker = RANKERS.get(stored["ranker"]["name"]).load(run, stored["ranker"]["info"])
    if stored.get("rater"):
        task.rater = RATERS.get(stored["rater"]["name"]).load(run, stored["rater"]["info"])
    return task


def evaluate_log(task: Any, data: Any) -> dict[str, Any]:
    """Full-ranking metrics of the served model on a log of (new) interactions."""
    from layerwise.tasks.recommendation.interactions import read_interactions, read_log_table
    from layerwise.tasks.recommendation.metrics import evaluate_ranking, rmse

    frame = read_log_table(data, task.option("format"))
    # the training columns where this table has them (a CSV like the training one), else
    # whatever the names say (a MovieLens file)
    given = {f"{role}_column": name for role, name in task.columns.items()
             if name is not None and name in frame.columns}  # fmt: skip
    log = read_interactions(frame, **given)
    users = task._user_index([log.user_ids[u] for u in log.interactions.users])
    items = task._item_index([log.item_ids[i] for i in log.interactions.items])
    known = (users >= 0) & (items >= 0)
    metrics: dict[str, Any] = {
        "rows": len(frame),
        "interactions": len(log.interactions),
        "unknown_rows": int((~known).sum()),
    }
    if not known.any():
        metrics.update({"ndcg@10": float("nan"), "hr@10": float("nan"), "users": 0})
        return metrics
    order = np.argsort(users[known], kind="stable")
    u, i = users[known][order], items[known][order]
    eval_users, starts = np.unique(u, return_index=True)
    held = np.split(i, starts[1:])
    histories = [
        h[~np.isin(h, g)]
        for h, g in zip([task.histories[x] for x in eval_users], held, strict=True)
    ]
    ranking, _ = evaluate_ranking(
        task.ranker.score, eval_users, histories, held, len(task.item_ids)
    )
    metrics.update(ranking)
    if task.rater is not None and log.explicit:
        ratings = log.interactions.ratings[known][order]
        metrics["rmse"] = rmse(predicted_ratings(task, u, i), ratings)
    return metrics


def predicted_ratings(task: Any, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The served rating model's predictions, clipped to the log's scale."""
    low, high = task.rating_range
    return np.clip(task.rater.predict(users.astype(np.int64), items.astype(np.int64)), low, high)


def _metrics(task: Any, log: Any, split: Any, rows: list[dict], chosen: str, raters: list[dict],
             size: int, seconds: float) -> dict[str, Any]:  # fmt: skip
    data = log.interactions
    candidates = candidate_entries(rows, lambda row: {
        "fit_seconds": row["fit_seconds"], "validation": row["validation"], "test": row["test"],
        "predict_ms_per_row": row["predict_ms_per_user"], "tuned": row["tuned"],
        "size_bytes": size if row["candidate"] == chosen else None})  # fmt: skip
    test = dict(next(r for r in rows if r["candidate"] == chosen)["test"])
    rating = None
    if raters:
        served = next(r for r in raters if r.get("chosen"))
        test["rmse"] = served["test"]["rmse"]
        rating = {"chosen": served["candidate"], "candidates": {
            r["candidate"]: {"family": r["family"], "fit_seconds": r["fit_seconds"],
                             "validation": r["validation"], "test": r["test"]} for r in raters}}  # fmt: skip
    return bakeoff_metrics(
        task.name, metric="ndcg@10", greater_is_better=True, protocol=split.protocol,
        chosen=chosen, test=test, candidates=candidates,
        rating=rating, users=data.n_users, items=data.n_items,
        interactions=len(data), density=len(data) / (data.n_users * data.n_items),
        validation_users=len(split.val_users), test_users=len(split.test_users),
        training_only_users=split.single_users, explicit=log.explicit,
        refit=bool(task.option("refit")), seconds=seconds, notes=list(log.notes),
    )  # fmt: skip


def _decision(task: Any, log: Any, split: Any, rows: list[dict], chosen: str, reason: str,
              raters: list[dict]) -> str:  # fmt: skip
    d = log.interactions
    data = [f"{len(d)} interactions, {d.n_users} users, {d.n_items} items "
             f"({len(d) / (d.n_users * d.n_items):.2%} of the matrix filled). {split.protocol[0].upper()}"
             f"{split.protocol[1:]}; {len(split.val_users)} validation users, "
             f"{len(split.test_users)} test users; {split.single_users} users with a single "
             "interaction are used for training only. Every item a user has not interacted "
             "with is ranked (full ranking, no sampled negatives)."]  # fmt: skip
    head = ["candidate", "family", "validation NDCG@10", "validation HR@10", "test NDCG@10",
            "test HR@10", "test recall@20", "test coverage@10", "fit s"]  # fmt: skip
    cells: list[list[str] | str] = []
    for row in rows:
        if "skipped" in row:
            cells.append(
                f"| {row['candidate']} | {row['family']} | skipped: {row['skipped']} |||||||"
            )
            continue
        v, t = row["validation"], row["test"]
        cells.append([row["candidate"], row["family"], f"{v['ndcg@10']:.4f}", f"{v['hr@10']:.4f}",
                      f"{t['ndcg@10']:.4f}", f"{t['hr@10']:.4f}", f"{t['recall@20']:.4f}",
                      f"{t['coverage@10']:.3f}", f"{row['fit_seconds']:.1f}"])  # fmt: skip
    blocks = [data, ["## Ranking", "", *markdown_table(head, cells)]]
    tuned = [f"{r['candidate']}: " + ", ".join(f"{k}={v}" for k, v in r["tuned"].items())
             for r in rows if r.get("tuned")]  # fmt: skip
    if tuned:
        blocks.append(["Tuned on validation: " + "; ".join(tuned) + "."])
    if task.option("refit"):
        blocks.append([f"The served {chosen} was retrained on all {len(d)} interactions with "
                       "the settings validated above (deep models: the best epoch count), so it "
                       "knows each user's latest items; the test figures are those of the model "
                       "trained without them."])  # fmt: skip
    if raters:
        ratings = [[r["candidate"] + (" (served)" if r.get("chosen") else ""), r["family"],
                    f"{r['validation']['rmse']:.4f}", f"{r['test']['rmse']:.4f}"]
                   for r in raters]  # fmt: skip
        head = ["model", "family", "validation RMSE", "test RMSE"]
        blocks.append(["## Ratings", "", *markdown_table(head, ratings)])
    if log.notes:
        blocks.append(["Notes: " + "; ".join(log.notes) + "."])
    return decision_page("Why this model", f"**Served: {chosen}**. {reason}", blocks)


def _plot_data(task: Any, split: Any, rows: list[dict], fitted: dict, chosen: str) -> dict:
    model = fitted[chosen]
    counts = split.train.item_counts()
    top = next(r for r in rows if r["candidate"] == chosen)["top"]
    histories = split.test_histories
    rng = np.random.default_rng(0)
    pick = np.sort(
        rng.choice(len(split.test_users), min(SCORE_USERS, len(split.test_users)), replace=False)
    )
    scores = (
        model.score(split.test_users[pick], [histories[j] for j in pick])
        if len(pick)
        else np.zeros((0, 1))
    )
    recommended = np.take_along_axis(scores, np.maximum(top[pick, :10], 0), axis=1).ravel()
    other = scores[
        np.arange(len(pick))[:, None], rng.integers(0, scores.shape[1], (len(pick), 10))
    ].ravel()
    shown = top[:, :10]
    examples = []
    for k, j in enumerate(pick[:EXAMPLE_USERS]):
        held = set(split.test_held[j].tolist())
        items = [int(i) for i in top[j, :10] if i >= 0]
        examples.append({
            "user": task.user_ids[split.test_users[j]],
            "history": [task.item_ids[i] for i in histories[j][-10:]],
            "held": [task.item_ids[i] for i in sorted(held)],
            "recommended": [{"item": task.item_ids[i], "score": round(float(scores[k, i]), 4),
                             "hit": i in held} for i in items],
        })  # fmt: skip
    return {
        "chosen": chosen, "n_items": int(split.train.n_items),
        "test_ranks": {r["candidate"]: r["ranks"].tolist() for r in rows if "ranks" in r},
        "scores": {"recommended": recommended.round(4).tolist(), "other": other.round(4).tolist()},
        "popularity": {"catalogue": counts.tolist(), "recommended": counts[shown[shown >= 0]].tolist()},
        "examples": examples,
    }  # fmt: skip
