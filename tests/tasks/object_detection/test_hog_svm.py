"""The HOG + linear SVM detector: its features, what it finds, its scores, saving and loading."""

from __future__ import annotations

import json

import numpy as np
import pytest

from layerwise.errors import ConfigError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.object_detection.boxes import box_iou
from layerwise.tasks.object_detection.dataset import DetectionSet
from layerwise.tasks.object_detection.hog_features import hog_blocks, platt, window_features
from layerwise.tasks.object_detection.hog_svm import HogSvmDetector

SIZE = 128
# small caps: a fit in a couple of seconds on a shared CPU
FAST = {"max_positives": 400, "max_negatives": 2000, "mining_images": 40,
        "calibration_images": 20}  # fmt: skip


def shapes(n: int, seed: int, size: int = SIZE) -> DetectionSet:
    """Bright squares (class 0) and discs (class 1) of 14-40 px on noisy grey backgrounds."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, boxes, labels = [], [], []
    for _ in range(n):
        image = rng.normal(rng.uniform(60, 110), 15, (size, size))
        placed: list[np.ndarray] = []
        classes = []
        for _ in range(rng.integers(1, 4)):
            side = rng.uniform(14, 40)
            x1, y1 = rng.uniform(0, size - side, 2)
            box = np.array([x1, y1, x1 + side, y1 + side])
            if any((box[:2] < b[2:]).all() and (b[:2] < box[2:]).all() for b in placed):
                continue  # no overlaps: each object fully visible
            label = int(rng.integers(2))
            if label == 0:
                inside = (xx >= x1) & (xx < x1 + side) & (yy >= y1) & (yy < y1 + side)
            else:
                inside = (xx + 0.5 - x1 - side / 2) ** 2 + (yy + 0.5 - y1 - side / 2) ** 2
                inside = inside < (side / 2) ** 2
            image[inside] = rng.uniform(170, 230)
            placed.append(box)
            classes.append(label)
        gray = image.clip(0, 255).astype(np.uint8)
        images.append(np.repeat(gray[..., None], 3, axis=2))
        boxes.append(np.array(placed, np.float32).reshape(-1, 4))
        labels.append(np.array(classes, np.int64))
    return DetectionSet(images, boxes, labels, ["square", "disc"])


@pytest.fixture(scope="module")
def trained() -> HogSvmDetector:
    detector = HogSvmDetector(seed=0, **FAST)
    detector.fit(shapes(60, seed=1), shapes(20, seed=2))
    return detector


def found_fraction(found, truth: DetectionSet, top: int = 10) -> float:
    """The share of true boxes that a detection of their class among the ``top`` best of
    their image overlaps at IoU >= 0.5."""
    hits = total = 0
    for detections, boxes, labels in zip(found, truth.boxes, truth.labels, strict=True):
        total += len(boxes)
        best = slice(0, top)
        if len(boxes) and len(detections):
            iou = box_iou(boxes, detections.boxes[best])
            iou *= labels[:, None] == detections.labels[best][None, :]
            hits += int((iou.max(axis=1) >= 0.5).sum())
    return hits / total


def test_hog_blocks_match_skimage():
    hog = pytest.importorskip("skimage.feature").hog

    rng = np.random.default_rng(0)
    for shape, orientations in [((64, 48), 9), ((37, 90), 9), ((130, 71), 12), ((24, 24), 7)]:
        image = rng.random(shape).astype(np.float32)
        image[5:20, 8:30] = 0.7  # exact horizontal and vertical edges: bins' boundaries
        ours = hog_blocks(image, 8, 2, orientations)
        theirs = hog(image, orientations, (8, 8), (2, 2), "L2-Hys", feature_vector=False)
        np.testing.assert_allclose(ours, theirs.reshape(ours.shape), atol=1e-6)
    assert hog_blocks(np.zeros((10, 40), np.float32), 8, 2, 9).shape == (0, 0, 36)


def test_window_features_are_slices_of_the_block_grid():
    blocks = np.random.default_rng(1).random((9, 11, 36)).astype(np.float32)
    windows = window_features(blocks, 4, 3)
    assert windows.shape == (6, 9, 4 * 3 * 36)
    np.testing.assert_array_equal(windows[2, 5], blocks[2:6, 5:8].reshape(-1))
    assert window_features(blocks, 10, 3).size == 0


def test_platt_is_increasing_and_calibrated():
    rng = np.random.default_rng(2)
    scores = rng.normal(0, 1, 4000)
    hits = rng.random(4000) < 1 / (1 + np.exp(-(2 * scores - 1)))
    a, b = platt(scores, hits)
    assert a == pytest.approx(2, abs=0.3) and b == pytest.approx(-1, abs=0.2)
    assert platt(scores, np.zeros(4000, bool))[0] > 0  # nothing to learn: still increasing


def test_finds_most_objects_with_probabilities(trained):
    test = shapes(30, seed=3)
    found = trained.predict(test.images)
    assert len(found) == len(test)
    assert found_fraction(found, test) >= 0.7
    for d in found:
        assert len(d) <= 100 and d.boxes.shape == (len(d), 4) and d.boxes.dtype == np.float32
        assert np.all((d.scores >= 0) & (d.scores <= 1)) and np.all(np.diff(d.scores) <= 0)
        assert np.all((d.boxes >= 0) & (d.boxes <= SIZE)) and np.all(
            d.boxes[:, 2:] > d.boxes[:, :2]
        )
        assert set(d.labels.tolist()) <= {0, 1}
    # calibrated: the best detections are mostly right, the weak ones mostly wrong
    best = np.concatenate([d.scores[:1] for d in found])
    assert np.median(best) > 0.5


def test_an_empty_image_gives_few_weak_detections(trained):
    rng = np.random.default_rng(4)
    empty = rng.normal(90, 15, (SIZE, SIZE, 1)).clip(0, 255).astype(np.uint8).repeat(3, axis=2)
    flat = np.full((SIZE, SIZE, 3), 128, np.uint8)  # no gradient: no window within the margin
    found = trained.predict([empty, np.zeros((20, 30, 3), np.uint8), flat])
    assert (found[0].scores > 0.5).sum() <= 1
    assert len(found[1]) == 0  # smaller than any window
    assert (found[2].scores > 0.5).sum() == 0


def test_save_load_predicts_the_same(trained, tmp_path):
    run = RunFolder.create(tmp_path, "object-detection")
    info = trained.save(run)
    json.dumps(info)  # JSON-able as it is
    run.finalize({"task": "object-detection"})
    assert (run.path / "hog_svm.safetensors").is_file()
    loaded = HogSvmDetector.load(RunFolder.open(run.path), info)
    images = [*shapes(5, seed=5).images, np.zeros((70, 90), np.uint8)]
    for a, b in zip(trained.predict(images), loaded.predict(images), strict=True):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_options_and_time_limit():
    with pytest.raises(ConfigError, match="no option 'windw'"):
        HogSvmDetector(windw=64)
    data = shapes(12, seed=6)
    detector = HogSvmDetector(seed=0, window=(32, 32), time_limit=0.0, **FAST)
    detector.fit(data)
    assert detector.windows.tolist() == [[32, 32], [32, 32]]
    assert any("time limit reached" in note for note in detector.notes)
    assert len(detector.predict(data.images[:1])) == 1
