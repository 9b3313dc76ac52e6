"""The D-MPNN learns a property of the molecular graph (Crippen logP, a sum of atom-type
contributions RDKit computes) from 300 generated molecules well below predicting the mean, its
atom contributions follow Crippen's own, and a saved ensemble predicts exactly the same after
loading."""

import numpy as np
import pytest

Chem = pytest.importorskip("rdkit.Chem")
from rdkit.Chem import Crippen, rdMolDescriptors  # noqa: E402

from layerwise.runs.folder import RunFolder  # noqa: E402
from layerwise.tasks.molecules.dmpnn_train import DMPNNModel  # noqa: E402
from layerwise.tasks.molecules.molecule_set import MoleculeSet  # noqa: E402

TEMPLATES = ("c1cc({})ccc1", "C1CC({})CCC1", "c1cc({})ncc1", "c1cc({})sc1", "C1CC({})OC1",
             "c1c({})cc({})cc1", "C1CC({})CC({})C1", "CC({})C({})")  # fmt: skip
SUBSTITUENTS = ("", "C", "CC", "O", "N", "Cl", "F", "C(=O)O", "OC", "C#N", "CN", "C(F)(F)F",
                "CCO", "Br", "C(=O)N", "S")  # fmt: skip
CHAINS = ("", "C", "CC", "CCC", "OCC", "NCC", "CC(C)")


def generated(n: int, seed: int) -> list:
    """``n`` distinct small molecules: a chain, a ring (or branch) template, substituents."""
    rng = np.random.default_rng(seed)
    found: dict[str, object] = {}
    while len(found) < n:
        template = TEMPLATES[rng.integers(len(TEMPLATES))]
        subs = [SUBSTITUENTS[rng.integers(len(SUBSTITUENTS))] for _ in range(2)]
        smiles = CHAINS[rng.integers(len(CHAINS))] + template.format(*subs).replace("()", "")
        mol = Chem.MolFromSmiles(smiles)
        if mol is not None:
            found.setdefault(Chem.MolToSmiles(mol), mol)
    return list(found.values())


def as_set(mols: list, targets: np.ndarray, kind: str = "regression") -> MoleculeSet:
    names = [f"t{j}" for j in range(targets.shape[1])]
    return MoleculeSet([Chem.MolToSmiles(m) for m in mols], mols, targets, names, kind)


@pytest.fixture(scope="module")
def trained():
    mols = generated(300, seed=0)
    y = np.array([[Crippen.MolLogP(m)] for m in mols])
    data = as_set(mols, y)
    train, val, test = (
        data.subset(range(240)),
        data.subset(range(240, 270)),
        data.subset(range(270, 300)),
    )
    model = DMPNNModel(seed=0, epochs=40, ensemble=2, hidden=96, ffn_hidden=64)
    return model.fit(train, val), test


def test_it_learns_logp_well_below_the_mean(trained):
    model, test = trained
    found = model.predict(test.mols)
    rmse = float(np.sqrt(np.mean((found - test.targets) ** 2)))
    assert rmse < 0.5 * float(test.targets.std()), (rmse, float(test.targets.std()))
    members = model.predict_members(test.mols)
    assert members.shape == (2, 30, 1) and members.std(axis=0).mean() > 0
    records = model.history.records
    assert len(records) == 40 and {"train_loss", "val_loss", "val_rmse"} <= set(records[0])


def test_atom_contributions_follow_crippens(trained):
    from scipy.stats import spearmanr

    model, test = trained
    ours, theirs = [], []
    for mol in test.mols:
        contributions = model.atom_contributions(mol)
        assert contributions.shape == (mol.GetNumAtoms(), 1)
        ours += contributions[:, 0].tolist()
        theirs += [c[0] for c in rdMolDescriptors._CalcCrippenContribs(mol)]
    assert spearmanr(ours, theirs).statistic > 0.35  # measured 0.53


def test_saved_ensemble_predicts_the_same(trained, tmp_path):
    model, test = trained
    run = RunFolder.create(tmp_path, "molecular-property")
    info = model.save(run)
    run.write_json("model.json", info)
    run.finalize({"task": "molecular-property"})
    opened = RunFolder.open(run.path)
    loaded = DMPNNModel.load(opened, opened.read_json("model.json"))
    np.testing.assert_array_equal(
        loaded.predict_members(test.mols), model.predict_members(test.mols)
    )
    np.testing.assert_array_equal(loaded.atom_contributions(test.mols[0]),
                                  model.atom_contributions(test.mols[0]))  # fmt: skip
