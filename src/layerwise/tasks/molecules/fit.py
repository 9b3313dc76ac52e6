"""The molecular-property bake-off: read the molecules, split them (by scaffold unless asked
otherwise), cross-validate the classical models on the training scaffolds, train all three on
the training split, score them on validation and test (with the best mean of two or more of them,
:mod:`.ensemble`), serve the best validation score.

The served model is the best on validation (lowest RMSE, highest ROC-AUC; the mean over the
targets of a multitask set) unless a simpler one is within ``TOLERANCE`` of it: the forest on
fingerprints is the simplest, then LightGBM on descriptors, then the network; the ensemble
counts as its most complex member.

In a world of several processes (``--devices N``, torchrun) every rank reads and splits the
molecules alike; rank 0 alone fits the forest and LightGBM, cross-validates, scores, makes the
ensemble, chooses and writes the run folder. The D-MPNN's parameters are resolved on rank 0
(its checkpoint folder in rank 0's run folder, its time limit) and sent to the others, which
train its members with rank 0 (one after the other, each data-parallel, on rank 0's plan:
:mod:`.dmpnn_train`) and return None.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from layerwise.core.task import Run
from layerwise.errors import ConfigError, DataError

CANDIDATES = ("ecfp-forest", "descriptor-lightgbm", "dmpnn", "ensemble")
TRAINED = CANDIDATES[:3]  # the ensemble is made of them (:mod:`.ensemble`), not trained
FAMILIES = {"ecfp-forest": "classical", "descriptor-lightgbm": "classical", "dmpnn": "deep",
            "ensemble": "ensemble"}  # fmt: skip
COMPLEXITY = {"ecfp-forest": 0, "descriptor-lightgbm": 1, "dmpnn": 2, "ensemble": 3}  # see choose
# within this of the best on validation the simpler model is served: RMSE relative, AUC absolute
TOLERANCE = {"rmse": 0.01, "roc_auc": 0.005}
CV_FOLDS = 5
MIN_CV_MOLECULES = 50  # fewer training molecules: no cross-validation (folds of a few)


def fit_molecules(task: Any, data: Any, target: Any, started: float) -> Run | None:
    """The run (rank 0), or None on the other ranks of a world once the D-MPNN is trained."""
    from layerwise.engine.distributed import current_world, orders, release
    from layerwise.runs.writer import open_run_folder
    from layerwise.tasks.molecules.outputs import write_molecule_run
    from layerwise.tasks.molecules.scores import PRIMARY

    world = current_world()
    split = _checked_options(task)
    molecules = task.read(data, target)
    task.target_names, task.kind = list(molecules.target_names), molecules.kind
    task.target = list(molecules.target_names)
    parts, scaffolds, index = split_molecules(task, molecules, split)
    names = task.candidate_names(CANDIDATES)
    if not world.main:  # the D-MPNN with rank 0's parameters, if rank 0 trains one
        for params, limit in orders():
            _fit_dmpnn(task, params, limit, parts)
        return None
    run = open_run_folder(task, data)
    for note in molecules.notes:
        task.say(f"[dim]note: {note}[/dim]")
    task.say(f"{len(molecules):,} molecules, {len(molecules.target_names)} "
             f"{'property' if len(molecules.target_names) == 1 else 'properties'} "
             f"({', '.join(molecules.target_names[:6])}; {molecules.kind}); "
             f"{len(parts['train']):,} train / {len(parts['val']):,} validation / "
             f"{len(parts['test']):,} test, split by {split}")  # fmt: skip
    metric = PRIMARY[molecules.kind]
    rows, models, found, val_found = [], {}, {}, {}
    for name in [n for n in names if n in TRAINED]:
        begun = time.perf_counter()
        model = _fit_one(task, name, parts, run)
        row = {"candidate": name, "family": FAMILIES[name],
               "fit_seconds": time.perf_counter() - begun}  # fmt: skip
        if FAMILIES[name] == "classical" and len(parts["train"]) >= MIN_CV_MOLECULES:
            row["cross_validation"] = model.cross_validate(
                parts["train"], scaffolds["train"], folds=CV_FOLDS)  # fmt: skip
        val_found[name] = model.predict(parts["val"].mols)
        row["validation"] = _scores(task, parts["val"], val_found[name])
        t0 = time.perf_counter()
        found[name] = model.predict(parts["test"].mols)
        row["predict_ms_per_molecule"] = 1000 * (time.perf_counter() - t0) / len(parts["test"])
        row["test"] = _scores(task, parts["test"], found[name])
        task.say(f"  {name:<20} validation {metric} {_fmt(row['validation'][metric])}, test "
                 f"{_fmt(row['test'][metric])} (fit {row['fit_seconds']:.1f} s)")  # fmt: skip
        for note in getattr(model, "notes", []):
            task.say(f"[dim]  {note}[/dim]")
            molecules.notes.append(note)
        rows.append(row)
        models[name] = model
    release()  # the deep fit is done: the other ranks return
    if "ensemble" in names:
        _add_ensemble(task, parts, rows, models, (val_found, found), metric)
    task.chosen, reason = choose(rows, metric)
    task.model = models[task.chosen]
    task.say(f"[bold green]chosen[/bold green] {reason}")
    return write_molecule_run(task, run, molecules, (parts, scaffolds, index), rows, models,
                              found, started)  # fmt: skip


def _checked_options(task: Any) -> str:
    """The split asked for, and the fractions, checked before anything is read or trained."""
    from layerwise.tasks.molecules.splits import SPLITS

    split = str(task.option("split")).lower()
    if split not in SPLITS:
        raise ConfigError(f"split={task.option('split')!r} is not a split layerwise makes.",
                          "Use split=scaffold (new chemistry: the honest default) or random.")  # fmt: skip
    val, test = float(task.option("val_fraction")), float(task.option("test_fraction"))
    if not (0 < val < 0.5 and 0 < test < 0.5 and val + test < 0.6):
        raise ConfigError(f"val_fraction={val} and test_fraction={test} leave too little to "
                          "train on.", "Use fractions such as 0.1 and 0.1.")  # fmt: skip
    return split


def split_molecules(task: Any, molecules: Any, split: str) -> tuple[dict, dict, dict]:
    """The train/val/test MoleculeSets, each part's scaffolds (for cross-validation folds and
    the errors by scaffold) and each part's row indices (for ``split.csv``)."""
    from layerwise.tasks.molecules.chemistry import murcko_scaffold
    from layerwise.tasks.molecules.splits import random_split, scaffold_split

    if len(molecules) < 10:
        raise DataError(f"{len(molecules)} molecules are too few to train and test on.",
                        "Give at least 10 molecules with measured values (hundreds for a "
                        "model worth using).")  # fmt: skip
    val, test = float(task.option("val_fraction")), float(task.option("test_fraction"))
    fractions, seed = (1 - val - test, val, test), int(task.option("seed"))
    scaffolds = [murcko_scaffold(m) for m in molecules.mols]
    if split == "scaffold":
        index = scaffold_split(scaffolds, fractions, seed)
    else:
        index = random_split(len(molecules), fractions, seed)
    parts = {k: molecules.subset(v) for k, v in index.items()}
    for name, part in parts.items():
        if not len(part):
            raise DataError(f"The {name} split is empty.", "Give more molecules.")
    return parts, {k: [scaffolds[i] for i in v] for k, v in index.items()}, index


def _fit_one(task: Any, name: str, parts: dict[str, Any], run: Any) -> Any:
    seed = int(task.option("seed"))
    params = task.candidate_options(name)
    if name == "ecfp-forest":
        from layerwise.tasks.molecules.baselines import FingerprintForest

        return FingerprintForest(seed=seed, **params).fit(parts["train"], parts["val"])
    if name == "descriptor-lightgbm":
        from layerwise.tasks.molecules.baselines import DescriptorBoosting

        return DescriptorBoosting(seed=seed, **params).fit(parts["train"], parts["val"])
    from layerwise.engine.distributed import order
    from layerwise.runs import folder as names

    params.setdefault("device", task.option("device"))
    params.setdefault("progress", bool(task.option("verbose")))
    params.setdefault("checkpoint_dir", str(run.file(names.CHECKPOINTS) / name))
    params.setdefault("resume", task.option("resume") is not None)
    # no time_limit: the network's own default (two members of chemprop's 50 epochs, capped)
    limit = params.pop("time_limit", None) or task.option("time_limit")
    order((params, limit))  # the other ranks of a world train it alongside
    return _fit_dmpnn(task, params, limit, parts)


def _fit_dmpnn(task: Any, params: dict[str, Any], limit: float | None,
               parts: dict[str, Any]) -> Any:  # fmt: skip
    from layerwise.tasks.molecules.dmpnn_train import DMPNNModel

    seed = int(task.option("seed"))
    return DMPNNModel(seed=seed, **params).fit(parts["train"], parts["val"], time_limit=limit)


def _add_ensemble(task: Any, parts: dict[str, Any], rows: list[dict], models: dict,
                  found: tuple[dict, dict], metric: str) -> None:  # fmt: skip
    """The best mean of two or more trained models on validation, scored as a candidate
    (nothing is trained: the members' predictions are averaged). It is as complex as its most
    complex member: it costs that member's prediction and little more."""
    from layerwise.tasks.molecules.ensemble import MoleculeEnsemble, best_combination
    from layerwise.tasks.molecules.scores import GREATER_IS_BETTER

    val_found, test_found = found
    scored = {r["candidate"]: val_found[r["candidate"]] for r in rows
              if r["validation"].get(metric) is not None}  # fmt: skip
    best = best_combination(scored, lambda p: _scores(task, parts["val"], p)[metric],
                            GREATER_IS_BETTER[metric])  # fmt: skip
    if best is None:
        return
    members = best[0]
    of = {r["candidate"]: r for r in rows}
    test_found["ensemble"] = np.mean([test_found[m] for m in members], axis=0)
    row = {"candidate": "ensemble", "family": "ensemble", "members": members,
           "fit_seconds": sum(of[m]["fit_seconds"] for m in members),
           "validation": _scores(task, parts["val"], np.mean([val_found[m] for m in members], 0)),
           "predict_ms_per_molecule": sum(of[m]["predict_ms_per_molecule"] for m in members),
           "test": _scores(task, parts["test"], test_found["ensemble"])}  # fmt: skip
    task.say(f"  {'ensemble':<20} validation {metric} {_fmt(row['validation'][metric])}, test "
             f"{_fmt(row['test'][metric])} (the mean of {' and '.join(members)})")  # fmt: skip
    rows.append(row)
    models["ensemble"] = MoleculeEnsemble({m: models[m] for m in members})


def _scores(task: Any, part: Any, found: np.ndarray) -> dict[str, Any]:
    from layerwise.tasks.molecules.scores import property_scores

    return property_scores(part.targets, found, task.target_names, task.kind)


def choose(rows: list[dict], metric: str) -> tuple[str, str]:
    """The best validation score; within ``TOLERANCE`` of it, the simpler model (an ensemble
    counts as its most complex member: between it and that member, validation decides)."""
    from types import SimpleNamespace

    from layerwise.core.selection import choose as select
    from layerwise.tasks.molecules.scores import GREATER_IS_BETTER

    scored = [{"candidate": r["candidate"], "validation": r["validation"][metric]}
              for r in rows if r["validation"].get(metric) is not None]  # fmt: skip
    if not scored:  # a validation split with one class only: no ROC-AUC to choose by
        scored = [{"candidate": r["candidate"], "validation": -COMPLEXITY[r["candidate"]]}
                  for r in rows]  # fmt: skip
    label = {"rmse": "RMSE", "roc_auc": "ROC-AUC"}[metric]
    plan = SimpleNamespace(metric=label, greater_is_better=GREATER_IS_BETTER[metric],
                           tolerance=TOLERANCE[metric], prefer=None, prefer_reason="")  # fmt: skip
    complexity = dict(COMPLEXITY)
    for row in rows:
        if row.get("members"):
            complexity[row["candidate"]] = max(COMPLEXITY[m] for m in row["members"])
    return select(scored, plan, complexity)


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"
