"""Morgan fingerprints and RDKit descriptors: a bit stands for a substructure and can be found
again on the molecule; counts count; descriptors are finite numbers for ordinary molecules and
NaN (not inf, not 1e300) where RDKit's value is absurd."""

from __future__ import annotations

import numpy as np
import pytest

from layerwise.errors import ConfigError, DataError
from layerwise.tasks.molecules.fingerprints import (
    descriptor_names,
    descriptors,
    morgan,
    morgan_bit_atoms,
)

Chem = pytest.importorskip("rdkit.Chem")

ORDINARY = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
            "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "O=C(O)CCl", "c1ccc2ccccc2c1", "C1CCNCC1"]  # fmt: skip


def test_a_bit_is_set_where_its_substructure_is_and_maps_back_to_its_atoms():
    """The acid's hydroxyl (radius 1 around the O-H oxygen: O bonded to a carbon with three
    neighbours) sets one bit in every carboxylic acid and in none of an alcohol, an ester and a
    ketone; morgan_bit_atoms finds those two atoms and their bond."""
    acid = Chem.MolFromSmiles("CC(=O)O")  # atom 3 is the hydroxyl oxygen
    found = {int(b): morgan_bit_atoms(acid, int(b)) for b in np.flatnonzero(morgan([acid])[0])}
    acid_bit = next(b for b, envs in found.items()
                    if any(e.center == 3 and e.radius == 1 for e in envs))  # fmt: skip
    where = next(e for e in found[acid_bit] if e.center == 3)
    assert where.atoms == (1, 3) and where.bonds == (2,)
    assert Chem.MolFromSmiles(where.smiles, sanitize=False) is not None

    with_acid = [Chem.MolFromSmiles(s) for s in ("CCC(=O)O", "OC(=O)c1ccccc1", "OC(=O)CCCC")]
    without = [Chem.MolFromSmiles(s) for s in ("CCCO", "CCC(=O)OC", "CC(C)=O")]
    assert morgan(with_acid + without)[:, acid_bit].tolist() == [1, 1, 1, 0, 0, 0]
    benzoic = with_acid[1]
    hydroxyl = next(a.GetIdx() for a in benzoic.GetAtoms()
                    if a.GetSymbol() == "O" and a.GetTotalNumHs() == 1)  # fmt: skip
    envs = morgan_bit_atoms(benzoic, acid_bit)  # folding to 2048 bits may add a collision
    hit = next(e for e in envs if (e.center, e.radius) == (hydroxyl, 1))
    assert sorted(benzoic.GetAtomWithIdx(a).GetSymbol() for a in hit.atoms) == ["C", "O"]
    assert morgan_bit_atoms(without[0], acid_bit) == []


def test_counts_count_and_sizes_follow_the_options():
    mols = [Chem.MolFromSmiles(s) for s in ORDINARY]
    bits, counts = morgan(mols), morgan(mols, counts=True)
    assert bits.shape == (8, 2048) and bits.dtype == np.uint8 and set(np.unique(bits)) <= {0, 1}
    assert counts.dtype == np.float32 and np.array_equal(counts > 0, bits > 0)
    assert counts[1].max() >= 2  # phenol: the aromatic CH environments repeat
    assert morgan(mols, radius=3, bits=1024).shape == (8, 1024)
    with pytest.raises(ConfigError, match="radius"):
        morgan(mols, radius=9)
    with pytest.raises(DataError, match="Molecule 1 is None"):
        morgan([mols[0], None])


def test_descriptors_are_finite_for_ordinary_molecules_and_nan_when_absurd():
    mols = [Chem.MolFromSmiles(s) for s in ORDINARY]
    values, names = descriptors(mols)
    assert values.dtype == np.float32 and values.shape == (8, len(names))
    assert names == descriptor_names() and len(names) > 150
    assert np.isfinite(values).mean() > 0.98  # a few need 3D-free charges RDKit may lack
    logp = values[:, names.index("MolLogP")]
    from rdkit.Chem import Crippen

    np.testing.assert_allclose(logp, [Crippen.MolLogP(m) for m in mols], rtol=1e-5)
    assert np.all(np.abs(values[np.isfinite(values)]) <= 1e6)
    big = Chem.MolFromSmiles("C" * 60 + "c1ccc2ccccc2c1" * 3)  # Ipc overflows past 1e6
    huge, _ = descriptors([big], ["Ipc", "MolWt"])
    assert np.isnan(huge[0, 0]) and np.isfinite(huge[0, 1])
    with pytest.raises(ConfigError, match="no descriptor NotADescriptor"):
        descriptors(mols, ["MolWt", "NotADescriptor"])
