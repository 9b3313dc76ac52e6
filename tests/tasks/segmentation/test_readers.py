"""Reading segmentation sets: folder pairs with a region of interest, 16-bit and multi-page
TIFFs, size mismatches skipped and named, NPZ splits, and bad files refused in one line."""

import numpy as np
import pytest
from PIL import Image

from layerwise.errors import DataError
from layerwise.tasks.segmentation.masks import IGNORE
from layerwise.tasks.segmentation.readers import read_folder, read_npz, read_pair_table


def test_a_folder_with_16_bit_tiffs_a_roi_and_a_mismatched_mask(tmp_path):
    root = tmp_path / "scans"
    for sub in ("images", "1st_manual", "mask"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        deep = (rng.random((16, 20)) * 4000 + 1000).astype(np.uint16)
        Image.fromarray(deep).save(root / "images" / f"{i}_training.tif")
        label = np.zeros((16, 20), np.uint8)
        label[4:10, 5:15] = 255
        size = (20, 16) if i < 2 else (10, 8)
        Image.fromarray(label).resize(size).save(root / "1st_manual" / f"{i}_manual1.gif")
        roi = np.full((16, 20), 255, np.uint8)
        roi[:, :2] = 0
        Image.fromarray(roi).save(root / "mask" / f"{i}_training_mask.gif")
    data = read_folder(root)
    assert len(data) == 2 and data.classes == ["background", "foreground"]
    assert data.images[0].dtype == np.uint8 and data.images[0].max() > 200
    assert (data.masks[0][:, :2] == IGNORE).all() and data.masks[0][5, 8] == 1
    assert any("16-bit" in n for n in data.notes)
    assert data.skipped == ["2_training.tif: image 20x16 but mask 10x8"]


def test_a_multi_page_tiff_gives_its_first_page_with_a_note(tmp_path):
    root = tmp_path / "stack"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    pages = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (10, 200)]
    pages[0].save(root / "images" / "a.tif", save_all=True, append_images=pages[1:])
    Image.fromarray(np.eye(8, dtype=np.uint8)).save(root / "masks" / "a.png")
    data = read_folder(root)
    assert int(data.images[0][0, 0]) == 10 and any("first page" in n for n in data.notes)


def test_npz_splits_and_refusals(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (4, 8, 8), dtype=np.uint8)
    masks = (images > 128).astype(np.uint8)
    np.savez(tmp_path / "set.npz", images=images, masks=masks, test_images=images[:1],
             test_masks=masks[:1])  # fmt: skip
    splits = read_npz(tmp_path / "set.npz")
    assert sorted(splits) == ["test", "train"] and len(splits["train"]) == 4
    assert np.array_equal(splits["train"].masks[1], masks[1])
    np.savez(tmp_path / "wrong.npz", x=images)
    with pytest.raises(DataError, match="not images and masks"):
        read_npz(tmp_path / "wrong.npz")
    np.savez(tmp_path / "shapes.npz", images=images, masks=masks[:, :4])
    with pytest.raises(DataError, match="do not go together"):
        read_npz(tmp_path / "shapes.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match="not an NPZ file"):
        read_npz(tmp_path / "junk.npz")


def test_a_csv_of_pairs_reads_inside_its_folder_only(tmp_path):
    (tmp_path / "img").mkdir()
    for name in ("a", "b"):
        Image.fromarray(np.full((6, 6, 3), 90, np.uint8)).save(tmp_path / "img" / f"{name}.jpg")
        Image.fromarray(np.eye(6, dtype=np.uint8) * 255).save(tmp_path / "img" / f"{name}_m.png")
    (tmp_path / "pairs.csv").write_text(
        "photo,outline\nimg/a.jpg,img/a_m.png\nimg/b.jpg,img/b_m.png\n"
    )
    data = read_pair_table(tmp_path / "pairs.csv", "photo", "outline")
    assert len(data) == 2 and data.masks[0].trace() == 6 and data.images[0].shape == (6, 6, 3)
    with pytest.raises(DataError, match="no column 'image' \\(columns: photo, outline"):
        read_pair_table(tmp_path / "pairs.csv")
    (tmp_path / "escape.csv").write_text("image,mask\n../../etc/passwd,img/a_m.png\n")
    with pytest.raises(DataError, match="outside its folder"):
        read_pair_table(tmp_path / "escape.csv")
