"""`layerwise train --model net.yaml`: the user's network competes in the MLP's place."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.data.profile import infer_column_types
from layerwise.data.tabular_encoder import TabularEncoder
from layerwise.errors import ConfigError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.tabular.yaml_model import YAMLModelCandidate

NET = """
format: layerwise.model/1
layers:
  - Dense: {units: 16, activation: relu}
  - Dense: {units: 2, activation: softmax}
"""


def _frame(n=240, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(["x", "y"], n)}
    )
    frame["label"] = np.where(frame["a"] + (frame["c"] == "x") > 0.5, "pos", "neg")
    return frame


def test_yaml_network_competes_in_the_bake_off(cli, tmp_path):
    (tmp_path / "net.yaml").write_text(NET)
    _frame().to_csv(tmp_path / "data.csv", index=False)
    # a config keeps the network's five folds short (20 epochs instead of up to 200)
    (tmp_path / "quick.yaml").write_text("options:\n  candidate_params: {yaml: {epochs: 20}}\n")
    code, out, err = cli(
        "train",
        tmp_path / "data.csv",
        "--target",
        "label",
        "--model",
        tmp_path / "net.yaml",
        "--config",
        tmp_path / "quick.yaml",
        "--no-report",
        "-o",
        tmp_path / "runs",
    )
    assert code == 0, err
    assert "yaml" in out and "mlp" not in out


def test_yaml_candidate_round_trip(tmp_path):
    frame = _frame()
    y = (frame.pop("label") == "pos").to_numpy().astype(np.int64)
    encoder = TabularEncoder(infer_column_types(frame)).fit(frame)
    table = encoder.transform(frame)
    import yaml

    model = YAMLModelCandidate("binary", 2, 0, config=yaml.safe_load(NET), epochs=20)
    model.fit(table, encoder, y)
    probabilities = model.predict(table, encoder)
    assert float(np.mean(probabilities.argmax(1) == y)) > 0.8
    run = RunFolder(tmp_path)
    info = {"objective": "binary", "n_classes": 2, **model.save(run)}
    again = YAMLModelCandidate.load(run, info)
    np.testing.assert_array_equal(again.predict(table, encoder), probabilities)


def test_wrong_output_width_is_explained(tmp_path):
    frame = _frame()
    y = (frame.pop("label") == "pos").to_numpy().astype(np.int64)
    encoder = TabularEncoder(infer_column_types(frame)).fit(frame)
    config = {"layers": [{"Dense": {"units": 3, "activation": "softmax"}}]}
    with pytest.raises(ConfigError, match=r"\(3,\).*needs \(2,\)"):
        YAMLModelCandidate("binary", 2, 0, config=config).fit(encoder.transform(frame), encoder, y)


def test_typo_in_the_model_file_fails_before_training(tmp_path):
    (tmp_path / "net.yaml").write_text(NET.replace("units: 16", "unitz: 16"))
    with pytest.raises(ConfigError, match="unitz.*units"):
        layerwise.fit(
            _frame(),
            target="label",
            model_file=str(tmp_path / "net.yaml"),
            verbose=False,
            output_dir=str(tmp_path / "runs"),
        )
    assert not (tmp_path / "runs").exists()
