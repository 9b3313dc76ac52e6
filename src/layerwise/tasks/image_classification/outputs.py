"""The image-specific files of an image-classification run: layer views of a few test images,
the most confidently wrong ones, and the CNN's ONNX export parts."""

from __future__ import annotations

from typing import Any

import numpy as np

from layerwise.runs.folder import RunFolder
from layerwise.runs.report_images import VIEWS, WRONG  # the report reads what is written here

N_VIEWED = 3  # test images whose layer views the report shows
N_WRONG = 16


def write_image_extras(task: Any, run: RunFolder, test: Any, proba: dict[str, np.ndarray]) -> None:
    if "cnn" in proba:
        _views(task, run, test, proba["cnn"])
    _wrong(task, run, test, proba[task.chosen])


def _views(task: Any, run: RunFolder, test: Any, proba: np.ndarray) -> None:
    """Layer views of one correctly classified test image from each of the first classes."""
    import torch

    from layerwise.explain import layer_views as lv

    if "cnn" not in task.models:
        return
    predicted = proba.argmax(axis=1)
    picked = []
    for k in range(len(task.classes)):
        hits = np.flatnonzero((test.labels == k) & (predicted == k))
        if len(hits):
            picked.append(int(hits[0]))
        if len(picked) == N_VIEWED:
            break
    model = task.models["cnn"].model
    for n, i in enumerate(picked, 1):
        tensor = torch.from_numpy(np.ascontiguousarray(test.images[i].transpose(2, 0, 1)))
        views = lv.layer_views(model, tensor)
        run.write_bytes(f"{VIEWS}/{n}_gradcam.png", lv.grad_cam_png(views, task.classes))
        run.write_bytes(f"{VIEWS}/{n}_activations.png", lv.activations_png(views))
        if n == 1:  # the filters are the same whatever the image
            run.write_bytes(f"{VIEWS}/filters.png", lv.filters_png(views.filters))


def _wrong(task: Any, run: RunFolder, test: Any, proba: np.ndarray) -> None:
    from layerwise.explain.layer_views import image_grid_png

    predicted = np.array([task.classes.index(c) for c in task.labels_of(proba)])
    wrong = np.flatnonzero(predicted != test.labels)
    if len(wrong) == 0:
        return
    confidence = proba[wrong, predicted[wrong]]
    worst = wrong[np.argsort(-confidence)][:N_WRONG]
    titles = [
        f"true {task.classes[test.labels[i]]}\npred {task.classes[predicted[i]]} ({proba[i, predicted[i]]:.2f})"
        for i in worst
    ]
    png = image_grid_png(
        test.images[worst], titles, ncols=8, title="Most confidently wrong test images"
    )
    run.write_bytes(WRONG, png)


def onnx_parts(task: Any) -> tuple[Any, tuple, list[str], list[str]]:
    """The chosen CNN with a softmax, an example batch, and input/output names for ONNX export."""
    import torch

    from layerwise.errors import ConfigError

    if task.chosen != "cnn":
        raise ConfigError(
            f"The chosen model of this run is {task.chosen}, not a neural network.",
            "Its model.pixels.json is plain JSON (downsample, standardise, one matrix product); "
            "train with --candidates cnn to export a CNN.",
        )

    class Tempered(torch.nn.Module):  # the run's calibration and prior, inside the graph
        def __init__(self) -> None:
            super().__init__()
            offset = torch.zeros(len(task.classes))
            if task.prior_shift:  # two classes: Bayes' rule moves the second one's log-odds
                offset[1] = float(task.prior_shift)
            self.register_buffer("offset", offset)

        def forward(self, logits: torch.Tensor) -> torch.Tensor:
            return logits / float(task.temperature) + self.offset

    wrapped = torch.nn.Sequential(
        task.models["cnn"].model.eval(), Tempered(), torch.nn.Softmax(dim=1)
    )
    height, width = task.size
    generator = torch.Generator().manual_seed(0)
    example = (torch.rand(4, task.channels, height, width, generator=generator),)
    return wrapped.eval(), example, ["image"], ["probabilities"]


def onnx_description(task: Any) -> tuple[list[dict], dict, str]:
    height, width = task.size
    inputs = [
        {
            "name": "image",
            "dtype": "float32",
            "shape": ["batch", task.channels, height, width],
            "encoding": f"pixels / 255 in [0, 1], channels first ({'gray' if task.channels == 1 else 'RGB'}), "
            f"resized to {height}x{width}; the per-channel normalisation is inside the graph",
        }
    ]
    output = {
        "name": "probabilities",
        "dtype": "float32",
        "shape": ["batch", len(task.classes)],
        "classes": task.classes,
        "meaning": "class probabilities, columns in 'classes' order (without test-time "
        f"augmentation; calibrated: logits / {task.temperature:g} before the softmax)",
    }
    if task.prior is not None:
        output["prior"] = task.prior["prior"]
        output["meaning"] += (
            f"; adjusted to a prior of {task.prior['prior']:g} for '{task.classes[1]}': "
            f"{task.prior_shift:+.6g} added to its logit"
        )
    if task.threshold is not None:
        output["threshold"] = task.threshold
        output["meaning"] += f"; call '{task.classes[1]}' when its probability >= threshold"
    return inputs, output, "cnn"
