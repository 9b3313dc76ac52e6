"""The recommendation bake-off: split the log leave-last-out, fit every candidate on the
training part, measure full-ranking NDCG@10 on validation (the next interaction) and on test
(the one after), choose, and retrain the winner on every interaction for serving.
``Recommendation.fit`` calls :func:`fit_recommendation`; the run folder is written by
``recommend_outputs``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from layerwise.core.selection import examples
from layerwise.errors import DataError, TrainingError
from layerwise.tasks.recommendation.base import RANKERS, RATERS, Interactions
from layerwise.tasks.recommendation.metrics import (
    BATCH_USERS,
    evaluate_ranking,
    held_out_ranks,
    ndcg_per_user,
    rmse,
    top_items,
)
from layerwise.tasks.recommendation.ranks import fit_ordered

CPU_BUDGET_S = 120.0  # each deep candidate's training time on a CPU when no time limit is given
RATING_TOLERANCE = 0.005  # relative, of the RMSE: as for tables' regression models
TOLERANCE = 0.02  # relative: a simpler candidate within 2% of the best validation NDCG@10 is served
MIN_VALIDATION_USERS = 5
RANK_USERS = 5000  # test users whose held-out item's rank is kept for the report


@dataclass
class Split:
    """Leave-last-out: each user's last interaction is the test item, the one before it the
    validation item; users with two interactions have a test item only, users with one are
    training-only (and not evaluated)."""

    train: Interactions
    val_users: np.ndarray
    val_held: list[np.ndarray]
    test_users: np.ndarray
    test_held: list[np.ndarray]
    val_mask: np.ndarray
    test_mask: np.ndarray
    single_users: int
    protocol: str

    def train_histories(self) -> list[np.ndarray]:
        return self.train.histories()

    @cached_property
    def test_histories(self) -> list[np.ndarray]:
        """Each test user's history at test time: training items plus the validation item."""
        before_test = Interactions(self.train.n_users, self.train.n_items, *_merge(self))
        histories = before_test.histories()
        return [histories[u] for u in self.test_users]


def split_log(data: Interactions, by_time: bool, seed: int) -> Split:
    """The leave-last-out split (by time; or one random interaction per user without times)."""
    n = len(data)
    bounds = np.searchsorted(data.users, np.arange(data.n_users + 1))
    counts = np.diff(bounds)
    position = np.arange(n) - bounds[data.users]
    if not by_time:  # a random order within each user, seeded
        keys = np.random.default_rng(seed).random(n)
        order = np.lexsort((keys, data.users))
        position = np.empty(n, np.int64)
        position[order] = np.arange(n) - bounds[data.users[order]]
    from_last = counts[data.users] - 1 - position
    test_mask = (from_last == 0) & (counts[data.users] >= 2)
    val_mask = (from_last == 1) & (counts[data.users] >= 3)
    protocol = (
        "leave-last-out by time: each user's last interaction is the test item, the one before "
        "it the validation item" if by_time else "no time column: one random interaction per "
        "user is the test item, another the validation item"
    )  # fmt: skip
    return Split(
        train=data.select(~test_mask & ~val_mask),
        val_users=data.users[val_mask], val_held=[np.array([i]) for i in data.items[val_mask]],
        test_users=data.users[test_mask], test_held=[np.array([i]) for i in data.items[test_mask]],
        val_mask=val_mask, test_mask=test_mask, single_users=int((counts == 1).sum()),
        protocol=protocol,
    )  # fmt: skip


def ranker_names(task: Any, has_time: bool) -> list[str]:
    asked = task.option("candidates")
    names = [n for n in RANKERS.names() if not asked or n in asked]
    for name in asked or []:
        if name not in RANKERS and name not in RATERS:
            RANKERS.get(name)  # raises, listing the valid names
    if not has_time:
        names = [n for n in names if not RANKERS.get(n).needs_time]
    if not names:
        raise DataError("No ranking candidate left to compare.",
                        f"Name at least one of {', '.join(RANKERS.names())}.")  # fmt: skip
    return names


def deep_params(task: Any, name: str, run: Any, n_deep: int) -> dict[str, Any]:
    """A deep candidate's engine options: device, progress bar, its share of the time limit,
    and a checkpoint folder inside the run (so a crash keeps the last good epoch)."""
    from layerwise.engine.config import resolve_device

    params: dict[str, Any] = {
        "device": task.option("device"),
        "progress": bool(task.option("verbose")),
    }
    if run is not None:
        params["checkpoint_dir"] = str(run.file("checkpoints") / name)
        params["resume"] = task.option("resume") is not None
    limit = task.option("time_limit")
    if limit is not None:
        params["time_limit"] = float(limit) / max(n_deep, 1)
    elif resolve_device(task.option("device")).type == "cpu":
        params["time_limit"] = CPU_BUDGET_S
    return params


def candidate_params(task: Any, name: str, cls: Any, run: Any, n_deep: int) -> dict[str, Any]:
    params = deep_params(task, name, run, n_deep) if cls.family == "deep" else {}
    return {**params, **dict((task.option("candidate_params") or {}).get(name, {}))}


def fit_recommendation(task: Any, data: Any, log: Any, started: float) -> Any:
    """The run (rank 0), or None on the other ranks of a world once the deep fits are done
    (:mod:`.ranks`)."""
    from layerwise.engine.distributed import current_world, release
    from layerwise.runs.writer import open_run_folder
    from layerwise.tasks.recommendation.outputs import write_recommend_run
    from layerwise.tasks.recommendation.ranks import follow

    world = current_world()
    seed = int(task.option("seed"))
    split = split_log(log.interactions, log.has_time, seed)
    if len(split.val_users) < MIN_VALIDATION_USERS:
        raise DataError(
            f"Only {len(split.val_users)} users of '{log.name}' have 3 or more interactions; "
            f"at least {MIN_VALIDATION_USERS} are needed to validate and test a recommender.",
            "Give a longer log (more interactions per user).",
        )
    if not world.main:  # every deep fit rank 0 orders, until it releases them
        follow(split, log)
        return None
    for note in log.notes:
        task.say(f"[dim]note: {note}[/dim]")
    run = open_run_folder(task, data)  # after the data checks: bad input leaves no folder
    d = log.interactions
    task.say(f"{len(d)} interactions: {d.n_users} users x {d.n_items} items "
             f"({len(d) / (d.n_users * d.n_items):.2%} filled); {split.protocol}")  # fmt: skip
    rows, fitted = bake_off(task, split, run, log)
    chosen, reason = choose(rows, split)
    task.say(f"[bold green]chosen[/bold green] {reason}")
    raters = bake_off_ratings(task, log, split, run) if log.explicit else []
    serve(task, log, fitted[chosen], raters, split)
    release()  # the deep fits are done: the other ranks return
    return write_recommend_run(task, run, log, split, rows, fitted, chosen, reason, raters, started)


def bake_off(task: Any, split: Split, run: Any, log: Any) -> tuple[list[dict], dict[str, Any]]:
    names = ranker_names(task, split.train.times is not None)
    n_deep = sum(RANKERS.get(n).family == "deep" for n in names)
    histories = split.train_histories()
    val_hist = [histories[u] for u in split.val_users]
    test_hist = split.test_histories
    rows, fitted = [], {}
    for name in names:
        cls = RANKERS.get(name)
        model = cls(seed=int(task.option("seed")), **candidate_params(task, name, cls, run, n_deep))
        row: dict[str, Any] = {
            "candidate": name,
            "family": cls.family,
            "complexity": cls.complexity,
        }
        reason = model.skip_reason(split.train)
        if reason:
            task.say(f"  {name:<13} skipped: {reason}")
            rows.append({**row, "skipped": reason})
            continue
        start = time.perf_counter()
        try:
            fit_ordered(model, "rank", split, log)
        except TrainingError as error:
            task.say(f"  {name:<13} failed: {error.one_line()}")
            rows.append({**row, "skipped": error.one_line()})
            continue
        row["fit_seconds"] = time.perf_counter() - start
        row["validation"], top = evaluate_ranking(model.score, split.val_users, val_hist,
                                                  split.val_held, split.train.n_items)  # fmt: skip
        row["evidence"] = examples(ndcg_per_user(top, split.val_held), "validation users")
        start = time.perf_counter()
        row["test"], row["top"], row["ranks"] = measure_test(model, split, test_hist)
        row["predict_ms_per_user"] = 1000 * (time.perf_counter() - start) / max(len(test_hist), 1)
        row["tuned"] = getattr(model, "tuned", None) or {}
        fitted[name] = model
        task.say(f"  {name:<13} NDCG@10 validation {row['validation']['ndcg@10']:.4f}, "
                 f"test {row['test']['ndcg@10']:.4f} (fit {row['fit_seconds']:.1f} s)")  # fmt: skip
        rows.append(row)
    if not fitted:
        raise TrainingError("Every recommender failed or was skipped.",
                            "See the reasons above; try other --candidates.")  # fmt: skip
    return rows, fitted


def _merge(split: Split) -> tuple[np.ndarray, np.ndarray]:
    train = split.train
    users = np.concatenate([train.users, split.val_users])
    items = np.concatenate([train.items, np.concatenate(split.val_held) if split.val_held else
                            np.zeros(0, np.int64)])  # fmt: skip
    order = np.argsort(users, kind="stable")  # the validation item comes after the training ones
    return users[order], items[order]


def measure_test(
    model: Any, split: Split, histories: list[np.ndarray]
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Test metrics, the top-20 lists, and the held-out item's rank for up to RANK_USERS users."""
    from layerwise.tasks.recommendation.metrics import ranking_metrics

    users, held = split.test_users, split.test_held
    tops, ranks = [np.zeros((0, 20), np.int64)], [np.zeros(0, np.int64)]
    for start in range(0, len(users), BATCH_USERS):
        part = slice(start, start + BATCH_USERS)
        scores = model.score(users[part], histories[part])
        tops.append(top_items(scores, histories[part], 20))
        if start < RANK_USERS:
            ranks.append(held_out_ranks(scores, histories[part], held[part]))
    top = np.concatenate(tops)
    return ranking_metrics(top, held, split.train.n_items), top, np.concatenate(ranks)[:RANK_USERS]


def choose(rows: list[dict], split: Split) -> tuple[str, str]:
    """Best validation NDCG@10; a simpler candidate within TOLERANCE (relative) of it, or
    within one standard error of its paired difference over the validation users, wins."""
    from layerwise.core.advisor import Plan
    from layerwise.core.selection import choose as advisor_choose

    scored = [{"candidate": r["candidate"], "validation": r["validation"]["ndcg@10"],
               "evidence": r.get("evidence")} for r in rows if "validation" in r]  # fmt: skip
    best = max(s["validation"] for s in scored)
    plan = Plan(candidates=[s["candidate"] for s in scored], rules=[], protocol=split.protocol,
                n_splits=0, metric="NDCG@10", greater_is_better=True,
                tolerance=round(TOLERANCE * best, 4), class_weights=False, recommendation="")  # fmt: skip
    complexity = {r["candidate"]: r["complexity"] for r in rows}
    chosen, reason = advisor_choose(scored, plan, complexity)
    for row, score in zip([r for r in rows if "validation" in r], scored, strict=True):
        if "paired" in score:
            row["paired"] = score["paired"]
    return chosen, reason + _margin(rows, chosen)


def _margin(rows: list[dict], chosen: str) -> str:
    """The chosen model's test NDCG@10 beside EASE's (the strongest simple baseline)."""
    by = {r["candidate"]: r for r in rows if "test" in r}
    if chosen == "ease" or "ease" not in by:
        return ""
    a, b = by[chosen]["test"]["ndcg@10"], by["ease"]["test"]["ndcg@10"]
    return f" On test: NDCG@10 {a:.4f} against {b:.4f} for EASE ({a - b:+.4f})."


def bake_off_ratings(task: Any, log: Any, split: Split, run: Any) -> list[dict]:
    """Explicit logs: the rating models, fitted on the training ratings, chosen by validation
    RMSE, tested on the test ratings."""
    data = log.interactions
    asked = task.option("candidates")
    names = [n for n in RATERS.names() if not asked or n in asked] or RATERS.names()
    val, test = data.select(split.val_mask), data.select(split.test_mask)
    rows = []
    for name in names:
        cls = RATERS.get(name)
        model = cls(seed=int(task.option("seed")), **candidate_params(task, name, cls, run, 1))
        start = time.perf_counter()
        fit_ordered(model, "rate", split, log)
        guess = _clipped(log, model.predict(val.users, val.items))
        row = {"candidate": name, "family": cls.family, "model": model,
               "fit_seconds": time.perf_counter() - start,
               "validation": {"rmse": rmse(guess, val.ratings)},
               "squared_errors": (guess - val.ratings) ** 2,
               "test": {"rmse": rmse(_clipped(log, model.predict(test.users, test.items)), test.ratings)}}  # fmt: skip
        task.say(f"  {name:<13} RMSE validation {row['validation']['rmse']:.4f}, "
                 f"test {row['test']['rmse']:.4f}")  # fmt: skip
        rows.append(row)
    chosen, reason = choose_rater(rows)
    task.say(f"  rating model: {reason}")
    for row in rows:
        row["chosen"] = row["candidate"] == chosen
        row.pop("squared_errors")
    return rows


def choose_rater(rows: list[dict]) -> tuple[str, str]:
    """The core rule on the validation ratings: compared by MSE (RMSE's square: the same
    order, and a mean of per-rating units), the simpler model (the bias baseline) served
    within RATING_TOLERANCE of the RMSE (twice that of the MSE) or one standard error of the
    paired difference."""
    from types import SimpleNamespace

    from layerwise.core.selection import choose as select

    scored = [{"candidate": r["candidate"], "validation": float(np.mean(r["squared_errors"])),
               "evidence": examples(r["squared_errors"], "validation ratings")} for r in rows]  # fmt: skip
    plan = SimpleNamespace(metric="MSE", greater_is_better=False, tolerance=2 * RATING_TOLERANCE,
                           prefer=None, prefer_reason="")  # fmt: skip
    complexity = {r["candidate"]: 0 if r["family"] != "deep" else 1 for r in rows}
    return select(scored, plan, complexity)


def _clipped(log: Any, values: np.ndarray) -> np.ndarray:
    low, high = log.rating_range
    return np.clip(values, low, high)


def serve(task: Any, log: Any, model: Any, raters: list[dict], split: Split) -> None:
    """Set what the task predicts with: every interaction's histories and popularity, and the
    chosen ranker (and rating model) — retrained on all interactions unless refit is off."""
    data = log.interactions
    task.user_ids, task.item_ids, task.columns = log.user_ids, log.item_ids, log.columns
    task.histories, task.counts = data.histories(), data.item_counts()
    task.rating_range, task.has_time = log.rating_range, log.has_time
    task.ranker = _refit(task, model, split, log) if task.option("refit") else model
    rater = next((r for r in raters if r.get("chosen")), None)
    task.rater = None
    if rater is not None:
        task.rater = (
            _refit(task, rater["model"], split, log) if task.option("refit") else rater["model"]
        )


def _refit(task: Any, model: Any, split: Split, log: Any) -> Any:
    params = model.refit_params()
    params.pop("checkpoint_dir", None)
    params["resume"] = False
    start = time.perf_counter()
    fresh = type(model)(seed=model.seed, **params)
    fit_ordered(fresh, "all", split, log)
    data = log.interactions
    task.say(f"  {fresh.name} retrained on all {len(data)} interactions in "
             f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    fresh.validation_history = model.history  # the learning curves of the validated fit
    return fresh
