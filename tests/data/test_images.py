"""Tests of layerwise.data.images (reading every layout) and layerwise.data.image_sources."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from layerwise.data.image_sources import (
    digits,
    scans,
    shapes,
    write_folder,
    write_idx,
    write_npz,
)
from layerwise.data.images import ImageSet, read_images
from layerwise.errors import ColumnError, ConfigError, DataError


@pytest.fixture(scope="module")
def small_digits() -> ImageSet:
    return digits().subset(np.arange(60))


@pytest.fixture(scope="module")
def small_shapes() -> ImageSet:
    return shapes(24, size=16, seed=3)


def by_name(images: ImageSet) -> dict[str, tuple[np.ndarray, str]]:
    """File stem -> (pixels, class name), to compare sets whose order differs."""
    return {
        Path(n).stem: (images.images[i], images.classes[images.labels[i]])
        for i, n in enumerate(images.names)
    }


def save(array: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


# ---- folder per class ------------------------------------------------------------------
def test_folder_round_trip_rgb(small_shapes, tmp_path):
    folder = write_folder(small_shapes, tmp_path / "shapes")
    back = read_images(folder)
    assert back.classes == small_shapes.classes
    assert back.images.shape == small_shapes.images.shape and back.split is None
    assert back.names[0].startswith("disc/shapes-") and back.skipped == []
    assert back.source == str(folder.resolve())
    original = {f"shapes-{i:02d}": (small_shapes.images[i], small_shapes.classes[c]) for i, c in enumerate(small_shapes.labels)}  # fmt: skip
    for stem, (pixels, label) in by_name(back).items():
        assert np.array_equal(pixels, original[stem][0]) and label == original[stem][1]


def test_folder_round_trip_gray_numeric_classes(small_digits, tmp_path):
    back = read_images(write_folder(small_digits, tmp_path / "d"))
    assert back.channels == 1 and back.size == (8, 8)
    assert back.classes == [str(i) for i in range(10)]
    order = np.argsort([int(Path(n).stem.split("-")[1]) for n in back.names])
    assert np.array_equal(back.images[order], small_digits.images)
    assert np.array_equal(back.labels[order], small_digits.labels)


def test_folder_with_split_subfolders(small_digits, tmp_path):
    write_folder(small_digits.subset(np.arange(40)), tmp_path / "data" / "train")
    write_folder(small_digits.subset(np.arange(40, 60)), tmp_path / "data" / "test")
    back = read_images(tmp_path / "data")
    assert back.classes == [str(i) for i in range(10)]
    assert (back.split == "train").sum() == 40 and (back.split == "test").sum() == 20


def test_unlabelled_folder_and_single_file(small_shapes, tmp_path):
    unlabelled = small_shapes.subset(np.arange(5))
    unlabelled.labels = None
    folder = write_folder(unlabelled, tmp_path / "predict")
    back = read_images(folder)
    assert back.labels is None and back.classes == [] and len(back) == 5
    assert "unlabelled" in back.summary()
    single = read_images(folder / "shapes-0.png")
    assert len(single) == 1 and single.labels is None and single.names == ["shapes-0.png"]
    assert np.array_equal(single.images[0], small_shapes.images[0])


def test_known_classes_at_predict_time(small_shapes, tmp_path):
    folder = write_folder(small_shapes, tmp_path / "s")
    back = read_images(folder, classes=["square", "disc", "blob"])
    assert back.classes == ["square", "disc", "blob"]
    names = [n.split("/")[0] for n in back.names]
    expected = [{"square": 0, "disc": 1}.get(n, -1) for n in names]
    assert back.labels.tolist() == expected
    assert any("label -1" in note for note in back.notes)
    assert "of unknown class" in back.summary()
    unlabelled = read_images(np.zeros((2, 4, 4), np.uint8), classes=["a", "b"])
    assert unlabelled.labels is None and unlabelled.classes == ["a", "b"]


def test_corrupt_and_empty_files_are_skipped(small_digits, tmp_path):
    folder = write_folder(small_digits.subset(np.arange(20)), tmp_path / "d")
    (folder / "3" / "broken.png").write_bytes(b"not an image at all")
    (folder / "5" / "empty.jpg").write_bytes(b"")
    good = folder / "0" / "digits-00.png"
    (folder / "0" / "cut.png").write_bytes(good.read_bytes()[:60])
    (folder / "notes.txt").write_text("hello")
    back = read_images(folder)
    assert len(back) == 20
    skipped = dict(back.skipped)
    assert set(skipped) == {"3/broken.png", "5/empty.jpg", "0/cut.png"}
    assert skipped["5/empty.jpg"] == "empty file (0 bytes)"
    assert "cannot identify image file" in skipped["3/broken.png"]
    assert back.summary().endswith("3 unreadable skipped")


def test_all_corrupt_and_empty_folders_fail(tmp_path):
    for i in range(3):
        (tmp_path / "bad" / "a").mkdir(parents=True, exist_ok=True)
        (tmp_path / "bad" / "a" / f"{i}.png").write_bytes(b"garbage")
    with pytest.raises(DataError) as exc:
        read_images(tmp_path / "bad")
    assert "No readable images" in one_line(exc) and "3 files failed" in str(exc.value)
    assert "a/0.png: cannot identify image file" in str(exc.value)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(DataError) as exc:
        read_images(tmp_path / "empty")
    assert "No image files in" in one_line(exc) and "empty" in str(exc.value)
    assert ".png" in str(exc.value) and ".txt" in str(exc.value)
    with pytest.raises(DataError, match="does not exist"):
        read_images(tmp_path / "nowhere")


def test_mixed_sizes_give_a_common_square(tmp_path):
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(40, 60), (30, 30), (50, 20), (36, 48)]):
        save(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), tmp_path / "m" / "c" / f"{i}.png")
    back = read_images(tmp_path / "m")
    assert back.size == (33, 33) and back.channels == 3  # median of shorter sides 20, 30, 36, 40
    assert any("mixed sizes" in note for note in back.notes)
    sized = read_images(tmp_path / "m", size=(16, 24))
    assert sized.images.shape == (4, 16, 24, 3)


def test_resize_keeps_a_plain_resize_when_aspect_matches(tmp_path):
    stripes = np.tile(np.repeat(np.array([0, 255], np.uint8), 4), (16, 2))[:, :16]  # 16x16
    back = read_images(save(stripes, tmp_path / "s.png"), size=8)
    assert back.size == (8, 8) and back.channels == 1
    assert back.images[..., 0].std() > 50  # still stripes, not cropped to one colour


def test_gray_detection_and_forced_channels(tmp_path):
    gray = np.random.default_rng(1).integers(0, 255, (12, 12), dtype=np.uint8)
    save(np.stack([gray] * 3, axis=-1), tmp_path / "g" / "rgb_gray.png")
    save(gray, tmp_path / "g" / "plain.png")
    back = read_images(tmp_path / "g")
    assert back.channels == 1 and np.array_equal(back.images[0, ..., 0], gray)
    assert any("3-channel gray" in note for note in back.notes)
    rgb = read_images(tmp_path / "g", channels=3)
    assert rgb.channels == 3 and np.array_equal(rgb.images[1, ..., 2], gray)
    colour = shapes(4, size=8)
    assert read_images(colour, channels=1).channels == 1
    with pytest.raises(ConfigError):
        read_images(colour, channels=2)
    with pytest.raises(ConfigError):
        read_images(colour, size=(0, 4))


def test_exif_rotation_16_bit_and_big_jpeg(tmp_path):
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :10] = 255
    image = Image.fromarray(wide)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    image.save(tmp_path / "rotated.jpg", exif=exif.tobytes())
    rotated = read_images(tmp_path / "rotated.jpg")
    assert rotated.size == (40, 20) and rotated.images[0, :5].mean() > 200
    deep = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    assert np.array_equal(read_images(tmp_path / "deep.png").images[0, ..., 0], np.rint(deep / 257))
    noise = np.random.default_rng(0).integers(0, 255, (600, 800, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "big.jpg")
    assert read_images(tmp_path / "big.jpg", size=(24, 32)).images.shape == (1, 24, 32, 3)


def test_progress_bar_over_many_files(tmp_path):
    folder = write_folder(shapes(210, size=8, seed=2), tmp_path / "many")
    back = read_images(folder, progress=True)
    assert len(back) == 210 and back.classes == ["disc", "square", "stripes", "triangle"]


# ---- CSV of paths ----------------------------------------------------------------------
def test_csv_of_relative_paths(small_shapes, tmp_path):
    rows = []
    for i in range(6):
        save(small_shapes.images[i], tmp_path / "img" / f"{i}.png")
        rows.append({"file": f"img/{i}.png", "kind": small_shapes.classes[small_shapes.labels[i]]})
    rows.append({"file": "img/missing.png", "kind": "disc"})
    rows.append({"file": "img/0.png", "kind": None})
    csv = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    back = read_images(csv, image_column="file", target="kind")
    assert len(back) == 6 and back.names[0] == "img/0.png"
    assert np.array_equal(back.images, small_shapes.images[:6])
    assert [back.classes[c] for c in back.labels] == [small_shapes.classes[c] for c in small_shapes.labels[:6]]  # fmt: skip
    assert back.skipped == [("img/missing.png", "file not found")]
    assert "1 rows without a label dropped" in back.notes
    with pytest.raises(ColumnError) as exc:
        read_images(csv, image_column="fiel", target="kind")
    assert "'fiel'" in one_line(exc) and "Did you mean 'file'?" in str(exc.value)
    with pytest.raises(ColumnError, match="kind"):
        read_images(csv, image_column="file", target="knd")
    unlabelled = read_images(csv, image_column="file")
    assert unlabelled.labels is None and len(unlabelled) == 7


# ---- NPZ -------------------------------------------------------------------------------
def test_npz_round_trip_with_splits(small_digits, tmp_path):
    splits = {"train": np.arange(40), "val": np.arange(40, 50), "test": np.arange(50, 60)}
    path = write_npz(small_digits, tmp_path / "digits.npz", splits)
    back = read_images(path)
    assert np.array_equal(back.images, small_digits.images)
    assert np.array_equal(back.labels, small_digits.labels)
    assert back.classes == small_digits.classes
    assert back.split.tolist() == ["train"] * 40 + ["val"] * 10 + ["test"] * 10
    assert back.names[40] == "val[0]"
    assert "[train 40, val 10, test 10]" in back.summary()
    rgb = read_images(write_npz(shapes(8, size=8), tmp_path / "s.npz"))
    assert rgb.classes == ["disc", "square", "stripes", "triangle"] and rgb.channels == 3


def test_npz_medmnist_float_and_xy_layouts(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((10, 6, 6)).astype(np.float32)
    np.savez(tmp_path / "m.npz", train_images=x, train_labels=np.arange(10).reshape(-1, 1) % 3)
    back = read_images(tmp_path / "m.npz")
    assert back.images.dtype == np.uint8 and back.classes == ["0", "1", "2"]
    assert np.array_equal(back.images[..., 0], np.rint(x * 255).astype(np.uint8))
    np.savez(tmp_path / "xy.npz", x=rng.integers(0, 4000, (5, 4, 4)), y=[10, 2, 2, 10, 2])
    xy = read_images(tmp_path / "xy.npz")
    assert xy.split is None and xy.classes == ["2", "10"] and xy.labels.tolist() == [1, 0, 0, 1, 0]
    assert any("scaled" in note for note in xy.notes)


def test_npz_errors(tmp_path):
    x = np.zeros((4, 5, 5), np.uint8)
    np.savez(tmp_path / "multi.npz", train_images=x, train_labels=np.zeros((4, 3), int))
    with pytest.raises(DataError) as exc:
        read_images(tmp_path / "multi.npz")
    assert "multi-label" in one_line(exc) and "not supported yet" in str(exc.value)
    np.savez(tmp_path / "odd.npz", pixels=x)
    with pytest.raises(DataError, match="no images array"):
        read_images(tmp_path / "odd.npz")
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="pickled"):
        read_images(tmp_path / "objects.npz")


# ---- IDX -------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(small_digits, tmp_path, gz):
    write_idx(small_digits.subset(np.arange(45)), tmp_path, prefix="train", gz=gz)
    write_idx(small_digits.subset(np.arange(45, 60)), tmp_path, prefix="t10k", gz=gz)
    back = read_images(tmp_path)
    assert np.array_equal(back.images, small_digits.images)
    assert np.array_equal(back.labels, small_digits.labels)
    assert back.classes == small_digits.classes
    assert (back.split == "test").sum() == 15 and back.names[45] == "test[0]"
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    single = read_images(tmp_path / name)
    assert len(single) == 45 and single.labels is not None


def test_idx_dot_names_and_unlabelled_file(small_digits, tmp_path):
    write_idx(small_digits, tmp_path)
    (tmp_path / "train-images-idx3-ubyte").rename(tmp_path / "train-images.idx3-ubyte")
    (tmp_path / "train-labels-idx1-ubyte").rename(tmp_path / "train-labels.idx1-ubyte")
    assert len(read_images(tmp_path).labels) == 60
    alone = tmp_path / "alone"
    write_idx(ImageSet(small_digits.images, None, [], list(small_digits.names)), alone)
    assert read_images(alone / "train-images-idx3-ubyte").labels is None
    with pytest.raises(DataError, match="grayscale"):
        write_idx(shapes(4, size=8), tmp_path / "rgb")


def test_idx_truncated_and_bad_files(small_digits, tmp_path):
    write_idx(small_digits, tmp_path)
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(DataError) as exc:
        read_images(tmp_path)
    assert "'train-images-idx3-ubyte' is truncated" in one_line(exc)
    assert "[60, 8, 8]" in str(exc.value)
    gz = tmp_path / "gz" / "train-images-idx3-ubyte.gz"
    write_idx(small_digits, gz.parent, gz=True)
    gz.write_bytes(gz.read_bytes()[:200])
    with pytest.raises(DataError, match="'train-images-idx3-ubyte.gz' could not be read"):
        read_images(gz.parent)
    images.write_bytes(gzip.compress(b"xx"))
    with pytest.raises(DataError, match="not an IDX images file"):
        read_images(images)
    with pytest.raises(DataError, match="labels file"):
        read_images(tmp_path / "train-labels-idx1-ubyte")


# ---- arrays in memory ------------------------------------------------------------------
def test_arrays_in_memory():
    x = np.random.default_rng(0).random((6, 5, 7, 3))
    s = read_images(x)
    assert s.images.shape == (6, 5, 7, 3) and s.labels is None and s.names[2] == "array[2]"
    labelled = read_images((x, np.array([3, 10, 3, 10, 3, 2])), size=4)
    assert labelled.classes == ["2", "3", "10"] and labelled.images.shape == (6, 4, 4, 3)
    same = read_images(labelled)
    assert np.array_equal(same.images, labelled.images) and same.classes == labelled.classes
    with pytest.raises(DataError, match="6 images but 2 labels"):
        read_images((x, [0, 1]))
    with pytest.raises(DataError, match="shape"):
        read_images(np.zeros((3, 4)))


def test_subset_and_summary():
    s = digits()
    assert s.summary() == "1,797 images 8x8 grayscale, 10 classes (min 174, max 183 per class)"
    part = s.subset(s.labels == 3)
    assert len(part) == (s.labels == 3).sum() and set(part.labels) == {3}
    assert part.classes == s.classes and part.names[0] == s.names[int(np.argmax(s.labels == 3))]
    assert len(s.subset(np.array([0, 5]))) == 2


# ---- generated datasets ----------------------------------------------------------------
def test_shapes_are_seeded_and_balanced():
    a, b = shapes(200, seed=5), shapes(200, seed=5)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, shapes(200, seed=6).images)
    assert np.bincount(a.labels).tolist() == [50, 50, 50, 50]
    assert a.images.shape == (200, 32, 32, 3) and a.images.dtype == np.uint8


def test_scans_are_seeded_with_prevalence():
    a, b = scans(400, seed=1), scans(400, seed=1)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert a.classes == ["normal", "lesion"] and a.images.shape == (400, 28, 28, 1)
    assert int(a.labels.sum()) == 100
    assert int(scans(100, prevalence=0.1).labels.sum()) == 10
    with pytest.raises(DataError):
        scans(10, prevalence=1.5)
