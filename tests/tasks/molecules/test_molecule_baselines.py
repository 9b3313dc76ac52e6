"""The classical baselines: each learns a property RDKit computes from the structure (Crippen
logP, the heavy-atom count) from fingerprints or descriptors, gives probabilities for classes,
trains each target of a multitask set on the molecules that have it, saves without pickle and
loads back to the same predictions, refuses a doctored file, and cross-validates by scaffold."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from layerwise.errors import ConfigError, RunFolderError
from layerwise.runs.folder import RunFolder

Chem = pytest.importorskip("rdkit.Chem")

from layerwise.tasks.molecules.baselines import (  # noqa: E402
    BOOSTER_FILE,
    FOREST_FILE,
    DescriptorBoosting,
    FingerprintForest,
)
from layerwise.tasks.molecules.chemistry import murcko_scaffold  # noqa: E402
from layerwise.tasks.molecules.molecule_set import MoleculeSet  # noqa: E402

PRE = ("", "C", "CC", "CCC", "OCC", "NC", "ClC", "CC(C)", "FC(F)(F)", "N#CC", "CCCC")
RINGS = ("c1ccccc1", "c1ccncc1", "C1CCCCC1", "c1ccc2ccccc2c1", "c1ccsc1", "C1CCNCC1", "c1ccoc1")
SUF = ("", "O", "N", "Cl", "C(=O)O", "C(=O)N", "OC", "Br", "C#N", "S(=O)(=O)N", "CC")
FAST = {"ecfp-forest": {"trees": 60}, "descriptor-lightgbm": {"rounds": 150}}


def _molecules(n: int = 300, seed: int = 0) -> tuple[list[str], list]:
    """``n`` distinct small molecules: a chain, a ring and a substituent, drawn at random."""
    found: dict[str, object] = {}
    for p, r, s in itertools.product(PRE, RINGS, SUF):
        mol = Chem.MolFromSmiles(p + r + s)
        if mol is not None:
            found.setdefault(Chem.MolToSmiles(mol), mol)
    smiles = sorted(found)
    pick = np.random.default_rng(seed).choice(len(smiles), n, replace=False)
    return [smiles[i] for i in pick], [found[smiles[i]] for i in pick]


@pytest.fixture(scope="module")
def molecules():
    """300 molecules with Crippen logP and the heavy-atom count; 200 train, 50 val, 50 test."""
    from rdkit.Chem import Crippen

    smiles, mols = _molecules()
    logp = np.array([Crippen.MolLogP(m) for m in mols])
    heavy = np.array([m.GetNumHeavyAtoms() for m in mols], dtype=float)
    return smiles, mols, logp, heavy


def _set(molecules, targets, names, kind="regression"):
    smiles, mols = molecules[0], molecules[1]
    return MoleculeSet(smiles, mols, np.asarray(targets, float).reshape(len(mols), -1),
                       names, kind)  # fmt: skip


def _parts(data):
    return (
        data.subset(np.arange(200)),
        data.subset(np.arange(200, 250)),
        data.subset(np.arange(250, 300)),
    )


def _round_trip(model, tmp_path, mols):
    run = RunFolder.create(tmp_path, "molecular-property")
    info = model.save(run)
    run.finalize({"task": "molecular-property"})
    loaded = type(model).load(RunFolder.open(run.path), info)
    np.testing.assert_array_equal(loaded.predict(mols), model.predict(mols))  # exactly
    return run, info, loaded


@pytest.mark.parametrize("kind", [FingerprintForest, DescriptorBoosting])
def test_each_baseline_learns_logp_and_loads_to_the_same_predictions(kind, molecules, tmp_path):
    train, val, test = _parts(_set(molecules, molecules[2], ["logP"]))
    model = kind(seed=0, **FAST[kind.name]).fit(train, val)
    found = model.predict(test.mols)
    assert found.shape == (50, 1) and found.dtype == np.float64
    assert model.predict([]).shape == (0, 1)
    rmse = np.sqrt(np.mean((found - test.targets) ** 2))
    assert rmse < 0.5 * test.targets.std()
    assert model.notes and model.family == "classical"
    top = model.important_features(5)
    assert len(top) == 5 and top[0]["importance"] >= top[-1]["importance"] > 0
    _, _, loaded = _round_trip(model, tmp_path, test.mols)
    assert loaded.important_features(5) == top
    if kind is FingerprintForest:  # an example molecule where each top bit is set
        assert all(train.mols[t["example"]] is not None for t in top)
        assert top[0]["fragment"]
        mean, spread = model.predict_with_spread(test.mols)
        np.testing.assert_allclose(mean, found)
        assert spread.shape == (50, 1) and np.all(spread >= 0) and spread.max() > 0


@pytest.mark.parametrize("kind", [FingerprintForest, DescriptorBoosting])
def test_classes_get_probabilities_that_rank(kind, molecules):
    from sklearn.metrics import roc_auc_score

    high = (molecules[2] > np.median(molecules[2])).astype(float)
    train, val, test = _parts(_set(molecules, high, ["lipophilic"], "classification"))
    found = kind(seed=0, **FAST[kind.name]).fit(train, val).predict(test.mols)
    assert found.shape == (50, 1) and found.min() >= 0 and found.max() <= 1
    assert roc_auc_score(test.targets[:, 0], found[:, 0]) > 0.85


@pytest.mark.parametrize("kind", [FingerprintForest, DescriptorBoosting])
def test_multitask_with_blanks_trains_each_target_on_its_molecules(kind, molecules, tmp_path):
    targets = np.column_stack([molecules[2], molecules[3]])
    rng = np.random.default_rng(1)
    targets[rng.random(targets.shape) < 0.3] = np.nan  # a third of each target missing
    train, val, test = _parts(_set(molecules, targets, ["logP", "heavy"]))
    model = kind(seed=0, **FAST[kind.name]).fit(train, val)
    found = model.predict(test.mols)
    assert found.shape == (50, 2) and np.all(np.isfinite(found))
    truth = np.column_stack([molecules[2], molecules[3]])[250:]
    for j in range(2):
        assert np.sqrt(np.mean((found[:, j] - truth[:, j]) ** 2)) < 0.65 * truth[:, j].std()
    _round_trip(model, tmp_path, test.mols)


@pytest.mark.parametrize("kind", [FingerprintForest, DescriptorBoosting])
def test_cross_validation_by_scaffold_gives_finite_figures(kind, molecules):
    data = _set(molecules, molecules[2], ["logP"])
    train = data.subset(np.arange(200))
    groups = [murcko_scaffold(m) for m in train.mols]
    model = kind(seed=0, **FAST[kind.name])
    cv = model.cross_validate(train, groups, folds=3)
    assert cv["metric"] == "rmse" and cv["folds"] == 3 and len(cv["scores"]) == 3
    assert np.isfinite(cv["mean"]) and np.isfinite(cv["std"]) and cv["mean"] < train.targets.std()
    high = (molecules[2] > np.median(molecules[2])).astype(float)
    classes = _set(molecules, high, ["lipophilic"], "classification").subset(np.arange(200))
    cv = model.cross_validate(classes, groups, folds=3)
    assert cv["metric"] == "roc_auc" and 0.7 < cv["mean"] <= 1 and np.isfinite(cv["std"])


def test_unknown_parameters_and_a_time_limit(molecules):
    with pytest.raises(ConfigError, match="Did you mean 'trees'"):
        FingerprintForest(tress=10)
    with pytest.raises(ConfigError, match="not a parameter"):
        DescriptorBoosting(trees=10)
    train = _set(molecules, molecules[2], ["logP"]).subset(np.arange(100))
    model = FingerprintForest(seed=0, trees=500).fit(train, time_limit=1e-3)
    assert len(model.models[0]["arrays"]["roots"]) == 50  # one batch: the fewest it grows
    assert any("within the time limit" in note for note in model.notes)


def test_doctored_files_are_refused(molecules, tmp_path):
    """A forest whose split points back to itself (a walk that never ends), bit arrays of the
    wrong size, a booster that is not LightGBM text or reads other columns: RunFolderError."""
    from safetensors.numpy import load_file, save_file

    train = _set(molecules, molecules[2], ["logP"]).subset(np.arange(120))
    forest = FingerprintForest(seed=0, trees=5).fit(train)
    honest = tmp_path / "honest"
    run = RunFolder.create(honest, "molecular-property")
    info = forest.save(run)
    tensors = load_file(str(run.file(FOREST_FILE)))

    def refused(name, arrays, match, changed=None):
        run = RunFolder.create(tmp_path / name, "molecular-property")
        run.write_with(FOREST_FILE, lambda path: save_file(arrays, str(path)))
        run.finalize({"task": "molecular-property"})
        with pytest.raises(RunFolderError, match=match):
            FingerprintForest.load(RunFolder.open(run.path), changed or info)

    cycle = {k: v.copy() for k, v in tensors.items()}
    inner = int(np.flatnonzero(cycle["target0.left"] >= 0)[1])
    cycle["target0.left"][inner] = inner
    refused("cycle", cycle, "child does not come after")
    refused("short", {**tensors, "example": tensors["example"][:10]}, "wrong size")
    refused("values", {**tensors, "target0.value": np.zeros((3, 2), np.float32)}, "node values")
    refused("two", tensors, "does not hold 2 forests", {**info, "target_names": ["a", "b"]})
    refused("bits", tensors, "column outside", {**info, "params": {**info["params"], "bits": 4}})
    refused("kind", tensors, "objective", {**info, "objective": "ranking"})

    booster = DescriptorBoosting(seed=0, rounds=5).fit(train)
    run = RunFolder.create(tmp_path / "lgbm", "molecular-property")
    info = booster.save(run)
    run.write_text(BOOSTER_FILE.format(1), "tree\nnot a model at all\n")
    run.finalize({"task": "molecular-property"})
    opened = RunFolder.open(run.path)
    assert DescriptorBoosting.load(opened, info).predict(train.mols[:3]).shape == (3, 1)
    with pytest.raises(RunFolderError, match="not a LightGBM model"):
        DescriptorBoosting.load(opened, {**info, "files": [BOOSTER_FILE.format(1)]})
    fewer = {**info, "descriptors": info["descriptors"][:10]}
    with pytest.raises(RunFolderError, match="not the 10 descriptors"):
        DescriptorBoosting.load(opened, fewer)
    with pytest.raises(RunFolderError, match="descriptors this RDKit lacks"):
        DescriptorBoosting.load(
            opened, {**info, "descriptors": ["Made_up", *info["descriptors"][1:]]}
        )
