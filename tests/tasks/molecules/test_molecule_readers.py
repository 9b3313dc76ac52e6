"""Tests of layerwise.tasks.molecules.molecule_set: reading molecules and their targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rdkit")

from layerwise.errors import ColumnError, DataError
from layerwise.tasks.molecules import molecule_set
from layerwise.tasks.molecules.molecule_set import (
    MoleculeSet,
    looks_like_molecules,
    read_molecules,
)

MOLECULES = Path(__file__).resolve().parents[4] / "shared" / "datasets" / "molecules"
ESOL_TARGET = "measured log solubility in mols per litre"


def write_csv(tmp_path: Path, columns: dict, name: str = "mols.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def test_csv_with_invalid_smiles_and_salts_gives_notes(tmp_path):
    path = write_csv(
        tmp_path,
        {
            "smiles": ["CCO", "c1ccccc1O", "C1CC", "CC(=O)O.[Na+]", "CC(C", "CCN"],
            "logS": [0.1, -0.7, 1.0, 0.4, 2.0, 0.3],
        },
    )
    molecules = read_molecules(path, target="logS")
    assert molecules.smiles == ["CCO", "Oc1ccccc1", "CC(=O)O", "CCN"]
    assert molecules.kind == "regression" and molecules.target_names == ["logS"]
    np.testing.assert_allclose(molecules.targets[:, 0], [0.1, -0.7, 0.4, 0.3])
    assert len(molecules.mols) == 4 and molecules.names is None
    assert molecules.notes[0] == (
        "2 of 6 SMILES could not be read and were skipped: row 3 'C1CC': unclosed ring 1 "
        "(opened at position 2); row 5 'CC(C': an opening parenthesis is not closed at position 3"
    )
    assert molecules.notes[1].startswith("1 molecules had salts or solvents removed")
    assert "'CC(=O)O.[Na+]' -> 'CC(=O)O'" in molecules.notes[1]


def test_all_invalid_is_a_data_error():
    with pytest.raises(DataError, match="None of the 2 SMILES"):
        read_molecules(pd.DataFrame({"smiles": ["C1CC", "xyz"], "y": [1.0, 2.0]}))


def test_misspelled_smiles_column_names_the_closest(tmp_path):
    path = write_csv(tmp_path, {"smiles": ["CCO", "CCN", "CCC"], "y": [0.5, 1.5, 2.5]})
    with pytest.raises(ColumnError, match="Did you mean 'smiles'"):
        read_molecules(path, smiles_column="smils", target="y")
    garbage = write_csv(
        tmp_path, {"smils": ["not one", "of these", "is a molecule"], "y": [0.5, 1.5, 2.5]}, "g.csv"
    )
    with pytest.raises(ColumnError) as error:
        read_molecules(garbage, target="y")
    assert "No column of 'g.csv' holds SMILES" in str(error.value)
    assert "Did you mean 'smils'?" in str(error.value) and "--smiles-column" in str(error.value)


def test_smiles_column_found_by_name_or_by_content():
    upper = read_molecules(
        pd.DataFrame({"Canonical_SMILES": ["CCO", "CCN", "CCC"], "y": [1.0, 2.5, 3.5]})
    )
    assert upper.smiles == ["CCO", "CCN", "CCC"]
    content = read_molecules(
        pd.DataFrame(
            {"structure": ["CCO", "c1ccccc1N", "CC(=O)OC", "C1CC"], "y": [0.5, 1.0, 2.5, 3.5]}
        )
    )
    assert len(content) == 3
    assert any("read the SMILES from column 'structure'" in note for note in content.notes)


def test_text_in_a_target_names_the_column_row_and_value(tmp_path):
    path = write_csv(
        tmp_path, {"smiles": ["CCO", "CCN", "CCC", "CCCl"], "pIC50": ["6.1", "high", "5.0", ""]}
    )
    with pytest.raises(ColumnError) as error:
        read_molecules(path, target="pIC50")
    message = str(error.value)
    assert "'pIC50'" in message and "row 2 has 'high'" in message and "\n" not in message


def test_multitask_with_blanks_keeps_nans(tmp_path):
    path = tmp_path / "tox.csv"
    path.write_text("smiles,NR-AR,NR-AhR,SR-MMP\nCCO,0,1,\nc1ccccc1O,,0,1\nCCN,,,\nCC(=O)O,1,1,0\n")
    molecules = read_molecules(path, target="NR-AR, NR-AhR,SR-MMP")
    assert molecules.kind == "classification"
    assert molecules.target_names == ["NR-AR", "NR-AhR", "SR-MMP"]
    expected = np.array([[0, 1, np.nan], [np.nan, 0, 1], [1, 1, 0]])
    np.testing.assert_array_equal(molecules.targets, expected)
    assert any(
        n.startswith("1 molecules with no target value were skipped (row 3)")
        for n in molecules.notes
    )
    listed = read_molecules(path, target=["NR-AR", "SR-MMP"])
    assert listed.targets.shape == (3, 2)


def test_duplicates_are_merged():
    regression = read_molecules(
        pd.DataFrame({"smiles": ["CCO", "OCC", "C(O)C", "CCN"], "y": [1.0, 3.0, np.nan, 7.0]})
    )
    assert regression.smiles == ["CCO", "CCN"]
    np.testing.assert_allclose(regression.targets[:, 0], [2.0, 7.0])
    assert any("1 molecules appeared more than once" in n and "mean" in n for n in regression.notes)
    classes = read_molecules(
        pd.DataFrame(
            {"smiles": ["CCO", "OCC", "C(O)C", "CCN", "NCC", "CCC"], "active": [1, 1, 0, 1, 0, 0]}
        )
    )
    assert classes.smiles == ["CCO", "CCC"]  # CCN's labels conflict 50/50: dropped
    np.testing.assert_array_equal(classes.targets[:, 0], [1.0, 0.0])
    assert any(
        "majority" in n and "1 whose labels conflict 50/50 were dropped" in n for n in classes.notes
    )
    kept = read_molecules(
        pd.DataFrame({"smiles": ["CCO", "OCC"], "y": [1.0, 3.0]}), merge_duplicates=False
    )
    assert len(kept) == 2


def test_mixed_classes_and_values_is_a_column_error():
    frame = pd.DataFrame(
        {"smiles": ["CCO", "CCN", "CCC"], "active": [0, 1, 1], "logS": [0.5, 1.2, -3.0]}
    )
    with pytest.raises(ColumnError, match=r"classes \('active'.*values \('logS'\)"):
        read_molecules(frame, target="active,logS")


def test_target_found_when_one_numeric_column_is_not_an_id():
    frame = pd.DataFrame(
        {
            "num": [5, 9, 2],
            "id": [0, 1, 2],
            "name": ["a", "b", "c"],
            "smiles": ["CCO", "CCN", "CCC"],
            "p_np": [1, 0, 1],
        }
    )
    molecules = read_molecules(frame)
    assert molecules.target_names == ["p_np"] and molecules.kind == "classification"
    assert molecules.names == ["a", "b", "c"]
    frame["logP"] = [0.1, 0.2, 0.3]
    with pytest.raises(ColumnError, match="'p_np', 'logP'.*--target"):
        read_molecules(frame)
    with pytest.raises(
        ColumnError, match="Target column 'logp' is not in the data. Did you mean 'logP'"
    ):
        read_molecules(frame, target="logp")


def test_yes_no_targets_are_classes_and_infinities_are_missing():
    words = read_molecules(
        pd.DataFrame({"smiles": ["CCO", "CCN", "CCC"], "active": ["yes", "No", ""]})
    )
    assert words.kind == "classification" and words.targets[:, 0].tolist() == [1.0, 0.0]
    values = read_molecules(
        pd.DataFrame({"smiles": ["CCO", "CCN", "CCC"], "y": [0.5, np.inf, 2.5]})
    )
    assert values.targets[:, 0].tolist() == [0.5, 2.5]
    assert any("1 target values that are not finite" in n for n in values.notes)


def test_molecules_to_score_need_no_target():
    molecules = read_molecules(
        pd.DataFrame({"smiles": ["CCO", "OCC", "C1CC"]}), require_targets=False
    )
    assert molecules.smiles == ["CCO", "CCO"]  # rows are kept as given, not merged
    assert molecules.targets.shape == (2, 0) and molecules.target_names == []
    assert read_molecules(["CCO", "c1ccccc1"], require_targets=False).targets.shape == (2, 0)
    assert read_molecules(molecules) is molecules


def test_subset_keeps_everything_in_step():
    molecules = read_molecules(
        pd.DataFrame(
            {"name": ["e", "b", "p"], "smiles": ["CCO", "c1ccccc1", "CCC"], "y": [0.5, 2.0, 1.0]}
        )
    )
    part = molecules.subset(np.array([2, 0]))
    assert isinstance(part, MoleculeSet) and len(part) == 2
    assert part.smiles == ["CCC", "CCO"] and part.names == ["p", "e"]
    assert part.targets[:, 0].tolist() == [1.0, 0.5] and part.mols[0].GetNumAtoms() == 3


def test_sdf_with_a_property_as_target(tmp_path):
    from rdkit import Chem

    path = tmp_path / "mols.sdf"
    writer = Chem.SDWriter(str(path))
    for smiles, value, name in [
        ("CCO", 0.5, "ethanol"),
        ("c1ccccc1O.[Na+]", 1.5, "phenol"),
        ("CCCl", None, "chloro"),
    ]:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", name)
        if value is not None:
            mol.SetProp("logS", str(value))
        writer.write(mol)
    writer.close()
    bad = Chem.MolFromSmiles("CN(C)(C)C", sanitize=False)
    bad.UpdatePropertyCache(strict=False)
    with open(path, "a") as handle:
        handle.write(Chem.MolToMolBlock(bad, kekulize=False) + "> <logS>\n9.9\n\n$$$$\n")
    molecules = read_molecules(path, target="logS")
    assert molecules.smiles == ["CCO", "Oc1ccccc1"] and molecules.names == ["ethanol", "phenol"]
    np.testing.assert_allclose(molecules.targets[:, 0], [0.5, 1.5])
    assert molecules.notes[0].startswith(
        "1 of 4 SMILES could not be read and were skipped: record 4"
    )
    assert "atom 2 (N) has a valence of 4" in molecules.notes[0]
    assert any("record 3" in n for n in molecules.notes)  # chloro has no logS
    assert looks_like_molecules(path)


def test_smi_file(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text("# screening set\nCCO ethanol\n\nc1ccccc1 benzene ring\nC1CC broken\n")
    molecules = read_molecules(path, require_targets=False)
    assert molecules.smiles == ["CCO", "c1ccccc1"] and molecules.names == [
        "ethanol",
        "benzene ring",
    ]
    assert "line 5 'C1CC'" in molecules.notes[0]
    assert looks_like_molecules(path)


def test_row_cap(monkeypatch):
    monkeypatch.setattr(molecule_set, "MAX_ROWS", 2)
    with pytest.raises(DataError, match="more than 2 molecules"):
        read_molecules(pd.DataFrame({"smiles": ["C", "CC", "CCC"], "y": [1.0, 2.0, 3.5]}))


def test_looks_like_molecules(tmp_path):
    penguins = write_csv(
        tmp_path,
        {
            "species": ["Adelie", "Gentoo", "Chinstrap"] * 10,
            "island": ["Torgersen", "Biscoe", "Dream"] * 10,
            "bill_length_mm": np.linspace(35, 50, 30),
            "sex": ["male", "female", "NA"] * 10,
            "state": ["CO", "NC", "SC"] * 10,  # two-letter codes that RDKit happens to read
        },
        "penguins.csv",
    )
    reviews = write_csv(
        tmp_path,
        {"text": ["a fine film", "dull and long", "loved it"], "label": [1, 0, 1]},
        "t.csv",
    )
    named = write_csv(tmp_path, {"SMILES": ["not checked"], "y": [1]}, "named.csv")
    by_content = write_csv(
        tmp_path, {"mol": ["CCO", "c1ccccc1C(=O)O", "CCN(CC)CC"], "y": [1, 2, 3]}, "c.csv"
    )
    pd.DataFrame({"smiles": ["CCO"]}).to_parquet(tmp_path / "m.parquet")
    assert not looks_like_molecules(penguins)
    assert not looks_like_molecules(reviews)
    assert not looks_like_molecules(tmp_path / "missing.csv")
    assert not looks_like_molecules(tmp_path / "missing.sdf")
    assert not looks_like_molecules(12)
    assert looks_like_molecules(named) and looks_like_molecules(str(by_content))
    assert looks_like_molecules(tmp_path / "m.parquet")
    assert looks_like_molecules(read_molecules(["CCO", "CCN"], require_targets=False))


def test_looks_like_molecules_on_the_real_penguins(penguins_csv):
    assert not looks_like_molecules(penguins_csv)


@pytest.mark.skipif(not (MOLECULES / "BBBP.csv").exists(), reason="BBBP.csv is not here")
def test_real_bbbp():
    molecules = read_molecules(MOLECULES / "BBBP.csv")
    assert molecules.target_names == ["p_np"] and molecules.kind == "classification"
    assert molecules.notes[0].startswith(
        "11 of 2,050 SMILES could not be read and were skipped: row 60"
    )
    assert molecules.names is not None and 1900 < len(molecules) < 2039
    assert looks_like_molecules(MOLECULES / "BBBP.csv")


@pytest.mark.skipif(not (MOLECULES / "delaney-processed.csv").exists(), reason="ESOL is not here")
def test_real_esol():
    molecules = read_molecules(
        MOLECULES / "delaney-processed.csv", target=ESOL_TARGET, merge_duplicates=False
    )
    assert len(molecules) == 1128 and molecules.kind == "regression"
    assert molecules.names[0] == "Amigdalin" and molecules.targets[0, 0] == pytest.approx(-0.77)
    assert not np.isnan(molecules.targets).any()
