"""The street-scene generator: deterministic, boxes inside the image and in the promised size
range, every class drawn, and fast enough for 2,000-image demos."""

from __future__ import annotations

import time

import numpy as np
import pytest
import yaml

from layerwise.errors import ConfigError
from layerwise.tasks.object_detection.scenes import (
    MIN_BOX,
    street_scenes,
    write_coco,
    write_voc,
    write_yolo,
)


def test_same_seed_same_scenes_and_a_prefix_of_a_larger_set():
    a, b = street_scenes(6, size=64, seed=3), street_scenes(9, size=64, seed=3)
    for i in range(6):
        assert np.array_equal(a.images[i], b.images[i])
        assert np.array_equal(a.boxes[i], b.boxes[i])
        assert np.array_equal(a.labels[i], b.labels[i])
    other = street_scenes(6, size=64, seed=4)
    assert not all(np.array_equal(x, y) for x, y in zip(a.images, other.images, strict=True))


def test_boxes_lie_inside_the_image_within_the_promised_sizes():
    size = 96
    s = street_scenes(150, size=size, seed=0)
    assert len(s) == 150 and s.classes == ["car", "pedestrian", "sign"]
    boxes = np.concatenate(s.boxes)
    labels = np.concatenate(s.labels)
    assert boxes.dtype == np.float32 and labels.dtype == np.int64
    assert (boxes >= 0).all() and (boxes <= size).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    longer = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    assert longer.min() >= MIN_BOX and longer.max() <= size // 2
    assert longer.min() < 12 and longer.max() > 0.8 * size / 2  # the whole range is used
    assert set(np.unique(labels)) == {0, 1, 2}
    assert all(len(b) <= 6 for b in s.boxes) and sum(len(b) > 0 for b in s.boxes) > 0.9 * len(s)
    assert all(img.shape == (size, size, 3) and img.dtype == np.uint8 for img in s.images)
    # textured, lit differently: no flat image, and brightness varies between scenes
    means = [float(img.mean()) for img in s.images]
    assert min(float(img.std()) for img in s.images) > 10 and np.std(means) > 5


def test_class_subset_and_order():
    s = street_scenes(8, size=64, classes=("sign", "car"), max_objects=3)
    assert s.classes == ["sign", "car"]
    assert all(len(b) <= 3 for b in s.boxes)
    assert set(np.concatenate(s.labels).tolist()) <= {0, 1}


@pytest.mark.parametrize(
    "kwargs",
    [{"classes": ("car", "truck")}, {"classes": ()}, {"size": 16}, {"n": 0}, {"max_objects": 0}],
)
def test_bad_arguments_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        street_scenes(**{"n": 2, **kwargs})


def test_fast_enough():
    start = time.process_time()
    street_scenes(300, size=128)
    # ~0.45 s here; 2,000 scenes take about 3 s on a loaded 2-core machine
    assert time.process_time() - start < 4


def test_writers_write_each_layout(tmp_path):
    s = street_scenes(3, size=32)
    voc = write_voc(tmp_path / "voc", s)
    assert len(list((voc / "images").glob("*.png"))) == 3
    assert len(list((voc / "annotations").glob("*.xml"))) == 3
    coco = write_coco(tmp_path / "coco" / "train.json", tmp_path / "coco" / "pics", s)
    data = yaml.safe_load(coco.read_text())  # JSON is YAML
    assert [c["name"] for c in data["categories"]] == s.classes
    assert len(data["annotations"]) == s.n_boxes
    assert data["images"][0]["file_name"] == "pics/scene-00000.png"
    yolo = write_yolo(tmp_path / "yolo", s)
    assert yaml.safe_load((yolo / "data.yaml").read_text())["names"] == s.classes
    lines = (yolo / "labels" / "scene-00000.txt").read_text().splitlines()
    assert len(lines) == len(s.boxes[0]) and all(len(x.split()) == 5 for x in lines)
