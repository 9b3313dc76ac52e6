"""molecular-property end to end: a CSV of SMILES is recognised and trained on the command line,
the run holds its split, drawings and report, a loaded run predicts the same, explain draws
atom contributions, serving answers SMILES with drawings and refuses a bad one by its position,
and bad input gets one line."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.tasks.molecules.generated import generated_molecules

pytest.importorskip("rdkit")

FAST = {"dmpnn": {"epochs": 4, "hidden": 64, "ensemble": 2}, "ecfp-forest": {"trees": 60}}


def write_csv(path, n=150, seed=0, kind="regression"):
    data = generated_molecules(n, seed=seed, kind=kind)
    name = data.target_names[0]
    frame = pd.DataFrame({"id": np.arange(n), "SMILES": data.smiles, name: data.targets[:, 0]})
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("mols") / "solubility.csv")


@pytest.fixture(scope="module")
def trained(csv_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    run = layerwise.fit(str(csv_file), target="logS", output_dir=str(out), verbose=False,
                        candidate_params=FAST)  # fmt: skip
    return run.task, run.path


def test_the_csv_is_recognised_and_the_run_is_complete(trained):
    task, path = trained
    assert task.name == "molecular-property" and task.target_names == ["logS"]
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["metric"] == "rmse" and set(metrics["candidates"]) == {
        "ecfp-forest", "descriptor-lightgbm", "dmpnn", "ensemble"}  # fmt: skip
    # the ensemble: the mean of two or three of them, scored like the others
    entry = metrics["candidates"]["ensemble"]
    assert entry["family"] == "ensemble" and 2 <= len(set(entry["members"])) <= 3
    assert set(entry["members"]) <= {"ecfp-forest", "descriptor-lightgbm", "dmpnn"}
    assert np.isfinite(entry["validation"]["rmse"]) and np.isfinite(entry["test"]["rmse"])
    spread = metrics["uncertainty"]
    assert spread["members"] == 2 and -1 <= spread["spearman_spread_vs_error"] <= 1
    forest = metrics["candidates"]["ecfp-forest"]
    assert np.isfinite(forest["cross_validation"]["mean"])
    # the classical models learn the ESOL-like property: well below the spread of the values
    std = float(pd.read_csv(path / "test_predictions.csv")["logS"].std())
    assert metrics["candidates"]["descriptor-lightgbm"]["test"]["rmse"] < 0.7 * std
    split = pd.read_csv(path / "split.csv")
    assert set(split["split"]) == {"train", "val", "test"} and len(split) == 150
    by_split = split.groupby("scaffold")["split"].nunique()  # scaffolds never straddle splits
    assert (by_split[by_split.index.notna()] == 1).all()
    report = (path / "report.html").read_text()
    for section in ("Predictions on test", "Errors by scaffold", "Best and worst test molecules",
                    "Atom contributions", "What the forest looks at"):  # fmt: skip
        assert section in report
    decision = (path / "decision.md").read_text()
    assert "ECFP4" in decision and "RMSE" in decision


def test_a_loaded_run_predicts_the_same_and_explains(trained, tmp_path, cli):
    task, path = trained
    smiles = ["OCC", "c1ccccc1O", "CCO"]
    first = task.predict(smiles)
    assert first["canonical"].tolist() == ["CCO", "Oc1ccccc1", "CCO"]
    assert first["logS"][0] == pytest.approx(first["logS"][2])
    again = layerwise.load(path).predict(smiles)
    np.testing.assert_allclose(again["logS"], first["logS"])
    code, out, err = cli("predict", path, "CC(=O)Oc1ccccc1C(=O)O")
    assert code == 0 and "canonical" in out, err
    code, _, err = cli("explain", path, "CC(=O)Oc1ccccc1C(=O)O", "-o", tmp_path / "why.png")
    assert code == 0, err
    assert (tmp_path / "why.png").read_bytes()[:4] == b"\x89PNG"
    scores = task.evaluate(write_csv(tmp_path / "held.csv", 40, seed=7))
    assert scores["rows"] == scores["count"] == 40 and scores["rmse"] > 0


def test_a_bad_smiles_is_named_with_its_position(trained, cli):
    task, path = trained
    with pytest.raises(layerwise.errors.DataError, match="C1CC"):
        task.predict(["CCO", "C1CC"])
    code, _, err = cli("predict", path, "CC(C")
    assert code == 2 and "Traceback" not in err and "CC(C" in err


def test_served_molecules_come_with_drawings(trained):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from layerwise.serve.app import create_app

    _, path = trained
    client = TestClient(create_app(path), base_url="http://localhost")
    answer = client.post("/predict", json={"smiles": ["CCO", "c1ccccc1"]})
    assert answer.status_code == 200, answer.text
    records = answer.json()["predictions"]
    assert [r["canonical"] for r in records] == ["CCO", "c1ccccc1"]
    assert base64.b64decode(records[0]["drawing_png"])[:4] == b"\x89PNG"
    bad = client.post("/predict", json={"smiles": "c1ccccc"})
    assert bad.status_code == 422 and "c1ccccc" in bad.json()["error"]
    page = client.get("/").text
    assert 'data-field="smiles"' in page


def test_the_command_line_trains_a_csv_of_smiles(csv_file, tmp_path, cli):
    code, out, err = cli("train", csv_file, "--target", "logS", "--candidates", "ecfp-forest",
                         "-o", tmp_path / "runs", "--no-report")  # fmt: skip
    assert code == 0 and "ecfp-forest" in out + err, err
    run = layerwise.load(next((tmp_path / "runs").iterdir()))
    assert run.name == "molecular-property" and run.chosen == "ecfp-forest"


def test_bad_input_gets_one_line(tmp_path, cli):
    names = ["ethanol", "aspirin", "caffeine", "benzene", "phenol"] * 3  # names, not SMILES
    frame = pd.DataFrame({"smiels": names, "logS": np.arange(15.0)})
    frame.to_csv(tmp_path / "typo.csv", index=False)
    code, _, err = cli("train", tmp_path / "typo.csv", "--task", "molecular-property",
                              "--target", "logS", "-o", tmp_path / "runs")  # fmt: skip
    assert code == 2 and "smiels" in err and "Traceback" not in err
    data = generated_molecules(30, seed=3)
    text = pd.DataFrame({"smiles": data.smiles, "logS": ["high"] + ["1.0"] * 29})
    text.to_csv(tmp_path / "text.csv", index=False)
    code, _, err = cli("train", tmp_path / "text.csv", "--target", "logS",
                              "-o", tmp_path / "runs")  # fmt: skip
    assert code == 2 and "high" in err and "logS" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_served_network_loads_and_predicts_the_same(tmp_path, cli):
    data = generated_molecules(80, seed=5)
    run = layerwise.fit(data, task="molecular-property", output_dir=str(tmp_path), verbose=False,
                        report=False, candidates=["dmpnn"], candidate_params=FAST)  # fmt: skip
    assert run.chosen == "dmpnn"
    smiles = ["CCO", "c1ccccc1C(=O)O"]
    first = run.task.predict(smiles)
    again = layerwise.load(run.path).predict(smiles)
    pd.testing.assert_frame_equal(first, again)
    assert (again["logS_spread"] > 0).all()  # two members: a spread
    code, _, err = cli("explain", run.path, "c1ccccc1C(=O)O", "-o", tmp_path / "acid.png")
    assert code == 0 and (tmp_path / "acid.png").is_file(), err


def test_a_classification_set_is_scored_by_roc_auc(tmp_path):
    data = generated_molecules(120, seed=2, kind="classification")
    run = layerwise.fit(data, task="molecular-property", output_dir=str(tmp_path), verbose=False,
                        report=False, split="random",
                        candidate_params=FAST)  # fmt: skip
    assert run.metrics["metric"] == "roc_auc" and run.metrics["kind"] == "classification"
    frame = run.task.predict(["CCO"])
    assert 0 <= frame["soluble_probability"][0] <= 1 and frame["soluble"][0] in (0, 1)


def test_a_served_ensemble_is_the_mean_of_its_members_and_loads(tmp_path, monkeypatch, cli):
    from layerwise.tasks.molecules import fit as molecule_fit

    # served whatever validation says: this test is about the ensemble's run folder
    monkeypatch.setattr(molecule_fit, "choose", lambda rows, metric: ("ensemble", "forced"))
    data = generated_molecules(80, seed=5)
    run = layerwise.fit(data, task="molecular-property", output_dir=str(tmp_path), verbose=False,
                        report=False, candidates=["dmpnn", "ecfp-forest", "ensemble"],
                        candidate_params=FAST)  # fmt: skip
    assert run.chosen == "ensemble"
    smiles = ["CCO", "c1ccccc1C(=O)O", "CCN"]
    first = run.task.predict(smiles)
    members = run.task.model.members
    assert set(members) == {"dmpnn", "ecfp-forest"}
    from rdkit import Chem

    mols = [Chem.MolFromSmiles(s) for s in smiles]
    mean = np.mean([m.predict(mols)[:, 0] for m in members.values()], axis=0)
    np.testing.assert_allclose(first["logS"], mean)
    again = layerwise.load(run.path).predict(smiles)
    pd.testing.assert_frame_equal(first, again)
    code, _, err = cli("explain", run.path, "c1ccccc1C(=O)O", "-o", tmp_path / "acid.png")
    assert code == 0 and (tmp_path / "acid.png").is_file(), err
