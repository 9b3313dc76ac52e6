"""Box arithmetic shared by every detector: areas, IoU, clipping and non-maximum suppression.

Boxes are ``[x1, y1, x2, y2]`` float pixels (see :mod:`.dataset`), widths are ``x2 - x1``
(no ``+ 1``: the same convention as COCO and torchvision). Two families:

* numpy (:func:`box_area`, :func:`box_iou`, :func:`nms`) for the classical candidates and the
  metrics: no torch import, so a HOG + SVM detector stays light;
* torch (:func:`box_iou_torch`, :func:`batched_nms_torch`) for the neural detectors: plain
  tensor operations only, so they run on the GPU and trace into an exported ONNX graph.

A box suppresses another when their IoU is strictly greater than ``iou_threshold``
(torchvision's convention), and score ties keep the earlier box first (stable sorts), so the
numpy and torch suppressions pick the same boxes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: the numpy half never needs it
    import torch


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas ``[n]`` of boxes ``[n, 4]`` (zero for an empty or inverted box).

    >>> box_area(np.array([[0, 0, 2, 3], [5, 5, 4, 9]]))
    array([6., 0.])
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    w = np.clip(boxes[:, 2] - boxes[:, 0], 0.0, None)
    h = np.clip(boxes[:, 3] - boxes[:, 1], 0.0, None)
    return w * h


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` ``[n, 4]`` with every box in ``b`` ``[m, 4]``.

    Returns a float64 ``[n, m]`` matrix; a pair whose union is empty (two degenerate boxes)
    has IoU 0 rather than NaN.

    >>> box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 0, 3, 2], [0, 0, 2, 2], [5, 5, 6, 6]]))
    array([[0.33333333, 1.        , 0.        ]])
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    inter = _intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas ``[n, m]`` of float64 boxes ``a`` ``[n, 4]`` and ``b`` ``[m, 4]``."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(w, 0.0, None) * np.clip(h, 0.0, None)


def clip_boxes(
    boxes: np.ndarray | torch.Tensor, height: float, width: float
) -> np.ndarray | torch.Tensor:
    """Boxes clipped to the image ``[0, width] x [0, height]``; numpy in, numpy out (a copy),
    tensor in, tensor out (traceable: ``clamp`` on each coordinate).

    >>> clip_boxes(np.array([[-3.0, 2.0, 15.0, 30.0]]), height=20, width=10)
    array([[ 0.,  2., 10., 20.]])
    """
    if isinstance(boxes, np.ndarray):
        limits = np.array([width, height, width, height], dtype=np.float64)
        return np.clip(boxes, 0, limits).astype(boxes.dtype, copy=False)
    import torch

    x = boxes[..., 0::2].clamp(0, width)
    y = boxes[..., 1::2].clamp(0, height)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float = 0.5,
    labels: np.ndarray | None = None,
    max_detections: int | None = None,
) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the boxes kept, best score first.

    Walks the boxes from the best score down, keeping each one that no kept box overlaps
    with IoU > ``iou_threshold``. With ``labels``, suppression is per class: every class is
    moved to its own far-apart stretch of the plane (the coordinate-offset trick), so boxes of
    different classes never overlap and one pass handles all classes. Cost: O(n log n) for the
    sort plus O(n * kept) IoUs.

    Args:
        boxes: ``[n, 4]`` boxes ``x1, y1, x2, y2``.
        scores: ``[n]`` scores, higher is better.
        iou_threshold: a box overlapping a better kept box by more than this is dropped.
        labels: ``[n]`` class indices; ``None`` suppresses across classes.
        max_detections: keep at most this many (the best ones); ``None`` keeps all survivors.

    Returns:
        ``int64`` indices into ``boxes``, in decreasing score order.

    >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    >>> scores = np.array([0.9, 0.8, 0.7])
    >>> nms(boxes, scores, 0.5)
    array([0, 2])
    >>> nms(boxes, scores, 0.5, labels=np.array([0, 1, 0]))
    array([0, 1, 2])
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        # Shift each class by more than the whole extent of all boxes: float64 keeps the
        # shifted coordinates exact enough for any realistic image size and class count.
        span = boxes.max() - boxes.min() + 1.0
        boxes = boxes + (labels.astype(np.float64) * span)[:, None]
    limit = len(boxes) if max_detections is None else max(int(max_detections), 0)
    order = np.argsort(-scores, kind="stable")
    areas = box_area(boxes)
    keep: list[int] = []
    while len(order) and len(keep) < limit:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        inter = _intersection(boxes[best : best + 1], boxes[rest])[0]
        union = areas[best] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.int64)


def box_iou_torch(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """:func:`box_iou` for tensors ``[n, 4]`` and ``[m, 4]`` (any device, traceable).

    >>> import torch
    >>> box_iou_torch(torch.tensor([[0.0, 0, 2, 2]]), torch.tensor([[1.0, 0, 3, 2]]))
    tensor([[0.3333]])
    """
    import torch

    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    # Where the union is empty the intersection is too: 0 / tiny = 0 instead of NaN, and no
    # data-dependent branch for the exporter.
    return inter / union.clamp(min=1e-12)


def batched_nms_torch(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    labels: torch.Tensor,
    iou_threshold: float,
    max_detections: int,
) -> torch.Tensor:
    """Class-aware greedy NMS with plain tensor operations: indices kept, best score first.

    Picks the same boxes as :func:`nms` with ``labels``. Instead of shifting coordinates per
    class (float32 would lose precision on big images with many classes), pairs of different
    classes are masked out of the IoU matrix.

    Two ways to solve the same recursion ``kept[i] = no kept j before i overlaps i`` (boxes in
    score order), both O(n²) time and memory for the ``[n, n]`` overlap matrix, so meant for
    n <= a few thousand (take a top-k before calling it):

    * eagerly (training, evaluation, GPU): repeat ``kept = no kept earlier box overlaps`` as one
      matrix-vector product until nothing changes. After t rounds the first t boxes are
      settled and the fixed point is unique, so stopping at no change is exact; overlap chains
      are short, so a handful of O(n²) rounds usually suffice (n at worst);
    * while tracing or exporting (no data-dependent loop allowed): one pass over the n sorted
      boxes, each step an O(n) vector operation, unrolled into the graph, so ``n`` must be a
      fixed size there (a fixed top-k before NMS; boxes to drop can be given score 0 and
      filtered after).

    Args:
        boxes: ``[n, 4]`` boxes ``x1, y1, x2, y2``.
        scores: ``[n]`` scores, higher is better.
        labels: ``[n]`` integer classes; boxes of different classes never suppress each other.
        iou_threshold: a box overlapping a better kept box of its class by more is dropped.
        max_detections: keep at most this many.

    Returns:
        ``int64`` indices into ``boxes``, in decreasing score order.

    >>> import torch
    >>> boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
    >>> batched_nms_torch(boxes, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 0, 0]), 0.5, 10)
    tensor([0, 2])
    >>> batched_nms_torch(boxes, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 1, 0]), 0.5, 10)
    tensor([0, 1, 2])
    """
    import torch

    tracing = _tracing()
    if tracing:  # the exporters have no stable sort; ONNX TopK puts lower indices first on ties
        order = torch.topk(scores, scores.shape[0]).indices
    else:  # stable, so ties come out as in :func:`nms`
        order = torch.sort(scores, descending=True, stable=True).indices
    sorted_boxes = boxes[order].float()
    sorted_labels = labels[order]
    same_class = sorted_labels[:, None] == sorted_labels[None, :]
    overlaps = (box_iou_torch(sorted_boxes, sorted_boxes) > iou_threshold) & same_class
    # Only a better-scored (earlier) box can suppress: the strict upper triangle, [j, i] true
    # when box j comes before box i and overlaps it.
    overlaps = torch.triu(overlaps, diagonal=1)
    if tracing:
        keep = _kept_by_sweep(overlaps)
    else:
        keep = _kept_by_fixed_point(overlaps)
    return order[keep][:max_detections]


def _tracing() -> bool:
    """True while torch traces, exports or compiles: no data-dependent Python loop then."""
    import torch

    compiling = getattr(getattr(torch, "compiler", None), "is_compiling", lambda: False)
    return bool(torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or compiling())


def _kept_by_sweep(overlaps: torch.Tensor) -> torch.Tensor:
    """Kept mask by one pass in score order: box i, if still alive, suppresses its row."""
    import torch

    suppressed = torch.zeros(overlaps.shape[0], dtype=torch.bool, device=overlaps.device)
    for i in range(overlaps.shape[0]):
        # No Python branch on tensor values: a suppressed box's row is masked to nothing.
        suppressed = suppressed | (overlaps[i] & ~suppressed[i])
    return ~suppressed


def _kept_by_fixed_point(overlaps: torch.Tensor) -> torch.Tensor:
    """Kept mask by iterating ``kept = not overlapped by any kept earlier box`` to its fixpoint."""
    import torch

    # float32 sums of 0/1 are exact far beyond a few thousand boxes; only "== 0" is read.
    weights = overlaps.to(torch.float32)
    keep = torch.ones(overlaps.shape[0], dtype=torch.bool, device=overlaps.device)
    for _ in range(overlaps.shape[0] + 1):
        new_keep = (keep.to(torch.float32) @ weights) == 0
        if bool(torch.equal(new_keep, keep)):
            break
        keep = new_keep
    return keep
