"""What each layer of the detector responds to: the image classifier's layer views
(:mod:`layerwise.explain.layer_views`: activations stage by stage, first-layer filters, Grad-CAM)
drawn for the CenterNet, for the report and for ``layerwise explain``.

Grad-CAM needs one number per class to explain; a detector's is the strongest peak of that
class's heat map, so the map shows where the evidence for the best detection of the image's
strongest class comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from layerwise.runs.folder import RunFolder
from layerwise.runs.report_images import VIEWS  # the report section reads what is written here

N_VIEWED = 2  # test images drawn in the report


def peak_model(network: Any) -> Any:
    """The CenterNet as a "classifier": each class's strongest heat-map logit. It keeps the
    network's ``stem`` and ``stages`` so the layer views read it stage by stage."""
    import torch

    class Peaks(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network
            self.stem, self.stages = network.stem, network.stages

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.network(x)[0].amax(dim=(2, 3))

    return Peaks().eval()


def framed(detector: Any, image: np.ndarray) -> Any:
    """The letterboxed image the network sees, as a float tensor ``[3, side, side]`` in [0, 1]."""
    import torch

    from layerwise.tasks.object_detection.augment import letterbox

    frame = letterbox(image, np.zeros((0, 4)), detector.side)[0]
    return torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1))).float() / 255.0


def write_views(task: Any, run: RunFolder, test: Any) -> None:
    """Layer views of the first test images with boxes, when the served model is the network."""
    from layerwise.explain import layer_views as lv

    if task.chosen != "centernet":
        return
    model = peak_model(task.model.model)
    picked = [i for i in range(len(test)) if len(test.boxes[i])][:N_VIEWED]
    for n, i in enumerate(picked, 1):
        views = lv.layer_views(model, framed(task.model, test.images[i]))
        run.write_bytes(f"{VIEWS}/{n}_gradcam.png", lv.grad_cam_png(views, task.classes))
        run.write_bytes(f"{VIEWS}/{n}_activations.png", lv.activations_png(views))
        if n == 1:  # the filters are the same whatever the image
            run.write_bytes(f"{VIEWS}/filters.png", lv.filters_png(views.filters))


def explain(task: Any, images: Any, out_dir: str | Path, prefix: str = "") -> list[Path]:
    """``layerwise explain``: the layer views of the first image, for a CenterNet run."""
    from layerwise.errors import ConfigError
    from layerwise.explain.layer_views import write_layer_views

    if task.chosen != "centernet":
        raise ConfigError(
            f"The served detector of this run is {task.chosen}: it has no layers to show.",
            "Train with --candidates centernet to see what each layer responds to.",
        )
    model = peak_model(task.model.model)
    return write_layer_views(model, framed(task.model, images.images[0]), out_dir,
                             task.classes, prefix)  # fmt: skip
