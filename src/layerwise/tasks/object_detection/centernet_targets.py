"""CenterNet's training targets, its loss and the decoding of its outputs into boxes, with
TTFNet's box regression (Liu et al., 2020).

Targets (numpy, per batch): every box puts an elliptical Gaussian on the heatmap of its class,
1 exactly at the cell holding its centre (stride 4), with a standard deviation of
``ALPHA x side / 6`` along each axis (cut at ``ALPHA x side / 2``). The box itself is regressed
not at one cell but at every cell of a second such Gaussian (``BETA``): each of those cells
predicts the distances from its centre to the box's four sides, and the loss is the GIoU of the
box it predicts, weighted by the Gaussian (normalised per box) times the log of the box's area.
Where two boxes share cells, the smaller one owns them.

Why not the paper's size-and-offset at the centre cell only: an object then gives the box
regression one sample per image, and the box is placed at the peak. On a small set of large
objects (raccoon: 140 training photos, objects half the frame), the peak of a large object is
rarely the exact centre cell, and every cell off it shifted the box: top-1 boxes hit IoU 0.5 on
58% of the test photos and mAP@0.5 was 0.06 after 60 epochs; with these targets, 88% and
0.38, 0.80 with NMS (the same epochs, seed and photos). On 128 px generated scenes with small
objects they were a little better too (test mAP@0.5 0.78 against 0.76 after 15 epochs).

The distances are regressed as logs (``exp(output) x stride``), so a 8 px and a 300 px box
learn at the same relative rate; the head's bias starts at the mean log half-side of the
training boxes (:func:`mean_log_half_side`).

Loss: the penalty-reduced pixel-wise focal loss (alpha 2, beta 4) summed over the heatmap and
divided by the number of objects, plus ``BOX_WEIGHT`` x the weighted mean GIoU loss.

Decoding (:func:`decode`) is torch only, with no Python loop over boxes (3x3 max-pool peaks,
one top-k, gathers), so the same function runs inside an exported ONNX graph.

Example:
    >>> boxes = [np.array([[8, 8, 24, 40]], np.float32)]
    >>> t = build_targets(boxes, [np.array([1])], n_classes=2, side=64)
    >>> t.heatmap.shape, float(t.heatmap[0, 1, 6, 4]), t.boxes[0, :, 6, 4].tolist()
    ((1, 2, 16, 16), 1.0, [8.0, 8.0, 24.0, 40.0])
    >>> int((t.weight > 0).sum()), round(float(t.weight.sum()), 3)  # 3 x 5 cells; log(16 x 32)
    (15, 6.238)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from layerwise.models.centernet import OUTPUT_STRIDE

ALPHA = 0.54  # TTFNet: the heatmap's Gaussian spans ALPHA of the box along each axis
BETA = 0.54  # TTFNet: the cells that regress the box span BETA of it
TOP_K = 100  # peaks decoded per image (CenterNet's K; COCO scores at most 100 per image)
MAX_LOG_DISTANCE = 10.0  # decoded log-distances are clamped below this: exp() never overflows
BOX_WEIGHT = 5.0  # TTFNet's weight of the GIoU loss beside the focal loss


@dataclass
class Targets:
    """A batch's targets: ``heatmap [B, C, h, w]``, ``boxes [B, 4, h, w]`` (x1, y1, x2, y2
    in input pixels of the box each cell regresses) and ``weight [B, h, w]`` (0 where a cell
    regresses nothing), all float32."""

    heatmap: np.ndarray
    boxes: np.ndarray
    weight: np.ndarray

    def tensors(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """The three arrays as tensors on ``device``, in field order."""
        return tuple(
            torch.from_numpy(a).to(device) for a in (self.heatmap, self.boxes, self.weight)
        )


def axis_gaussian(grid: np.ndarray, centre: int, extent: float, share: float) -> np.ndarray:
    """One axis of a truncated Gaussian over the cells ``grid``: peak 1 at ``centre``, radius
    ``floor(share x extent / 2)`` cells, sigma ``(2 x radius + 1) / 6`` (TTFNet's rule).

    Example:
        >>> axis_gaussian(np.arange(6.0), 2, 8.0, 0.54).round(3).tolist()
        [0.056, 0.487, 1.0, 0.487, 0.056, 0.0]
    """
    radius = max(0, int(share * extent / 2))
    sigma = (2 * radius + 1) / 6
    distance = grid - centre
    return np.exp(-(distance**2) / (2 * sigma**2)) * (np.abs(distance) <= radius)


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
        >>> t.heatmap.shape, float(t.heatmap.max()), float(t.weight.sum())
        ((1, 3, 8, 8), 0.0, 0.0)
    """
    size = side // stride
    batch = len(boxes)
    heatmap = np.zeros((batch, n_classes, size, size), np.float32)
    regressed = np.zeros((batch, 4, size, size), np.float32)
    weight = np.zeros((batch, size, size), np.float32)
    grid = np.arange(size, dtype=np.float32)
    for i, (b, lab) in enumerate(zip(boxes, labels, strict=True)):
        b = np.asarray(b, np.float32).reshape(-1, 4)
        lab = np.asarray(lab, np.int64).reshape(-1)
        area = np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)
        # Largest first: a smaller box written later owns the cells the two share (TTFNet).
        for k in np.argsort(-area, kind="stable"):
            w = max(float(b[k, 2] - b[k, 0]) / stride, 1.0 / stride)
            h = max(float(b[k, 3] - b[k, 1]) / stride, 1.0 / stride)
            cx = int(np.clip((b[k, 0] + b[k, 2]) / 2 / stride, 0, size - 1))
            cy = int(np.clip((b[k, 1] + b[k, 3]) / 2 / stride, 0, size - 1))
            peak = axis_gaussian(grid, cy, h, ALPHA)[:, None] * axis_gaussian(grid, cx, w, ALPHA)
            np.maximum(heatmap[i, lab[k]], peak, out=heatmap[i, lab[k]])
            spread = axis_gaussian(grid, cy, h, BETA)[:, None] * axis_gaussian(grid, cx, w, BETA)
            cells = spread > 0
            regressed[i][:, cells] = b[k][:, None]
            share = spread[cells] / spread[cells].sum()
            weight[i][cells] = np.log(max(float(area[k]), 2.0)) * share
    return Targets(heatmap, regressed, weight)


def mean_log_half_side(sides: np.ndarray, stride: int = OUTPUT_STRIDE) -> np.ndarray:
    """The box head's starting bias: the mean ``log(side / 2 / stride)`` of boxes whose
    ``[n, 2]`` widths and heights (input pixels) are given, for (left, top, right, bottom), so
    the first boxes already have the data's typical size (a zero bias would mean 8 px boxes,
    hundreds of steps away from a photo's 200 px objects).

    Example:
        >>> [round(v, 3) for v in mean_log_half_side(np.array([[64.0, 32.0]])).tolist()]
        [2.079, 1.386, 2.079, 1.386]
    """
    sides = np.asarray(sides, np.float64).reshape(-1, 2)
    if not len(sides):
        return np.zeros(4, np.float32)
    half = np.log(np.maximum(sides, 1.0) / 2 / stride).mean(axis=0)
    return np.concatenate([half, half]).astype(np.float32)


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


def dense_boxes(
    box: torch.Tensor, stride: int = OUTPUT_STRIDE, max_log: float = MAX_LOG_DISTANCE
) -> torch.Tensor:
    """The box ``[B, 4, h, w]`` (x1, y1, x2, y2, input pixels) each cell predicts from the
    head's log-distances ``box``: the cell's centre minus / plus ``exp(output) x stride``.

    Example:
        >>> dense_boxes(torch.zeros(1, 4, 1, 2))[0, :, 0, 1].tolist()
        [2.0, -2.0, 10.0, 6.0]
    """
    height, width = box.shape[-2:]
    ys = torch.arange(height, dtype=box.dtype, device=box.device).view(1, height, 1) + 0.5
    xs = torch.arange(width, dtype=box.dtype, device=box.device).view(1, 1, width) + 0.5
    d = torch.exp(box.clamp(max=max_log)) * stride
    ys, xs = ys * stride, xs * stride
    return torch.stack([xs - d[:, 0], ys - d[:, 1], xs + d[:, 2], ys + d[:, 3]], dim=1)


def giou_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - GIoU`` of each row of ``[n, 4]`` boxes (Rezatofighi et al., 2019): 0 for the same
    box, up to 2; it still has a gradient when the boxes do not overlap.

    Example:
        >>> a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 2, 2]])
        >>> b = torch.tensor([[0.0, 0, 2, 2], [3, 0, 5, 2]])
        >>> [round(v, 3) for v in giou_loss(a, b).tolist()]
        [0.0, 1.2]
    """
    p, t = predicted, target
    inter_w = (torch.minimum(p[:, 2], t[:, 2]) - torch.maximum(p[:, 0], t[:, 0])).clamp(min=0)
    inter_h = (torch.minimum(p[:, 3], t[:, 3]) - torch.maximum(p[:, 1], t[:, 1])).clamp(min=0)
    inter = inter_w * inter_h
    area_p = (p[:, 2] - p[:, 0]).clamp(min=0) * (p[:, 3] - p[:, 1]).clamp(min=0)
    area_t = (t[:, 2] - t[:, 0]).clamp(min=0) * (t[:, 3] - t[:, 1]).clamp(min=0)
    union = area_p + area_t - inter + 1e-6
    hull_w = torch.maximum(p[:, 2], t[:, 2]) - torch.minimum(p[:, 0], t[:, 0])
    hull_h = torch.maximum(p[:, 3], t[:, 3]) - torch.minimum(p[:, 1], t[:, 1])
    hull = hull_w * hull_h + 1e-6
    return 1 - inter / union + (hull - union) / hull


def centernet_loss(
    outputs: tuple[torch.Tensor, torch.Tensor],
    targets: tuple[torch.Tensor, ...],
    box_weight: float = BOX_WEIGHT,
) -> torch.Tensor:
    """The training loss of a batch: ``outputs`` of :class:`CenterNet`, ``targets`` from
    :meth:`Targets.tensors`."""
    heat_logits, box = outputs
    heatmap, regressed, weight = targets
    loss = focal_loss(heat_logits, heatmap)
    cells = weight > 0
    if not bool(cells.any()):
        return loss + 0.0 * box.sum()  # keeps the box head in the graph: no unused parameters
    predicted = dense_boxes(box.float()).permute(0, 2, 3, 1)[cells]
    target = regressed.float().permute(0, 2, 3, 1)[cells]
    w = weight[cells].float()
    return loss + box_weight * (giou_loss(predicted, target) * w).sum() / w.sum().clamp(min=1e-4)


def decode(
    heat_logits: torch.Tensor,
    box: torch.Tensor,
    top_k: int = TOP_K,
    scale: torch.Tensor | None = None,
    pad: torch.Tensor | None = None,
    stride: int = OUTPUT_STRIDE,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Boxes ``[B, K, 4]``, scores ``[B, K]`` (best first) and labels ``[B, K]`` of the
    ``K = min(top_k, C*h*w)`` strongest peaks, in input-frame pixels or, given the letterbox
    ``scale [B]`` and ``pad [B, 2]`` (x, y), in the images' pixels.

    A peak is a heatmap pixel that is the maximum of its 3x3 neighbourhood; its box is the one
    that cell regresses (:func:`dense_boxes`).

    Example:
        >>> heat = torch.full((1, 1, 8, 8), -9.0); heat[0, 0, 2, 3] = 3.0
        >>> boxes, scores, labels = decode(heat, torch.zeros(1, 4, 8, 8), top_k=1)
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
    every = dense_boxes(box.float(), stride).flatten(2)
    boxes = every.gather(2, pixel[:, None, :].expand(-1, 4, -1)).transpose(1, 2)
    if scale is not None:
        shift = boxes.new_zeros(batch, 2) if pad is None else pad.to(boxes.dtype)
        boxes = (boxes - shift.repeat(1, 2)[:, None, :]) / scale.to(boxes.dtype)[:, None, None]
    return boxes, scores, labels
