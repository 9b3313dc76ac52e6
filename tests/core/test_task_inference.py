"""Which application a user's data belongs to when no task is named: each application
recognises its own forms (core.cli_spec.CommandLine.recognises), tables are the fallback."""

from __future__ import annotations

import wave

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from layerwise.api import resolve_task


def _image_folder(root):
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(root / label / "a.png")
    return root


def _wav(path):
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(np.zeros(1600, dtype=np.int16).tobytes())
    return path


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda tmp: _image_folder(tmp / "pets"), "image-classification"),
        (lambda tmp: _wav(tmp / "yes.wav"), "speech-recognition"),
        (lambda tmp: "CartPole-v1", "reinforcement-learning"),
        (lambda tmp: "my_package.envs:Maze", "reinforcement-learning"),
        (lambda tmp: tmp / "u.data", "recommendation"),
    ],
)
def test_each_application_recognises_its_data(tmp_path, make, expected):
    assert resolve_task(make(tmp_path), None, None)[0] == expected


def test_a_table_is_the_fallback_and_its_target_decides(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=30), "y": ["a", "b", "c"] * 10})
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert resolve_task(str(tmp_path / "t.csv"), None, "y")[0] == "tabular-classification"
    assert resolve_task(str(tmp_path / "t.csv"), None, "x")[0] == "tabular-regression"


def test_a_named_task_wins_over_the_form(tmp_path):
    assert resolve_task("CartPole-v1", "forecasting", None) == ("forecasting", "CartPole-v1")
