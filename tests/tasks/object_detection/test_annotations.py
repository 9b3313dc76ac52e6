"""Reading detection datasets: round trips through every layout, resizing, EXIF rotation,
and each bad input giving a counted skip or a DataError that names the problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerwise.errors import ConfigError, DataError
from layerwise.tasks.object_detection.annotations import (
    decode_photo,
    detect_format,
    read_detection_set,
)
from layerwise.tasks.object_detection.dataset import DetectionSet
from layerwise.tasks.object_detection.scenes import (
    street_scenes,
    write_coco,
    write_voc,
    write_yolo,
)

RACCOON = Path(__file__).resolve().parents[4] / "shared" / "datasets" / "raccoon"


@pytest.fixture(scope="module")
def scenes() -> DetectionSet:
    return street_scenes(12, size=64, seed=5)


def _write(layout: str, root: Path, scenes: DetectionSet) -> Path:
    if layout == "coco":
        return write_coco(root / "ann.json", root / "images", scenes).parent
    return {"voc": write_voc, "yolo": write_yolo}[layout](root, scenes)


def _voc_xml(boxes: str, size: str = "<size><width>64</width><height>48</height></size>") -> str:
    return f"<annotation><filename>a.png</filename>{size}{boxes}</annotation>"


def _voc_box(name: str, box: tuple, difficult: int = 0) -> str:
    keys = ("xmin", "ymin", "xmax", "ymax")
    coords = "".join(f"<{k}>{v}</{k}>" for k, v in zip(keys, box, strict=True))
    flag = f"<difficult>{difficult}</difficult>"
    return f"<object><name>{name}</name>{flag}<bndbox>{coords}</bndbox></object>"


def _voc_folder(root: Path, xmls: dict[str, str], size=(64, 48)) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    for stem, text in xmls.items():
        Image.new("RGB", size, (90, 120, 30)).save(root / "images" / f"{stem}.png")
        (root / "annotations" / f"{stem}.xml").write_text(text.replace("a.png", f"{stem}.png"))
    return root


# ---- round trips ----------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["voc", "coco", "yolo"])
def test_round_trip_reproduces_images_boxes_and_classes(layout, tmp_path, scenes):
    path = _write(layout, tmp_path / layout, scenes)
    assert detect_format(path) == layout
    back = read_detection_set(path)
    assert back.classes == scenes.classes and len(back) == len(scenes)
    assert back.names[0] == "images/scene-00000.png" and back.scales == [1.0] * len(scenes)
    for i in range(len(scenes)):
        assert np.array_equal(back.images[i], scenes.images[i])
        assert np.allclose(back.boxes[i], scenes.boxes[i], atol=0.01)
        assert np.array_equal(back.labels[i], scenes.labels[i])
    assert back.skipped == [] and back.notes[0].startswith(f"read 12 images with {scenes.n_boxes}")


def test_coco_json_and_yolo_yaml_paths_read_too(tmp_path, scenes):
    coco = write_coco(
        tmp_path / "c" / "annotations" / "train.json", tmp_path / "c" / "imgs", scenes
    )
    assert detect_format(coco) == "coco" and len(read_detection_set(coco)) == len(scenes)
    yaml_path = write_yolo(tmp_path / "y", scenes) / "data.yaml"
    assert detect_format(yaml_path) == "yolo" and read_detection_set(yaml_path).n_boxes > 0


def test_other_folder_arrangements(tmp_path, scenes):
    """VOC XMLs beside their images, YOLO split folders (both Ultralytics arrangements),
    COCO's own annotations/instances_<split>.json beside <split>/, a CSV with images/."""
    part = scenes.subset([0, 1])
    voc = write_voc(tmp_path / "voc", part)
    for xml in (voc / "annotations").glob("*.xml"):
        xml.rename(voc / "images" / xml.name)
    (voc / "annotations").rmdir()
    assert detect_format(voc) == "voc" and read_detection_set(voc).n_boxes == part.n_boxes
    for split_first in (True, False):
        root = tmp_path / f"yolo-{split_first}"
        for split in ("train", "val"):
            write_yolo(root / "tmp", part)
            for kind in ("images", "labels"):
                target = root / split / kind if split_first else root / kind / split
                target.parent.mkdir(parents=True, exist_ok=True)
                (root / "tmp" / kind).rename(target)
        (root / "tmp" / "data.yaml").rename(root / "data.yaml")
        s = read_detection_set(root)
        assert len(s) == 4 and s.n_boxes == 2 * part.n_boxes
        assert (
            s.names[0] == ("train/images" if split_first else "images/train") + "/scene-00000.png"
        )
    coco = tmp_path / "coco"
    write_coco(coco / "annotations" / "instances_val2017.json", coco / "tmp", part)
    data = json.loads((coco / "annotations" / "instances_val2017.json").read_text())
    for image in data["images"]:
        image["file_name"] = Path(image["file_name"]).name  # as COCO writes it
    (coco / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    (coco / "tmp").rename(coco / "val2017")
    assert read_detection_set(coco).n_boxes == part.n_boxes
    table = tmp_path / "table"
    write_voc(table, part)
    rows = ["filename,width,height,class,xmin,ymin,xmax,ymax"]
    for name, boxes, labels in zip(part.names, part.boxes, part.labels, strict=True):
        for box, label in zip(boxes, labels, strict=True):
            rows.append(
                f"{name}.png,64,64,{part.classes[label]}," + ",".join(f"{v:g}" for v in box)
            )
    rows.append("scene-00001.png,64,64,,,,,")  # a row without a box: nothing more, no error
    (table / "boxes.csv").write_text("\n".join(rows) + "\n")
    assert detect_format(table) == "voc" and detect_format(table / "boxes.csv") == "csv"
    s = read_detection_set(table / "boxes.csv")
    assert s.names == ["images/scene-00000.png", "images/scene-00001.png"] and not s.skipped
    assert all(np.array_equal(a, b) for a, b in zip(s.boxes, part.boxes, strict=True))


def test_resizing_scales_boxes_and_records_the_scale(tmp_path):
    image = np.zeros((40, 80, 3), np.uint8)
    s = DetectionSet([image], [np.array([[8, 4, 40, 20]], np.float32)], [np.array([0])], ["x"])
    back = read_detection_set(write_voc(tmp_path, s), long_side=32)
    assert back.images[0].shape == (16, 32, 3) and back.scales == [0.4]
    assert np.allclose(back.boxes[0], [[3.2, 1.6, 16, 8]])


# ---- bad inputs -----------------------------------------------------------------------------
def test_voc_box_outside_image_missing_size_and_difficult(tmp_path):
    inside, far = _voc_box("cat", (2, 2, 20, 20)), _voc_box("cat", (100, 60, 140, 90))
    root = _voc_folder(
        tmp_path,
        {
            "a": _voc_xml(inside + far + _voc_box("cat", (30, 30, 66, 49))),  # 3rd: clipped
            "b": _voc_xml(_voc_box("dog", (1, 1, 9, 9), difficult=1)),
            "c": _voc_xml(inside, size=""),
            "d": _voc_xml(_voc_box("cat", (5, 5, "abc", 9)) + inside),
        },
    )
    s = read_detection_set(root)
    assert s.names == ["images/a.png", "images/b.png", "images/d.png"]
    assert s.classes == ["cat", "dog"]
    assert np.array_equal(s.boxes[0], [[2, 2, 20, 20], [30, 30, 64, 48]])
    assert s.crowd[1].tolist() == [True]  # VOC "difficult": kept, ignored by the metrics
    notes = " | ".join(s.notes)
    assert "skipped 1 boxes outside their image (first: annotations/a.xml: box 2" in notes
    assert "annotations/c.xml: no <size>" in notes and "clipped 1 boxes" in notes
    assert "annotations/d.xml: box 1: 'abc'" in " ".join(s.skipped)


def test_voc_dtd_and_oversized_files_are_refused(tmp_path):
    bomb = '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xx">]>' + _voc_xml("&x;")
    big = _voc_xml(_voc_box("cat", (1, 1, 9, 9)) + "<pad>" + "x" * (1 << 20) + "</pad>")
    root = _voc_folder(
        tmp_path, {"a": _voc_xml(_voc_box("cat", (1, 1, 9, 9))), "b": bomb, "c": big}
    )
    s = read_detection_set(root)
    assert len(s) == 1
    skipped = " ".join(s.skipped)
    assert (
        "b.xml: declares a DTD or entities" in skipped
        and "c.xml: 1.0 MB, over the 1 MB allowed" in skipped
    )


def test_coco_missing_image_unknown_category_and_crowd(tmp_path, scenes):
    path = write_coco(tmp_path / "ann.json", tmp_path / "images", scenes.subset([0, 1, 2]))
    data = json.loads(path.read_text())
    data["images"][1]["file_name"] = "images/nowhere.png"
    data["annotations"][0]["category_id"] = 99
    data["annotations"][-1]["iscrowd"] = 1
    path.write_text(json.dumps(data))
    s = read_detection_set(path)
    assert len(s) == 2 and s.crowd[-1][-1]
    notes = " | ".join(s.notes)
    missing = "ann.json: image 2: 'images/nowhere.png' not found"
    assert f"skipped 1 annotations naming a missing image (first: {missing})" in notes
    assert "category_id 99 unknown" in notes


def test_yolo_bad_lines_empty_labels_and_names_as_dict(tmp_path, scenes):
    root = write_yolo(tmp_path, scenes.subset([0, 1, 2]))
    (root / "data.yaml").write_text("names:\n  0: car\n  1: pedestrian\n  2: sign\n")
    (root / "labels" / "scene-00000.txt").write_text("0 0.5 0.5 0.2\n1 0.5 0.5 0.2 0.2\n")
    (root / "labels" / "scene-00001.txt").write_text("")  # an image with nothing in it
    s = read_detection_set(root)
    assert s.classes == ["car", "pedestrian", "sign"] and len(s) == 3
    assert s.labels[0].tolist() == [1] and len(s.boxes[1]) == 0
    notes = " | ".join(s.notes)
    assert "labels/scene-00000.txt: line 1: 4 fields, expected 5" in notes
    assert "1 images have no boxes (kept as negatives)" in notes


def test_fixed_classes_skip_unknown_ones_with_a_count(tmp_path):
    root = _voc_folder(
        tmp_path, {"a": _voc_xml(_voc_box("cat", (1, 1, 9, 9)) + _voc_box("emu", (2, 2, 8, 8)))}
    )
    s = read_detection_set(root, classes=["dog", "cat"])
    assert s.classes == ["dog", "cat"] and s.labels[0].tolist() == [1]
    emu = "annotations/a.xml: box 2: class 'emu'"
    assert f"skipped 1 boxes of a class not in the given classes (first: {emu})" in s.notes


def test_unreadable_image_is_skipped_and_nothing_usable_is_an_error(tmp_path):
    root = _voc_folder(
        tmp_path,
        {
            "a": _voc_xml(_voc_box("cat", (1, 1, 9, 9))),
            "b": _voc_xml(_voc_box("cat", (1, 1, 9, 9))),
        },
    )
    (root / "images" / "b.png").write_bytes(b"not a png")
    s = read_detection_set(root)
    assert len(s) == 1 and s.skipped[0].startswith("images/b.png: ")
    (root / "images" / "a.png").write_bytes(b"")
    with pytest.raises(
        DataError, match=r"read as VOC: no image could be used .*a.png: empty file"
    ) as err:
        read_detection_set(root)
    assert "Pascal VOC" in err.value.hint


def test_a_folder_that_is_no_dataset_names_the_layouts(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    with pytest.raises(DataError, match="not a detection dataset") as err:
        read_detection_set(tmp_path)
    assert all(name in err.value.hint for name in ("Pascal VOC", "COCO", "YOLO"))
    with pytest.raises(DataError, match="does not exist"):
        detect_format(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="Did you mean 'coco'"):
        read_detection_set(tmp_path, format="cocoo")


def test_csv_missing_column_is_named(tmp_path):
    (tmp_path / "boxes.csv").write_text("filename,label,xmin,ymin,xmax,ymax\na.png,cat,1,1,5,5\n")
    with pytest.raises(DataError, match="no column class"):
        read_detection_set(tmp_path / "boxes.csv", format="csv")


# ---- EXIF rotation --------------------------------------------------------------------------
def _rotated_jpeg(path: Path) -> None:
    """A 60x40 JPEG stored as is, whose EXIF says: turn it a quarter (shown 40x60)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (60, 40), (200, 50, 50)).save(path, exif=exif)


@pytest.mark.parametrize(("declared", "shape"), [((40, 60), (60, 40, 3)), ((60, 40), (40, 60, 3))])
def test_voc_size_tells_whether_exif_rotation_applies(tmp_path, declared, shape):
    _rotated_jpeg(tmp_path / "images" / "a.jpg")
    (tmp_path / "annotations").mkdir()
    size = f"<size><width>{declared[0]}</width><height>{declared[1]}</height></size>"
    xml = _voc_xml(_voc_box("cat", (1, 1, 20, 30)), size).replace("a.png", "a.jpg")
    (tmp_path / "annotations" / "a.xml").write_text(xml)
    s = read_detection_set(tmp_path)
    assert s.images[0].shape == shape and np.array_equal(s.boxes[0], [[1, 1, 20, 30]])
    assert any("EXIF rotation not applied" in n for n in s.notes) == (declared == (60, 40))


def test_yolo_applies_exif_rotation(tmp_path):
    _rotated_jpeg(tmp_path / "images" / "a.jpg")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (tmp_path / "classes.txt").write_text("cat\n")
    s = read_detection_set(tmp_path)
    assert s.images[0].shape == (60, 40, 3) and np.allclose(s.boxes[0], [[10, 15, 30, 45]])


def test_decode_photo_applies_exif_and_resizes(tmp_path):
    _rotated_jpeg(tmp_path / "a.jpg")
    assert decode_photo(tmp_path / "a.jpg").shape == (60, 40, 3)
    assert decode_photo(tmp_path / "a.jpg", long_side=30).shape == (30, 20, 3)
    assert decode_photo(tmp_path / "nowhere.jpg") == "file not found"


# ---- the real raccoon data ------------------------------------------------------------------
@pytest.mark.parametrize("where", ["", "raccoon_labels.csv"])
def test_raccoon_reads_200_images_of_one_class(where):
    if not RACCOON.is_dir():
        pytest.skip(f"the shared raccoon dataset is not at {RACCOON}")
    s = read_detection_set(RACCOON / where, long_side=64)
    assert len(s) == 200 and s.classes == ["raccoon"] and s.n_boxes == 217
    assert detect_format(RACCOON / where) == ("csv" if where else "voc")
    assert max(max(img.shape[:2]) for img in s.images) == 64 and not s.skipped
