"""Matching images with masks in the layouts public sets use; what is left out is named."""

import pytest
from PIL import Image

from layerwise.errors import DataError
from layerwise.tasks.segmentation.pairs import pair_files


def _write(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("L", (4, 4)).save(folder / name)


def test_drive_layout_pairs_by_identifier_and_reads_the_field_of_view(tmp_path):
    root = tmp_path / "DRIVE" / "training"
    _write(root / "images", ["21_training.tif", "22_training.tif", "23_training.tif"])
    _write(root / "1st_manual", ["21_manual1.gif", "22_manual1.gif"])
    _write(root / "mask", ["21_training_mask.gif", "22_training_mask.gif"])
    pairs = pair_files(tmp_path / "DRIVE")
    assert [p.name for p in pairs.masks] == ["21_manual1.gif", "22_manual1.gif"]
    assert [p.name for p in pairs.rois] == ["21_training_mask.gif", "22_training_mask.gif"]
    assert pairs.unmatched == ["23_training.tif: no mask"]
    assert "1st_manual/" in pairs.layout and "region of interest" in pairs.layout


def test_suffixed_masks_and_same_stems_both_pair(tmp_path):
    _write(tmp_path / "a" / "images", ["img_004.png", "img_005.png"])
    _write(tmp_path / "a" / "masks", ["img_004_mask.png", "img_005_mask.png", "img_009_mask.png"])
    pairs = pair_files(tmp_path / "a")
    assert [p.name for p in pairs.masks] == ["img_004_mask.png", "img_005_mask.png"]
    assert pairs.unmatched == ["img_009_mask.png: no image"] and pairs.rois == [None, None]
    _write(tmp_path / "b" / "train" / "image", ["0.png", "1.png"])
    _write(tmp_path / "b" / "train" / "label", ["0.png", "1.png"])
    assert [p.name for p in pair_files(tmp_path / "b").masks] == ["0.png", "1.png"]


def test_folders_without_pairs_are_refused_with_the_layout_expected(tmp_path):
    _write(tmp_path / "photos", ["a.png"])
    with pytest.raises(DataError, match="images/ \\+ masks/"):
        pair_files(tmp_path)
    _write(tmp_path / "c" / "images", ["a.png"])
    _write(tmp_path / "c" / "masks", ["b.png"])
    with pytest.raises(DataError, match="1 images, 1 masks"):
        pair_files(tmp_path / "c")
