"""What molecular-property adds to the ``layerwise`` command: its ``train`` options, how it
recognises a file of molecules, its demo (ESOL, bundled) and the lines printed after training.
Read at the command's start-up: nothing heavy at the top (see core.cli_spec)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from layerwise.core.cli_spec import CommandLine, Demo, TrainOption

DEMO_FILE = Path(__file__).resolve().parent / "data" / "esol.csv"


def looks_like_molecules(data: Any) -> bool:
    """True for a MoleculeSet, an SDF or .smi file, or a table with a column of SMILES.
    Without RDKit installed nothing is recognised (the table is then read as a table)."""
    try:
        from layerwise.tasks.molecules.molecule_set import looks_like_molecules as looks
    except ImportError:
        return False
    try:
        return bool(looks(data))
    except Exception:  # recognising must never stop another application's data
        return False


COMMAND_LINE = CommandLine(
    recognises=looks_like_molecules,
    panel="Molecules",
    train_options=(
        TrainOption("--smiles-column", "smiles_column", str,
                    "Molecules: the column of SMILES strings [the one named like smiles].",
                    selects_task=True),
        TrainOption("--split", "split", str,
                    "Molecules: scaffold (Bemis-Murcko: new chemistry in test) or random "
                    "[scaffold].", selects_task=("scaffold", "random")),
        TrainOption("--largest-fragment/--keep-fragments", "largest_fragment", bool,
                    "Molecules: strip salts and solvents, keeping the largest fragment "
                    "[strip].", default=True),
    ),
)  # fmt: skip


def molecules_demo(folder: Path) -> Demo:
    """The demo: ESOL (Delaney 2004, 1,128 molecules with measured aqueous solubility)."""
    return Demo(DEMO_FILE, "logS",
                "ESOL: 1,128 molecules with their measured aqueous solubility (log mol/L), "
                "bundled", hint="CC(=O)Oc1ccccc1C(=O)O")  # fmt: skip


def training_summary(run: Any) -> list[Any]:
    """Every model's scores, the uncertainty line and the next commands."""
    from rich.text import Text

    metrics = run.metrics
    metric = metrics["metric"]
    label = {"rmse": "RMSE", "roc_auc": "ROC-AUC"}.get(metric, metric)
    lines: list[Any] = []
    for name, entry in metrics["candidates"].items():
        value = entry["test"].get(metric)
        mark = " *" if name == metrics["chosen"] else ""
        text = "-" if value is None else f"{value:.3f}"
        lines.append(f"{name + mark:<22} test {label} {text} (fit {entry['fit_seconds']:.0f} s)")
    spread = metrics.get("uncertainty") or {}
    if spread.get("spearman_spread_vs_error") is not None:
        lines.append(f"ensemble spread vs error on test: Spearman "
                     f"{spread['spearman_spread_vs_error']:.2f}")  # fmt: skip
    example = "CC(=O)Oc1ccccc1C(=O)O"
    return [*lines, f"Run folder: {run.path}", "Next:",
            Text(f"  layerwise predict {run.path} {shlex.quote(example)}"),
            Text(f"  layerwise explain {run.path} {shlex.quote(example)} -o why.png"),
            Text(f"  layerwise serve {run.path}")]  # fmt: skip
