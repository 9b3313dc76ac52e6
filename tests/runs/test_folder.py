"""The run folder: atomic writes, manifest with sha256, and clear errors on load."""

from __future__ import annotations

import json
import stat

import pytest

from layerwise.errors import RunFolderError
from layerwise.io import atomic_write
from layerwise.runs.folder import RunFolder


def _finished(tmp_path) -> RunFolder:
    run = RunFolder.create(tmp_path, "tabular-classification")
    run.write_json("metrics.json", {"accuracy": 0.9})
    run.write_yaml("config.yaml", {"task": "tabular-classification"})
    run.write_bytes("model.safetensors", b"\x00weights")
    run.finalize({"task": "tabular-classification"})
    return run


def test_manifest_lists_every_file_with_sha256(tmp_path):
    run = _finished(tmp_path)
    manifest = run.manifest
    assert set(manifest["files"]) == {"metrics.json", "config.yaml", "model.safetensors"}
    assert all(len(digest) == 64 for digest in manifest["files"].values())
    assert manifest["task"] == "tabular-classification"
    assert "torch" in manifest["libraries"]
    assert RunFolder.open(run.path).read_json("metrics.json") == {"accuracy": 0.9}


def test_files_get_normal_permissions(tmp_path):
    run = _finished(tmp_path)
    assert run.file("metrics.json").stat().st_mode & stat.S_IRGRP


def test_tampered_file_is_named(tmp_path):
    run = _finished(tmp_path)
    run.file("model.safetensors").write_bytes(b"evil")
    with pytest.raises(RunFolderError, match="model.safetensors.*sha256"):
        RunFolder.open(run.path)


def test_missing_file_is_named(tmp_path):
    run = _finished(tmp_path)
    run.file("config.yaml").unlink()
    with pytest.raises(RunFolderError, match="missing 'config.yaml'"):
        RunFolder.open(run.path)


def test_newer_version_is_refused(tmp_path):
    run = _finished(tmp_path)
    manifest = json.loads(run.file("manifest.json").read_text())
    manifest["layerwise_version"] = "42.0"
    run.file("manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunFolderError, match="newer"):
        RunFolder.open(run.path)


def test_folder_without_manifest_is_an_interrupted_run(tmp_path):
    run = RunFolder.create(tmp_path, "tabular-regression")
    run.write_json("metrics.json", {})
    with pytest.raises(RunFolderError, match="interrupted"):
        RunFolder.open(run.path)


def test_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("good")

    def broken(path):
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, broken)
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_two_runs_in_the_same_second_get_distinct_folders(tmp_path):
    first = RunFolder.create(tmp_path, "t")
    second = RunFolder.create(tmp_path, "t")
    assert first.path != second.path
