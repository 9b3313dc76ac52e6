"""molecular-property: drug discovery, a molecule's measured property from its structure.

A chemist brings SMILES (a CSV, an SDF or a .smi file) with measured values: solubility, a
binding or toxicity assay, whether a drug crosses the blood-brain barrier. The molecules are
split by Bemis-Murcko scaffold (:mod:`.splits`: the test molecules' ring systems are never seen
in training, the honest setting for new chemistry), and three models compete on the same split:

- ``dmpnn``: a directed message-passing network on the molecular graph (as chemprop), an
  ensemble of seeds whose spread is each prediction's uncertainty (:mod:`.dmpnn_train`);
- ``ecfp-forest``: a random forest on ECFP4 circular fingerprints, the classical answer that is
  hard to beat on small sets (:mod:`.baselines`);
- ``descriptor-lightgbm``: LightGBM on RDKit's 2D descriptors;
- ``ensemble``: the network's predictions averaged with the best classical model's
  (:mod:`.ensemble`).

The best validation score is served (RMSE for values, ROC-AUC for yes/no properties, the mean
over the targets of a multitask set); a simpler model within the tolerance is served instead.
Predictions are one row per molecule: its canonical SMILES and, for each target, the value or
the probability (and the ensemble's spread when the network is served).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.core.task import RUN_DEFAULTS, Run, Task
from layerwise.errors import DataError
from layerwise.runs.folder import RunFolder

DEFAULTS: dict[str, Any] = {
    **RUN_DEFAULTS,  # candidates: dmpnn, ecfp-forest, descriptor-lightgbm, ensemble
    "smiles_column": None,  # None: the column named like smiles, else the one that parses
    "split": "scaffold",  # or "random"
    "val_fraction": 0.1,
    "test_fraction": 0.1,
    "largest_fragment": True,  # salts and solvents stripped: the largest fragment is kept
}
DRAWN = 20  # served molecules drawn per request (a drawing is ~5 ms and ~10 KB)


class MolecularProperty(Task):
    """Predict measured properties of molecules from SMILES: a D-MPNN beside fingerprints.

    >>> MolecularProperty(split="random").option("split")
    'random'
    """

    name: ClassVar[str] = "molecular-property"
    description: ClassVar[str] = "Predict a molecule's properties from its SMILES"
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    request_kind: ClassVar[str | None] = "smiles"  # served: see layerwise.serve.requests
    data_parallel: ClassVar[bool] = True  # the D-MPNN under DDP; the rest on rank 0
    joinable_requests: ClassVar[bool] = True
    batch_predicts: ClassVar[bool] = True

    def __init__(self, **options: Any):
        self.check_option_names(options)
        super().__init__(**options)
        self.model: Any = None
        self.chosen: str | None = None
        self.target: list[str] | None = None
        self.target_names: list[str] = []
        self.kind = "regression"

    # ---- training -----------------------------------------------------------------------
    def fit(self, data: Any = None, target: Any = None, **options: Any) -> Run:
        """Read the molecules, split them by scaffold, train the three models, choose by
        validation, write the run."""
        from layerwise.tasks.molecules.fit import fit_molecules

        self.check_option_names(options)
        self.options = {**self.options, **options}
        return fit_molecules(self, data, target, time.perf_counter())

    def read(self, data: Any, target: Any = None, require_targets: bool = True) -> Any:
        """The MoleculeSet of ``data`` (see :func:`.molecule_set.read_molecules`)."""
        from layerwise.tasks.molecules.molecule_set import read_molecules

        return read_molecules(data, smiles_column=self.option("smiles_column"), target=target,
                              largest_fragment=bool(self.option("largest_fragment")),
                              require_targets=require_targets)  # fmt: skip

    def training_summary(self, run: Run) -> list[Any]:
        from layerwise.tasks.molecules.cli import training_summary

        return training_summary(run)

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.molecules.cli import molecules_demo

        return molecules_demo(folder)

    # ---- use ----------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.model is None:
            raise DataError("This model is not fitted.", "Call fit() or load a run folder.")

    def predict(self, inputs: Any) -> pd.DataFrame:
        """One row per molecule: ``smiles`` as given, ``canonical``, and per target its value
        (or ``<target>_probability``), plus ``<target>_spread`` from the network's ensemble.
        ``inputs``: a SMILES, a list of them, or a file (CSV/SDF/.smi) or table of molecules.
        A SMILES that cannot be read is a DataError naming it and where it breaks."""
        from layerwise.tasks.molecules.inputs import input_molecules

        self._require_fitted()
        given, mols, canonical = input_molecules(inputs, self.option("smiles_column"),
                                                 bool(self.option("largest_fragment")))  # fmt: skip
        return self._frame(given, canonical, mols)

    def _frame(self, given: list[str], canonical: list[str], mols: list[Any]) -> pd.DataFrame:
        values = self.model.predict(mols) if mols else np.zeros((0, len(self.target_names)))
        spread = None
        if hasattr(self.model, "predict_members") and mols:
            members = self.model.predict_members(mols)
            spread = members.std(axis=0) if len(members) > 1 else None
        frame = pd.DataFrame({"smiles": given, "canonical": canonical})
        for j, name in enumerate(self.target_names):
            if self.kind == "classification":
                frame[f"{name}_probability"] = np.round(values[:, j], 6)
                frame[name] = (values[:, j] >= 0.5).astype(int)
            else:
                frame[name] = values[:, j]
            if spread is not None:
                frame[f"{name}_spread"] = spread[:, j]
        return frame

    def served_records(self, records: list[dict]) -> list[dict]:
        """Served predictions carry a drawing of each molecule (``drawing_png``, base64; the
        first ``DRAWN`` of a request), which the serve page shows beside the values."""
        import base64

        from rdkit import Chem

        from layerwise.tasks.molecules.drawings import grid_png

        for record in records[:DRAWN]:
            mol = Chem.MolFromSmiles(str(record.get("canonical") or ""))
            if mol is not None:
                png = grid_png([mol], [""], per_row=1)
                record["drawing_png"] = base64.b64encode(png).decode("ascii")
        return records

    def evaluate(self, data: Any) -> dict[str, Any]:
        """The scores of the served model on molecules with measured values."""
        from layerwise.tasks.molecules.scores import property_scores

        self._require_fitted()
        labelled = self.read(data, ",".join(self.target_names))
        found = self.model.predict(labelled.mols)
        return {
            "rows": len(labelled),
            **property_scores(labelled.targets, found, self.target_names, self.kind),
        }

    def evaluation_rows(self, data: Any) -> int:
        return len(self.read(data, ",".join(self.target_names)))

    def prediction_rows(self, inputs: Any) -> int:
        from layerwise.tasks.molecules.inputs import input_molecules

        return len(input_molecules(inputs, self.option("smiles_column"), True)[0])

    def command_line_input(self, data: str) -> Any:
        """A file's path when DATA names a file, else DATA is a SMILES."""
        return Path(data) if Path(data).is_file() else data

    def explain(self, data: Any, out_dir: str | Path, prefix: str = "") -> list[Path]:
        """Per-atom contributions drawn on each molecule of ``data`` (at most 20): PNGs."""
        from layerwise.tasks.molecules.drawings import explain_molecules

        self._require_fitted()
        return explain_molecules(self, data, Path(out_dir), prefix)

    # ---- schema, load, contract ----------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        return {"type": "smiles", "note": "one SMILES string per molecule"}

    def output_schema(self) -> dict[str, Any]:
        fields = {"smiles": "str: the SMILES given", "canonical": "str: RDKit's canonical SMILES"}
        for name in self.target_names:
            if self.kind == "classification":
                fields[f"{name}_probability"] = "float: the probability of 1"
                fields[name] = "int: 1 where the probability is at least 0.5"
            else:
                fields[name] = "float: the predicted value, in the training data's units"
            if self.chosen == "dmpnn":
                fields[f"{name}_spread"] = ("float: the standard deviation over the ensemble's "
                                            "members (larger: less certain)")  # fmt: skip
        return {"kind": self.kind, "targets": list(self.target_names), "fields": fields}

    @classmethod
    def load(cls, run: RunFolder) -> MolecularProperty:
        from layerwise.tasks.molecules.outputs import restore

        return restore(cls, run)

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.tasks.molecules.report import SECTIONS

        return SECTIONS

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        from layerwise.tasks.molecules.generated import generated_molecules

        data = generated_molecules(60, seed=seed)
        options = {"candidate_params": {"dmpnn": {"epochs": 2, "hidden": 32, "ensemble": 1},
                                        "ecfp-forest": {"trees": 20}}}  # fmt: skip
        return data, options, ["CCO", "c1ccccc1O"]
