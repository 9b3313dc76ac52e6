"""Box arithmetic: IoU, clipping and the numpy and torch non-maximum suppressions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from layerwise.tasks.object_detection.boxes import (
    _kept_by_fixed_point,
    _kept_by_sweep,
    batched_nms_torch,
    box_area,
    box_iou,
    box_iou_torch,
    clip_boxes,
    nms,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small tensors: threads only contend


def random_boxes(rng: np.random.Generator, n: int, size: float = 100.0) -> np.ndarray:
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(2, size / 3, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


def test_area_and_iou_on_hand_cases():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 5]], np.float32)  # the second is degenerate
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 5, 5]], np.float32)
    assert box_area(a).tolist() == [100.0, 0.0]
    iou = box_iou(a, b)
    assert iou.shape == (2, 4)
    np.testing.assert_allclose(iou[0], [50 / 150, 1.0, 0.0, 25 / 100])
    np.testing.assert_array_equal(iou[1], 0.0)  # empty union: 0, not NaN
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 4)
    assert box_iou(a, np.zeros((0, 4))).shape == (2, 0)
    np.testing.assert_allclose(box_iou_torch(torch.tensor(a), torch.tensor(b)).numpy(), iou, 1e-6)


def test_iou_torch_matches_numpy_on_random_boxes():
    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, 30), random_boxes(rng, 20)
    expected = box_iou(a, b)
    got = box_iou_torch(torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_clip_boxes_numpy_and_torch():
    boxes = np.array([[-5, -1, 50, 8], [3, 4, 6, 7]], np.float32)
    clipped = clip_boxes(boxes, height=6, width=40)
    assert clipped.dtype == np.float32
    np.testing.assert_array_equal(clipped, [[0, 0, 40, 6], [3, 4, 6, 6]])
    np.testing.assert_array_equal(boxes[0], [-5, -1, 50, 8])  # a copy
    as_tensor = clip_boxes(torch.tensor(boxes), height=6, width=40)
    np.testing.assert_array_equal(as_tensor.numpy(), clipped)


def test_nms_on_hand_cases():
    boxes = np.array(
        [
            [0, 0, 10, 10],  # 0.6: suppressed by box 2 (IoU 0.81)
            [20, 20, 30, 30],  # 0.5: alone
            [0, 0, 10, 9],  # 0.9: best
            [0, 0, 10, 5],  # 0.8: IoU 5/9 with box 2
        ],
        np.float32,
    )
    scores = np.array([0.6, 0.5, 0.9, 0.8])
    assert nms(boxes, scores, 0.5).tolist() == [2, 1]
    assert nms(boxes, scores, 0.6).tolist() == [2, 3, 1]  # 5/9 <= 0.6 survives
    assert nms(boxes, scores, 0.9).tolist() == [2, 3, 0, 1]
    assert nms(boxes, scores, 0.5, max_detections=1).tolist() == [2]
    assert nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []
    # Class-aware: box 0 is of another class than box 2, so it survives, box 3 does not.
    labels = np.array([1, 0, 0, 0])
    assert nms(boxes, scores, 0.5, labels=labels).tolist() == [2, 0, 1]
    # Identical boxes of different classes, even touching ones in the offset scheme.
    same = np.array([[0, 0, 4, 4]] * 3, np.float32)
    assert nms(same, np.array([0.3, 0.2, 0.1]), 0.5, labels=np.array([0, 1, 0])).tolist() == [0, 1]


def test_nms_ties_keep_the_earlier_box():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    assert nms(boxes, np.array([0.5, 0.5]), 0.5).tolist() == [0]
    kept = batched_nms_torch(
        torch.tensor(boxes), torch.tensor([0.5, 0.5]), torch.tensor([0, 0]), 0.5, 10
    )
    assert kept.tolist() == [0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_torch_nms_equals_numpy_nms_on_random_boxes(seed: int):
    rng = np.random.default_rng(seed)
    n = 200
    boxes = random_boxes(rng, n)
    scores = rng.uniform(size=n).astype(np.float32)
    labels = rng.integers(0, 4, n)
    for threshold in (0.3, 0.5, 0.7):
        expected = nms(boxes, scores, threshold, labels=labels, max_detections=100)
        got = batched_nms_torch(
            torch.tensor(boxes), torch.tensor(scores), torch.tensor(labels), threshold, 100
        )
        assert got.dtype == torch.int64
        np.testing.assert_array_equal(got.numpy(), expected)
        # Class-blind through the torch version: all labels equal.
        blind = batched_nms_torch(
            torch.tensor(boxes),
            torch.tensor(scores),
            torch.zeros(n, dtype=torch.long),
            threshold,
            n,
        )
        np.testing.assert_array_equal(blind.numpy(), nms(boxes, scores, threshold))


def test_sweep_and_fixed_point_agree():
    rng = np.random.default_rng(3)
    for _ in range(5):
        n = 80
        boxes = torch.tensor(random_boxes(rng, n, size=40.0))  # crowded: long overlap chains
        overlaps = torch.triu(box_iou_torch(boxes, boxes) > 0.3, diagonal=1)
        assert torch.equal(_kept_by_sweep(overlaps), _kept_by_fixed_point(overlaps))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace's notice
def test_torch_nms_traces_for_export():
    """Traced at one size, the graph (the unrolled sweep) gives the right boxes on new inputs."""
    rng = np.random.default_rng(4)
    n = 40

    def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        boxes = torch.tensor(random_boxes(rng, n, size=60.0))
        return boxes, torch.rand(n, generator=gen), torch.tensor(rng.integers(0, 3, n))

    gen = torch.Generator().manual_seed(0)
    traced = torch.jit.trace(lambda b, s, c: batched_nms_torch(b, s, c, 0.5, 15), inputs())
    for _ in range(3):
        b, s, c = inputs()
        expected = nms(b.numpy(), s.numpy(), 0.5, labels=c.numpy(), max_detections=15)
        np.testing.assert_array_equal(traced(b, s, c).numpy(), expected)


def test_torch_nms_exports_to_onnx(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")

    class Suppress(torch.nn.Module):
        def forward(self, boxes, scores, labels):
            return batched_nms_torch(boxes, scores, labels, 0.5, 12)

    rng = np.random.default_rng(5)
    n = 30

    def inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scores = rng.uniform(size=n).astype(np.float32)
        return random_boxes(rng, n, size=60.0), scores, rng.integers(0, 3, n)

    path = tmp_path / "nms.onnx"
    example = tuple(torch.tensor(x) for x in inputs())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        # The TorchScript exporter: quick, and enough to show the ops are plain ONNX ones.
        torch.onnx.export(Suppress(), example, str(path), dynamo=False, opset_version=17)
    session = ort.InferenceSession(str(path))
    names = [i.name for i in session.get_inputs()]
    for _ in range(3):
        b, s, c = inputs()
        (got,) = session.run(None, dict(zip(names, (b, s, c), strict=True)))
        np.testing.assert_array_equal(got, nms(b, s, 0.5, labels=c, max_detections=12))
