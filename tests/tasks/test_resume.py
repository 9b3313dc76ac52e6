"""A crash after training leaves config and checkpoints; `--resume` finishes the same folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.errors import RunFolderError
from layerwise.tasks import tabular_outputs


def test_interrupted_run_resumes_in_place(cli, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    frame["y"] = np.where(frame["a"] - frame["b"] > 0, "up", "down")
    frame.to_csv(tmp_path / "data.csv", index=False)

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash while writing the run")

    monkeypatch.setattr(tabular_outputs, "write_run", crash)
    with pytest.raises(RuntimeError, match="simulated"):
        layerwise.fit(
            str(tmp_path / "data.csv"),
            target="y",
            output_dir=str(tmp_path / "runs"),
            verbose=False,
            candidate_params={"mlp": {"epochs": 4}},
        )
    monkeypatch.undo()

    (folder,) = list((tmp_path / "runs").iterdir())
    assert (folder / "config.yaml").exists() and not (folder / "manifest.json").exists()
    state = folder / "checkpoints" / "mlp" / "state.json"
    assert state.exists(), "the deep model's last good checkpoint must survive the crash"
    with pytest.raises(RunFolderError, match="--resume"):
        layerwise.load(folder)

    code, out, err = cli("train", "--resume", folder)
    assert code == 0, err
    assert (folder / "manifest.json").exists() and not (folder / "checkpoints").exists()
    assert len(list((tmp_path / "runs").iterdir())) == 1
    predictions = layerwise.load(folder).predict(frame.drop(columns=["y"]).head(5))
    assert predictions["prediction"].isin(["up", "down"]).all()

    code, _, err = cli("train", "--resume", folder)
    assert code == 2 and "already finished" in err


def test_interrupted_image_run_resumes_in_place(cli, tmp_path, monkeypatch):
    from layerwise.data.image_sources import shapes, write_folder
    from layerwise.tasks import holdout_outputs

    folder_in = write_folder(shapes(80, size=12, seed=0), tmp_path / "imgs")

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash while writing the run")

    monkeypatch.setattr(holdout_outputs, "write_holdout_run", crash)
    with pytest.raises(RuntimeError, match="simulated"):
        layerwise.fit(
            str(folder_in),
            task="image-classification",
            output_dir=str(tmp_path / "runs"),
            verbose=False,
            candidate_params={"cnn": {"epochs": 3}},
        )
    monkeypatch.undo()
    (folder,) = list((tmp_path / "runs").iterdir())
    state = folder / "checkpoints" / "cnn" / "state.json"
    assert state.exists(), "the CNN's last good checkpoint must survive the crash"
    code, _, err = cli("train", "--resume", folder)
    assert code == 0, err
    assert (folder / "manifest.json").exists() and not (folder / "checkpoints").exists()
    history = pd.read_csv(folder / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3]  # continued from the checkpoint, not retrained
