"""A run folder is a trust boundary (issue 23, failures 5 to 8 and the crafted-file spots): it
reads only regular files inside itself that its manifest lists and hashes, builds networks from
the shapes its weights hold, and never resolves code from its contents. Every folder here is a
real run, changed as a hostile sender would and signed again, so integrity passes and only these
checks stand in the way."""

from __future__ import annotations

import json
import os
import struct
import sys

import numpy as np
import pytest
from crafted import copy_run, edit_json, sign, swap_in_mlp, table_rows

import layerwise
from layerwise.errors import ConfigError, RunFolderError


@pytest.fixture
def tabular(contract_run, tmp_path):
    """A copy of the tabular contract run, to change."""
    run, _, _ = contract_run("tabular-classification")
    return copy_run(run.path, tmp_path)


@pytest.fixture
def mlp(tabular):
    swap_in_mlp(tabular)
    return tabular


def test_the_untouched_copy_loads_and_predicts(mlp):
    frame = layerwise.load(mlp).predict(table_rows())
    assert len(frame) == 8 and set(frame["prediction"]) <= {"no", "yes"}


# ---- 6: files outside the folder ------------------------------------------------------------
@pytest.mark.parametrize("name", ["/etc/passwd", "../outside.safetensors", "a/../../x", "C:/x"])
def test_a_model_file_outside_the_folder_is_refused(mlp, name):
    (mlp.parent / "outside.safetensors").write_bytes((mlp / "model.safetensors").read_bytes())
    edit_json(mlp, "preprocess.json", lambda d: d["model"].update(file=name))
    sign(mlp)
    with pytest.raises(RunFolderError, match="not a plain relative name"):
        layerwise.load(mlp)


def test_a_file_the_manifest_does_not_list_is_refused(mlp):
    (mlp / "other.safetensors").write_bytes((mlp / "model.safetensors").read_bytes())
    edit_json(mlp, "preprocess.json", lambda d: d["model"].update(file="other.safetensors"))
    sign(mlp)
    with pytest.raises(
        RunFolderError, match="'other.safetensors', which its manifest does not list"
    ):
        layerwise.load(mlp)


def test_a_model_file_replaced_by_a_link_is_refused(mlp, tmp_path):
    """The link's target is a valid weights file with flipped predictions, and the manifest
    carries its hash: only the refusal of links stops it."""
    from safetensors.torch import load_file, save_file

    flipped = {k: -v for k, v in load_file(str(mlp / "model.safetensors")).items()}
    save_file(flipped, str(tmp_path / "flipped.safetensors"))
    (mlp / "model.safetensors").unlink()
    (mlp / "model.safetensors").symlink_to(tmp_path / "flipped.safetensors")
    sign(mlp)
    with pytest.raises(RunFolderError, match="symbolic link"):
        layerwise.load(mlp)


def test_a_folder_linked_out_is_refused(mlp, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "m.safetensors").write_bytes((mlp / "model.safetensors").read_bytes())
    (mlp / "weights").symlink_to(tmp_path / "elsewhere")
    edit_json(mlp, "preprocess.json", lambda d: d["model"].update(file="weights/m.safetensors"))
    sign(mlp, files={"weights/m.safetensors": "0" * 64})
    sign(mlp)
    with pytest.raises(RunFolderError, match="symbolic link"):
        layerwise.load(mlp)


# ---- 7: the manifest confines itself ------------------------------------------------------
@pytest.mark.parametrize(
    "files, message",
    [
        (lambda files: {}, "lists no files"),
        (lambda files: list(files), "lists no files"),
        (lambda files: {**files, "/dev/zero": "0" * 64}, "not a plain relative name"),
        (lambda files: {**files, "../../etc/hostname": "0" * 64}, "not a plain relative name"),
        (lambda files: {**files, "metrics.json": "not-a-digest"}, "not a sha256"),
        (lambda files: {**files, "manifest.json": "0" * 64}, "lists itself"),
    ],
)
def test_a_manifest_that_does_not_confine_itself_is_refused(tabular, files, message):
    manifest = json.loads((tabular / "manifest.json").read_text())
    manifest["files"] = files(manifest["files"])
    (tabular / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunFolderError, match=message):
        layerwise.load(tabular)


def test_links_and_devices_in_the_folder_are_refused_without_hanging(tabular):
    """Listed names that are a link to /dev/zero and a FIFO: hashing either would never end.
    Run as a subprocess so that a regression fails on its timeout instead of hanging the suite."""
    import subprocess

    (tabular / "zero").symlink_to("/dev/zero")
    os.mkfifo(tabular / "fifo")
    for name in ("zero", "fifo"):
        sign(tabular, files={name: "0" * 64})
        done = subprocess.run([sys.executable, "-m", "layerwise.cli.main", "predict", str(tabular),
                               "x.csv"], capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert "symbolic link" in done.stderr or "not a regular file" in done.stderr
        assert "Traceback" not in done.stderr
        manifest = json.loads((tabular / "manifest.json").read_text())
        del manifest["files"][name]
        (tabular / "manifest.json").write_text(json.dumps(manifest))


# ---- 8: sizes from the folder are checked against the weights -----------------------------
def test_a_huge_declared_architecture_allocates_nothing(mlp, command_peaks, tmp_path):
    """hidden [20000, 20000] used to allocate 1.9 GB before a traceback; now the shapes in the
    weights file refuse it before anything is built: no memory beyond a plain predict's."""
    import shutil

    table_rows().to_csv(tmp_path / "new.csv", index=False)
    crafted = shutil.copytree(mlp, tmp_path / "crafted")
    edit_json(crafted, "preprocess.json",
              lambda d: d["model"]["architecture"].update(hidden=[20000, 20000]))  # fmt: skip
    sign(crafted)
    _, err, peaks = command_peaks([["predict", mlp, tmp_path / "new.csv"],
                                   ["predict", crafted, tmp_path / "new.csv"]], cap_bytes=3 << 30)  # fmt: skip
    (code, baseline), (crafted_code, peak) = peaks
    assert code == 0 and crafted_code == 2 and "Traceback" not in err, err
    assert "do not belong together" in err, err
    assert peak < baseline + (100 << 20), (peak, baseline)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(bogus=1), "has no field 'bogus'"),
        (lambda a: a.update(hidden="wide"), "cannot be built|not a valid"),
        (lambda a: a.update(n_numeric=10**6), "do not belong"),
        (lambda a: a.update(hidden=[10**12]), "do not belong"),
        (lambda a: a.update(cardinalities=[-5]), "cannot be built|do not belong"),
    ],
)
def test_a_crafted_architecture_is_one_line(mlp, change, message):
    edit_json(mlp, "preprocess.json", lambda d: change(d["model"]["architecture"]))
    sign(mlp)
    with pytest.raises(RunFolderError, match=message):
        layerwise.load(mlp)


# ---- crafted files: one line each, never a traceback ---------------------------------------
def _oversized_header(path):
    header = b"{" + b" " * (200 << 20)  # claims a 200 MB header, holds a few bytes
    path.write_bytes(struct.pack("<Q", len(header)) + header[:64])


@pytest.mark.parametrize(
    "craft, message",
    [
        (lambda run: _oversized_header(run / "model.safetensors"), "not a safetensors file"),
        (
            lambda run: (run / "preprocess.json").write_text("[" * 100_000 + "]" * 100_000),
            "not valid JSON",
        ),
        (
            lambda run: (run / "preprocess.json").write_text('{"model": ' + "9" * 5000 + "}"),
            "not valid JSON",
        ),
        (lambda run: (run / "preprocess.json").write_text("[1, 2, 3]"), "does not hold a tabular"),
        (lambda run: (run / "preprocess.json").write_bytes(b"\xff\xfe garbage"), "UTF-8|JSON"),
    ],
)
def test_crafted_files_give_one_line(mlp, cli, craft, message):
    craft(mlp)
    sign(mlp)
    code, _, err = cli("predict", mlp, "whatever.csv")
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert __import__("re").search(message, err), err


def test_a_config_with_a_python_tag_is_one_line(tabular, cli):
    config = tabular / "config.yaml"
    config.write_text("task: !!python/object/apply:os.system ['echo pwned']\n")
    code, out, err = cli("train", "--config", config)
    assert code == 2 and "pwned" not in out + err, err
    assert "Traceback" not in err and "not plain YAML" in err, err


# ---- 5: a run folder names no code --------------------------------------------------------
@pytest.fixture
def agent(contract_run, tmp_path):
    pytest.importorskip("gymnasium")
    run, _, _ = contract_run("reinforcement-learning")
    return copy_run(run.path, tmp_path)


def test_an_agent_folder_cannot_make_layerwise_call_a_function(agent, cli, monkeypatch):
    import tempfile

    calls = []
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: calls.append(a) or "/nowhere")
    edit_json(agent, "preprocess.json", lambda d: d.update(env="tempfile:mkdtemp"))
    sign(agent)
    code, _, err = cli("evaluate", agent, "--episodes", "1")
    assert code == 2 and "not a registered Gymnasium id" in err and "--env" in err, err
    code, _, err = cli("play", agent, "--env", "tempfile:mkdtemp", "-o", "p.gif")
    assert code == 2 and "not a gymnasium.Env subclass" in err, err
    assert calls == []


def test_an_agent_folder_with_a_registered_id_still_evaluates(agent):
    task = layerwise.load(agent)
    metrics = task.evaluate(episodes=1)
    assert np.isfinite(metrics["mean_return"])


def test_a_module_class_named_by_the_folder_needs_the_users_word(agent):
    edit_json(
        agent,
        "preprocess.json",
        lambda d: d.update(env="gymnasium.envs.classic_control:CartPoleEnv"),
    )
    sign(agent)
    task = layerwise.load(agent)
    with pytest.raises(ConfigError, match="does not import code that a run folder names"):
        task.evaluate(episodes=1)
    assert np.isfinite(
        task.evaluate("gymnasium.envs.classic_control:CartPoleEnv", episodes=1)["mean_return"]
    )
