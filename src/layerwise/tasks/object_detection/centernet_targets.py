"""CenterNet's training targets, its loss and the decoding of its outputs into boxes.

Targets (numpy, per batch, vectorised over boxes): every box puts a Gaussian peak on the
heatmap of its class at its centre (in output pixels, stride 4), 1 exactly at the integer
centre; the peak's radius is CornerNet's rule (the largest shift of a corner that keeps the
box's IoU >= 0.7 with the true one; sigma = diameter / 6). At the integer centre the network
also regresses the box size and the sub-pixel offset of the true centre.

The size is regressed as ``log(side / stride)`` rather than the paper's raw ``side / stride``:
an L1 on the log is a relative error, so an 8 px and a 300 px box weigh the same and one
weight (1.0) suits every image size, where the paper's raw L1 with weight 0.1 is dominated by
the large boxes. (On 128 px synthetic scenes with 8-64 px objects the two were within seed
noise: AP50 0.42 / 0.44 log, 0.45 / 0.43 raw; see :mod:`.centernet_train`.)

Loss: the penalty-reduced pixel-wise focal loss (alpha 2, beta 4) summed over the heatmap and
divided by the number of objects, plus ``size_weight`` x L1(log size) plus ``offset_weight``
x L1(offset), each L1 averaged over the objects' two coordinates.

Decoding (:func:`decode`) is torch only, with no Python loop over boxes (3x3 max-pool peaks,
one top-k, gathers), so the same function runs inside an exported ONNX graph.

Example:
    >>> boxes = [np.array([[8, 8, 24, 40]], np.float32)]
    >>> t = build_targets(boxes, [np.array([1])], n_classes=2, side=64)
    >>> t.heatmap.shape, float(t.heatmap[0, 1, 6, 4]), t.index.tolist(), t.mask.tolist()
    ((1, 2, 16, 16), 1.0, [[100]], [[1.0]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from layerwise.models.centernet import OUTPUT_STRIDE

MIN_OVERLAP = 0.7  # CornerNet / CenterNet: a peak's radius keeps IoU >= 0.7
TOP_K = 100  # peaks decoded per image (CenterNet's K; COCO scores at most 100 per image)
MAX_LOG_SIZE = 10.0  # decoded log-sizes are clamped below this: exp() never overflows
SIZE_WEIGHT = 1.0  # for the L1 of log sizes (see the module doc)
OFFSET_WEIGHT = 1.0


@dataclass
class Targets:
    """A batch's targets: ``heatmap [B, C, h, w]`` (float32), and per box slot ``index
    [B, K]`` (int64, ``y * w + x`` of the integer centre), ``regression [B, K, 4]``
    (log w, log h in output pixels; offset x, y) and ``mask [B, K]`` (1 for real boxes)."""

    heatmap: np.ndarray
    index: np.ndarray
    regression: np.ndarray
    mask: np.ndarray

    def tensors(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """The four arrays as tensors on ``device``, in field order."""
        return tuple(
            torch.from_numpy(a).to(device)
            for a in (self.heatmap, self.index, self.regression, self.mask)
        )


def gaussian_radius(height: np.ndarray, width: np.ndarray, min_overlap: float = MIN_OVERLAP):
    """CornerNet's peak radius for boxes ``height x width`` (output pixels), vectorised.

    The smallest of three roots (one corner shifted in, out, or both ways) as in the
    reference code, which keeps its ``/ 2`` where ``/ (2a)`` was meant: every CenterNet
    result was obtained with it, so it stays.

    Example:
        >>> gaussian_radius(np.array([10.0]), np.array([10.0])).round(2).tolist()
        [2.73]
    """
    height, width = np.asarray(height, np.float64), np.asarray(width, np.float64)
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + np.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + np.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + np.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return np.minimum(np.minimum(r1, r2), r3)


def build_targets(
    boxes: list[np.ndarray],
    labels: list[np.ndarray],
    n_classes: int,
    side: int,
    stride: int = OUTPUT_STRIDE,
) -> Targets:
    """The targets of a batch of ``side x side`` frames with these boxes (frame pixels).

    Example:
        >>> t = build_targets([np.zeros((0, 4))], [np.zeros(0, int)], 3, 32)
        >>> t.heatmap.shape, float(t.heatmap.max()), t.mask.tolist()
        ((1, 3, 8, 8), 0.0, [[0.0]])
    """
    size = side // stride
    batch = len(boxes)
    slots = max(1, max((len(b) for b in boxes), default=0))
    heatmap = np.zeros((batch, n_classes, size, size), np.float32)
    index = np.zeros((batch, slots), np.int64)
    regression = np.zeros((batch, slots, 4), np.float32)
    mask = np.zeros((batch, slots), np.float32)
    grid = np.arange(size, dtype=np.float32)
    for i, (b, lab) in enumerate(zip(boxes, labels, strict=True)):
        n = len(b)
        if n == 0:
            continue
        b = np.asarray(b, np.float32).reshape(-1, 4) / stride
        w = np.maximum(b[:, 2] - b[:, 0], 1.0 / stride)
        h = np.maximum(b[:, 3] - b[:, 1], 1.0 / stride)
        centre = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)
        cell = np.clip(np.floor(centre), 0, size - 1).astype(np.int64)
        radius = np.maximum(0, np.floor(gaussian_radius(np.ceil(h), np.ceil(w))))
        sigma = ((2 * radius + 1) / 6).astype(np.float32)[:, None]
        # Separable Gaussians cut at the radius: [n, size] along each axis, outer product per box.
        dx, dy = grid[None, :] - cell[:, :1], grid[None, :] - cell[:, 1:]
        gx = np.exp(-(dx**2) / (2 * sigma**2)) * (np.abs(dx) <= radius[:, None])
        gy = np.exp(-(dy**2) / (2 * sigma**2)) * (np.abs(dy) <= radius[:, None])
        peaks = gy[:, :, None] * gx[:, None, :]
        # Overlapping peaks of one class keep the larger value (the paper's element-wise max).
        np.maximum.at(heatmap[i], np.asarray(lab, np.int64), peaks.astype(np.float32))
        index[i, :n] = cell[:, 1] * size + cell[:, 0]
        regression[i, :n, 0] = np.log(w)
        regression[i, :n, 1] = np.log(h)
        regression[i, :n, 2:] = centre - cell
        mask[i, :n] = 1.0
    return Targets(heatmap, index, regression, mask)


def focal_loss(logits: torch.Tensor, heatmap: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (alpha 2, beta 4), summed over pixels and
    divided by the number of peaks (at least 1). Log-sigmoids keep it finite at any logit.

    Example:
        >>> target = torch.zeros(1, 1, 4, 4); target[0, 0, 1, 1] = 1.0
        >>> round(float(focal_loss(torch.full((1, 1, 4, 4), -2.19), target)), 3)
        1.873
    """
    logits, heatmap = logits.float(), heatmap.float()
    p = torch.sigmoid(logits)
    positive = heatmap.eq(1.0).float()
    pos = F.logsigmoid(logits) * (1 - p) ** 2 * positive
    neg = F.logsigmoid(-logits) * p**2 * (1 - heatmap) ** 4 * (1 - positive)
    return -(pos.sum() + neg.sum()) / positive.sum().clamp(min=1.0)


def _gather(maps: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Values of ``maps [B, C, h, w]`` at flat pixel ``index [B, K]`` -> ``[B, K, C]``."""
    flat = maps.flatten(2)
    return flat.gather(2, index[:, None, :].expand(-1, flat.shape[1], -1)).transpose(1, 2)


def centernet_loss(
    outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    targets: tuple[torch.Tensor, ...],
    size_weight: float = SIZE_WEIGHT,
    offset_weight: float = OFFSET_WEIGHT,
) -> torch.Tensor:
    """The training loss of a batch: ``outputs`` of :class:`CenterNet`, ``targets`` from
    :meth:`Targets.tensors`."""
    heat_logits, size, offset = outputs
    heatmap, index, regression, mask = targets
    loss = focal_loss(heat_logits, heatmap)
    mask2 = mask[..., None].float()
    count = 2 * mask.sum().clamp(min=1.0)
    size_l1 = (torch.abs(_gather(size.float(), index) - regression[..., :2]) * mask2).sum()
    offset_l1 = (torch.abs(_gather(offset.float(), index) - regression[..., 2:]) * mask2).sum()
    return loss + (size_weight * size_l1 + offset_weight * offset_l1) / count


def decode(
    heat_logits: torch.Tensor,
    size: torch.Tensor,
    offset: torch.Tensor,
    top_k: int = TOP_K,
    scale: torch.Tensor | None = None,
    pad: torch.Tensor | None = None,
    stride: int = OUTPUT_STRIDE,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Boxes ``[B, K, 4]``, scores ``[B, K]`` (best first) and labels ``[B, K]`` of the
    ``K = min(top_k, C*h*w)`` strongest peaks, in input-frame pixels or, given the letterbox
    ``scale [B]`` and ``pad [B, 2]`` (x, y), in the images' pixels.

    A peak is a heatmap pixel that is the maximum of its 3x3 neighbourhood (the max-pool
    stands in for NMS); the box is centred at (pixel + offset) x stride with sides
    exp(log size) x stride.

    Example:
        >>> heat = torch.full((1, 1, 8, 8), -9.0); heat[0, 0, 2, 3] = 3.0
        >>> size = torch.zeros(1, 2, 8, 8); size[0, :, 2, 3] = float(np.log(2))
        >>> boxes, scores, labels = decode(heat, size, torch.full((1, 2, 8, 8), 0.5), top_k=1)
        >>> boxes.tolist(), round(float(scores[0, 0]), 3), labels.tolist()
        ([[[10.0, 6.0, 18.0, 14.0]]], 0.953, [[0]])
    """
    batch, classes, height, width = heat_logits.shape
    heat = torch.sigmoid(heat_logits.float())
    peaks = F.max_pool2d(heat, 3, stride=1, padding=1)
    heat = heat * (peaks == heat).to(heat.dtype)
    k = min(int(top_k), classes * height * width)
    scores, flat = torch.topk(heat.reshape(batch, -1), k)
    labels = torch.div(flat, height * width, rounding_mode="floor")
    pixel = flat - labels * (height * width)
    ys = torch.div(pixel, width, rounding_mode="floor")
    xs = pixel - ys * width
    sizes = torch.exp(_gather(size.float(), pixel).clamp(max=MAX_LOG_SIZE)) * stride
    offsets = _gather(offset.float(), pixel)
    cx = (xs.to(sizes.dtype) + offsets[..., 0]) * stride
    cy = (ys.to(sizes.dtype) + offsets[..., 1]) * stride
    half_w, half_h = sizes[..., 0] / 2, sizes[..., 1] / 2
    boxes = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=-1)
    if scale is not None:
        shift = boxes.new_zeros(batch, 2) if pad is None else pad.to(boxes.dtype)
        boxes = (boxes - shift.repeat(1, 2)[:, None, :]) / scale.to(boxes.dtype)[:, None, None]
    return boxes, scores, labels
