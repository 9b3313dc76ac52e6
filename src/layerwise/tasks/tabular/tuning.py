"""``--tune N`` for tables: after the bake-off, the chosen family's main hyperparameters are
searched with Optuna, and the best configuration competes as a new candidate row.

The family searched is the chosen candidate's (the ensemble's heaviest-weighted member when the
ensemble is chosen). Optuna's TPE sampler, seeded from the run's seed, proposes up to N
configurations; each is scored on the bake-off's own folds, fold by fold, and the median
pruner stops one whose running mean after its first folds is below the median of the finished
trials at the same fold. The untuned configuration enters the study first, as a finished trial
with its bake-off scores, so the search starts from it and the pruner has a reference. A time
limit bounds the search: trials stop starting once the final fits (and the check below) would
no longer fit in what is left.

**Optimism.** The best of N trials on the same folds is the best of N noisy draws: its score on
those folds flatters it. So the best configuration and the untuned one are both refitted on a
fresh split of the training rows (the same protocol, the next seed), and the tuned row competes
with its bake-off fold scores lowered by the optimism those measure: its same-fold lead over
the untuned configuration minus its lead on the fresh split (never raised). Its mean is
therefore the untuned score plus the improvement seen on rows the search never scored. It also
ranks half a complexity step above its family, so the selection rule's paired evidence must
show it ahead of the untuned model by more than one standard error (or the tolerance) before
it is served; within the noise the untuned model is kept.

Optuna (``pip install "layerwise[tune]"``) is imported only inside the functions that search;
nothing of it is saved but plain JSON (``tuning.json``: the trials, their parameters and
scores). The completed trials are also logged to ``checkpoints/tuning-trials.json`` after each
trial, atomically, so an interrupted run resumed with ``--resume`` replays them and searches on.
What is searched (the spaces, the tuned candidates ``lightgbm-tuned`` ...: their families'
classes under another name, whose final fit takes the best parameters from
``candidate_params``) is in :mod:`.tuning_space`; loading a tuned model needs nothing of this
module's search.
"""

from __future__ import annotations

import dataclasses
import time
from importlib.util import find_spec
from typing import Any

import numpy as np

from layerwise.errors import ConfigError
from layerwise.tasks.tabular.fits import fit_candidate
from layerwise.tasks.tabular.tuning_report import TUNING_FILE
from layerwise.tasks.tabular.tuning_space import candidate_params, distributions, untuned_params

TRIAL_LOG = "checkpoints/tuning-trials.json"  # what --resume replays; dropped with checkpoints/
SEARCHED = ("lightgbm", "catboost", "mlp", "linear")
PORTFOLIO_OF = {"lightgbm-xt": "lightgbm", "lightgbm-large": "lightgbm"}
STARTUP_TRIALS = 3  # finished trials (the untuned one included) before the pruner acts
INSTALL = 'Install it with `pip install "layerwise[tune]"`, or leave --tune out.'


# ---- the option ---------------------------------------------------------------------------
def check_tune(value: Any) -> None:
    """A ConfigError unless ``value`` is None or a whole number of trials >= 1, and optuna is
    installed when it is a number.

    >>> check_tune(None)
    >>> check_tune(0)
    Traceback (most recent call last):
    ...
    layerwise.errors.ConfigError: tune=0 is not a number of trials. Use a whole number >= 1, e.g. --tune 30, or leave --tune out.
    """
    if value is None:
        return
    whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not whole or value < 1:
        raise ConfigError(
            f"tune={value!r} is not a number of trials.",
            "Use a whole number >= 1, e.g. --tune 30, or leave --tune out.",
        )
    if find_spec("optuna") is None:
        raise ConfigError("--tune needs the optuna package, which is not installed.", INSTALL)


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise ConfigError(
            "--tune needs the optuna package, which is not installed.", INSTALL
        ) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# ---- the search ---------------------------------------------------------------------------
@dataclasses.dataclass
class Search:
    """What one tuning run works with: the task, its data and plan, the folds and the family."""

    task: Any
    plan: Any
    table: Any
    y: np.ndarray
    weights: np.ndarray | None
    folds: list[tuple[np.ndarray, np.ndarray]]
    base: str

    def fit_score(self, params: dict[str, Any] | None, train: np.ndarray, val: np.ndarray) -> float:
        """Fit the family with ``params`` (search-space terms; None: untuned) on ``train``; the
        plan's metric on ``val``."""
        task = self.task
        extra = {} if params is None else candidate_params(self.base, params)
        # the MLP on every rank of a world of several, as in the bake-off (fits.py)
        model = fit_candidate(task, self.base, (self.table, self.y, self.weights), train, **extra)
        output = model.predict(self.table.rows(val), task.encoder)
        return float(task._score(self.y[val], output).get(self.plan.metric, np.nan))

    def trial(self, trial: Any, stop_at: float | None) -> dict[str, Any]:
        """Score ``trial``'s parameters fold by fold, reporting the running mean so the pruner
        can stop it; the trial's record (state, fold scores, mean, seconds)."""
        started, scores = time.perf_counter(), []
        state = "complete"
        for k, (train, val) in enumerate(self.folds):
            if stop_at is not None and time.perf_counter() > stop_at:
                state = "stopped"  # the time limit: its folds so far are not a score
                break
            score = self.fit_score(trial.params, train, val)
            if not np.isfinite(score):
                state = "failed"
                break
            scores.append(score)
            trial.report(float(np.mean(scores)), k)
            if k < len(self.folds) - 1 and trial.should_prune():
                state = "pruned"
                break
        return {
            "trial": trial.number,
            "state": state,
            "params": dict(trial.params),
            "folds": scores,
            "value": float(np.mean(scores)) if scores else None,
            "seconds": time.perf_counter() - started,
        }


def searched_family(rows: list[dict], plan: Any) -> tuple[str | None, str]:
    """The family to search, and why: the bake-off's choice, or the ensemble's heaviest member
    (None when it is a family without a search space)."""
    from layerwise.core import selection
    from layerwise.tasks.tabular.ensemble import complexities

    complexity = complexities(rows)
    chosen, _ = selection.choose([dict(r) for r in rows], plan, complexity)  # copies: it notes
    base, why = chosen, f"the bake-off chose {chosen}"
    if chosen == "ensemble":
        weights = next(r for r in rows if r["candidate"] == "ensemble")["weights"]
        base = max(weights, key=lambda n: (weights[n], -list(weights).index(n)))
        why = (
            f"the bake-off chose the ensemble; its heaviest member is {base} ({weights[base]:.2f})"
        )
    if base in PORTFOLIO_OF:  # a LightGBM preset: its family's space holds its settings
        why = f"{why}, a LightGBM preset: LightGBM's space (extra_trees, leaves) is searched"
        base = PORTFOLIO_OF[base]
    if base not in SEARCHED:
        return None, f"{why}, which has no search space (--tune searches {', '.join(SEARCHED)})"
    return base, why


def tune(
    task: Any, plan: Any, rows: list[dict], data: tuple[Any, np.ndarray, Any], run: Any
) -> tuple[list[dict], dict[str, Any]]:
    """Search the chosen family for ``task.option("tune")`` trials; the rows with the tuned
    row after its family's (when a trial beat the untuned configuration), and the record that
    ``tuning.json`` and decision.md show."""
    from layerwise.core import fold_bakeoff

    optuna = _optuna()
    table, y, weights = data
    base, why = searched_family(rows, plan)
    asked = int(task.option("tune"))
    record: dict[str, Any] = {"family": base, "why": why, "metric": plan.metric,
                              "greater_is_better": plan.greater_is_better, "trials_asked": asked,
                              "trials": [], "notes": []}  # fmt: skip
    if base is None:
        task.say(f"[yellow]tune[/yellow] nothing to search: {why}")
        run.write_json(TUNING_FILE, record)
        return rows, record
    seed = int(task.option("seed"))
    folds = fold_bakeoff.splits(y, plan, task.kind == "classification", seed)
    search = Search(task, plan, table, y, weights, folds, base)
    untuned_row = next(r for r in rows if r["candidate"] == base)
    study, space, untuned = _study(optuna, search, untuned_row, seed)
    record.update(untuned=untuned, sampler=f"TPE (seed {seed})", folds=len(folds),
                  pruner=f"median of the finished trials' running mean at each fold, after "
                  f"{STARTUP_TRIALS} finished trials")  # fmt: skip
    task.say(
        f"[cyan]tune[/cyan] {base}: up to {asked} trials on the bake-off's {len(folds)} folds ({why})"
    )
    log = TrialLog(run, {"family": base, "metric": plan.metric, "folds": len(folds),
                         "seed": seed, "rows": len(y)})  # fmt: skip
    record["trials"] = log.replay(optuna, study, space, record["notes"])
    stop_at, check_by = _stop_at(task, rows, folds, untuned_row)
    while len(record["trials"]) < asked:
        if not _time_for_another(record["trials"], untuned_row, len(folds), stop_at):
            record["notes"].append(
                f"The time limit stopped the search after {len(record['trials'])} of {asked} trials."
            )
            break
        trial = study.ask(space)
        done = search.trial(trial, stop_at)
        done["trial"] = len(record["trials"]) + 1  # 1..N; the untuned one is the reference
        _tell(optuna, study, trial, done)
        record["trials"].append(done)
        log.write(record["trials"])
        _say_trial(task, done, len(record["trials"]), asked, len(folds))
    best = _best(record["trials"], untuned, plan.greater_is_better)
    if best is None:
        record["notes"].append(f"No trial beat the untuned {base}: it stands, untuned.")
    row = None if best is None else _tuned_row(search, record, best, untuned, check_by)
    run.write_json(TUNING_FILE, record)
    if row is None:
        return rows, record
    cp = dict(task.option("candidate_params"))  # the final fit reads its parameters from here
    cp[row["candidate"]] = {**cp.get(base, {}), **candidate_params(base, best["params"])}
    if base == "mlp":  # what the task gives the MLP by its name, the tuned one by this
        cp[row["candidate"]].setdefault("device", task.option("device"))
    task.options = {**task.options, "candidate_params": cp}
    at = next(i for i, r in enumerate(rows) if r["candidate"] == base) + 1
    return [*rows[:at], row, *rows[at:]], record


def _study(optuna: Any, search: Search, untuned_row: dict, seed: int) -> tuple[Any, dict, dict]:
    """A study seeded with the untuned configuration as its first finished trial."""
    task, base = search.task, search.base
    direction = "maximize" if search.plan.greater_is_better else "minimize"
    study = optuna.create_study(
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=0),
    )
    space = distributions(base, task.kind == "classification")
    given = task.option("candidate_params").get(base, {})
    point = untuned_params(base, task.kind == "classification", given, len(search.folds[0][0]))
    evidence = untuned_row.get("evidence")
    scores = (
        [float(s) for s in evidence.scores] if evidence is not None else [untuned_row["validation"]]
    )
    running = {k: float(np.mean(scores[: k + 1])) for k in range(len(scores))}
    untuned = {"params": point, "folds": scores, "value": float(np.mean(scores))}
    try:
        if point is None:
            raise ValueError(point)
        trial = optuna.trial.create_trial(
            params=point, distributions=space, value=untuned["value"], intermediate_values=running
        )
        study.add_trial(trial)
    except ValueError:  # the user's own value lies outside the space: the row is the reference
        untuned["outside_space"] = True
    return study, space, untuned


def _tell(optuna: Any, study: Any, trial: Any, done: dict[str, Any]) -> None:
    states = optuna.trial.TrialState
    if done["state"] == "complete":
        study.tell(trial, done["value"])
    elif done["state"] == "pruned":
        study.tell(trial, state=states.PRUNED)
    else:
        study.tell(trial, state=states.FAIL)


def _say_trial(task: Any, done: dict[str, Any], i: int, asked: int, n_folds: int) -> None:
    value = "-" if done["value"] is None else f"{done['value']:.4f}"
    state = {"complete": "", "pruned": f" (pruned after {len(done['folds'])} of {n_folds} folds)",
             "stopped": " (stopped: time limit)", "failed": " (failed: no score)"}[done["state"]]  # fmt: skip
    task.say(f"[dim]tune trial {i}/{asked}: {value}{state}[/dim]")


def _best(trials: list[dict], untuned: dict, greater: bool) -> dict | None:
    """The best finished trial when it beats the untuned configuration's mean, else None."""
    sign = 1.0 if greater else -1.0
    finished = [t for t in trials if t["state"] == "complete"]
    if not finished:
        return None
    best = max(finished, key=lambda t: sign * t["value"])
    return best if sign * (best["value"] - untuned["value"]) > 0 else None


def _tuned_row(
    search: Search, record: dict, best: dict, untuned: dict, check_by: float | None
) -> dict[str, Any] | None:
    """The tuned row: the best trial's fold scores lowered by the optimism the fresh split
    measures (module docstring), or None (with a note) when there was no time to measure it."""
    from layerwise.core import fold_bakeoff, selection

    plan, base = search.plan, search.base
    sign = 1.0 if plan.greater_is_better else -1.0
    needed = 2 * len(search.folds) * best["seconds"] / len(best["folds"])
    if check_by is not None and time.perf_counter() + needed > check_by:
        record["notes"].append("No time was left to check the best configuration on a fresh "
                               "split, so it does not compete.")  # fmt: skip
        return None
    fresh_seed = int(search.task.option("seed")) + 1
    fresh = fold_bakeoff.splits(search.y, plan, search.task.kind == "classification", fresh_seed)
    search.task.say(f"[cyan]tune[/cyan] checking trial {best['trial']} against the untuned "
                    f"{base} on a fresh split (seed {fresh_seed})")  # fmt: skip
    tuned_scores = [search.fit_score(best["params"], tr, va) for tr, va in fresh]
    untuned_scores = [search.fit_score(None, tr, va) for tr, va in fresh]
    if not np.all(np.isfinite([*tuned_scores, *untuned_scores])):
        record["notes"].append("The fresh split gave no score, so the best configuration does "
                               "not compete.")  # fmt: skip
        return None
    same = sign * (best["value"] - untuned["value"])
    lead = sign * (float(np.mean(tuned_scores)) - float(np.mean(untuned_scores)))
    optimism = max(0.0, same - lead)
    adjusted = [s - sign * optimism for s in best["folds"]]
    paired = selection.paired_se(selection.folds(tuned_scores), selection.folds(untuned_scores))
    record["best"] = {"trial": best["trial"], "params": best["params"], "folds": best["folds"],
                      "value": best["value"], "candidate_params": candidate_params(base, best["params"])}  # fmt: skip
    record["fresh_split"] = {"seed": fresh_seed, "tuned": tuned_scores, "untuned": untuned_scores,
                             "lead": lead, "standard_error": paired[1] if paired else None}  # fmt: skip
    record["optimism"] = optimism
    record["competes_with"] = float(np.mean(adjusted))
    name = f"{base}-tuned"
    record["row"] = name
    return {
        "candidate": name,
        "validation": float(np.mean(adjusted)),
        "validation_std": float(np.std(adjusted)),
        "fit_seconds": best["seconds"] / len(best["folds"]),
        "evidence": selection.folds(adjusted) if len(adjusted) > 1 else None,
        "detail": f"trial {best['trial']} of the search, {best['value']:.4f} on the bake-off's "
        f"folds (the best of {len(record['trials'])} trials there, so flattered); on a fresh "
        f"split it leads the untuned {base} by {lead:+.4f} (same folds: {same:+.4f}), so it "
        + (
            f"competes at {np.mean(adjusted):.4f}, lowered by the optimism {optimism:.4f}"
            if optimism > 0
            else "competes at its score on the bake-off's folds (no optimism measured)"
        ),
    }


# ---- the time limit -------------------------------------------------------------------------
def _stop_at(task: Any, rows: list[dict], folds: list, untuned_row: dict) -> tuple[Any, Any]:
    """When the search must stop, and when the fresh-split check must have started (None, None
    without a time limit): the time limit less the final fits still to come (every measured
    candidate's and the tuned one's), and for the search the check's fits too."""
    if task._deadline is None:
        return None, None
    train, val = folds[0]
    scale = (len(train) + len(val)) / max(len(train), 1)
    measured = [r for r in rows if "validation" in r and "members" not in r]
    check_by = task._deadline - sum(r["fit_seconds"] * scale for r in measured)
    check_by -= untuned_row["fit_seconds"] * scale  # the tuned model's final fit
    return check_by - 2 * len(folds) * untuned_row["fit_seconds"], check_by


def _time_for_another(trials: list[dict], untuned_row: dict, n_folds: int, stop_at: Any) -> bool:
    if stop_at is None:
        return True
    finished = [t["seconds"] for t in trials if t["state"] == "complete"]
    expected = float(np.median(finished)) if finished else untuned_row["fit_seconds"] * n_folds
    return time.perf_counter() + expected <= stop_at


# ---- resuming -----------------------------------------------------------------------------
class TrialLog:
    """The trials done so far, in ``checkpoints/tuning-trials.json`` (written atomically after
    each trial), so that ``--resume`` replays them into a new study and searches on."""

    def __init__(self, run: Any, key: dict[str, Any]):
        self.run, self.key = run, key

    def write(self, trials: list[dict]) -> None:
        self.run.write_json(TRIAL_LOG, {"key": self.key, "trials": trials})

    def replay(self, optuna: Any, study: Any, space: dict, notes: list[str]) -> list[dict]:
        """The logged trials, each added to ``study`` as it ended; [] without a matching log."""
        path = self.run.path / TRIAL_LOG
        if not path.is_file():
            return []
        import json

        states = optuna.trial.TrialState
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored.get("key") != self.key:
                return []
            trials = list(stored["trials"])
            for done in trials:
                running = {
                    k: float(np.mean(done["folds"][: k + 1])) for k in range(len(done["folds"]))
                }
                state = {"complete": states.COMPLETE, "pruned": states.PRUNED}.get(
                    done["state"], states.FAIL
                )
                value = done["value"] if state == states.COMPLETE else None
                study.add_trial(optuna.trial.create_trial(
                    state=state, value=value, params=done["params"], distributions=space,
                    intermediate_values=running))  # fmt: skip
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            notes.append(
                f"The interrupted search's log could not be replayed ({exc}); it started over."
            )
            return []
        notes.append(f"Resumed: {len(trials)} trials of the interrupted run were replayed.")
        return trials
