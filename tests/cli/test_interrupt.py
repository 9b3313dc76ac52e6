"""Ctrl-C: one line naming the folder to resume, exit code 130, and a folder that resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import yaml

from layerwise.core.task import RUN_DEFAULTS, Task, track_run
from layerwise.runs.folder import RunFolder

# The real CLI in a child process. Once the MLP's final fit has written its first checkpoint,
# each training step sleeps a little, so that the SIGINT the test sends lands in the middle of
# an epoch however fast or busy the machine is (nothing here measures time).
SLOWED_CLI = """
import signal, sys, time
# a terminal's Ctrl-C reaches a process whose SIGINT raises KeyboardInterrupt; a child started
# from a process that ignores SIGINT would inherit the ignoring (full suite runs saw exit 0)
signal.signal(signal.SIGINT, signal.default_int_handler)
from layerwise.engine.trainer import Trainer
step = Trainer.train_step
def slowed(self, batch):
    if self._checkpoint_set is not None:
        time.sleep(0.5)  # an MLP epoch of 160 rows is one or two steps: a wide window
    return step(self, batch)
Trainer.train_step = slowed
from layerwise.cli.main import main
main(sys.argv[1:])
"""


def wait_for(find, process, what: str, patience_s: float = 300):
    """Poll ``find()`` until it returns something; the child must still be running."""
    deadline = time.monotonic() + patience_s  # a guard against hanging, not a measurement
    while time.monotonic() < deadline:
        found = find()
        if found:
            return found
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the training ended (code {process.returncode}) before {what}:\n{err}")
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"no {what}")


def test_ctrl_c_during_training_exits_130_with_the_resume_line_and_the_run_resumes(cli, tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=160), "b": rng.normal(size=160)})
    frame["y"] = np.where(frame["a"] + frame["b"] > 0, "yes", "no")
    frame.to_csv(tmp_path / "data.csv", index=False)
    options = {"candidates": ["mlp"], "report": False, "output_dir": "runs",
               "candidate_params": {"mlp": {"epochs": 6, "patience": 6}}}  # fmt: skip
    config = {"task": "tabular-classification", "data": str(tmp_path / "data.csv"),
              "target": "y", "options": options}  # fmt: skip
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))

    process = subprocess.Popen([sys.executable, "-c", SLOWED_CLI, "train", "--config",
                                "config.yaml"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        checkpoint = wait_for(
            lambda: next((tmp_path / "runs").glob("*/checkpoints/mlp/set-*"), None),
            process,
            "a checkpoint of the MLP",
        )
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    folder = checkpoint.parents[2].relative_to(tmp_path)
    assert process.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == f"interrupted; resume with: layerwise train --resume {folder}"
    assert sum("interrupted" in line for line in lines) == 1 and "Traceback" not in err

    kept = max((folder / "checkpoints" / "mlp").glob("set-*"))  # the newest: always complete
    first_epoch = json.loads((kept / "state.json").read_text())["history"][0]

    code, out, err = cli("train", "--resume", folder)
    assert code == 0, err
    assert f"Run folder: {folder}" in out
    history = pd.read_csv(folder / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3, 4, 5, 6]
    assert history.iloc[0].to_dict() == first_epoch  # continued, not trained again
    code, out, err = cli("predict", folder, "data.csv", "-o", "predictions.csv")
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "predictions.csv")) == len(frame)


def test_ctrl_c_before_a_run_folder_exists_says_there_is_nothing_to_resume(
    cli, tmp_path, monkeypatch
):
    import layerwise.api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(layerwise.api, "resolve_task", interrupted)
    code, out, err = cli("train", tmp_path / "data.csv", "--target", "y")
    assert code == 130
    assert err.strip() == "interrupted; nothing was saved to resume: train again."


def test_ctrl_c_in_any_other_command_exits_130(cli, tmp_path, monkeypatch):
    import layerwise.api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(layerwise.api, "load", interrupted)
    code, out, err = cli("predict", tmp_path, tmp_path / "data.csv")
    assert code == 130 and err.strip() == "interrupted."


class Game(Task):
    """A task that cannot resume (as reinforcement learning), to check what Ctrl-C says."""

    name = "game"
    DEFAULTS: ClassVar[dict] = dict(RUN_DEFAULTS)

    def fit(self, data, **kwargs):
        run = RunFolder.create(self.option("output_dir"), self.name)
        track_run(self, run.path, created=True, resumable=False)
        run.write_text("config.yaml", "task: game\n")
        raise KeyboardInterrupt

    predict = evaluate = input_schema = output_schema = lambda self, *args: None
    load = contract_example = classmethod(lambda cls, *args: None)


def test_ctrl_c_in_a_task_that_cannot_resume_says_so_and_leaves_no_folder(tmp_path):
    from layerwise.core.task import interruption_line

    with pytest.raises(KeyboardInterrupt) as caught:
        Game(output_dir=str(tmp_path / "runs")).fit(None)
    assert interruption_line(caught.value) == "interrupted; game runs cannot resume: train again."
    assert list((tmp_path / "runs").iterdir()) == []
