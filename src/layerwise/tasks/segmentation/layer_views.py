"""What each layer of the U-Net's encoder responds to: the image classifier's layer views
(:mod:`layerwise.explain.layer_views`: activations stage by stage, first-layer filters,
Grad-CAM), drawn for the report and for ``layerwise explain``.

Grad-CAM needs one number per class to explain; a segmenter's is the mean logit of the class
over the pixels where the U-Net predicts it, so the map shows where the encoder found the
evidence for the class it drew most.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from layerwise.runs.folder import RunFolder
from layerwise.runs.report_images import VIEWS  # the report section reads what is written here

N_VIEWED = 2  # test images drawn in the report
VIEW_SIDE = 256  # the crop of a large image that is viewed (its centre)


def class_model(network: Any) -> Any:
    """The U-Net as a "classifier": each class's logit averaged over the pixels predicted as
    that class (over all pixels when it predicts none). It keeps ``stem`` and ``stages``, so
    the layer views read the encoder stage by stage."""
    import torch

    class Classes(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network
            self.stem, self.stages = network.stem, network.stages

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = self.network(x)
            won = torch.nn.functional.one_hot(logits.argmax(1), logits.shape[1]).permute(0, 3, 1, 2)
            weight = won.float() + 1e-6
            return (logits * weight).sum(dim=(2, 3)) / weight.sum(dim=(2, 3))

    return Classes().eval()


def framed(segmenter: Any, image: np.ndarray) -> Any:
    """The centre of the image, at most ``VIEW_SIDE`` a side and cut to the U-Net's stride, as
    a float tensor ``[C, H, W]`` in [0, 1]."""
    import torch

    stride = segmenter.model.config.stride
    height, width = image.shape[:2]
    h = max(stride, min(VIEW_SIDE, height) // stride * stride)
    w = max(stride, min(VIEW_SIDE, width) // stride * stride)
    top, left = max(0, (height - h) // 2), max(0, (width - w) // 2)
    crop = np.asarray(image[top : top + h, left : left + w], np.float32) / 255.0
    if crop.shape[:2] != (h, w):  # smaller than one stride: padded
        pad = [(0, h - crop.shape[0]), (0, w - crop.shape[1])] + [(0, 0)] * (crop.ndim - 2)
        crop = np.pad(crop, pad, mode="edge")
    tensor = torch.from_numpy(np.ascontiguousarray(crop))
    return tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)


def write_views(task: Any, run: RunFolder, test: Any) -> None:
    """Layer views of the first test images, when the served model is the U-Net."""
    from layerwise.explain import layer_views as lv

    if task.chosen != "unet":
        return
    model = class_model(task.model.model)
    for n, image in enumerate(test.images[:N_VIEWED], 1):
        views = lv.layer_views(model, framed(task.model, image))
        run.write_bytes(f"{VIEWS}/{n}_gradcam.png", lv.grad_cam_png(views, task.classes))
        run.write_bytes(f"{VIEWS}/{n}_activations.png", lv.activations_png(views))
        if n == 1:  # the filters are the same whatever the image
            run.write_bytes(f"{VIEWS}/filters.png", lv.filters_png(views.filters))


def explain(task: Any, image: np.ndarray, out_dir: str | Path, prefix: str = "") -> list[Path]:
    """``layerwise explain``: the layer views of one image, for a U-Net run."""
    from layerwise.errors import ConfigError
    from layerwise.explain.layer_views import write_layer_views

    if task.chosen != "unet":
        raise ConfigError(
            f"The served model of this run is {task.chosen}: it has no layers to show.",
            "Train with --candidates unet to see what each layer responds to.",
        )
    model = class_model(task.model.model)
    return write_layer_views(model, framed(task.model, image), out_dir, task.classes, prefix)
