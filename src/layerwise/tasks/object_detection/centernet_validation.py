"""Validating a CenterNet while it trains: the peaks :func:`~.centernet_targets.decode` finds
become :class:`Detections` the way predict makes them (:func:`picked`: clipped, thresholded,
class-aware NMS), and the engine's Trainer scores the validation images by mAP@0.5
(:class:`DetectionTrainer`), the measure the bake-off chooses by."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from layerwise.engine import Trainer
from layerwise.tasks.object_detection.average_precision import evaluate_detections
from layerwise.tasks.object_detection.centernet_targets import decode
from layerwise.tasks.object_detection.dataset import Detections


class DetectionTrainer(Trainer):
    """The engine's Trainer whose validation runs on letterboxed validation images, batch by
    batch (a set of them at 512 px would not fit in memory as one tensor): their loss and their
    mAP@0.5 with the peaks picked by ``pick`` (:func:`picked` with the detector's settings)."""

    def __init__(self, *args: Any, val_batch: Any = None, pick: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.val_batch, self.pick = val_batch, pick

    def evaluate(self, data: Any) -> dict[str, float]:
        indices = data[0].tolist()
        size = self.config.eval_batch_size or 2 * self.config.batch_size
        was_training = self.model.training
        self.model.eval()
        total, count, truth, found = 0.0, 0, [], []
        with torch.no_grad(), self.autocast():
            for start in range(0, len(indices), size):
                part = indices[start : start + size]
                images, targets, frame_truth = self.val_batch(part, self.device)
                outputs = self.model(images)
                total += float(self.loss_fn(outputs, targets)) * len(part)
                count += len(part)
                truth += frame_truth
                found += [self.pick(*peaks) for peaks in zip(*decode(*outputs), strict=True)]
        self.model.train(was_training)
        n_classes = int(self.model.config.n_classes)
        ap50 = evaluate_detections(truth, found, n_classes)["map50"]
        # NaN (no validation boxes at all) ranks as the worst mAP, never as the best.
        return {"val_loss": total / max(count, 1), "val_map50": float(np.nan_to_num(ap50))}


def picked(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    labels: torch.Tensor,
    nms_iou: float | None,
    top_k: int,
    score_threshold: float = 0.0,
    shape: tuple[int, int] | None = None,
) -> Detections:
    """One image's decoded peaks as :class:`Detections`: boxes clipped to ``shape`` (height,
    width) when given, kept when scoring at least ``score_threshold`` and above 0 (top-k pads
    with non-peaks when peaks are fewer than k) with a positive area, then class-aware NMS."""
    from layerwise.tasks.object_detection.boxes import batched_nms_torch, clip_boxes

    b, s, lab = boxes.float().cpu(), scores.float().cpu(), labels.cpu()
    if shape is not None:
        b = clip_boxes(b, *shape)
    keep = (s >= score_threshold) & (s > 0) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    b, s, lab = b[keep], s[keep], lab[keep]
    if nms_iou is not None and len(s):
        kept = batched_nms_torch(b, s, lab, nms_iou, top_k)
        b, s, lab = b[kept], s[kept], lab[kept]
    return Detections(b.numpy().astype(np.float32), s.numpy().astype(np.float32),
                      lab.numpy().astype(np.int64))  # fmt: skip
