"""Tests of layerwise.tasks.molecules.splits: scaffold and random splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rdkit")

from layerwise.errors import ConfigError, DataError
from layerwise.tasks.molecules.chemistry import murcko_scaffold
from layerwise.tasks.molecules.molecule_set import read_molecules
from layerwise.tasks.molecules.splits import (
    check_fractions,
    random_split,
    scaffold_split,
    split_table,
)

SUBSTITUENTS = ["C", "CC", "O", "N", "Cl", "F", "OC", "C(=O)O", "CN", "Br", "CCC", "C#N"]
RINGS = {  # scaffold -> how many molecules carry it
    "c1ccccc1": 12,
    "c1ccncc1": 8,
    "C1CCCCC1": 6,
    "C1CCOC1": 4,
    "c1ccsc1": 3,
    "C1CC1": 2,
    "c1ccc2ccccc2c1": 2,
    "C1CCNCC1": 2,
    "c1cocn1": 1,
    "C1CCC1": 1,
}


@pytest.fixture(scope="module")
def molecules():
    smiles = [f"{sub}{ring}" for ring, count in RINGS.items() for sub in SUBSTITUENTS[:count]]
    smiles += [f"CC{sub}" for sub in SUBSTITUENTS[:3]]  # acyclic: the scaffold ""
    rng = np.random.default_rng(0)
    smiles = [smiles[i] for i in rng.permutation(len(smiles))]
    frame = pd.DataFrame({"smiles": smiles, "y": rng.normal(size=len(smiles))})
    return read_molecules(frame, merge_duplicates=False)


def check_partition(parts: dict, n: int) -> None:
    assert set(parts) == {"train", "val", "test"}
    joined = np.concatenate([parts["train"], parts["val"], parts["test"]])
    assert sorted(joined.tolist()) == list(range(n))
    for index in parts.values():
        assert len(index) > 0 and np.all(np.diff(index) > 0) and index.dtype == np.int64


def test_scaffold_split_keeps_each_scaffold_in_one_part(molecules):
    scaffolds = [murcko_scaffold(m) for m in molecules.mols]
    assert len(set(scaffolds)) == len(RINGS) + 1
    for seed in range(4):
        parts = scaffold_split(molecules.mols, seed=seed)
        check_partition(parts, len(molecules))
        seen = {name: {scaffolds[i] for i in index} for name, index in parts.items()}
        assert not seen["test"] & seen["train"] and not seen["val"] & seen["train"]
        assert not seen["val"] & seen["test"]
        assert "c1ccccc1" in seen["train"]  # the big scaffold sets go to training first
        assert len(parts["train"]) <= 0.8 * len(molecules)


def test_scaffold_split_is_deterministic_and_takes_scaffold_strings(molecules):
    scaffolds = [murcko_scaffold(m) for m in molecules.mols]
    first = scaffold_split(molecules.mols, (0.7, 0.15, 0.15), seed=3)
    again = scaffold_split(scaffolds, (0.7, 0.15, 0.15), seed=3)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    tests = {tuple(scaffold_split(scaffolds, seed=s)["test"]) for s in range(6)}
    assert len(tests) > 1  # the small scaffold sets are shuffled by the seed


def test_every_part_gets_molecules_when_there_are_three():
    check_partition(scaffold_split(["c1ccccc1", "C1CC1", "C1CCC1"]), 3)
    check_partition(scaffold_split(["c1ccccc1"] * 8 + ["C1CC1", "C1CCC1"]), 10)
    check_partition(scaffold_split([""] * 10), 10)  # one scaffold only: split at random
    for n in range(3, 30):
        check_partition(random_split(n, seed=n), n)


def test_random_split_sizes_and_seed():
    parts = random_split(100, (0.8, 0.1, 0.1), seed=1)
    assert [len(parts[p]) for p in ("train", "val", "test")] == [80, 10, 10]
    np.testing.assert_array_equal(parts["test"], random_split(100, seed=1)["test"])
    assert not np.array_equal(parts["test"], random_split(100, seed=2)["test"])


@pytest.mark.parametrize(
    "fractions", [(0.5, 0.5), (0.8, 0.2, 0.0), (0.7, 0.2, 0.2), ("a", "b", "c"), None]
)
def test_bad_fractions_are_config_errors(fractions):
    with pytest.raises(ConfigError, match="add up to 1"):
        check_fractions(fractions)
    with pytest.raises(ConfigError):
        scaffold_split(["C1CC1"] * 5, fractions)
    with pytest.raises(ConfigError):
        random_split(5, fractions)


def test_too_few_molecules_is_a_data_error():
    with pytest.raises(DataError, match="2 molecule"):
        random_split(2)
    with pytest.raises(DataError):
        scaffold_split(["C1CC1", ""])


def test_split_table(molecules):
    parts = scaffold_split(molecules.mols, seed=0)
    table = split_table(molecules, parts)
    assert list(table.columns) == ["smiles", "split", "scaffold"]
    assert table.smiles.tolist() == molecules.smiles
    assert table.split.value_counts().to_dict() == {k: len(v) for k, v in parts.items()}
    assert set(table.scaffold[table.split == "test"]).isdisjoint(
        table.scaffold[table.split == "train"]
    )
    with pytest.raises(ConfigError, match="refers to molecule"):
        split_table(molecules, {"train": np.array([len(molecules)])})
