"""benchmarks/gpu.py's CPU fallback, so the GPU check does not rot between GPU sessions: every
model trains its steps through the engine, the CNN also through DDP in a world of one, and a
run folder predicts the same in a process that sees no GPU and exports to ONNX."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_the_gpu_check_runs_its_cpu_fallback(monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("gpu", BENCHMARKS / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu"] = module  # the DDP worker is found by its file name in its process
    spec.loader.exec_module(module)
    rows = module.main(["--cpu", "--steps", "3", "--batch", "4"])
    trained = [r for r in rows if "per_second" in r]
    assert len(trained) == len(module.MODELS) + 1
    assert all(r["per_second"] > 0 and r["device"] == "cpu" for r in trained)
    assert "DDP (world of 1)" in trained[-1]["check"]
    folder = rows[-1]
    assert folder["largest probability gap"] < 1e-5 and folder["onnx export"] == "verified"
    assert "GPU check" in capsys.readouterr().out
