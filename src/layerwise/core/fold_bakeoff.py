"""The bake-off's loop: every candidate on the same validation splits, under a time limit.

:mod:`layerwise.core.advisor` plans (which candidates, which protocol, which metric); this
module runs the plan's candidates on its splits, cheapest first when time is short: each
candidate's first fold is timed, and one whose other folds and final fit would not finish in
the time left is skipped with that projection as its reason instead of being abandoned midway.

Every decision here rests on this process's clock, so in a world of several processes the loop
runs on rank 0 alone; a task whose deep candidates train on every rank has the others follow
rank 0's fits (as :mod:`layerwise.tasks.tabular.fits` does), never run this loop themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

from layerwise.core import selection
from layerwise.core.advisor import Plan


def splits(
    y: np.ndarray, plan: Plan, classification: bool, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The validation splits the plan names, shared by every candidate."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    index = np.arange(len(y))
    stratify = classification and np.bincount(y).min() >= max(plan.n_splits, 2)
    if plan.n_splits == 0:
        train, val = train_test_split(
            index, test_size=0.2, random_state=seed, stratify=y if stratify else None
        )
        return [(train, val)]
    splitter = (StratifiedKFold if stratify else KFold)(
        plan.n_splits, shuffle=True, random_state=seed
    )
    return list(splitter.split(index, y if stratify else None))


def projected_seconds(
    first_fold: float, folds: list[tuple[np.ndarray, np.ndarray]], final_fit: bool = True
) -> float:
    """What a candidate still needs after its first fold took ``first_fold`` seconds: its other
    folds, and its final fit on all the rows (longer by the rows it adds) unless it has none
    (a bagged candidate serves its fold models).

    >>> folds = [(np.arange(8), np.arange(8, 10))] * 5
    >>> projected_seconds(2.0, folds)
    10.5
    >>> projected_seconds(2.0, folds, final_fit=False)
    8.0
    """
    train, val = folds[0]
    last = first_fold * (len(train) + len(val)) / max(len(train), 1) if final_fit else 0.0
    return first_fold * (len(folds) - 1) + last


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def time_skip_reason(
    first_fold: float,
    folds: list[tuple[np.ndarray, np.ndarray]],
    left: float,
    final_fit: bool = True,
) -> str | None:
    """Why a candidate whose first fold took ``first_fold`` seconds is skipped when ``left``
    seconds were left as it started (None when its folds and final fit fit in them).

    >>> folds = [(np.arange(8), np.arange(8, 10))] * 5
    >>> time_skip_reason(16.0, folds, 30.0)
    'its 5 folds and final fit would take ~100 s (16 s for the first fold), 30 s were left'
    >>> time_skip_reason(1.0, folds, 30.0) is None
    True
    """
    needed = first_fold + projected_seconds(first_fold, folds, final_fit)
    if needed <= left:
        return None
    what = f"its {len(folds)} folds" if len(folds) > 1 else "its validation fit"
    what += " and final fit" if final_fit else ""
    return (
        f"{what} would take ~{_seconds(needed)} "
        f"({_seconds(first_fold)} for the first fold), {_seconds(max(left, 0.0))} were left"
    )


class CandidateSkipped(Exception):
    """Raised by a bake-off's ``fit_and_score`` to skip its candidate; the message is the
    reason decision.md gives (a deep model cut short by its share of the time limit)."""


def bake_off(
    plan: Plan,
    fit_and_score: Callable[[str, np.ndarray, np.ndarray], float],
    folds: list[tuple[np.ndarray, np.ndarray]],
    time_limit: float | None = None,
    on_progress: Callable[[str], None] | None = None,
    *,
    deadline: float | None = None,
    run_order: Sequence[str] | None = None,
    bagged: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Score every candidate on the same folds; the rows come back in the plan's order.

    With a time limit (``deadline``, a ``time.perf_counter()`` instant, or ``time_limit``
    seconds from now) candidates run in ``run_order`` (cheapest first, so a short limit still
    serves a model; the plan's order by default). Each one's first fold is timed: a candidate
    whose other folds and final fit (:func:`projected_seconds`) would not finish in the time
    left, after the final fits of those already measured, is skipped with the projection as
    its reason instead of being abandoned midway. A candidate still to start after the limit
    is skipped, and one that overruns its projection stops between folds. The first to run
    always runs, so there is a model to serve. A ``bagged`` candidate serves its fold models:
    it has no final fit to project or reserve."""
    if deadline is None and time_limit is not None:
        deadline = time.perf_counter() + time_limit
    limit = f"time limit of {time_limit:g}s" if time_limit is not None else "time limit"
    order = [n for n in (run_order or []) if n in plan.candidates]
    order += [n for n in plan.candidates if n not in order]
    by_name: dict[str, dict[str, Any]] = {}
    reserved = 0.0  # the final fits of the candidates measured so far
    for name in order:
        first = not any("validation" in r for r in by_name.values())
        row, final_fit = _measure(
            name, fit_and_score, folds, deadline, reserved, first, name not in bagged
        )
        if "skipped" in row and row["skipped"].startswith("time limit"):
            row["skipped"] = row["skipped"].replace("time limit", limit, 1)
        by_name[name] = row
        reserved += final_fit
        if on_progress and "validation" in row:
            on_progress(
                f"{name}: validation {plan.metric} {row['validation']:.4f} ± {row['validation_std']:.4f}"
            )
        elif on_progress:
            on_progress(f"{name}: skipped: {row['skipped']}")
    return [by_name[n] for n in plan.candidates]


def _measure(
    name: str,
    fit_and_score: Callable[[str, np.ndarray, np.ndarray], float],
    folds: list[tuple[np.ndarray, np.ndarray]],
    deadline: float | None,
    reserved: float,
    first: bool,
    refits: bool = True,
) -> tuple[dict[str, Any], float]:
    """One candidate's bake-off row, and the seconds its final fit is projected to take."""
    scores: list[float] = []
    seconds: list[float] = []
    if deadline is not None and not first and time.perf_counter() > deadline - reserved:
        return {"candidate": name, "skipped": "time limit reached before it started"}, 0.0
    started = time.perf_counter()
    for i, (train_idx, val_idx) in enumerate(folds):
        t0 = time.perf_counter()
        try:
            scores.append(fit_and_score(name, train_idx, val_idx))
        except CandidateSkipped as skipped:
            return {"candidate": name, "skipped": str(skipped)}, 0.0
        seconds.append(time.perf_counter() - t0)
        if deadline is None or first:
            continue
        if i == 0:  # seconds left when it started, after the final fits of those before it
            left = deadline - reserved - started
            reason = time_skip_reason(seconds[0], folds, left, refits)
            if reason is not None:
                return {"candidate": name, "skipped": reason}, 0.0
        elif i < len(folds) - 1 and time.perf_counter() > deadline - reserved:
            done = f" after {i + 1} of {len(folds)} folds"
            return {"candidate": name, "skipped": f"time limit reached{done}"}, 0.0
    final_fit = projected_seconds(seconds[0], folds, refits) - seconds[0] * (len(folds) - 1)
    row = {
        "candidate": name,
        "validation": float(np.mean(scores)),
        "validation_std": float(np.std(scores)),
        "fit_seconds": float(np.mean(seconds)),
        "evidence": selection.folds(scores) if len(folds) > 1 else None,
    }
    return row, final_fit
