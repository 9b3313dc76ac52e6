"""Animated GIFs (and a static strip) of frames an agent saw, for run folders and reports.

Frames are uint8 arrays: (H, W, 3) RGB, (H, W) or (H, W, 1) gray, or (H, W, 4) RGBA (the
alpha channel is dropped). Pillow is imported inside the functions, so importing this module
costs nothing, and nothing here needs torch or gymnasium.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from layerwise.errors import ConfigError, DataError
from layerwise.io import atomic_write

_PALETTE_SAMPLES = 8  # frames the shared palette is fitted on, evenly spaced


def _rgb(frame: object, index: int) -> np.ndarray:
    """One frame as a (H, W, 3) uint8 array; a DataError naming what it was otherwise."""
    array = np.asarray(frame)
    shape = getattr(frame, "shape", array.shape)
    if array.dtype != np.uint8:
        raise DataError(
            f"Frame {index} has dtype {array.dtype} (shape {tuple(shape)}); expected uint8.",
            "Pass rendered frames as uint8 RGB arrays, e.g. env.render() with "
            "render_mode='rgb_array', or convert with (x * 255).clip(0, 255).astype('uint8').",
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(
            f"Frame {index} has shape {tuple(shape)}; expected (H, W, 3) RGB, (H, W) gray "
            "or (H, W, 4) RGBA.",
            "Pass one image per frame, not a batch or a channels-first array.",
        )
    return np.ascontiguousarray(array)


def _frames(frames: Iterable) -> list[np.ndarray]:
    if isinstance(frames, np.ndarray) and frames.ndim in (3, 4) and frames.dtype == np.uint8:
        frames = list(frames)  # a stacked (T, H, W[, C]) array is a sequence of frames
    frames = list(frames) if frames is not None else []
    if not frames:
        raise DataError(
            "No frames were given (received an empty sequence).",
            "Render at least one frame of the episode before saving it.",
        )
    shapes = {np.shape(f) for f in frames}
    if len(shapes) > 1:
        shown = ", ".join(str(s) for s in sorted(shapes)[:4])
        raise DataError(f"Frames differ in shape ({shown}); expected one shape for all.",
                        "Render every frame of the episode at the same size.")  # fmt: skip
    return frames


def _resized(image, max_side: int):
    from PIL import Image

    width, height = image.size
    scale = min(1.0, max_side / max(width, height))
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def save_gif(
    frames: Iterable,
    path: str | Path,
    fps: float = 30,
    max_side: int = 320,
    every: int = 1,
    max_frames: int = 300,
) -> dict:
    """Write frames as a looping animated GIF with one palette shared by every frame.

    Every ``every``-th frame is kept; if that still leaves more than ``max_frames`` the
    stride is widened (to an integer, so kept frames stay evenly spaced) until it fits.
    Frames are shrunk so the longer side is at most ``max_side`` (aspect kept) and mapped,
    without dithering, to one 256-colour palette fitted on a few frames, so colours do not
    flicker and the file stays small. Identical consecutive frames are merged into one
    longer frame. The file is written atomically.

    Args:
        frames: uint8 arrays, (H, W, 3), (H, W), (H, W, 1) or (H, W, 4), all one shape.
        path: the GIF to write.
        fps: playback rate of the GIF (kept frames a second).
        max_side: the longest side in pixels after shrinking (never enlarged).
        every: keep every ``every``-th frame, starting with the first.
        max_frames: the most frames written.

    Returns:
        ``{"frames": n_written, "every": stride, "width": w, "height": h, "bytes": size}``
        where ``stride`` is the step between kept source frames.

    Raises:
        DataError: no frames, or a frame of the wrong shape or dtype.
        ConfigError: ``fps``, ``max_side``, ``every`` or ``max_frames`` below 1 (fps <= 0).

    Example:
        >>> import tempfile, numpy as np
        >>> frames = [np.full((60, 80, 3), i * 20, dtype=np.uint8) for i in range(10)]
        >>> info = save_gif(frames, tempfile.mkdtemp() + "/play.gif", every=2, max_side=40)
        >>> info["frames"], info["every"], info["width"], info["height"]
        (5, 2, 40, 30)
    """
    from PIL import Image

    for name, value in (("every", every), ("max_side", max_side), ("max_frames", max_frames)):
        if int(value) != value or value < 1:
            raise ConfigError(f"{name}={value!r} is invalid.", f"Pass an integer >= 1 as {name}.")
    if not fps > 0:
        raise ConfigError(f"fps={fps!r} is invalid.", "Pass a positive frame rate.")
    frames = _frames(frames)
    stride = int(every) * max(1, math.ceil(math.ceil(len(frames) / every) / max_frames))
    kept = [_rgb(frames[i], i) for i in range(0, len(frames), stride)]
    images = [_resized(Image.fromarray(f), max_side) for f in kept]
    width, height = images[0].size
    picks = np.unique(np.linspace(0, len(images) - 1, min(len(images), _PALETTE_SAMPLES)).round())
    mosaic = Image.new("RGB", (width, height * len(picks)))
    for row, i in enumerate(picks.astype(int)):
        mosaic.paste(images[i], (0, row * height))
    palette = mosaic.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    step_ms = 1000.0 / fps
    out, durations, previous = [], [], None
    for image in images:
        indexed = image.quantize(palette=palette, dither=Image.Dither.NONE)
        pixels = np.asarray(indexed)
        if previous is not None and np.array_equal(pixels, previous):
            durations[-1] += step_ms  # Pillow would merge it anyway; count what is written
            continue
        out.append(indexed)
        durations.append(step_ms)
        previous = pixels
    durations = [max(20, round(d)) for d in durations]  # browsers slow frames under 20 ms

    def write(tmp: Path) -> None:
        out[0].save(tmp, format="GIF", save_all=True, append_images=out[1:],
                    duration=durations if len(out) > 1 else durations[0], loop=0,
                    optimize=False, disposal=1)  # fmt: skip

    path = Path(path)
    atomic_write(path, write)
    return {"frames": len(out), "every": stride, "width": width, "height": height,
            "bytes": path.stat().st_size}  # fmt: skip


def frame_strip(frames: Iterable, n: int = 6, max_side: int = 160) -> np.ndarray:
    """``n`` evenly spaced frames side by side (first and last included), as one RGB image.

    Each frame is shrunk so its longer side is at most ``max_side``; frames are separated by
    a 2-pixel white gap. Fewer than ``n`` frames give a strip of all of them.

    Args:
        frames: uint8 arrays, (H, W, 3), (H, W), (H, W, 1) or (H, W, 4), all one shape.
        n: how many frames to show.
        max_side: the longest side of each frame in pixels (never enlarged).

    Returns:
        A uint8 array (h, n * w + 2 * (n - 1), 3).

    Example:
        >>> import numpy as np
        >>> frames = [np.zeros((100, 50), dtype=np.uint8)] * 20
        >>> frame_strip(frames, n=4, max_side=40).shape
        (40, 86, 3)
    """
    from PIL import Image

    if int(n) != n or n < 1 or int(max_side) != max_side or max_side < 1:
        raise ConfigError(f"n={n!r}, max_side={max_side!r} are invalid.",
                          "Pass integers >= 1.")  # fmt: skip
    frames = _frames(frames)
    picks = np.unique(np.linspace(0, len(frames) - 1, min(int(n), len(frames))).round()).astype(int)
    tiles = [np.asarray(_resized(Image.fromarray(_rgb(frames[i], i)), max_side)) for i in picks]
    gap = np.full((tiles[0].shape[0], 2, 3), 255, dtype=np.uint8)
    parts = [part for tile in tiles for part in (gap, tile)][1:]
    return np.concatenate(parts, axis=1)
