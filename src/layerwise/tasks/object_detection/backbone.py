"""``--backbone path``: start the detector's backbone from a ResNet checkpoint the user has.

No weights can be downloaded while layerwise trains, but many users have a pretrained ResNet on
disk. Two layouts of a ``.safetensors`` file are read (never a pickle):

- torchvision's ResNet-18 / ResNet-34 names (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
  ``downsample``; ``fc`` is ignored), as ``safetensors.torch.save_file(resnet18(weights=...)
  .state_dict(), "resnet18.safetensors")`` writes them. Its images were normalised with
  ImageNet's mean and standard deviation, which the detector then uses too.
- layerwise's own ResNet names (``stem.0``, ``stages.0.0.conv1``, ..., with its ``mean`` and
  ``std``), as in the ``model.safetensors`` of an image-classification run on related photos.

The architecture (stem kernel, widths, blocks per stage) is read from the tensors' shapes; a 7x7
stem is followed by a 3x3 max-pool and a first stage at stride 1, as in both ResNets, so the
stages still sit at strides 4, 8, 16 and 32. Bottleneck ResNets (50 and deeper) are refused
with a message: their blocks are not the basic blocks this detector is built from.

Example:
    >>> from layerwise.models.resnet import BasicBlock
    >>> names = torchvision_names({"layer2.0.downsample.1.weight": 0, "fc.bias": 1, "conv1.weight": 2})
    >>> names
    {'stages.1.0.shortcut.1.weight': 0, 'stem.0.weight': 2}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from layerwise.errors import DataError

MAX_BYTES = 1 << 30  # a ResNet-34 is 87 MB; a file past 1 GiB is not a backbone of this kind
IMAGENET_MEAN = [0.485, 0.456, 0.406]  # torchvision's pretrained ResNets were trained on these
IMAGENET_STD = [0.229, 0.224, 0.225]
_LAYER = re.compile(r"^layer(\d+)\.(\d+)\.(.+)$")
_STAGE = re.compile(r"^stages\.(\d+)\.(\d+)\.")


@dataclass
class Backbone:
    """What a checkpoint gives the detector: its tensors under the detector's names and the
    architecture they imply (``mean`` / ``std``: the input normalisation the weights expect)."""

    tensors: dict[str, torch.Tensor]
    stem_kernel: int
    widths: list[int]
    blocks: list[int]
    mean: list[float]
    std: list[float]
    source: str


def torchvision_names(tensors: dict[str, Any]) -> dict[str, Any]:
    """torchvision ResNet names -> the detector's (``stem``, ``stages``); ``fc`` dropped."""
    out = {}
    for name, value in tensors.items():
        if name.startswith("conv1."):
            out["stem.0." + name[len("conv1.") :]] = value
        elif name.startswith("bn1."):
            out["stem.1." + name[len("bn1.") :]] = value
        elif match := _LAYER.match(name):
            stage, block, rest = int(match[1]) - 1, match[2], match[3]
            rest = rest.replace("downsample.", "shortcut.")
            out[f"stages.{stage}.{block}.{rest}"] = value
    return out


def read_backbone(path: str | Path) -> Backbone:
    """The tensors and architecture of the ResNet checkpoint at ``path``; a file that is not
    one is a one-line :class:`DataError` naming what is wrong and what is expected."""
    from safetensors.torch import load_file

    path = Path(path)
    expected = ("Give a .safetensors file of a ResNet-18 or ResNet-34 (torchvision's names) or "
                "of a layerwise image-classification run's model.")  # fmt: skip
    if not path.is_file():
        raise DataError(f"The backbone '{path}' is not a file.", expected)
    if path.stat().st_size > MAX_BYTES:
        raise DataError(f"The backbone '{path}' is over {MAX_BYTES >> 20} MB.", expected)
    try:
        raw = load_file(str(path))
    except Exception as error:  # not safetensors, truncated, a header past safetensors' cap
        raise DataError(
            f"The backbone '{path}' is not a safetensors file ({type(error).__name__}).", expected
        ) from None
    if any(".conv3." in name for name in raw):
        raise DataError(
            f"The backbone '{path}' is a bottleneck ResNet (50 or deeper): the detector is built "
            "from basic blocks.",
            expected,
        )
    layerwise_names = "stem.0.weight" in raw
    tensors = dict(raw) if layerwise_names else torchvision_names(raw)
    stem = tensors.get("stem.0.weight")
    if stem is None or stem.ndim != 4 or stem.shape[1] != 3 or stem.shape[2] not in (3, 5, 7):
        raise DataError(f"The backbone '{path}' has no ResNet stem for RGB images.", expected)
    blocks: dict[int, set[int]] = {}
    for name in tensors:
        if match := _STAGE.match(name):
            blocks.setdefault(int(match[1]), set()).add(int(match[2]))
    if not blocks or sorted(blocks) != list(range(len(blocks))) or len(blocks) > 6:
        raise DataError(f"The backbone '{path}' has no residual stages 0, 1, ...", expected)
    widths = []
    for stage in range(len(blocks)):
        conv = tensors.get(f"stages.{stage}.0.conv1.weight")
        if conv is None or conv.ndim != 4:
            raise DataError(f"The backbone '{path}' lacks stage {stage}'s first block.", expected)
        widths.append(int(conv.shape[0]))
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    if layerwise_names and "mean" in tensors and "std" in tensors:
        mean = [float(v) for v in tensors["mean"].flatten()[:3]]
        std = [float(v) for v in tensors["std"].flatten()[:3]]
    kept = {k: v for k, v in tensors.items() if k.startswith(("stem.", "stages."))}
    return Backbone(kept, int(stem.shape[2]), widths, [len(blocks[s]) for s in sorted(blocks)],
                    mean, std, "layerwise" if layerwise_names else "torchvision")  # fmt: skip


def load_backbone(model: torch.nn.Module, backbone: Backbone, path: str | Path) -> int:
    """Copy the checkpoint's tensors into ``model``'s stem and stages; return how many. Every
    tensor of the model's backbone must be there with its shape: a partial match would leave a
    network half pretrained and half random without saying so."""
    state = model.state_dict()
    wanted = [k for k in state if k.startswith(("stem.", "stages."))]
    missing = [k for k in wanted if k not in backbone.tensors]
    wrong = [k for k in wanted if k in backbone.tensors
             and tuple(backbone.tensors[k].shape) != tuple(state[k].shape)]  # fmt: skip
    if missing or wrong:
        first = (missing or wrong)[0]
        raise DataError(
            f"The backbone '{path}' does not fit the detector: {len(missing)} tensors missing, "
            f"{len(wrong)} of another shape (first: {first}).",
            "Give a ResNet-18 or ResNet-34 checkpoint, or a layerwise image-classification "
            "run's model.safetensors.",
        )
    with torch.no_grad():
        for name in wanted:
            state[name].copy_(backbone.tensors[name].to(state[name].dtype))
    return len(wanted)
