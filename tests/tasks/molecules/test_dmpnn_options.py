"""The D-MPNN's other paths: yes/no properties in one multitask model with blanks left out of
the loss, RDKit descriptors beside the graph, a plan made from a time limit, resuming a finished
ensemble, the same seed giving the same model, and run folders it must refuse."""

import numpy as np
import pytest

Chem = pytest.importorskip("rdkit.Chem")
from rdkit.Chem import Crippen  # noqa: E402

from layerwise.errors import ConfigError, RunFolderError  # noqa: E402
from layerwise.runs.folder import RunFolder  # noqa: E402
from layerwise.tasks.molecules.dmpnn_train import DMPNNModel  # noqa: E402
from layerwise.tasks.molecules.molecule_set import MoleculeSet  # noqa: E402

RINGS = ("c1ccc({})cc1", "C1CCC({})CC1", "c1cc({})ccn1", "c1cc({})sc1", "C1CC({})OC1")
GROUPS = ("", "C", "CC", "O", "N", "Cl", "F", "C(=O)O", "OC", "C#N", "CN", "CCN", "CCO", "Br")
CHAINS = ("", "C", "CC", "CCC", "OCC", "NCC")


def molecules(n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    found: dict[str, object] = {}
    while len(found) < n:
        ring = RINGS[rng.integers(len(RINGS))].format(GROUPS[rng.integers(len(GROUPS))])
        mol = Chem.MolFromSmiles(CHAINS[rng.integers(len(CHAINS))] + ring.replace("()", ""))
        found.setdefault(Chem.MolToSmiles(mol), mol)
    return list(found.values())


def as_set(mols: list, targets: np.ndarray, kind: str) -> MoleculeSet:
    names = [f"t{j}" for j in range(targets.shape[1])]
    return MoleculeSet([Chem.MolToSmiles(m) for m in mols], mols, targets, names, kind)


@pytest.fixture(scope="module")
def small():
    mols = molecules(80, seed=1)
    data = as_set(mols, np.array([[Crippen.MolLogP(m)] for m in mols]), "regression")
    return data.subset(range(60)), data.subset(range(60, 80))


def _saved(model: DMPNNModel, tmp_path) -> RunFolder:
    run = RunFolder.create(tmp_path, "molecular-property")
    run.write_json("model.json", model.save(run))
    run.finalize({"task": "molecular-property"})
    return RunFolder.open(run.path)


def test_multitask_classification_with_blanks():
    from sklearn.metrics import roc_auc_score

    mols = molecules(260, seed=2)
    logp = np.array([Crippen.MolLogP(m) for m in mols])
    nitrogen = np.array([any(a.GetSymbol() == "N" for a in m.GetAtoms()) for m in mols])
    y = np.stack([logp > np.median(logp), nitrogen], axis=1).astype(float)
    y[np.random.default_rng(0).random(y.shape) < 0.3] = np.nan  # a third of each left blank
    data = as_set(mols, y, "classification")
    train, val, test = (
        data.subset(range(200)),
        data.subset(range(200, 230)),
        data.subset(range(230, 260)),
    )
    model = DMPNNModel(seed=0, epochs=25, ensemble=1, hidden=64, ffn_hidden=64).fit(train, val)
    proba = model.predict(test.mols)
    assert proba.shape == (30, 2) and np.all((proba > 0) & (proba < 1))
    for j in range(2):
        known = ~np.isnan(test.targets[:, j])
        assert roc_auc_score(test.targets[known, j], proba[known, j]) > 0.85
    assert all(np.isfinite(r["train_loss"]) and np.isfinite(r["val_loss"]) for r in model.history)
    one_atom = model.predict([Chem.MolFromSmiles("[Na+]"), Chem.MolFromSmiles("C")])
    assert np.isfinite(one_atom).all()
    contributions = model.atom_contributions(test.mols[0])
    assert contributions.shape == (test.mols[0].GetNumAtoms(), 2)


def test_descriptors_beside_the_graph(small, tmp_path):
    train, val = small
    model = DMPNNModel(seed=0, epochs=3, ensemble=1, hidden=32, descriptors=True).fit(train, val)
    assert 20 < len(model.descriptor_names) == model.nets[0].config.extra_dim
    opened = _saved(model, tmp_path)
    loaded = DMPNNModel.load(opened, opened.read_json("model.json"))
    np.testing.assert_array_equal(loaded.predict(val.mols), model.predict(val.mols))


def test_time_limit_plans_members_and_epochs(small):
    train, val = small
    model = DMPNNModel(seed=0, hidden=32).fit(train, val, time_limit=4.0)
    assert 1 <= len(model.nets) <= 5 and all(s["epochs"] <= 100 for s in model.summary)
    assert any("planned to fit" in note for note in model.notes)


def test_members_cut_short_and_weak_are_left_out(small):
    train, val = small
    model = DMPNNModel(seed=0, epochs=2, ensemble=3, hidden=16).fit(train, val)
    model.summary = [{"best": 0.1, "stopped": "max epochs"}, {"best": 0.2, "stopped": "max epochs"},
                     {"best": 0.2, "stopped": "time limit"}]  # fmt: skip
    kept = model.nets[:2]
    model._drop_weak_members()  # the third: cut short and 2 x the best
    assert model.nets == kept and [s["dropped"] for s in model.summary] == [False, False, True]


def test_same_seed_same_model_and_resume(small, tmp_path):
    train, val = small
    options = {"epochs": 3, "ensemble": 2, "hidden": 32, "checkpoint_dir": str(tmp_path / "ck")}
    first = DMPNNModel(seed=3, **options).fit(train, val)
    again = DMPNNModel(seed=3, **{**options, "checkpoint_dir": None}).fit(train, val)
    np.testing.assert_array_equal(first.predict(val.mols), again.predict(val.mols))
    resumed = DMPNNModel(seed=3, resume=True, **options).fit(train, val)  # both members done
    np.testing.assert_array_equal(first.predict(val.mols), resumed.predict(val.mols))
    other = DMPNNModel(seed=4, **{**options, "checkpoint_dir": None}).fit(train, val)
    assert not np.array_equal(first.predict(val.mols), other.predict(val.mols))


def test_bad_options_and_run_folders(small, tmp_path):
    with pytest.raises(ConfigError, match="epochs"):
        DMPNNModel(epoch=3)
    train, val = small
    model = DMPNNModel(seed=0, epochs=2, ensemble=2, hidden=16).fit(train, val)
    opened = _saved(model, tmp_path)
    info = opened.read_json("model.json")
    bad = [
        {"members": 3},  # the file holds two
        {"members": "2"},
        {"kind": "banana"},
        {"mean": [0.0, 1.0]},  # one target
        {"std": [0.0]},
        {"architecture": {**info["architecture"], "hidden": 17}},  # not the stored shapes
        {"architecture": {**info["architecture"], "layers": 3}},  # no such field
        {"architecture": {**info["architecture"], "atom_dim": 10}},
        {"file": "../elsewhere.safetensors"},
    ]
    for change in bad:
        with pytest.raises(RunFolderError):
            DMPNNModel.load(opened, {**info, **change})
    assert DMPNNModel.load(opened, info).predict(val.mols).shape == (20, 1)
