"""A molecular-property run in two gloo processes on this CPU (engine.distributed) chooses what
one process chooses and writes one run folder: every member of the D-MPNN ensemble trained by
both ranks together (DDP, one member after the other), each rank on its share of every batch of
graphs; the forest, LightGBM, their cross-validation, the ensemble, the scores and the choice
rank 0's (the classical figures are exactly one process's). With a time limit and no epochs,
rank 0's probe plans the members and epochs of both (each rank's own probe would plan its own,
and the rank with more would wait for the other at a collective: the deadline of
``two_processes`` fails such a run instead of hanging). In tests/slow: two processes on two
cores, a gloo all-reduce every step."""

from __future__ import annotations

from pathlib import Path

import pytest
from two_ranks import one_and_two, two_processes

pytestmark = pytest.mark.slow

QUIET = {"task": "molecular-property", "target": "logS", "verbose": False, "report": False,
         "seed": 0}  # fmt: skip
RUNS = {
    "epochs": {**QUIET, "candidates": ["ecfp-forest", "descriptor-lightgbm", "dmpnn"],
               "candidate_params": {"dmpnn": {"epochs": 15, "hidden": 64, "ensemble": 2},
                                    "ecfp-forest": {"trees": 60}}},
    "planned": {**QUIET, "candidates": ["dmpnn"], "time_limit": 20,
                "candidate_params": {"dmpnn": {"hidden": 32}}},
}  # fmt: skip


def molecules(path: Path, n: int) -> str:
    """Generated molecules with an ESOL-like solubility, as a CSV of SMILES and logS."""
    import pandas as pd

    from layerwise.tasks.molecules.generated import generated_molecules

    data = generated_molecules(n, seed=0)
    pd.DataFrame({"SMILES": data.smiles, "logS": data.targets[:, 0]}).to_csv(path, index=False)
    return str(path)


def test_molecules_in_two_processes_choose_what_one_chooses(tmp_path):
    two, one = one_and_two(molecules(tmp_path / "m.csv", 300), RUNS["epochs"], tmp_path)
    both = [run["metrics"]["candidates"] for run in (two, one)]
    validation = {n: [b[n]["validation"]["rmse"] for b in both] for n in both[0]}
    # LightGBM 0.451 both, the forest 0.919 both, the D-MPNN 0.72388 both (its halves of each
    # batch, averaged, are the whole batch's gradient): a clear choice
    assert two["chosen"] == one["chosen"], validation
    for name in ("ecfp-forest", "descriptor-lightgbm"):  # rank 0's alone
        assert both[0][name]["test"] == both[1][name]["test"], name
    rmse = [b["dmpnn"]["test"]["rmse"] for b in both]
    assert abs(rmse[0] - rmse[1]) < 0.15 * max(rmse), rmse


def test_the_networks_plan_is_made_once_for_both_processes(tmp_path):
    run = two_processes(molecules(tmp_path / "m.csv", 150), RUNS["planned"], tmp_path / "two")
    notes = " ".join(run["metrics"].get("notes", []))
    assert "planned to fit" in notes, notes  # rank 0's plan, which the other rank followed
