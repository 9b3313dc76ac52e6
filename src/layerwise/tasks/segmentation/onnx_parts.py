"""``layerwise export --format onnx`` for a segmentation run: the U-Net with a softmax, on
windows of ``EXPORT_SIDE`` pixels (the export's only dynamic dimension is the batch; an image of
another size is padded or cut into such windows, as ``predict`` tiles it)."""

from __future__ import annotations

from typing import Any

from layerwise.errors import ConfigError

EXPORT_SIDE = 256


def onnx_parts(task: Any) -> tuple[Any, tuple, list[str], list[str]]:
    """The served U-Net giving class probabilities, and an example batch."""
    import torch

    if task.chosen != "unet":
        raise ConfigError(
            f"The served model of this run is {task.chosen}, not a neural network.",
            "Its pixel_forest.txt is a LightGBM text model over scikit-image's multiscale "
            "pixel features; train with --candidates unet to export a network.",
        )
    network = task.model.model.eval()

    class Probabilities(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.network(image), dim=1)

    channels = network.config.in_channels
    generator = torch.Generator().manual_seed(0)
    example = (torch.rand(2, channels, EXPORT_SIDE, EXPORT_SIDE, generator=generator),)
    return Probabilities().eval(), example, ["image"], ["probabilities"]


def onnx_description(task: Any) -> tuple[list[dict], dict, str]:
    channels = task.model.model.config.in_channels
    colour = "grey" if channels == 1 else "RGB"
    inputs = [{
        "name": "image", "dtype": "float32", "shape": ["batch", channels, EXPORT_SIDE, EXPORT_SIDE],
        "encoding": f"{colour} pixels / 255, channels first; a larger image is cut into "
        f"{EXPORT_SIDE}-pixel windows (overlapping, their probabilities averaged) and a smaller "
        "one padded by repeating its edge pixels",
    }]  # fmt: skip
    output = {
        "name": "probabilities",
        "dtype": "float32",
        "shape": ["batch", len(task.classes), EXPORT_SIDE, EXPORT_SIDE],
        "classes": list(task.classes),
        "meaning": "each pixel's probability of each class; the mask is the argmax over the "
        "classes (class 0 is the background)",
    }
    return inputs, output, "unet"
