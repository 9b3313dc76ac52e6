"""What each layer of an image CNN responds to: activations, first-layer filters, Grad-CAM.

A deep network learns layer by layer, pixels to edges to parts to objects; these views let
the user see it. :func:`layer_views` runs one image through the model once (hooks record
each stage's output, and the class logit is differentiated with respect to the last stage
for Grad-CAM), and the ``*_png`` functions draw the result as PNG bytes on matplotlib's Agg
canvas (no pyplot state, every figure released once saved).

Models with ``stem``/``stages`` attributes (layerwise's ResNet) are read stage by stage;
any other ``nn.Module`` falls back to its top-level children with a 4-D output.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

DPI = 110


@dataclass
class LayerViews:
    """One image seen through a CNN, ready to draw."""

    image: np.ndarray  # the input image, float [H, W, C] in [0, 1] (C 1 or 3)
    stages: list[tuple[str, np.ndarray]]  # ("stage 1 32x28x28", activations [C, h, w])
    filters: np.ndarray  # first conv weights [out, in, kh, kw]
    cam: np.ndarray  # Grad-CAM heat map [H, W] in [0, 1]
    predicted: int  # the class Grad-CAM explains
    probabilities: np.ndarray  # softmax [n_classes]


# ----------------------------------------------------------------------------- the model side


def _as_batch(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """``image`` ([C,H,W], [1,C,H,W] or [H,W]; uint8 or float in [0,1]) as float [1,C,H,W]."""
    x = torch.as_tensor(image).detach()
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() == 4 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 3:
        raise ValueError(
            f"layer_views expects one image shaped [C, H, W], got shape {tuple(x.shape)}; "
            "pass images[i] rather than a batch."
        )
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    return x.unsqueeze(0).to(device=device, dtype=dtype)


def _first_conv(model: nn.Module) -> nn.Conv2d | None:
    stem = getattr(model, "stem", None)
    for root in ([stem] if isinstance(stem, nn.Module) else []) + [model]:
        for module in root.modules():
            if isinstance(module, nn.Conv2d):
                return module
    return None


def _watched(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) whose outputs are the activation maps: stem + stages, else children."""
    stem, stages = getattr(model, "stem", None), getattr(model, "stages", None)
    if isinstance(stem, nn.Module) and isinstance(stages, nn.ModuleList):
        return [("stem", stem)] + [(f"stage {i + 1}", s) for i, s in enumerate(stages)]
    return [(f"{n} {type(m).__name__.lower()}", m) for n, m in model.named_children()]


def _run(model: nn.Module, x: torch.Tensor, class_index: int | None, layer: nn.Module | None):
    """One forward pass; returns (activations in call order, cam [h,w], class, probabilities).

    The model's state is left as found: training flags, hooks and ``requires_grad`` are
    restored, no parameter ``.grad`` is touched (``torch.autograd.grad``, not ``backward``).
    """
    watched = _watched(model)
    modules = [m for _, m in watched]
    if layer is not None and all(layer is not m for m in modules):
        watched.append(("grad-cam layer", layer))
    outputs: dict[int, tuple[str, torch.Tensor]] = {}
    order: list[int] = []

    def hook_for(i: int, name: str):
        def hook(_module, _inputs, output):
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                if i not in outputs:
                    order.append(i)
                outputs[i] = (name, output)
                return output.clone()  # later in-place ops (ReLU(inplace=True)) can't alter it
            return None

        return hook

    flags = [(m, m.training) for m in model.modules()]
    handles = []
    try:
        model.eval()
        handles = [m.register_forward_hook(hook_for(i, n)) for i, (n, m) in enumerate(watched)]
        with torch.enable_grad():
            x = x.clone().requires_grad_(True)  # a graph even when every parameter is frozen
            logits = model(x)
            if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
                raise ValueError(
                    f"the model must return logits shaped [1, n_classes], got "
                    f"{getattr(logits, 'shape', type(logits).__name__)}."
                )
            probabilities = torch.softmax(logits.detach().float(), dim=1)[0].cpu().numpy()
            if class_index is None:
                class_index = int(np.argmax(probabilities))
            if not 0 <= class_index < len(probabilities):
                raise ValueError(
                    f"class_index {class_index} is out of range: the model has "
                    f"{len(probabilities)} classes (0..{len(probabilities) - 1})."
                )
            target = _cam_target(watched, outputs, order, layer)
            cam = None
            if target is not None and target.requires_grad:
                (grads,) = torch.autograd.grad(logits[0, class_index], target, allow_unused=True)
                if grads is not None:
                    weights = grads.mean(dim=(2, 3), keepdim=True)
                    cam = torch.relu((weights * target).sum(dim=1))[0].detach().float()
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in flags:
            module.training = flag
    activations = [
        (outputs[i][0], outputs[i][1].detach().float()[0].cpu().numpy())
        for i in order
        if watched[i][0] != "grad-cam layer" and outputs[i][1].shape[-2:].numel() > 1
    ]
    return activations, cam, class_index, probabilities


def _cam_target(watched, outputs, order, layer) -> torch.Tensor | None:
    if layer is not None:
        index = next(i for i, (_, m) in enumerate(watched) if m is layer)
        return outputs[index][1] if index in outputs else None
    spatial = [i for i in order if outputs[i][1].shape[-2:].numel() > 1]
    return outputs[spatial[-1]][1] if spatial else None


def _upsample(cam: torch.Tensor | None, size: tuple[int, int]) -> np.ndarray:
    if cam is None:
        return np.zeros(size, dtype=np.float32)
    up = nn.functional.interpolate(cam[None, None], size=size, mode="bilinear", align_corners=False)
    up = up[0, 0].clamp_min(0).cpu().numpy().astype(np.float32)
    peak = float(up.max())
    return up / peak if peak > 1e-12 else np.zeros(size, dtype=np.float32)


def grad_cam(
    model: nn.Module,
    image: torch.Tensor,
    class_index: int | None = None,
    layer: nn.Module | None = None,
) -> tuple[np.ndarray, int, np.ndarray]:
    """Grad-CAM heat map of ``class_index`` (default: the predicted class) for one image.

    Args:
        model: a CNN returning logits; its last stage (or last 4-D output) is explained.
        image: ``[C, H, W]``, uint8 or float in [0, 1].
        class_index: the class to explain; None explains the predicted one.
        layer: the module whose output is explained, instead of the last stage.

    Returns:
        ``(cam [H, W] in [0, 1], class index, softmax probabilities)``.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
        ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
        >>> cam, cls, p = grad_cam(net, torch.rand(1, 8, 8))
        >>> cam.shape, round(float(p.sum()), 4)
        ((8, 8), 1.0)
    """
    x = _as_batch(model, image)
    _, cam, class_index, probabilities = _run(model, x, class_index, layer)
    return _upsample(cam, tuple(x.shape[-2:])), class_index, probabilities


def layer_views(
    model: nn.Module, image: torch.Tensor, class_index: int | None = None
) -> LayerViews:
    """Everything the layer views draw, from one pass of ``image`` through ``model``.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
        ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
        >>> views = layer_views(net, torch.rand(3, 8, 8))
        >>> [name for name, _ in views.stages], views.filters.shape, views.cam.shape
        (['0 conv2d 4x8x8', '1 relu 4x8x8'], (4, 3, 3, 3), (8, 8))
    """
    x = _as_batch(model, image)
    activations, cam, class_index, probabilities = _run(model, x, class_index, None)
    stages = [(f"{name} {'x'.join(map(str, a.shape))}", a) for name, a in activations]
    conv = _first_conv(model)
    filters = (
        conv.weight.detach().float().cpu().numpy().copy()
        if conv is not None
        else np.zeros((0, 1, 1, 1), dtype=np.float32)
    )
    shown = x[0].detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
    return LayerViews(
        image=shown,
        stages=stages,
        filters=filters,
        cam=_upsample(cam, tuple(x.shape[-2:])),
        predicted=int(class_index),
        probabilities=probabilities,
    )


# ---------------------------------------------------------------------------------- drawing


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    fig.clear()
    return buffer.getvalue()


def _show(ax, image: np.ndarray, **kwargs) -> None:
    """``image`` [H, W, C] or [H, W]: grayscale or RGB; small images stay crisp (nearest)."""
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2 and "cmap" not in kwargs:
        kwargs.update(cmap="gray", vmin=0.0, vmax=1.0)
    small = max(image.shape[:2]) < 256
    ax.imshow(image, interpolation="nearest" if small else "antialiased", **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])


def _unit(images: np.ndarray) -> np.ndarray:
    """uint8 (or float 0..255) -> float in [0, 1]; channels-first [N, C, H, W] -> last."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    if images.dtype == np.uint8 or (images.size and float(np.nanmax(images)) > 1.0 + 1e-6):
        images = images.astype(np.float32) / 255.0
    return np.clip(images.astype(np.float32), 0.0, 1.0)


def _minmax(a: np.ndarray) -> np.ndarray:
    low, high = float(a.min()), float(a.max())
    return (a - low) / (high - low) if high > low else np.full_like(a, 0.5)


def filters_png(filters: np.ndarray, max_filters: int = 64) -> bytes:
    """First-layer filters as a grid: RGB when they see 3 channels, grayscale otherwise.

    Example:
        >>> filters_png(np.random.default_rng(0).normal(size=(8, 3, 3, 3)))[:4]
        b'\\x89PNG'
    """
    filters = np.asarray(filters, dtype=np.float32)
    n = min(len(filters), max_filters)
    cols = max(1, min(n, math.ceil(math.sqrt(n))))
    rows = max(1, math.ceil(n / cols))
    cell = 0.75 if n > 16 else 1.0
    fig = _figure(max(3.2, cols * cell + 0.4), rows * cell + 0.7)
    if n == 0:
        fig.text(0.5, 0.5, "no convolution layer found", ha="center", va="center")
        return _png(fig)
    out, channels, kh, kw = filters.shape
    kind = (
        "RGB" if channels == 3 else "grayscale" if channels == 1 else f"mean of {channels} inputs"
    )
    fig.suptitle(
        f"First-layer filters ({n} of {out}, {kh}x{kw}, {kind})\nwhat the first layer looks for",
        fontsize=9,
    )
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        weight = filters[i]
        if channels == 3:
            _show(ax, _minmax(weight.transpose(1, 2, 0)))
        else:
            _show(ax, _minmax(weight.mean(axis=0)))
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.6 / (rows * cell + 0.7))
    return _png(fig)


def activations_png(views: LayerViews, per_stage: int = 8) -> bytes:
    """One row per stage: the image, then the stage's ``per_stage`` most active channels.

    Channels are ranked by mean activation and each is scaled on its own (brighter = stronger
    response): early rows light up on edges and colours, later rows on larger parts.
    """
    rows = max(1, len(views.stages))
    shown = min(per_stage, max((len(a) for _, a in views.stages), default=0))
    cols = 1 + shown
    cell, label = 1.15, 1.4
    fig = _figure(label + cols * cell, rows * (cell + 0.25) + 0.6)
    fig.suptitle(
        f"What each layer responds to: the {shown} most active channels of each stage "
        "(brighter = stronger)",
        fontsize=9,
    )
    if not views.stages:
        fig.text(0.5, 0.5, "no 2-D activation maps found", ha="center", va="center")
        return _png(fig)
    for r, (name, acts) in enumerate(views.stages):
        ax = fig.add_subplot(rows, cols, r * cols + 1)
        _show(ax, views.image)
        title, _, size = name.rpartition(" ")
        ax.set_ylabel(f"{title}\n{size}", fontsize=8, rotation=0, ha="right", va="center")
        if r == 0:
            ax.set_title("input", fontsize=7)
        top = np.argsort(-acts.reshape(len(acts), -1).mean(axis=1), kind="stable")[:per_stage]
        for c, channel in enumerate(top):
            ax = fig.add_subplot(rows, cols, r * cols + c + 2)
            _show(ax, acts[channel], cmap="magma")
            ax.set_title(f"ch {channel}  {float(acts[channel].mean()):.2g}", fontsize=6)
    height = rows * (cell + 0.25) + 0.6
    fig.subplots_adjust(
        left=label / (label + cols * cell),
        right=0.99,
        bottom=0.02,
        top=1 - 0.55 / height,
        wspace=0.08,
        hspace=0.3,
    )
    return _png(fig)


def grad_cam_png(views: LayerViews, classes: list[str]) -> bytes:
    """The image, and the image under its Grad-CAM heat map, titled with the prediction."""
    fig = _figure(6.4, 3.6)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    _show(left, views.image)
    left.set_title("input", fontsize=9)
    _show(right, views.image)
    _show(right, views.cam, cmap="jet", vmin=0.0, vmax=1.0, alpha=0.45)
    name = classes[views.predicted] if 0 <= views.predicted < len(classes) else views.predicted
    p = float(views.probabilities[views.predicted])
    right.set_title(f"predicted {name} (p={p:.2f})", fontsize=9)
    fig.suptitle("Grad-CAM: where the evidence for the class lies (red = most)", fontsize=8)
    fig.subplots_adjust(left=0.03, right=0.97, bottom=0.03, top=0.82, wspace=0.08)
    return _png(fig)


def image_grid_png(
    images: np.ndarray, titles: list[str], ncols: int = 8, title: str | None = None
) -> bytes:
    """A grid of images ``[N, H, W, C]`` (uint8 or float in [0, 1]), each with a short title.

    Example:
        >>> grid = np.zeros((3, 8, 8, 1), dtype=np.uint8)
        >>> image_grid_png(grid, ["true 3 / pred 8 (0.97)"] * 3)[:4]
        b'\\x89PNG'
    """
    images = _unit(images)
    n = len(images)
    cols = max(1, min(ncols, n))
    rows = max(1, math.ceil(n / cols))
    cell = 1.5
    top = 0.55 if title else 0.15
    fig = _figure(max(3.0, cols * cell), rows * (cell + 0.2) + top)
    if title:
        fig.suptitle(title, fontsize=9)
    if n == 0:
        fig.text(0.5, 0.5, "no images", ha="center", va="center")
        return _png(fig)
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        _show(ax, images[i])
        text = str(titles[i]) if i < len(titles) else ""
        lines = [line if len(line) <= 24 else line[:23] + "…" for line in text.splitlines()]
        ax.set_title("\n".join(lines), fontsize=7)
    height = rows * (cell + 0.2) + top
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - top / height, hspace=0.35)
    return _png(fig)


def write_layer_views(
    model: nn.Module, image: torch.Tensor, out_dir, classes: list[str], prefix: str = ""
) -> list[Path]:
    """Write ``<prefix>gradcam.png``, ``<prefix>activations.png``, ``<prefix>filters.png``.

    Example:
        >>> import tempfile
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
        ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
        >>> paths = write_layer_views(net, torch.rand(1, 8, 8), tempfile.mkdtemp(), ["a", "b"])
        >>> [p.name for p in paths]
        ['gradcam.png', 'activations.png', 'filters.png']
    """
    from layerwise.io import atomic_write

    views = layer_views(model, image)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pictures = {
        "gradcam.png": grad_cam_png(views, classes),
        "activations.png": activations_png(views),
        "filters.png": filters_png(views.filters),
    }
    paths = []
    for name, data in pictures.items():
        path = out / f"{prefix}{name}"
        atomic_write(path, lambda tmp, data=data: tmp.write_bytes(data))
        paths.append(path)
    return paths
