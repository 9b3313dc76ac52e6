"""CenterNet: its augmentation moves boxes with the pixels, targets and decoding agree, and a
few seconds of training on simple synthetic scenes finds most objects; save -> load is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerwise.errors import ConfigError
from layerwise.models.centernet import CenterNet, CenterNetConfig, centernet_config_for
from layerwise.runs.folder import RunFolder
from layerwise.tasks.object_detection.augment import (
    DetectionAugment,
    augment_example,
    hflip,
    letterbox,
    mosaic,
    unletterbox,
)
from layerwise.tasks.object_detection.boxes import box_iou
from layerwise.tasks.object_detection.centernet_targets import (
    build_targets,
    centernet_loss,
    decode,
)
from layerwise.tasks.object_detection.centernet_train import CenterNetDetector
from layerwise.tasks.object_detection.dataset import DetectionSet

COLOURS = np.array([[230, 40, 40], [40, 80, 230]])  # class 0: red squares, 1: blue discs


def scenes(n: int, seed: int, size: int = 64) -> DetectionSet:
    """``n`` noisy ``size`` px images (some 3:4) with 1-3 red squares or blue discs of 10-24 px
    that do not overlap."""
    rng = np.random.default_rng(seed)
    images, boxes, labels = [], [], []
    for k in range(n):
        height = size if k % 3 else size * 3 // 4
        image = rng.normal(110, 20, (height, size, 3))
        yy, xx = np.mgrid[0:height, 0:size]
        found, classes = [], []
        for _ in range(int(rng.integers(1, 4))):
            side = rng.uniform(10, 24)
            x1, y1 = rng.uniform(0, size - side), rng.uniform(0, height - side)
            box = np.array([[x1, y1, x1 + side, y1 + side]])
            if found and box_iou(box, np.array(found)).max() > 0:
                continue  # no object hides another: every box is on its own object
            label = int(rng.integers(2))
            if label == 0:
                inside = (xx >= x1) & (xx < x1 + side) & (yy >= y1) & (yy < y1 + side)
            else:
                inside = (xx - x1 - side / 2) ** 2 + (yy - y1 - side / 2) ** 2 < (side / 2) ** 2
            image[inside] = COLOURS[label]
            found.append([x1, y1, x1 + side, y1 + side])
            classes.append(label)
        images.append(np.clip(image, 0, 255).astype(np.uint8))
        boxes.append(np.array(found, np.float32))
        labels.append(np.array(classes, np.int64))
    return DetectionSet(images, boxes, labels, ["square", "disc"])


@pytest.fixture(autouse=True)
def _one_thread():
    # Two threads on a shared 2-core machine can be 10x slower (OpenMP spin-waits).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL = {"widths": [8, 16, 32], "blocks": [1, 1, 1], "neck_width": 24, "head_width": 24}


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    detector = CenterNetDetector(seed=0, side=64, epochs=20, cpu_threads=1, **SMALL)
    detector.fit(scenes(100, seed=1), scenes(20, seed=2))
    return detector


def matched(found, truth: DetectionSet, top: int = 10) -> float:
    """The fraction of true boxes with a detection of their class at IoU >= 0.5 among the
    ``top`` best of their image."""
    hits = total = 0
    for d, boxes, labels in zip(found, truth.boxes, truth.labels, strict=True):
        total += len(boxes)
        if len(d):
            same = labels[:, None] == d.labels[None, :top]
            hits += int(((box_iou(boxes, d.boxes[:top]) * same).max(axis=1) >= 0.5).sum())
    return hits / total


def test_training_finds_most_objects(trained):
    test = scenes(30, seed=3)
    found = trained.predict(test.images)
    assert len(found) == len(test)
    assert all(np.all(np.diff(d.scores) <= 0) for d in found)  # best first
    assert all((d.boxes[:, 2:] <= [64, 64]).all() for d in found)  # inside the images
    assert matched(found, test) >= 0.6
    assert trained.history[-1]["val_loss"] < 0.5 * trained.history[0]["val_loss"]


def test_save_load_predicts_the_same(trained, tmp_path):
    run = RunFolder.create(tmp_path, "object-detection")
    info = trained.save(run)
    run.finalize({"task": "object-detection"})
    loaded = CenterNetDetector.load(RunFolder.open(run.path), info)
    images = [*scenes(6, seed=4).images, np.zeros((30, 50, 3), np.uint8)]
    for a, b in zip(trained.predict(images), loaded.predict(images), strict=True):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_training_is_deterministic_for_a_seed():
    data = scenes(12, seed=5)
    states = []
    for _ in range(2):
        detector = CenterNetDetector(seed=3, side=64, epochs=2, batch_size=4, **SMALL)
        detector.fit(data, data.subset([0, 1]))
        states.append(detector.model.state_dict())
    for key, value in states[0].items():
        assert torch.equal(value, states[1][key]), key


def test_augmentation_keeps_boxes_on_their_objects():
    data = scenes(40, seed=6)
    rng = np.random.default_rng(0)
    config = DetectionAugment(brightness=0, contrast=0, saturation=0)
    seen = 0
    for image, boxes, labels in zip(data.images, data.boxes, data.labels, strict=True):
        view, moved, kept = augment_example(image, boxes, labels, 64, rng, config)
        assert view.shape == (64, 64, 3) and len(moved) == len(kept)
        assert ((moved >= 0) & (moved <= 64)).all()
        assert (moved[:, 2:] > moved[:, :2]).all()
        for box, label in zip(moved, kept, strict=True):
            x1, y1, x2, y2 = np.round(box).astype(int)
            # the centre of a box is on its object's colour (squares and discs both)
            centre = view[(y1 + y2) // 2, (x1 + x2) // 2].astype(int)
            assert np.abs(centre - COLOURS[label]).max() < 60
            seen += 1
    assert seen > 40


def test_flip_moves_the_box_with_the_object():
    image = np.zeros((20, 30, 3), np.uint8)
    image[2:8, 3:10] = 255
    flipped, boxes = hflip(image, np.array([[3, 2, 10, 8]], np.float32))
    x1, y1, x2, y2 = boxes[0].astype(int)
    assert (flipped[y1:y2, x1:x2] == 255).all() and flipped.sum() == image.sum()


def test_letterbox_round_trip_and_mosaic():
    rng = np.random.default_rng(1)
    for height, width in [(40, 100), (100, 40), (64, 64), (7, 300)]:
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        boxes = np.array([[0, 0, width, height], [1.5, 2, 5, 6.25]], np.float32)
        framed, moved, scale, pad = letterbox(image, boxes, 96)
        assert framed.shape == (96, 96, 3)
        assert ((moved >= 0) & (moved <= 96)).all()
        np.testing.assert_allclose(unletterbox(moved, scale, pad), boxes, atol=1e-3)
    data = scenes(4, seed=7)
    view, boxes, labels = mosaic(
        list(zip(data.images, data.boxes, data.labels, strict=True)), 64, rng, DetectionAugment()
    )
    assert view.shape == (64, 64, 3) and len(boxes) == len(labels)
    assert ((boxes >= 0) & (boxes <= 64)).all()


def test_decoding_the_targets_gives_the_boxes_back():
    boxes = np.array([[4, 6, 20, 30], [30, 33, 61, 50.5], [40, 2, 49, 12]], np.float32)
    labels = np.array([0, 1, 1])
    t = build_targets([boxes], [labels], n_classes=2, side=64)
    heat = torch.logit(torch.from_numpy(t.heatmap).clamp(1e-4, 1 - 1e-4))
    # the log-distances that make every regressing cell predict its own target box
    centres = (np.mgrid[0:16, 0:16][::-1] + 0.5) * 4  # x, y of each cell's centre
    distances = np.concatenate([centres - t.boxes[0, :2], t.boxes[0, 2:] - centres])
    cells = t.weight[0] > 0
    assert (distances[:, cells] > 0).all()  # regressing cells lie inside their boxes
    box = torch.from_numpy(np.log(np.where(cells, distances, 4.0) / 4))[None].float()
    found, scores, classes = decode(heat, box, top_k=3)
    order = np.argsort(found[0, :, 0].numpy())
    np.testing.assert_allclose(found[0].numpy()[order], boxes[np.argsort(boxes[:, 0])], atol=1e-4)
    assert sorted(classes[0].tolist()) == [0, 1, 1] and scores.min() > 0.99
    # every box gets cells to regress it, and each box's weights add up to the log of its area
    assert float(t.weight.sum()) == pytest.approx(
        float(np.log((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).sum()), rel=1e-5
    )
    # the loss of these perfect outputs is small but not zero (Gaussian skirts are not 0)
    assert float(centernet_loss((heat, box), t.tensors())) < 0.05


def test_a_smaller_box_owns_the_cells_it_shares_with_a_larger_one():
    big, small = [0, 0, 64, 64], [24, 24, 40, 40]
    t = build_targets([np.array([small, big], np.float32)], [np.array([0, 0])], 1, 64)
    assert t.boxes[0, :, 8, 8].tolist() == small
    assert float(t.heatmap[0, 0, 8, 8]) == 1.0


def test_giou_loss_is_zero_for_the_same_box_and_still_steers_disjoint_ones():
    from layerwise.tasks.object_detection.centernet_targets import giou_loss

    target = torch.tensor([[10.0, 10, 30, 30]])
    same = giou_loss(target.clone(), target)
    assert float(same) == pytest.approx(0.0, abs=1e-6)
    apart = torch.tensor([[40.0, 10, 60, 30]], requires_grad=True)
    loss = giou_loss(apart, target)
    loss.sum().backward()
    assert 1.0 < float(loss.detach()) < 2.0 and float(apart.grad[0, 0]) > 0  # pulled left


def test_config_rule_and_stride():
    assert centernet_config_for(128, 100, 3).stride == 32
    assert centernet_config_for(64, 100, 3).stride == 16
    net = CenterNet(CenterNetConfig(2, widths=[8, 16], blocks=[1, 1])).eval()
    heat, _ = net(torch.rand(1, 3, 32, 64))
    assert heat.shape == (1, 2, 8, 16)
    assert torch.allclose(torch.sigmoid(heat).mean(), torch.tensor(0.1), atol=0.02)
    with pytest.raises(ConfigError, match="multiple"):
        net(torch.rand(1, 3, 36, 64))
    with pytest.raises(ConfigError, match="batch_size"):
        CenterNetDetector(batchsize=8)
    with pytest.raises(ConfigError, match="side"):
        CenterNetDetector(side=100)
