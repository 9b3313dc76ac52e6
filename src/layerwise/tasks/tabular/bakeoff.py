"""A table's bake-off and final fits, for :class:`~layerwise.tasks.tabular.task.TabularTask`.

Every candidate runs on the same folds (:mod:`layerwise.core.fold_bakeoff`), the cheapest first
under a time limit; the greedy ensemble is fitted on their out-of-fold outputs. The tree
ensembles keep their fold models and serve their mean (:mod:`.bagging`); the linear and deep
candidates are refitted on every training row, the deep one checkpointing every epoch so that
``--resume`` continues it. Every candidate is then scored on the test rows.

In a world of several processes this runs on rank 0 alone, which decides every skip and cut
from its own clock; each deep fit it makes goes through :func:`.fits.fit_candidate`, which
has the other ranks train it alongside (:mod:`.fits`).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from layerwise.core.candidate import Candidate
from layerwise.core.ensemble_selection import describe, smooth_loss
from layerwise.runs.folder import RunFolder
from layerwise.tasks.tabular.bagging import BaggedCandidate
from layerwise.tasks.tabular.candidates import CANDIDATES
from layerwise.tasks.tabular.ensemble import EnsembleCandidate, ensemble_row
from layerwise.tasks.tabular.fits import fit_candidate

# a deep candidate whose share of the time limit holds fewer epochs than this is skipped after
# one epoch: TabM's early stopping waits 16 epochs, so a fit of fewer has not converged
PROBE_EPOCHS = 25
# a deep candidate whose share is less than this for each fit is skipped without a probe: its
# first epoch, with torch's first import, took longer than that (4 s on DoctorAUS, 1 s left)
LEAST_DEEP_SECONDS = 1.0
# under a time limit a deep candidate's folds and final fit share at most this part of it: the
# classical portfolio has run by then, and the candidate least likely to win on a table
# (it is served on few) would otherwise take everything left (OFP and Star: 20 s of each 30 s
# fit for no change in the served score)
DEEP_SHARE = 0.5


def bake_off(
    task: Any, plan: Any, table: Any, y: np.ndarray, weights: np.ndarray | None
) -> list[dict[str, Any]]:
    """Every candidate on the same folds, then their ensemble from the out-of-fold outputs."""
    from layerwise.core import fold_bakeoff

    task.say(f"Bake-off: {', '.join(plan.candidates)} by {plan.protocol}")
    folds = fold_bakeoff.splits(y, plan, task.kind == "classification", task.option("seed"))
    oof: dict[str, np.ndarray] = {}
    bagged = bagged_names(task, plan)
    task._fold_models = {name: [] for name in bagged}

    def score(va: np.ndarray, output: np.ndarray) -> float:
        return task._score(y[va], output).get(plan.metric, np.nan)

    done: dict[str, int] = {}
    started: dict[str, float] = {}  # when each candidate's first fold began

    def fit_and_score(name: str, tr: np.ndarray, va: np.ndarray) -> float:
        started.setdefault(name, time.perf_counter())
        # the share applies beside other candidates: asked for alone, it has the whole limit
        shared = any(other != name for other in oof)
        cap = deep_fold_cap(
            task, name, len(folds) - done.get(name, 0), started[name] if shared else None
        )
        probe = cap is not None and not done.get(name) and bool(oof)
        if probe and cap < LEAST_DEEP_SECONDS:
            raise fold_bakeoff.CandidateSkipped(
                f"its share of the time limit (at most {DEEP_SHARE:.0%} of it, and what is "
                f"left) gave {cap:.1f} s for each of its {len(folds)} folds and final fit, "
                "too little to train it"
            )
        limit = None if cap is None else max(LEAST_DEEP_SECONDS, cap)
        extra = {} if limit is None else {"time_limit": limit}
        if probe:  # one epoch tells whether the share can hold enough of them
            extra["min_epochs_in_time"] = PROBE_EPOCHS
        # a deep one on every rank of a world of several, with rank 0's parameters (fits.py)
        model = fit_candidate(task, name, (table, y, weights), tr, **extra)
        if probe and _cut_short(model):
            raise fold_bakeoff.CandidateSkipped(
                f"its share of the time limit ({limit:.1f} s for each of its {len(folds)} "
                f"folds and final fit) is less than {PROBE_EPOCHS} epochs of its first fold, "
                "or was used up before it converged: it needs more time than the limit leaves"
            )  # judged on a fold trained far from convergence, it would only lose
        done[name] = done.get(name, 0) + 1
        output = model.predict(table.rows(va), task.encoder)
        oof.setdefault(name, np.zeros((len(y), *output.shape[1:])))[va] = output
        if name in bagged:
            task._fold_models[name].append(model)
        return score(va, output)

    cheapest_first = sorted(plan.candidates, key=lambda n: CANDIDATES.get(n).complexity)
    rows = fold_bakeoff.bake_off(
        plan,
        fit_and_score,
        folds,
        task.option("time_limit"),
        task.say,
        deadline=task._deadline,
        run_order=cheapest_first,
        bagged=bagged,
    )
    task._fold_models = {
        name: models for name, models in task._fold_models.items() if len(models) == len(folds)
    }  # a candidate skipped midway has no complete bag (nor a row to serve)
    loss = smooth_loss(y, task.kind == "classification", weights)
    row = ensemble_row(rows, oof, folds, score, loss) if plan.ensemble else None
    if row is not None:
        rows.append(row)
        task.say(
            f"ensemble: skipped: {row['skipped']}"
            if "skipped" in row
            else f"ensemble {describe(row['weights'])}: validation {plan.metric} "
            f"{row['validation']:.4f} (cross-fitted)"
        )
    return rows


def deep_fold_cap(
    task: Any, name: str, folds_left: int, started: float | None = None
) -> float | None:
    """Under a time limit, a deep candidate's fold fit gets what is left (of the limit, and of
    its ``DEEP_SHARE`` of it counted from ``started``, its first fold's start) over the fits it
    still has to make (its folds and its final fit), so a candidate that converges in its
    share is never dropped midway; one that does not is skipped after one short fold
    (a third of what was left, as before, let its first fold take a quarter of the
    limit only to be skipped by the projection). None: no cap of this kind; under
    ``LEAST_DEEP_SECONDS`` the caller skips the candidate."""
    candidate = CANDIDATES.get(name)
    if task._deadline is None or candidate.family != "deep":
        return None
    if not getattr(candidate, "time_capped", False):
        return None
    # the final fit sees a quarter more rows (fold_bakeoff.projected_seconds): its share
    # is 1.25 fits, and half a fit more keeps a fold that converged within its share from
    # being skipped by the projection at the margin
    now = time.perf_counter()
    left = task._deadline - now
    if started is not None:
        limit = float(task.option("time_limit"))
        left = min(left, DEEP_SHARE * limit - (now - started))
    return max(0.0, left / (folds_left + 1.5))


def bagged_names(task: Any, plan: Any) -> set[str]:
    """The candidates served as the mean of their fold models: the classical ones but the
    linear model (its coefficients are read), under k-fold cross-validation (a holdout's one
    model saw too few rows), unless ``bag=False``. The deep ones keep their refit, which
    checkpoints every epoch for ``--resume``."""
    if not task.option("bag") or plan.n_splits < 2:
        return set()
    return {
        n
        for n in plan.candidates
        if CANDIDATES.get(n).family == "classical"
        and not getattr(CANDIDATES.get(n), "readable", False)
    }


def final_fits(
    task: Any,
    rows: list[dict],
    table: Any,
    y: np.ndarray,
    weights: Any,
    test: tuple[Any, np.ndarray],
    checkpoints: Path,
) -> dict[str, Candidate]:
    """Refit every measured candidate on all training rows and score it on the test rows.

    The deep fit checkpoints every epoch into ``checkpoints``, so ``--resume`` continues it."""
    fitted = {}
    outputs: dict[str, np.ndarray] = {}  # each candidate's test output
    per_row: dict[str, float] = {}  # and what it cost, in microseconds a row
    test_table, y_test = test
    known = y_test >= 0 if task.kind == "classification" else np.isfinite(y_test)
    for row in rows:
        if "skipped" in row:
            continue
        name = row["candidate"]
        bag = task._fold_models.get(name)
        if bag:  # no refit: the fold models' mean (bagging.py)
            model = BaggedCandidate.of(name, bag)
            row["final_fit_seconds"] = float(row["fit_seconds"]) * len(bag)  # what it cost
            row["bagged"] = len(bag)
        elif name == "ensemble":  # its members are fitted already (they come first)
            model = EnsembleCandidate.of({m: fitted[m] for m in row["members"]}, row.get("weights"))
            row["final_fit_seconds"] = sum(
                r.get("final_fit_seconds", 0.0) for r in rows if r["candidate"] in row["members"]
            )
        else:
            task.say(f"Final fit: {name}")
            # at least twice what a fold took (a quarter more rows): a share of what was
            # left alone starved the final fits, which come last (a CatBoost cut to 1 s
            # served DoctorAUS 0.547 where its folds measured 0.600); the bake-off's
            # projection reserved this time for them
            least = 2.0 * float(row.get("fit_seconds", 0.0))
            extras = deep_extras(task, name, checkpoints)
            t0 = time.perf_counter()
            model = fit_candidate(task, name, (table, y, weights), least_seconds=least, **extras)
            row["final_fit_seconds"] = row["refit_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if name == "ensemble":  # its members' test outputs are computed already
            output = model.combine({m: outputs[m] for m in model.members})
            cost = sum(per_row[m] for m in model.members)
        else:
            output = model.predict(test_table, task.encoder)
            cost = 1e6 * (time.perf_counter() - t0) / max(len(y_test), 1)
        outputs[name], per_row[name] = output, cost
        row["predict_us_per_row"] = cost
        row["test"] = task._score(y_test[known], output[known]) if known.any() else {}
        with tempfile.TemporaryDirectory() as tmp:
            model.save(RunFolder(tmp))
            row["size_bytes"] = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        fitted[name] = model
    return fitted


def deep_extras(task: Any, name: str, checkpoints: Path) -> dict[str, Any]:
    """A deep final fit shows progress and checkpoints every epoch, so --resume can continue it."""
    if CANDIDATES.get(name).family != "deep":
        return {}
    return {
        "progress": bool(task.option("verbose")),
        "checkpoint_dir": str(checkpoints / name),
        "resume": task.option("resume") is not None,
    }


def _cut_short(model: Candidate) -> bool:
    """Whether a deep candidate's training was stopped by its time cap, not by converging."""
    return getattr(model, "stopped_reason", "") == "time limit"
