"""Image files whose header claims more pixels than an image may decode to (issue 23.2, the
file side): skipped with the reason before any pixel is decoded, with bounded memory."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from layerwise.data.image_decoding import MAX_IMAGE_PIXELS
from layerwise.data.images import read_images


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """A PNG of 9,000 x 9,000 gray pixels (81 MP): about 80 KB on disk."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    Image.new("L", (9000, 9000), 7).save(path, optimize=False, compress_level=9)
    assert 9000 * 9000 > MAX_IMAGE_PIXELS and path.stat().st_size < 1 << 20
    return path


def _folder(where, bomb, copies: int):
    folder = where / "new"
    folder.mkdir()
    for i in range(copies):
        shutil.copy(bomb, folder / f"bomb{i}.png")
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(folder / "fine.png")
    return folder


def test_a_bomb_is_skipped_with_its_size_named(bomb, tmp_path):
    images = read_images(_folder(tmp_path, bomb, 2), size=8)
    assert len(images) == 1
    assert [name for name, _ in images.skipped] == ["bomb0.png", "bomb1.png"]
    assert "9000x9000 pixels, over the 64 MP" in images.skipped[0][1]


def test_predicting_a_folder_of_bombs_stays_small(bomb, tmp_path, contract_run, command_peaks):
    """Eight 81 MP images took about 80 MB each to decode (and their RGB copies 240 MB) on up
    to four threads at once (a predict peaked at 1.23 GB, a plain one at 0.40); now none is
    decoded: predicting them adds nothing to a plain predict's peak."""
    run, _, _ = contract_run("image-classification")
    fine = tmp_path / "fine"
    fine.mkdir()
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(fine / "fine.png")
    bombs = _folder(tmp_path, bomb, 8)
    out, err, peaks = command_peaks([["predict", run.path, fine], ["predict", run.path, bombs]],
                                    cap_bytes=4 << 30)  # fmt: skip
    (code, baseline), (code_bombs, peak) = peaks
    assert code == 0 and code_bombs == 0, err
    assert out.count("fine.png") == 2 and "bomb0.png" not in out
    assert peak < baseline + (100 << 20), (peak, baseline)
