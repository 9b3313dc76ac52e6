"""The run lifecycle: an interrupted run keeps its config and checkpoints and `--resume`
finishes the same folder; a failed one leaves no folder that could pass for a run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.engine.checkpoint import has_checkpoint
from layerwise.errors import ConfigError, RunFolderError, TrainingError
from layerwise.tasks.tabular import outputs as tabular_outputs
from layerwise.tasks.tabular.mlp import MLPCandidate


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    frame["y"] = np.where(frame["a"] - frame["b"] > 0, "up", "down")
    frame.to_csv(tmp_path / "data.csv", index=False)
    return frame


def fit_table(tmp_path, **options):
    return layerwise.fit(str(tmp_path / "data.csv"), target="y", output_dir=str(tmp_path / "runs"),
                         verbose=False, **options)  # fmt: skip


def killed(*args, **kwargs):
    raise KeyboardInterrupt  # what Ctrl-C raises; a kill -9 leaves the folder the same way


def test_interrupted_run_resumes_in_place(cli, tmp_path, monkeypatch, table):
    monkeypatch.setattr(tabular_outputs, "write_run", killed)
    with pytest.raises(KeyboardInterrupt) as caught:
        fit_table(tmp_path, candidates=["mlp"], candidate_params={"mlp": {"epochs": 4}})
    monkeypatch.undo()

    (folder,) = list((tmp_path / "runs").iterdir())
    assert caught.value.layerwise_run.path == folder  # what the CLI's one line names
    assert (folder / "config.yaml").exists() and not (folder / "manifest.json").exists()
    assert has_checkpoint(folder / "checkpoints" / "mlp"), "the last good checkpoint must survive"
    with pytest.raises(RunFolderError, match="--resume"):
        layerwise.load(folder)
    # What a kill -9 in the middle of writes leaves: a checkpoint set and a file half written.
    (folder / "checkpoints" / "mlp" / ".set-000099.tmp").mkdir()
    (folder / ".metrics.json.k2j4.tmp").write_text('{"acc')

    code, out, err = cli("train", "--resume", folder)
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert notes == [f"note: Checkpoint {folder / 'checkpoints' / 'mlp'}: an unfinished checkpoint "
                     "write was discarded; fell back to the last complete checkpoint (epoch 4)."]  # fmt: skip
    assert (folder / "manifest.json").exists() and not (folder / "checkpoints").exists()
    assert not list(folder.glob(".*.tmp"))
    assert len(list((tmp_path / "runs").iterdir())) == 1
    predictions = layerwise.load(folder).predict(table.drop(columns=["y"]).head(5))
    assert predictions["prediction"].isin(["up", "down"]).all()

    code, _, err = cli("train", "--resume", folder)
    assert code == 2 and "already finished" in err


def test_interrupted_image_run_resumes_in_place(cli, tmp_path, monkeypatch):
    from layerwise.core import holdout_outputs
    from layerwise.data.image_sources import shapes, write_folder

    folder_in = write_folder(shapes(80, size=12, seed=0), tmp_path / "imgs")
    monkeypatch.setattr(holdout_outputs, "write_holdout_run", killed)
    with pytest.raises(KeyboardInterrupt):
        layerwise.fit(
            str(folder_in),
            task="image-classification",
            output_dir=str(tmp_path / "runs"),
            verbose=False,
            candidate_params={"cnn": {"epochs": 3}},
        )
    monkeypatch.undo()
    (folder,) = list((tmp_path / "runs").iterdir())
    assert has_checkpoint(folder / "checkpoints" / "cnn"), "the CNN's checkpoint must survive"
    code, _, err = cli("train", "--resume", folder)
    assert code == 0, err
    assert (folder / "manifest.json").exists() and not (folder / "checkpoints").exists()
    history = pd.read_csv(folder / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3]  # continued from the checkpoint, not retrained


def test_a_failed_training_leaves_no_folder_and_says_why_in_one_line(
    cli, tmp_path, monkeypatch, table
):
    def diverges(self, *args, **kwargs):
        raise TrainingError("The training loss became nan at epoch 3, step 2.", "Lower lr.")

    monkeypatch.setattr(MLPCandidate, "fit", diverges)
    code, out, err = cli("train", tmp_path / "data.csv", "--target", "y", "--candidates", "mlp",
                         "-o", tmp_path / "runs", "--no-report")  # fmt: skip
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "error: The training loss became nan at epoch 3, step 2. Lower lr."
    )
    assert "Traceback" not in err
    assert list((tmp_path / "runs").iterdir()) == []  # nothing that predict could take for a run

    def bug(self, *args, **kwargs):
        raise ZeroDivisionError("a bug in a candidate")

    monkeypatch.setattr(MLPCandidate, "fit", bug)
    with pytest.raises(ZeroDivisionError) as caught:
        fit_table(tmp_path, candidates=["mlp"])
    assert list((tmp_path / "runs").iterdir()) == []
    assert "was removed" in caught.value.__notes__[0]  # said under the traceback of a bug


def test_a_failed_resume_keeps_the_interrupted_folder_resumable(cli, tmp_path, monkeypatch, table):
    monkeypatch.setattr(tabular_outputs, "write_run", killed)
    with pytest.raises(KeyboardInterrupt):
        fit_table(tmp_path, candidates=["linear"])
    (folder,) = list((tmp_path / "runs").iterdir())

    def broken(*args, **kwargs):
        raise RuntimeError("a bug while writing")

    monkeypatch.setattr(tabular_outputs, "write_run", broken)
    with pytest.raises(RuntimeError):
        fit_table(tmp_path, resume=str(folder), candidates=["linear"])
    assert (folder / "config.yaml").exists()  # the user's run, still there to resume
    monkeypatch.undo()
    code, _, err = cli("train", "--resume", folder)
    assert code == 0, err


@pytest.mark.parametrize("limit", ["0", "-5", "nan"])
def test_a_time_limit_that_is_not_positive_is_refused_before_anything_runs(cli, tmp_path, limit):
    code, out, err = cli("train", tmp_path / "nothing.csv", "--target", "y", "--time-limit", limit)
    assert code == 2
    assert err.strip() == (
        f"error: --time-limit {float(limit):g} is not a valid time limit. Use seconds > 0, "
        "e.g. 60, or leave it out for the task's default budget."
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("limit", [0, -5, True, "60s"])
def test_the_python_api_refuses_the_same_time_limits(tmp_path, table, limit):
    with pytest.raises(ConfigError, match=f"time_limit={limit!r} is not a valid time limit"):
        fit_table(tmp_path, time_limit=limit)
    with pytest.raises(ConfigError, match="is not a valid time limit"):
        layerwise.fit(env="CartPole-v1", time_limit=limit, output_dir=str(tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()


def test_resuming_a_folder_that_is_not_a_run_is_one_line(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = cli("train", "--resume", tmp_path / "empty")
    assert code == 2
    assert err.startswith("error: Cannot resume") and "not a run folder" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("text", ["options: [1, 2]\n", "- a list\n", "task: {nested: 1}\n"])
def test_a_config_that_is_not_a_layerwise_config_is_one_line(cli, tmp_path, text):
    (tmp_path / "config.yaml").write_text(text)
    code, _, err = cli("train", "--config", tmp_path / "config.yaml")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "is not a layerwise config" in err
