import numpy as np
import pytest
from PIL import Image

from layerwise.errors import DataError
from layerwise.runs.animation import frame_strip, save_gif


def _frames(n=40, height=120, width=180):
    frames = []
    for t in range(n):
        frame = np.full((height, width, 3), 250, dtype=np.uint8)
        x = 10 + 3 * t
        frame[50:70, x : x + 20] = (200, 30, 30)
        frames.append(frame)
    return frames


def test_gif_round_trips(tmp_path):
    path = tmp_path / "play.gif"
    info = save_gif(_frames(), path, fps=20, max_side=90, every=2)
    assert info["every"] == 2
    assert info["frames"] == 20
    assert (info["width"], info["height"]) == (90, 60)
    assert info["bytes"] == path.stat().st_size
    with Image.open(path) as gif:
        assert gif.n_frames == info["frames"]
        assert max(gif.size) <= 90
        assert gif.info.get("loop") == 0
        assert gif.info.get("duration") == 50


def test_gif_caps_frames_evenly(tmp_path):
    info = save_gif(_frames(40), tmp_path / "a.gif", max_frames=15)
    assert info["every"] == 3 and info["frames"] == 14  # frames 0, 3, ..., 39


def test_gif_accepts_gray_rgba_and_merges_repeats(tmp_path):
    gray = [np.zeros((30, 20), dtype=np.uint8)] * 3 + [np.full((30, 20), 255, np.uint8)]
    info = save_gif(gray, tmp_path / "g.gif")
    assert info["frames"] == 2 and (info["width"], info["height"]) == (20, 30)
    rgba = np.zeros((5, 16, 16, 4), dtype=np.uint8)
    rgba[:, :, :, 0] = np.arange(5)[:, None, None] * 50
    info = save_gif(rgba, tmp_path / "r.gif")
    with Image.open(tmp_path / "r.gif") as gif:
        assert gif.n_frames == info["frames"] == 5


def test_gif_errors(tmp_path):
    with pytest.raises(DataError, match="empty"):
        save_gif([], tmp_path / "x.gif")
    with pytest.raises(DataError, match="float"):
        save_gif([np.zeros((8, 8, 3))], tmp_path / "x.gif")
    with pytest.raises(DataError, match=r"\(3, 8, 8\)"):
        save_gif([np.zeros((3, 8, 8), dtype=np.uint8)], tmp_path / "x.gif")
    with pytest.raises(DataError, match="differ"):
        save_gif([np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8)], tmp_path / "x")
    assert not (tmp_path / "x.gif").exists()


def test_frame_strip():
    strip = frame_strip(_frames(30), n=4, max_side=60)
    assert strip.dtype == np.uint8
    assert strip.shape == (40, 4 * 60 + 3 * 2, 3)
    assert frame_strip(_frames(2), n=6).shape[1] == 2 * 160 + 2
