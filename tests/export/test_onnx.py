"""ONNX export: torch modules and run folders, verified against PyTorch with ONNX Runtime."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from torch import nn  # noqa: E402

import layerwise  # noqa: E402
from layerwise.errors import ConfigError, RunFolderError  # noqa: E402
from layerwise.export import OnnxExportError, export_onnx, export_run, onnx_latency  # noqa: E402
from layerwise.runs.folder import RunFolder  # noqa: E402


def _agree(path, module, inputs, names, batches=(1, 5)):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == names
    for batch in batches:
        args = tuple(make(batch) for make in inputs)
        got = session.run(None, {n: a.numpy() for n, a in zip(names, args, strict=True)})[0]
        with torch.no_grad():
            want = module(*args).numpy()
        assert got.shape == want.shape and got.shape[0] == batch
        assert np.abs(got - want).max() < 1e-4


def test_mlp_exports_with_dynamic_batch(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10), nn.Softmax(dim=1))
    path = export_onnx(model, (torch.randn(3, 784),), tmp_path / "mlp.onnx", ["x"], ["y"])
    assert path == tmp_path / "mlp.onnx" and path.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left
    _agree(path, model, [lambda n: torch.randn(n, 784)], ["x"])


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(4 * 14 * 14, 10)

    def forward(self, x):
        return self.head(self.pool(torch.relu(self.conv(x))).flatten(1))


def test_cnn_exports_with_dynamic_batch(tmp_path):
    torch.manual_seed(0)
    model = SmallCNN().eval()
    path = export_onnx(model, (torch.randn(1, 1, 28, 28),), tmp_path / "cnn.onnx")  # batch 1 given
    _agree(path, model, [lambda n: torch.randn(n, 1, 28, 28)], ["input"])
    latency = onnx_latency(path, lambda n: (torch.randn(n, 1, 28, 28),), (1, 4), model, repeats=3)
    assert set(latency) == {1, 4} and latency[4]["onnx_us_per_sample"] > 0
    assert latency[1]["eager_us_per_sample"] > 0


def test_disagreement_is_an_error(tmp_path, monkeypatch):
    import layerwise.export.onnx as exporter

    monkeypatch.setattr(exporter, "TOLERANCE", 0.0)  # nothing passes a zero tolerance
    with pytest.raises(OnnxExportError, match="max abs difference"):
        export_onnx(nn.Linear(3, 2), (torch.randn(2, 3),), tmp_path / "m.onnx")


def _table(kind: str, rows: int = 160) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    x2[::17] = np.nan  # a missing indicator column in the encoding
    color = rng.choice(["red", "green", "blue"], size=rows)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "color": color})
    if kind == "classification":
        frame["label"] = np.where(x1 + (color == "red") > 0.3, "yes", "no")
    else:
        frame["label"] = 3.0 * x1 + np.nan_to_num(x2) + (color == "blue") * 2.0 + 10.0
    return frame


def _train(tmp_path, kind: str, candidates=("mlp",)):
    params = {"mlp": {"epochs": 3}}
    run = layerwise.fit(
        _table(kind),
        target="label",
        output_dir=tmp_path / "runs",
        verbose=False,
        report=False,
        candidates=list(candidates),
        candidate_params=params,
    )
    return run.path


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_export_run_matches_predict(tmp_path, kind):
    run_dir = _train(tmp_path, kind)
    path = export_run(run_dir)
    assert path == run_dir / "model.onnx"
    RunFolder.open(run_dir)  # the manifest lists the new files: the run still verifies
    manifest = RunFolder(run_dir).manifest["files"]
    assert "model.onnx" in manifest and "model.onnx.json" in manifest

    sidecar = json.loads((run_dir / "model.onnx.json").read_text())
    assert [i["name"] for i in sidecar["inputs"]] == ["numeric", "categorical"]
    assert sidecar["inputs"][1]["shape"] == ["batch", 1] and sidecar["inputs"][1]["features"] == [
        "color"
    ]
    assert (
        sidecar["preprocess"] == "preprocess.json"
        and sidecar["verification"]["max_abs_diff"] < 1e-4
    )

    task = layerwise.load(run_dir)
    frame = _table(kind).drop(columns=["label"]).head(23)
    table = task.encoder.transform(frame)
    feed = {
        "numeric": task.encoder.standardized(table).astype(np.float32),
        "categorical": table.categorical.astype(np.int64),
    }
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: feed[i.name] for i in session.get_inputs()})[0]
    predicted = task.predict(frame)
    if kind == "classification":
        assert sidecar["outputs"][0]["classes"] == task.classes
        want = predicted[[f"probability_{c}" for c in task.classes]].to_numpy()
    else:
        want = predicted["prediction"].to_numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-4


def test_export_run_to_other_file(tmp_path):
    run_dir = _train(tmp_path, "classification")
    before = RunFolder(run_dir).manifest["files"]
    path = export_run(run_dir, output=tmp_path / "out" / "churn.onnx")
    assert path.exists() and (tmp_path / "out" / "churn.onnx.json").exists()
    assert RunFolder(run_dir).manifest["files"] == before


def test_classical_model_is_a_clear_error(tmp_path):
    run_dir = _train(tmp_path, "classification", candidates=("linear",))
    with pytest.raises(ConfigError, match=r"'linear', not a neural network.*model\.json"):
        export_run(run_dir)
    assert not (run_dir / "model.onnx").exists()


def test_unknown_format_lists_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match="Valid formats: onnx"):
        export_run(tmp_path, format="tflite")


def test_corrupted_run_is_refused(tmp_path):
    run_dir = _train(tmp_path, "regression")
    weights = run_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\x00" * 8)
    with pytest.raises(RunFolderError, match="sha256"):
        export_run(run_dir)


def test_cli_export(tmp_path, capsys):
    from layerwise.cli.export import export

    run_dir = _train(tmp_path, "classification")
    export(str(run_dir), format="onnx", output=None)
    printed = capsys.readouterr().out
    assert "model.onnx" in printed and "max abs difference" in printed
    assert "batch 1" in printed and "batch 256" in printed


def test_ensemble_error_names_its_members():
    from layerwise.tasks.tabular.onnx_export import _not_torch

    info = {
        "candidate": "ensemble",
        "members": {"lightgbm": {"file": "model.lgbm.txt"}, "mlp": {"file": "model.safetensors"}},
    }
    message = str(_not_torch("runs/x", info))
    assert "ensemble of lightgbm, mlp" in message and "model.lgbm.txt" in message
