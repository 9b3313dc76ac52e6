"""``layerwise export --format onnx`` for a detection run: the CenterNet's dense outputs.

The graph takes the letterboxed image and gives, at every cell of the stride-4 grid, each
class's score and the box that cell regresses. Picking the boxes (the cells that are the maximum of
their 3x3 neighbourhood and above a threshold) is left to the caller: a top-k inside the graph
orders near-equal scores differently in ONNX Runtime and PyTorch, so the export could not be
verified to match; the dense outputs agree to float precision and the picking is four lines.
"""

from __future__ import annotations

import math
from typing import Any

from layerwise.errors import ConfigError


def onnx_parts(task: Any) -> tuple[Any, tuple, list[str], list[str]]:
    """The served CenterNet with its decoding to dense scores and boxes, an example batch."""
    import torch

    from layerwise.models.centernet import OUTPUT_STRIDE
    from layerwise.tasks.object_detection.centernet_targets import MAX_LOG_DISTANCE, dense_boxes

    if task.chosen != "centernet":
        raise ConfigError(
            f"The served detector of this run is {task.chosen}, not a neural network.",
            "Its hog_svm.safetensors holds one linear SVM per class over HOG windows; train "
            "with --candidates centernet to export a network.",
        )
    network = task.model.model.eval()
    cap = math.log(2 * int(task.model.side) / OUTPUT_STRIDE)

    class Dense(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            heat, box = self.network(image)
            # distances past twice the frame cover it whole once clipped, as predict clips
            # them; capped there, the fractions stay small enough to agree to float precision
            boxes = dense_boxes(box, OUTPUT_STRIDE, min(MAX_LOG_DISTANCE, cap))
            # fractions of the input's side: pixel values of hundreds would differ between
            # ONNX Runtime and PyTorch by more than the export check's 1e-4 (float32 rounding)
            return torch.sigmoid(heat), boxes / image.shape[-1]

    side = int(task.model.side)
    example = (torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(0)),)
    return Dense().eval(), example, ["image"], ["scores", "boxes"]


def onnx_description(task: Any) -> tuple[list[dict], dict, str]:
    side = int(task.model.side)
    cells = side // 4
    nms = "" if task.model.nms_iou is None else (
        f", then per class the boxes overlapping a better one by IoU > {task.model.nms_iou} "
        "are dropped (NMS)")  # fmt: skip
    inputs = [{
        "name": "image", "dtype": "float32", "shape": ["batch", 3, side, side],
        "encoding": f"RGB pixels / 255, channels first, letterboxed to {side}x{side}: scaled "
        f"by s = {side} / (the photo's long side), centred, the border filled with 114/255",
    }]  # fmt: skip
    output = {
        "name": "scores, boxes",
        "dtype": "float32",
        "shape": {"scores": ["batch", len(task.classes), cells, cells],
                  "boxes": ["batch", 4, cells, cells]},
        "classes": list(task.classes),
        "meaning": "scores: each class's probability that an object is centred in the cell; "
        f"boxes: x1, y1, x2, y2 of the box the cell predicts, as fractions of the input's side "
        f"(times {side} for its pixels). "
        "A detection is a cell whose score is the maximum of its 3x3 neighbourhood in its class "
        f"and at least the run's threshold ({task.option('score_threshold')}){nms}; "
        f"its box in the photo is (box x {side} - (pad_x, pad_y, pad_x, pad_y)) / s.",
    }  # fmt: skip
    return inputs, output, "centernet"
