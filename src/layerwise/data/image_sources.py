"""Image datasets the project ships or generates, and writers for every layout it reads.

* :func:`digits`: scikit-learn's 1,797 8x8 handwritten digits (bundled, no download).
* :func:`shapes`: RGB discs, squares, triangles and stripes at random place, scale, colour
  and angle, with pixel noise: easy for a small CNN, hard for a linear model on pixels.
* :func:`scans`: grayscale "medical-like" images, an organ on a textured background, some
  with one small faint lesion: imbalanced and not trivially separable.
* :func:`write_folder`, :func:`write_npz`, :func:`write_idx`: write an ImageSet as a folder
  per class, a MedMNIST-style NPZ or MNIST IDX files (for demos and tests).

Everything random takes a seed: the same seed gives identical arrays.
"""

from __future__ import annotations

import gzip
import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from layerwise.data.images import IMAGE_EXTENSIONS, ImageSet
from layerwise.errors import DataError

SHAPE_CLASSES = ["disc", "square", "stripes", "triangle"]
SCAN_CLASSES = ["normal", "lesion"]
NPZ_SPLITS = ("train", "val", "test")


def digits() -> ImageSet:
    """scikit-learn's handwritten digits: 1,797 grayscale 8x8 images, classes "0".."9".

    Example:
        >>> digits().summary()
        '1,797 images 8x8 grayscale, 10 classes (min 174, max 183 per class)'
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.rint(data.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return ImageSet(
        images=images,
        labels=data.target.astype(np.int64),
        classes=[str(i) for i in range(10)],
        names=[f"digits[{i}]" for i in range(len(images))],
        source="<scikit-learn digits>",
    )


def shapes(n: int = 2000, size: int = 32, seed: int = 0) -> ImageSet:
    """RGB images of four balanced classes: "disc", "square", "stripes", "triangle".

    Each image has random foreground and background colours (with enough contrast), a
    random position and scale (and angle for squares, triangles and stripes) and Gaussian
    pixel noise, so the class is in the shape, not in any fixed pixels.

    Example:
        >>> s = shapes(8, size=16, seed=1)
        >>> s.images.shape, s.classes
        ((8, 16, 16, 3), ['disc', 'square', 'stripes', 'triangle'])
    """
    _check_count(n, size)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(SHAPE_CLASSES)).astype(np.int64)
    y, x = np.mgrid[0:size, 0:size] + 0.5
    draw: list[Callable] = [_disc, _square, _stripes, _triangle]
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        background, foreground = _colour_pair(rng)
        cover = draw[label](rng, x, y, size)[..., None]
        pixels = background + cover * (foreground - background)
        pixels += rng.normal(0.0, 12.0, pixels.shape)
        images[i] = np.clip(np.rint(pixels), 0, 255)
    names = [f"shapes[{i}]" for i in range(n)]
    return ImageSet(images, labels, list(SHAPE_CLASSES), names, source=f"<shapes seed={seed}>")


def _soft(distance: np.ndarray) -> np.ndarray:
    """Coverage of a pixel from its signed distance to an edge (antialiased)."""
    return np.clip(0.5 - distance, 0.0, 1.0)


def _centre(rng: np.random.Generator, extent: float, size: int) -> tuple[float, float]:
    low, high = extent + 0.5, size - extent - 0.5
    if low >= high:
        return size / 2, size / 2
    return float(rng.uniform(low, high)), float(rng.uniform(low, high))


def _disc(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
    radius = rng.uniform(0.16, 0.34) * size
    cx, cy = _centre(rng, radius, size)
    return _soft(np.hypot(x - cx, y - cy) - radius)


def _square(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
    half = rng.uniform(0.14, 0.30) * size
    cx, cy = _centre(rng, half * math.sqrt(2), size)
    angle = rng.uniform(0, math.pi / 2)
    u = (x - cx) * math.cos(angle) + (y - cy) * math.sin(angle)
    v = -(x - cx) * math.sin(angle) + (y - cy) * math.cos(angle)
    return _soft(np.maximum(np.abs(u), np.abs(v)) - half)


def _triangle(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
    radius = rng.uniform(0.22, 0.42) * size  # circumradius; the inradius is half of it
    cx, cy = _centre(rng, radius, size)
    angle = rng.uniform(0, 2 * math.pi / 3)
    sides = [
        (x - cx) * math.cos(angle + k * 2 * math.pi / 3)
        + (y - cy) * math.sin(angle + k * 2 * math.pi / 3)
        for k in range(3)
    ]
    return _soft(np.maximum.reduce(sides) - radius / 2)


def _stripes(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
    period = rng.uniform(0.12, 0.28) * size
    angle, phase = rng.uniform(0, math.pi), rng.uniform(0, 2 * math.pi)
    wave = np.sin(2 * math.pi * (x * math.cos(angle) + y * math.sin(angle)) / period + phase)
    return np.clip(0.5 + wave * period / 4, 0.0, 1.0)


def _colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Background and foreground RGB colours whose brightness differs by 60 or more."""
    luma = np.array([0.299, 0.587, 0.114])
    background = rng.uniform(0, 255, 3)
    while True:
        foreground = rng.uniform(0, 255, 3)
        if abs(float((foreground - background) @ luma)) >= 60:
            return background, foreground


def scans(n: int = 3000, size: int = 28, prevalence: float = 0.25, seed: int = 0) -> ImageSet:
    """Grayscale "scans": a round organ on a textured background; "lesion" ones hold a blob.

    The blob is small, faint and soft-edged, somewhere inside the organ, and the organ's own
    texture makes look-alikes, so accuracy is high but not 100%. Exactly
    ``round(n * prevalence)`` images are lesions; classes are ``["normal", "lesion"]``.

    Example:
        >>> s = scans(20, prevalence=0.25, seed=0)
        >>> s.classes, int(s.labels.sum())
        (['normal', 'lesion'], 5)
    """
    _check_count(n, size)
    if not 0.0 < prevalence < 1.0:
        raise DataError(
            f"prevalence={prevalence} is not a fraction.", "Give a value between 0 and 1."
        )
    rng = np.random.default_rng(seed)
    positives = round(n * prevalence)
    labels = rng.permutation(np.r_[np.ones(positives), np.zeros(n - positives)]).astype(np.int64)
    background = _smooth_noise(rng, n, size, sigma=size / 7)
    texture = _smooth_noise(rng, n, size, sigma=1.0)
    y, x = np.mgrid[0:size, 0:size] + 0.5
    images = np.empty((n, size, size, 1), dtype=np.uint8)
    for i in range(n):
        organ, radius, centre = _organ(rng, x, y, size)
        pixels = 50 + 14 * background[i] + organ * (rng.uniform(60, 100) + 7 * texture[i])
        if labels[i]:
            spot = rng.uniform(0, 0.6 * radius), rng.uniform(0, 2 * math.pi)
            lx, ly = (
                centre[0] + spot[0] * math.cos(spot[1]),
                centre[1] + spot[0] * math.sin(spot[1]),
            )
            width, strength = rng.uniform(1.4, 2.2), rng.uniform(34, 50)
            pixels += organ * strength * np.exp(-((x - lx) ** 2 + (y - ly) ** 2) / (2 * width**2))
        pixels += rng.normal(0.0, 5.0, pixels.shape)
        images[i, ..., 0] = np.clip(np.rint(pixels), 0, 255)
    names = [f"scans[{i}]" for i in range(n)]
    return ImageSet(images, labels, list(SCAN_CLASSES), names, source=f"<scans seed={seed}>")


def _smooth_noise(rng: np.random.Generator, n: int, size: int, sigma: float) -> np.ndarray:
    """``n`` fields of Gaussian noise blurred by ``sigma`` pixels, each scaled to unit std."""
    noise = rng.normal(size=(n, size, size))
    fy, fx = np.fft.fftfreq(size)[:, None], np.fft.rfftfreq(size)[None, :]
    kernel = np.exp(-2 * (math.pi * sigma) ** 2 * (fy**2 + fx**2))
    smooth = np.fft.irfft2(np.fft.rfft2(noise) * kernel, s=(size, size))
    return smooth / smooth.std(axis=(1, 2), keepdims=True)


def _organ(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, size: int
) -> tuple[np.ndarray, float, tuple[float, float]]:
    """A soft-edged roundish mask (a circle with wobbly radius), its radius and centre."""
    cx, cy = size / 2 + rng.normal(0, size * 0.04, 2)
    radius = rng.uniform(0.28, 0.36) * size
    theta = np.arctan2(y - cy, x - cx)
    wobble = sum(
        rng.uniform(0, 0.07) * np.cos(k * theta - rng.uniform(0, 2 * math.pi)) for k in (2, 3)
    )
    edge = radius * (1 + wobble) - np.hypot(x - cx, y - cy)
    return 1 / (1 + np.exp(-edge / 0.9)), float(radius), (float(cx), float(cy))


def _check_count(n: int, size: int) -> None:
    if n < 1 or size < 4:
        raise DataError(
            f"Cannot generate {n} images of size {size}.", "Ask for n >= 1 and size >= 4."
        )


# ---- writers ---------------------------------------------------------------------------
def write_folder(images: ImageSet, folder: str | Path) -> Path:
    """Write ``folder/<class>/<name>.png`` (unlabelled images straight into ``folder``).

    Names such as ``digits[12]`` become ``digits-0012.png`` so files sort in the set's order.

    Example:
        >>> import tempfile
        >>> out = write_folder(shapes(4, size=8), tempfile.mkdtemp())
        >>> sorted(p.name for p in out.iterdir())
        ['disc', 'square', 'stripes', 'triangle']
    """
    from PIL import Image

    folder = Path(folder)
    if images.labels is not None and (images.labels < 0).any():
        raise DataError(
            "Cannot write images of unknown class (label -1) into a folder per class.",
            "Drop them first: images.subset(images.labels >= 0).",
        )
    for i, stem in enumerate(_file_stems(images.names)):
        where = folder
        if images.labels is not None:
            where = folder / re.sub(r"[\\/\0]", "_", images.classes[images.labels[i]])
        where.mkdir(parents=True, exist_ok=True)
        pixels = images.images[i]
        Image.fromarray(pixels[..., 0] if images.channels == 1 else pixels).save(
            where / f"{stem}.png"
        )
    return folder


def digits_folder(folder: str | Path) -> Path:
    """``folder/digits/<class>/*.png`` of :func:`digits` (the demos' images), written once:
    beside, then renamed, so an interrupted write leaves no half folder."""
    import shutil

    path = Path(folder) / "digits"
    if not path.is_dir():
        partial = Path(folder) / ".digits-partial"
        shutil.rmtree(partial, ignore_errors=True)
        write_folder(digits(), partial)
        partial.rename(path)
    return path


def _file_stems(names: list[str]) -> list[str]:
    """Unique, file-safe stems: ``x[3]`` -> ``x-0003``, ``cat/a.png`` -> ``cat_a``."""
    width = len(str(max(len(names) - 1, 0)))
    stems, seen = [], set()
    for name in names:
        stem = (
            name[: -len(Path(name).suffix)]
            if Path(name).suffix.lower() in IMAGE_EXTENSIONS
            else name
        )
        stem = re.sub(r"\[(\d+)\]$", lambda m: "-" + m[1].zfill(width), stem)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "image"
        unique, k = stem, 2
        while unique in seen:
            unique, k = f"{stem}-{k}", k + 1
        seen.add(unique)
        stems.append(unique)
    return stems


def write_npz(
    images: ImageSet, path: str | Path, splits: dict[str, np.ndarray] | None = None
) -> Path:
    """Write a MedMNIST-style NPZ: ``<split>_images`` and ``<split>_labels`` (shape [N, 1]).

    Splits default to ``images.split`` (or everything as "train"). Grayscale images are
    stored [N, H, W], RGB [N, H, W, 3]; a ``classes`` array keeps the class names.

    Example:
        >>> import tempfile
        >>> s = digits()
        >>> p = write_npz(s, Path(tempfile.mkdtemp()) / "d.npz", {"train": s.labels < 9})
        >>> sorted(np.load(p).files)
        ['classes', 'train_images', 'train_labels']
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    if splits is None:
        if images.split is None:
            splits = {"train": np.arange(len(images))}
        else:
            splits = {s: images.split == s for s in NPZ_SPLITS if (images.split == s).any()}
    arrays: dict[str, np.ndarray] = {}
    for name, index in splits.items():
        if name not in NPZ_SPLITS:
            raise DataError(f"Split '{name}' is not one of {', '.join(NPZ_SPLITS)}.", "Rename it.")
        part = images.images[np.asarray(index)]
        arrays[f"{name}_images"] = part[..., 0] if images.channels == 1 else part
        if images.labels is not None:
            arrays[f"{name}_labels"] = images.labels[np.asarray(index)].reshape(-1, 1)
    if images.labels is not None:
        arrays["classes"] = np.asarray(images.classes, dtype=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def write_idx(
    images: ImageSet, folder: str | Path, prefix: str = "train", gz: bool = False
) -> Path:
    """Write ``<prefix>-images-idx3-ubyte`` and ``<prefix>-labels-idx1-ubyte`` (MNIST IDX).

    Only grayscale images and labels 0..255 fit the format. Returns the folder.

    Example:
        >>> import tempfile
        >>> out = write_idx(digits(), tempfile.mkdtemp(), prefix="t10k", gz=True)
        >>> sorted(p.name for p in out.iterdir())
        ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']
    """
    if images.channels != 1:
        raise DataError(
            f"IDX files hold grayscale images; these have {images.channels} channels.",
            "Write them with write_npz or write_folder instead.",
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.ascontiguousarray(images.images[..., 0])
    header = bytes([0, 0, 0x08, 3]) + np.asarray(pixels.shape, dtype=">u4").tobytes()
    _write_bytes(folder / f"{prefix}-images-idx3-ubyte", header + pixels.tobytes(), gz)
    if images.labels is not None:
        if len(images) and (images.labels.min() < 0 or images.labels.max() > 255):
            raise DataError(
                "IDX labels must be 0..255; these include unknown (-1) or larger codes.",
                "Drop unknown labels first, or write an NPZ.",
            )
        header = bytes([0, 0, 0x08, 1]) + np.asarray([len(images)], dtype=">u4").tobytes()
        body = images.labels.astype(np.uint8).tobytes()
        _write_bytes(folder / f"{prefix}-labels-idx1-ubyte", header + body, gz)
    return folder


def _write_bytes(path: Path, data: bytes, gz: bool) -> None:
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data, mtime=0))
    else:
        path.write_bytes(data)
