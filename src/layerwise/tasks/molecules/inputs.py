"""The molecules a run is asked about: one SMILES, a list, or a file of them (CSV/TSV/parquet
with a SMILES column, SDF, or .smi), in the order given and with repeats kept (one prediction
row per input). A SMILES that cannot be read is an error that names it, its row and where it
breaks: a prediction silently missing from a scored library is worse than a stop.

Example:
    >>> given, mols, canonical = input_molecules(["OCC", "c1ccccc1"])
    >>> canonical
    ['CCO', 'c1ccccc1']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from layerwise.errors import DataError

MAX_INPUTS = 1_000_000
FILES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".jsonl", ".sdf", ".smi")


def input_molecules(inputs: Any, smiles_column: str | None = None,
                    largest_fragment: bool = True) -> tuple[list[str], list[Any], list[str]]:  # fmt: skip
    """(the SMILES as given, their RDKit molecules, their canonical SMILES)."""
    from layerwise.tasks.molecules.chemistry import parse_smiles

    given = _given(inputs, smiles_column)
    if not given:
        raise DataError("There is no molecule to predict.", "Give at least one SMILES.")
    if len(given) > MAX_INPUTS:
        raise DataError(f"{len(given):,} molecules is more than {MAX_INPUTS:,} at once.",
                        "Split them into several files.")  # fmt: skip
    mols, canonical = [], []
    for i, text in enumerate(given):
        parsed = parse_smiles(text, largest_fragment=largest_fragment)
        if parsed.mol is None:
            where = f"Molecule {i + 1} of {len(given)}" if len(given) > 1 else "The SMILES"
            raise DataError(f"{where} {str(text)[:80]!r} cannot be read: {parsed.problem}.",
                            "Correct or remove it, and give a SMILES string such as "
                            "'CC(=O)Oc1ccccc1C(=O)O'.")  # fmt: skip
        mols.append(parsed.mol)
        canonical.append(parsed.smiles)
    return [str(g) for g in given], mols, canonical


def _given(inputs: Any, smiles_column: str | None) -> list[Any]:
    from layerwise.tasks.molecules.molecule_set import smiles_of

    if isinstance(inputs, pd.DataFrame):
        return smiles_of(inputs, smiles_column)
    if hasattr(inputs, "smiles") and hasattr(inputs, "mols"):  # a MoleculeSet
        return list(inputs.smiles)
    if isinstance(inputs, Path) or (isinstance(inputs, str) and _is_file(inputs)):
        if not Path(inputs).is_file():
            raise DataError(f"'{inputs}' is not a file.",
                            "Give a CSV, SDF or .smi file of molecules.")  # fmt: skip
        return smiles_of(Path(inputs), smiles_column)
    if isinstance(inputs, str):
        return [inputs]
    if isinstance(inputs, (list, tuple)):
        return list(inputs)
    raise DataError(f"Cannot read molecules from {type(inputs).__name__}.",
                    "Give a SMILES, a list of SMILES, or a CSV, SDF or .smi file.")  # fmt: skip


def _is_file(text: str) -> bool:
    try:
        return (len(text) < 4096 and Path(text).suffix.lower() in FILES
                and Path(text).is_file())  # fmt: skip
    except OSError:
        return False
