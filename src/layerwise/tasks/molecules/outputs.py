"""Write a molecular-property run folder and load it back.

Files: the served model (``dmpnn.safetensors``; ``ecfp_forest.safetensors``, the forest as
flat arrays; or LightGBM's text models; both members' files for the ensemble), ``split.csv`` (every molecule's canonical SMILES, its
split and its scaffold: the split can be reused or checked), ``test_predictions.csv`` (the test
molecules with each model's prediction beside the measured value), the drawings of
:mod:`.drawings`, metrics and decision.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from layerwise.core.bakeoff import bakeoff_metrics, decision_page, markdown_table
from layerwise.core.task import Run
from layerwise.errors import RunFolderError
from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.writer import StandardFiles, finish_run, task_schema

SPLIT_FILE = "split.csv"
TEST_FILE = "test_predictions.csv"
STORED_OPTIONS = ("smiles_column", "largest_fragment", "split")
MAX_TARGETS = 1000
_FIX = "Use the run folder as `layerwise train` wrote it, or train again."


def write_molecule_run(task: Any, run: RunFolder, molecules: Any, split: tuple[dict, dict, dict],
                       rows: list[dict], models: dict, found: dict[str, np.ndarray],
                       started: float) -> Run:  # fmt: skip
    """``split``: (the parts as MoleculeSets, their scaffolds, their row indices), as
    :func:`.fit.split_molecules` gives them."""
    from layerwise.tasks.molecules.drawings import write_drawings
    from layerwise.tasks.molecules.scores import by_scaffold, spread_ranks_errors

    info = task.model.save(run)  # the model's own fields (the network's "kind" among them)
    preprocess = {"chosen": task.chosen, "kind": task.kind, "targets": task.target_names,
                  "model": info, "options": {k: task.option(k) for k in STORED_OPTIONS}}  # fmt: skip
    parts, scaffolds, index = split
    _write_split(run, molecules, index, scaffolds)
    test = parts["test"]
    frame = pd.DataFrame({"smiles": test.smiles, "scaffold": scaffolds["test"]})
    for j, name in enumerate(task.target_names):
        frame[f"{name}"] = test.targets[:, j]
        for candidate, values in found.items():
            frame[f"{name}|{candidate}"] = values[:, j]
    uncertainty = None
    deep = models.get("dmpnn")
    if deep is not None and len(test):
        members = deep.predict_members(test.mols)
        if len(members) > 1:
            spread = members.std(axis=0)
            for j, name in enumerate(task.target_names):
                frame[f"{name}|dmpnn_spread"] = spread[:, j]
            uncertainty = {"members": len(members),
                           "spearman_spread_vs_error": spread_ranks_errors(
                               test.targets, found["dmpnn"], spread),
                           "mean_spread": float(np.nanmean(spread))}  # fmt: skip
    run.write_with(TEST_FILE, lambda p: frame.to_csv(p, index=False))
    served = found[task.chosen]
    write_drawings(task, run, parts, served, models)
    metrics = bakeoff_metrics(
        task.name, metric={"regression": "rmse", "classification": "roc_auc"}[task.kind],
        greater_is_better=task.kind == "classification",
        protocol=f"{len(parts['val'])} validation molecules, {len(test)} test molecules, "
        f"split by {task.option('split')} (seed {task.option('seed')}); the classical models "
        f"also cross-validated over the training molecules in folds grouped by scaffold",
        chosen=task.chosen, test=dict(next(r for r in rows if r["candidate"] == task.chosen)["test"]),
        candidates={r["candidate"]: {k: v for k, v in r.items() if k != "candidate"}
                    for r in rows},
        molecules=len(molecules), targets=task.target_names, kind=task.kind,
        split={k: len(v) for k, v in parts.items()}, split_kind=task.option("split"),
        uncertainty=uncertainty,
        errors_by_scaffold=by_scaffold(test.targets, served, scaffolds["test"], task.kind),
        seconds=time.perf_counter() - started, notes=list(molecules.notes),
    )  # fmt: skip
    history = getattr(deep, "history", None)
    if history is not None:
        monitor = getattr(history, "monitor", None)
        if monitor:
            metrics["epoch_kept_by"] = {"column": monitor, "mode": getattr(history, "mode", "min")}
    files = StandardFiles(preprocess, task_schema(task), metrics, _decision(task, rows, metrics),
                          history)  # fmt: skip
    report = finish_run(task, run, files, task.chosen)
    return Run(run.path, task, run.read_json(names.METRICS), task.chosen, report,
               list(molecules.notes))  # fmt: skip


def _write_split(run: RunFolder, molecules: Any, index: dict[str, np.ndarray],
                 scaffolds: dict[str, list[str]]) -> None:  # fmt: skip
    part = np.empty(len(molecules), dtype=object)
    scaffold = np.empty(len(molecules), dtype=object)
    for name, rows in index.items():
        part[rows] = name
        scaffold[rows] = scaffolds[name]
    frame = pd.DataFrame({"smiles": molecules.smiles, "split": part, "scaffold": scaffold})
    run.write_with(SPLIT_FILE, lambda p: frame.to_csv(p, index=False))


def restore(cls: Any, run: RunFolder) -> Any:
    stored = run.read_json(names.PREPROCESS)
    options = {k: v for k, v in (stored.get("options") or {}).items() if k in STORED_OPTIONS}
    targets, kind = stored.get("targets"), stored.get("kind")
    valid = (
        (options.get("smiles_column") is None or isinstance(options["smiles_column"], str))
        and isinstance(options.get("largest_fragment", True), bool)
        and options.get("split", "scaffold") in ("scaffold", "random")
        and isinstance(targets, list) and 1 <= len(targets) <= MAX_TARGETS
        and all(isinstance(t, str) for t in targets)
        and kind in ("regression", "classification")
    )  # fmt: skip
    if not valid:
        raise RunFolderError(f"The settings in '{run.path}' are not ones layerwise writes.", _FIX)
    task = cls(verbose=False, **options)
    task.target_names, task.kind = list(targets), str(kind)
    task.target = list(targets)
    task.chosen = str(stored.get("chosen"))
    info = stored.get("model")
    if not isinstance(info, dict):
        raise RunFolderError(f"'{run.path}' holds no settings of its model.", _FIX)
    if task.chosen == "ensemble":  # its members' classes load them, each with its checks
        from layerwise.tasks.molecules.ensemble import MoleculeEnsemble

        task.model = MoleculeEnsemble.load(run, info, lambda name: _model_class(name, run))
    else:
        task.model = _model_class(task.chosen, run).load(run, info)
    return task


def _model_class(name: str, run: RunFolder) -> Any:
    if name == "dmpnn":
        from layerwise.tasks.molecules.dmpnn_train import DMPNNModel

        return DMPNNModel
    if name == "ecfp-forest":
        from layerwise.tasks.molecules.baselines import FingerprintForest

        return FingerprintForest
    if name == "descriptor-lightgbm":
        from layerwise.tasks.molecules.baselines import DescriptorBoosting

        return DescriptorBoosting
    raise RunFolderError(f"'{run.path}' serves an unknown model {name!r}.", _FIX)


def _fmt(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _decision(task: Any, rows: list[dict], metrics: dict) -> str:
    metric = metrics["metric"]
    label = {"rmse": "RMSE", "roc_auc": "ROC-AUC"}[metric]
    best = metrics["candidates"][task.chosen]
    choice = (f"**Served: {task.chosen}**: validation {label} "
              f"{_fmt(best['validation'].get(metric))} (a simpler model is served when it is "
              f"within {'1% of the best RMSE' if metric == 'rmse' else '0.005 ROC-AUC'}).")  # fmt: skip
    head = ["candidate", "family", f"val {label}", f"test {label}",
            f"CV {label} (train scaffolds)", "fit s", "predict ms/molecule"]  # fmt: skip
    cells = []
    for row in rows:
        cv = row.get("cross_validation") or {}
        cv_text = (f"{_fmt(cv.get('mean'))} ± {_fmt(cv.get('std'))}" if cv.get("mean") is not None
                   else "-")  # fmt: skip
        name = row["candidate"]
        if row.get("members"):  # the ensemble: which models its mean is of
            name = f"{name} ({' + '.join(row['members'])})"
        cells.append([name, row["family"], _fmt(row["validation"].get(metric)),
                      _fmt(row["test"].get(metric)), cv_text, f"{row['fit_seconds']:.1f}",
                      f"{row['predict_ms_per_molecule']:.2f}"])  # fmt: skip
    by_name = {r["candidate"]: r for r in rows}
    verdict = []
    if "dmpnn" in by_name and "ecfp-forest" in by_name:
        deep, forest = (by_name[n]["test"].get(metric) for n in ("dmpnn", "ecfp-forest"))
        if deep is not None and forest is not None:
            better = deep < forest if metric == "rmse" else deep > forest
            verdict.append(f"On the test molecules the message-passing network's {label} is "
                           f"{_fmt(deep)} against {_fmt(forest)} for the random forest on ECFP4 "
                           f"fingerprints, the classical answer: "
                           f"{'the network learned more from the graphs' if better else 'on this data the fingerprints do as well or better, and the forest is the cheaper model to run'}.")  # fmt: skip
    if metrics.get("uncertainty"):
        rho = metrics["uncertainty"].get("spearman_spread_vs_error")
        verdict.append(f"The network's ensemble of {metrics['uncertainty']['members']} gives each "
                       f"prediction a spread; Spearman's correlation of the spread with the "
                       f"absolute error on test is {_fmt(rho, 2)} (near 0: it does not say "
                       "which predictions to trust; 0.3 or more: it usefully flags doubtful "
                       "ones).")  # fmt: skip
    notes = [f"- {n}" for n in metrics.get("notes", [])]
    return decision_page("Why this model", choice, [markdown_table(head, cells), verdict, notes])
