"""Tests of layerwise.tasks.molecules.chemistry: parsing, canonical SMILES, fragments, scaffolds."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("rdkit")

from layerwise.errors import ConfigError
from layerwise.tasks.molecules.chemistry import (
    canonical_smiles,
    murcko_scaffold,
    parse_mol,
    parse_smiles,
    require_rdkit,
)


def test_salt_is_stripped_to_its_parent():
    aspirin_sodium = "CC(=O)Oc1ccccc1C(=O)[O-].[Na+]"
    parsed = parse_smiles(aspirin_sodium)
    assert parsed.ok and parsed.stripped and parsed.problem is None
    assert parsed.smiles == "CC(=O)Oc1ccccc1C(=O)[O-]"
    assert parsed.mol.GetNumAtoms() == 13
    whole = parse_smiles(aspirin_sodium, largest_fragment=False)
    assert not whole.stripped and "." in whole.smiles
    assert parse_smiles("O.O.c1ccccc1N").smiles == "Nc1ccccc1"  # solvent before the parent
    assert parse_smiles("[Na+].[Cl-]").smiles == "[Na+]"  # a tie keeps the first


def test_two_spellings_of_one_molecule_have_one_canonical_smiles():
    assert canonical_smiles("OCC") == canonical_smiles("C(O)C") == "CCO"
    assert canonical_smiles("C1=CC=CC=C1O") == canonical_smiles("Oc1ccccc1")
    assert parse_smiles("  CCO\n").smiles == "CCO"


def test_stereo_is_kept():
    l_alanine, d_alanine = canonical_smiles("C[C@H](N)C(=O)O"), canonical_smiles("C[C@@H](N)C(=O)O")
    assert "@" in l_alanine and l_alanine != d_alanine
    assert canonical_smiles("F/C=C/F") != canonical_smiles("F/C=C\\F")


@pytest.mark.parametrize(
    ("smiles", "problem", "position"),
    [
        ("CC(C", "an opening parenthesis is not closed at position 3", 3),
        ("CC)C", "a closing parenthesis has no opening one at position 3", 3),
        ("Cc1ccccc1X", "syntax error at position 10", 10),
        ("C==C", "syntax error at position 3", 3),
        ("C1CC", "unclosed ring 1 (opened at position 2)", 2),
        ("C1CC1CC2", "unclosed ring 2 (opened at position 8)", 8),
        ("CN(C)(C)C", "atom 2 (N at position 2) has a valence of 4, more than N allows", 2),
        ("Clc1ccccc1C(C)(C)(C)(C)C", "atom 8 (C at position 11) has a valence of 6", 11),
        ("CCO ethanol", "contains a space at position 4", 4),
        ("  CC)C", "a closing parenthesis has no opening one at position 5", 5),
    ],
)
def test_invalid_smiles_names_the_problem_and_its_position(smiles, problem, position):
    parsed = parse_smiles(smiles)
    assert not parsed.ok and parsed.smiles is None and parsed.mol is None
    assert problem in parsed.problem
    assert parsed.position == position
    assert "\n" not in parsed.problem and len(parsed.problem) < 120


def test_aromatic_problems_name_the_atoms_and_suggest_nh():
    pyrrole_without_h = parse_smiles("c1ccnc1")
    assert "cannot kekulize the aromatic atoms 1, 2, 3, 4, 5" in pyrrole_without_h.problem
    assert "[nH]" in pyrrole_without_h.problem
    assert parse_smiles("c1cc[nH]c1").ok


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "empty text"),
        ("   ", "empty text"),
        (None, "empty text"),
        (float("nan"), "empty text"),
        (42, "not text but a int"),
        (b"CCO", "not text but a bytes"),
        ("C" * 2001, "longer than 2,000 characters (2,001)"),
    ],
)
def test_untrusted_values_never_raise(value, problem):
    parsed = parse_smiles(value)
    assert not parsed.ok and problem in parsed.problem


def test_rdkit_prints_nothing(capfd):
    for text in ("C1CC", "CC(C", "CN(C)(C)C", "c1cccc1", "[H]C([H])([H])[H].[Na+]"):
        parse_smiles(text)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_parse_mol_of_a_ready_molecule():
    Chem = require_rdkit()
    parsed = parse_mol(Chem.MolFromSmiles("CCN.Cl"))
    assert parsed.smiles == "CCN" and parsed.stripped
    assert parse_mol(None).problem == "no atoms"


def test_murcko_scaffold():
    Chem = require_rdkit()
    assert murcko_scaffold(Chem.MolFromSmiles("CCc1ccccc1C(=O)O")) == "c1ccccc1"
    assert murcko_scaffold(Chem.MolFromSmiles("CCCCO")) == ""
    ibuprofen = murcko_scaffold(Chem.MolFromSmiles("CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O"))
    assert ibuprofen == "c1ccccc1"
    chiral = murcko_scaffold(Chem.MolFromSmiles("C[C@H]1CC[C@@H](c2ccccc2)CC1"))
    assert "@" not in chiral and chiral == "c1ccc(C2CCCCC2)cc1"


def test_missing_rdkit_is_a_clear_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdkit", None)
    with pytest.raises(ConfigError, match=r'pip install "layerwise\[molecules\]"'):
        require_rdkit()


def test_without_rdkits_error_capture_problems_are_still_described(monkeypatch):
    """RDKit before 2025 has no CaptureErrorLog: rings and chemistry are still found."""
    from rdkit import rdBase

    monkeypatch.delattr(rdBase, "CaptureErrorLog", raising=False)
    assert parse_smiles("C1CC").problem == "unclosed ring 1 (opened at position 2)"
    assert parse_smiles("CN(C)(C)C").position == 2
    assert parse_smiles("CC(C").problem == "syntax error"
    assert parse_smiles("CCO").smiles == "CCO"
