"""Molecular-property benchmark: layerwise's D-MPNN, ECFP + random forest and descriptors +
LightGBM (one ``layerwise.fit`` with the defaults), beside chemprop itself trained in its own
environment on exactly the same train/validation/test molecules (read back from the run's
``split.csv``).

Datasets (``../shared/datasets/molecules``, as MoleculeNet ships them):
- ESOL (``delaney-processed.csv``, 1,128 molecules, log solubility): RMSE.
- FreeSolv (``SAMPL.csv``, 642 molecules, hydration free energy ``expt``): RMSE.
- BBBP (``BBBP.csv``, 2,050 molecules, blood-brain barrier ``p_np``): ROC-AUC.

Splits 80/10/10, random and Bemis-Murcko scaffold, seeds 0-2 (``--seeds``). Issue 30's targets
with the defaults on 2 CPU cores: the D-MPNN within 5% of chemprop's RMSE in the same run on
ESOL and FreeSolv in no more time; ESOL random split RMSE <= 0.65; the served model beats
ECFP + RF on the scaffold splits of ESOL and BBBP. Anchors: MoleculeNet (Wu et al. 2018),
random split, ESOL RMSE 0.58 (MPNN) and 1.07 (RF on ECFP); chemprop's paper about 0.56.

Chemprop's environment (never a layerwise dependency):

    python -m venv .venv-chemprop && .venv-chemprop/bin/pip install "torch==2.13.0" chemprop
    python benchmarks/molecules.py                       # all sets, both splits, seeds 0-2
    python benchmarks/molecules.py --sets esol --seeds 0 # one set, one seed
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _chemprop import DATASETS, HINT, chemprop_python, chemprop_version, run_chemprop
from _common import fmt, header, markdown_table, progress, write_result

PACKAGES = ("layerwise", "torch", "rdkit", "scikit-learn", "lightgbm", "numpy")
SETS = {  # name: file, target, kind
    "esol": ("delaney-processed.csv", "measured log solubility in mols per litre", "regression"),
    "freesolv": ("SAMPL.csv", "expt", "regression"),
    "bbbp": ("BBBP.csv", "p_np", "classification"),
}
MODELS = ("dmpnn", "ecfp-forest", "descriptor-lightgbm", "ensemble")


def read(name: str):
    """The set as layerwise reads it with its defaults (salts stripped, duplicates merged)."""
    from layerwise.tasks.molecules.molecule_set import read_molecules

    file, target, _ = SETS[name]
    return read_molecules(DATASETS / file, target=target)


def score(kind: str, y: np.ndarray, p: np.ndarray) -> float:
    from layerwise.tasks.molecules.scores import property_scores

    scores = property_scores(y[:, None], p[:, None], ["y"], kind)
    return scores["rmse"] if kind == "regression" else scores["roc_auc"]


def one_run(name: str, split: str, seed: int, python: str | None, work: Path) -> dict:
    """layerwise's three models, then chemprop on the run's own split."""
    import layerwise

    molecules = read(name)
    kind = SETS[name][2]
    started = time.perf_counter()
    run = layerwise.fit(molecules, task="molecular-property", split=split, seed=seed,
                        output_dir=str(work / "runs"), verbose=False, report=False)  # fmt: skip
    seconds = time.perf_counter() - started
    metric = run.metrics["metric"]
    row = {"set": name, "split": split, "seed": seed, "molecules": len(molecules),
           "chosen": run.chosen, "layerwise_seconds": seconds}  # fmt: skip
    for model in MODELS:
        entry = run.metrics["candidates"].get(model)
        if entry is not None:
            row[model] = entry["test"][metric]
            row[f"{model}_seconds"] = entry["fit_seconds"]
    row["ensemble_members"] = "+".join(run.metrics["candidates"].get("ensemble", {}).get(
        "members", []))  # fmt: skip
    row["served"] = row[run.chosen]
    if python is not None:
        parts = pd.read_csv(run.path / "split.csv")
        values = dict(zip(molecules.smiles, molecules.targets[:, 0], strict=True))
        parts["y"] = parts["smiles"].map(values)
        frames = [parts[parts["split"] == s][["smiles", "y"]] for s in ("train", "val", "test")]
        out = run_chemprop(python, *frames, "smiles", ["y"], kind, seed,
                           work / f"chemprop-{name}-{split}-{seed}")  # fmt: skip
        row["chemprop"] = score(kind, frames[2]["y"].to_numpy(float), out["predictions"][:, 0])
        row["chemprop_seconds"] = out["fit_seconds"]
        row["chemprop_version"] = out["version"]
    progress(f"{name} {split} seed {seed}: " + ", ".join(
        f"{m} {fmt(row.get(m))}" for m in (*MODELS, "chemprop")) + f"; served {run.chosen}")  # fmt: skip
    return row


def summary(rows: list[dict]) -> list[list]:
    """Per set and split: each model's mean ± std over the seeds, and the time."""
    out = []
    frame = pd.DataFrame(rows)
    for (name, split), group in frame.groupby(["set", "split"], sort=False):
        cells = [name, split, len(group)]
        for model in (*MODELS, "chemprop", "served"):
            if model in group and group[model].notna().any():
                v = group[model].astype(float)
                cells.append(f"{v.mean():.3f} ± {v.std(ddof=0):.3f}")
            else:
                cells.append("—")
        cells.append(f"{group['dmpnn_seconds'].mean():.0f}")
        chem = group.get("chemprop_seconds")
        cells.append(f"{chem.mean():.0f}" if chem is not None and chem.notna().any() else "—")
        out.append(cells)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="esol,freesolv,bbbp")
    parser.add_argument("--splits", default="random,scaffold")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--no-chemprop", action="store_true", help="layerwise's models only")
    parser.add_argument("--chemprop-python", help="Python of an environment with chemprop")
    parser.add_argument("--name", default="molecules", help="results/<name>.md")
    args = parser.parse_args()
    python = None if args.no_chemprop else chemprop_python(args.chemprop_python)
    if python is None and not args.no_chemprop:
        progress(f"chemprop is not installed: layerwise's models only. {HINT}")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.sets.split(","):
            for split in args.splits.split(","):
                for seed in (int(s) for s in args.seeds.split(",")):
                    rows.append(one_run(name, split, seed, python, Path(scratch)))
    text = header("Molecular properties: D-MPNN, fingerprints and descriptors beside chemprop",
                  PACKAGES)  # fmt: skip
    if python is not None:
        text += f"- chemprop {chemprop_version(python)} (its defaults, CPU, 2 threads)\n"
    text += "\n" + __doc__.split("\n\n")[1] + "\n\n"
    text += ("Test RMSE (ESOL, FreeSolv; lower is better) or ROC-AUC (BBBP; higher is better), "
             "mean ± std over the seeds; `served` is the model layerwise chose on validation; "
             "fit seconds are wall-clock on this machine (the D-MPNN's include all its "
             "members; `ensemble` is the best mean of two or three of the models on validation, "
             "see its members below; chemprop's its whole `chemprop train` process).\n\n")  # fmt: skip
    text += markdown_table(["set", "split", "seeds", "D-MPNN", "ECFP + RF", "descriptors + LightGBM",
                            "ensemble", "chemprop", "served", "D-MPNN fit s", "chemprop fit s"],
                           summary(rows)) + "\n\n"  # fmt: skip
    columns = ["set", "split", "seed", "chosen", *MODELS, "ensemble_members", "chemprop",
               "dmpnn_seconds", "chemprop_seconds", "layerwise_seconds"]  # fmt: skip
    text += "Every run:\n\n" + markdown_table(
        columns, [[fmt(r.get(c)) if isinstance(r.get(c), float) else r.get(c, "—")
                   for c in columns] for r in rows]) + "\n"  # fmt: skip
    print(text)
    progress(f"wrote {write_result(args.name, text)}")


if __name__ == "__main__":
    main()
