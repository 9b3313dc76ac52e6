"""Array layouts for :func:`layerwise.data.images.read_images`: NPZ, IDX and arrays in memory.

Everything that arrives as arrays (MedMNIST-style NPZ, MNIST IDX files, ``X`` or ``(X, y)``
in memory, and the stacked pixels of decoded files) is cleaned here into an
:class:`~layerwise.data.image_set.ImageSet`: uint8 ``[N, H, W, C]``, one channel count, the
asked size, and label codes into the class names.
"""

from __future__ import annotations

import gzip
import math
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from layerwise.data.image_set import ImageSet, Options, resize_crop
from layerwise.data.records import Records
from layerwise.errors import DataError


@dataclass
class Raw:
    """Images as found (any dtype, [N, H, W(, C)]) with raw label values, before cleaning."""

    images: np.ndarray
    labels: np.ndarray | None = None
    source: str = ""
    names: list[str] | None = None
    split: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    order: list[str] | None = None  # class names when ``labels`` are codes into them


def finish(raw: Raw, opts: Options) -> ImageSet:
    """Clean arrays into an ImageSet: uint8 NHWC, channels, size, label codes."""
    notes = list(raw.notes)
    where = raw.source if raw.source.startswith("<") else f"'{raw.source}'"
    streamed = isinstance(raw.images, Records)  # decoded to disk at the size and channels
    images = raw.images if streamed else _as_uint8(raw.images, where, notes)
    n = len(images)
    if raw.labels is not None and len(raw.labels) != n:
        raise DataError(
            f"{where} has {n:,} images but {len(raw.labels):,} labels.",
            "Give exactly one label per image.",
        )
    images = images if streamed else _set_channels(images, opts.channels, notes)
    if not streamed and opts.size is not None and images.shape[1:3] != opts.size:
        height, width = images.shape[1:3]
        images = _resize_all(images, opts.size)
        notes.append(f"resized from {height}x{width} to {opts.size[0]}x{opts.size[1]}")
    labels, classes = _encode(raw.labels, raw.order, opts.classes, notes)
    names = raw.names if raw.names is not None else [f"array[{i}]" for i in range(n)]
    return ImageSet(images, labels, classes, list(names), raw.split, [], raw.source, notes)


def _as_uint8(x: np.ndarray, where: str, notes: list[str]) -> np.ndarray:
    """``x`` as uint8 ``[N, H, W, C]``: floats in [0, 1] scaled by 255, others by min/max."""
    expected = "Give images as an array [N, H, W] (grayscale) or [N, H, W, C] with C 1 or 3."
    if x.dtype.kind not in "biuf":
        raise DataError(f"{where} holds {x.dtype} values, not pixel numbers.", expected)
    if x.ndim == 4 and x.shape[-1] not in (1, 3, 4) and x.shape[1] in (1, 3):
        x = x.transpose(0, 2, 3, 1)
        notes.append("read channels-first images [N, C, H, W] as [N, H, W, C]")
    if x.ndim == 4 and x.shape[-1] == 4:
        x = x[..., :3]
        notes.append("dropped the alpha channel of RGBA images")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or x.shape[0] == 0:
        raise DataError(f"{where} holds an array of shape {list(x.shape)}.", expected)
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if x.dtype.kind == "b":
        return x.astype(np.uint8) * 255
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{where} has NaN or infinite pixel values.", "Replace them first.")
    lo, hi = float(x.min()), float(x.max())
    if x.dtype.kind in "iu" and lo >= 0 and hi <= 255:
        return x.astype(np.uint8)
    if x.dtype.kind == "f" and lo >= 0 and hi <= 1:
        return np.rint(x * 255.0).astype(np.uint8)
    notes.append(f"scaled {x.dtype} pixel values from [{lo:g}, {hi:g}] to 0..255")
    scaled = (x - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(x, dtype=float)
    return np.rint(scaled).astype(np.uint8)


def _set_channels(x: np.ndarray, channels: int | None, notes: list[str]) -> np.ndarray:
    if x.shape[-1] == 1:
        return np.repeat(x, 3, axis=-1) if channels == 3 else x
    if channels == 3:
        return x
    if (x[..., 0] == x[..., 1]).all() and (x[..., 1] == x[..., 2]).all():
        notes.append("converted 3-channel gray images to 1 channel")
        return np.ascontiguousarray(x[..., :1])
    if channels is None:
        return x
    notes.append("converted RGB images to grayscale")
    weights = np.array([299, 587, 114], dtype=np.uint32)
    return ((x.astype(np.uint32) @ weights + 500) // 1000).astype(np.uint8)[..., None]


def _resize_all(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(x), *size, x.shape[-1]), dtype=np.uint8)
    for i, image in enumerate(x):
        pil = Image.fromarray(image[..., 0] if x.shape[-1] == 1 else image)
        out[i] = np.asarray(resize_crop(pil, size)).reshape(out.shape[1:])
    return out


def label_strings(values: list) -> list[str]:
    """Label values as class names: 1.0 -> "1", " cat " -> "cat"."""
    return [
        str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip() for v in values
    ]


def _class_order(names: list[str]) -> list[str]:
    """Numeric order when every name is a number ("2" before "10"), else by name."""
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)


def _encode(
    values: np.ndarray | None, order: list[str] | None, known: list[str] | None, notes: list[str]
) -> tuple[np.ndarray | None, list[str]]:
    """Label codes into the classes: ``known`` (unknown names get -1), ``order`` or sorted."""
    if values is None:
        return None, list(known or [])
    values = np.asarray(values)
    if order is not None:
        names, inverse = list(order), values.astype(np.int64)
    else:
        if values.dtype.kind == "f" and np.isfinite(values).all():
            values = values.astype(np.int64) if (values == np.round(values)).all() else values
        if values.dtype.kind not in "biuf":
            values = np.asarray(label_strings(values.tolist()), dtype=str)
        unique, inverse = np.unique(values, return_inverse=True)
        names = label_strings(unique.tolist())
    classes = list(known) if known is not None else (names if order else _class_order(names))
    position = {c: i for i, c in enumerate(classes)}
    lookup = np.array([position.get(n, -1) for n in names], dtype=np.int64)
    codes = lookup[inverse.reshape(-1)]
    unknown = sorted({names[i] for i in np.unique(inverse) if lookup[i] < 0})
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        notes.append(
            f"{int((codes < 0).sum()):,} images have classes not in the known classes "
            f"({shown}): label -1"
        )
    return codes, classes


# ---- NPZ -------------------------------------------------------------------------------
def read_npz(path: Path, opts: Options) -> ImageSet:
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.files)
            parts = _npz_parts(keys, path.name)
            loaded = [(s, data[xk], None if yk is None else data[yk]) for s, xk, yk in parts]
            order = [str(c) for c in data["classes"].tolist()] if "classes" in keys else None
    except ValueError as exc:
        if "pickle" not in str(exc):
            raise DataError(f"'{path.name}' could not be read ({_short(exc)}).") from exc
        raise DataError(
            f"'{path.name}' holds Python objects (pickled), which are not loaded for safety.",
            "Save plain numeric arrays, e.g. np.savez(path, x=images, y=labels).",
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"'{path.name}' is not a readable NPZ file ({_short(exc)}).",
            "Check that it is a complete file saved with np.savez / np.savez_compressed.",
        ) from exc
    return finish(_npz_raw(loaded, order, path), opts)


def _npz_parts(keys: list[str], label: str) -> list[tuple[str, str, str | None]]:
    """(split, images key, labels key or None) for the arrays of an NPZ."""
    parts = [
        (s, f"{s}_images", f"{s}_labels" if f"{s}_labels" in keys else None)
        for s in ("train", "val", "test")
        if f"{s}_images" in keys
    ]
    if parts:
        unlabelled = [x for _, x, y in parts if y is None]
        if unlabelled and len(unlabelled) < len(parts):
            raise DataError(
                f"'{label}' has {unlabelled[0]} without {unlabelled[0][:-7]}_labels.",
                "Give labels for every split, or none.",
            )
        return parts
    x = next((k for k in ("x", "X", "images") if k in keys), None)
    y = next((k for k in ("y", "Y", "labels") if k in keys), None)
    if x is None:
        raise DataError(
            f"'{label}' has arrays {', '.join(keys[:10]) or '(none)'}, but no images array.",
            "Name them train_images/train_labels (and val_, test_) as MedMNIST does, or x/y.",
        )
    return [("", x, y)]


def _npz_raw(loaded: list, order: list[str] | None, path: Path) -> Raw:
    shapes = {x.shape[1:] for _, x, _ in loaded}
    if len(shapes) > 1:
        raise DataError(
            f"The splits of '{path.name}' have images of different shapes ({sorted(shapes)}).",
            "Save every split at one image size.",
        )
    labels = None
    if loaded[0][2] is not None:
        labels = np.concatenate([_one_label_column(y, len(x), path.name) for _, x, y in loaded])
        if order is not None and not _codes_into(labels, order):
            order = None
    names = [f"{s or 'x'}[{i}]" for s, x, _ in loaded for i in range(len(x))]
    split = None
    if loaded[0][0]:
        split = np.concatenate([np.full(len(x), s) for s, x, _ in loaded])
    images = np.concatenate([x for _, x, _ in loaded]) if len(loaded) > 1 else loaded[0][1]
    return Raw(images, labels, str(path.resolve()), names, split, order=order)


def _one_label_column(y: np.ndarray, n: int, label: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] > 1:
        raise DataError(
            f"'{label}' has multi-label labels (shape {list(y.shape)}: {y.shape[1]} labels per "
            "image); multi-label classification is not supported yet.",
            "Give one class per image (labels of shape [N] or [N, 1]).",
        )
    y = y.reshape(-1) if y.ndim == 2 else y
    if y.ndim != 1 or len(y) != n:
        raise DataError(
            f"'{label}' has {n:,} images but labels of shape {list(y.shape)}.",
            "Give one label per image.",
        )
    return y


def _codes_into(labels: np.ndarray, order: list[str]) -> bool:
    return labels.dtype.kind in "iu" and bool(((labels >= 0) & (labels < len(order))).all())


# ---- IDX (MNIST) -----------------------------------------------------------------------
_IDX_RE = re.compile(r"^(?P<prefix>.+)-(?P<kind>images|labels)-idx(?P<ndim>\d)-ubyte$")
_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_SPLITS = (
    ("train", "train"),
    ("val", "val"),
    ("valid", "val"),
    ("t10k", "test"),
    ("test", "test"),
)


def idx_name(name: str) -> re.Match | None:
    """``train-images.idx3-ubyte.gz`` -> prefix "train", kind "images"; None if not IDX."""
    return _IDX_RE.match(name.lower().removesuffix(".gz").replace(".", "-"))


def find_idx_files(folder: Path) -> dict[str, dict[str, Path]]:
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(folder.iterdir()):
        match = idx_name(path.name) if path.is_file() else None
        if match:
            found.setdefault(match["prefix"], {}).setdefault(match["kind"], path)
    return {prefix: files for prefix, files in found.items() if "images" in files}


def read_idx_file(path: Path, opts: Options) -> ImageSet:
    match = idx_name(path.name)
    if match["kind"] == "labels":
        raise DataError(
            f"'{path.name}' is an IDX labels file.",
            "Give the images file (e.g. train-images-idx3-ubyte) or the folder holding both.",
        )
    files = find_idx_files(path.parent).get(match["prefix"], {})
    sets = {
        match["prefix"]: {
            "images": path,
            **({"labels": files["labels"]} if "labels" in files else {}),
        }
    }
    return read_idx(sets, path, opts)


def _idx_split(prefix: str) -> str | None:
    return next((split for end, split in _IDX_SPLITS if prefix.endswith(end)), None)


def read_idx(sets: dict[str, dict[str, Path]], where: Path, opts: Options) -> ImageSet:
    rank = {"train": 0, "val": 1, "test": 2}
    prefixes = sorted(sets, key=lambda p: (rank.get(_idx_split(p) or "", 3), p))
    missing = [sets[p]["images"].name for p in prefixes if "labels" not in sets[p]]
    if missing and len(missing) < len(prefixes):
        raise DataError(
            f"'{missing[0]}' has no labels file beside it in '{where}'.",
            "Put its <prefix>-labels-idx1-ubyte file next to it, or remove it.",
        )
    images, labels, names, split = [], [], [], []
    for prefix in prefixes:
        x = _parse_idx(sets[prefix]["images"], (3, 4))
        name = _idx_split(prefix) or prefix
        if "labels" in sets[prefix]:
            y = _parse_idx(sets[prefix]["labels"], (1,))
            if len(y) != len(x):
                raise DataError(
                    f"'{sets[prefix]['labels'].name}' has {len(y):,} labels for {len(x):,} images.",
                    "Check that the images and labels files belong together.",
                )
            labels.append(y)
        images.append(x)
        names += [f"{name}[{i}]" for i in range(len(x))]
        split += [name] * len(x)
    if len({x.shape[1:] for x in images}) > 1:
        raise DataError(f"The IDX files in '{where}' have different image sizes.", "Use one size.")
    raw = Raw(
        np.concatenate(images),
        np.concatenate(labels) if labels else None,
        str(where.resolve()),
        names,
        np.asarray(split) if all(_idx_split(p) for p in prefixes) else None,
    )
    return finish(raw, opts)


def _parse_idx(path: Path, ranks: tuple[int, ...]) -> np.ndarray:
    """The array in an IDX file (header parsed here: magic, big-endian dimensions)."""
    try:
        raw = path.read_bytes()
        raw = gzip.decompress(raw) if path.name.lower().endswith(".gz") else raw
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"'{path.name}' could not be read ({_short(exc)}).",
            "Download it again: the file looks truncated or is not gzip-compressed.",
        ) from exc
    kind = "images" if ranks[0] > 1 else "labels"
    if len(raw) < 4 or raw[0] or raw[1] or raw[2] not in _IDX_TYPES or raw[3] not in ranks:
        raise DataError(
            f"'{path.name}' is not an IDX {kind} file (its first bytes are {raw[:4].hex() or 'missing'}).",
            "Give MNIST-style IDX files (magic 0x00000803 for images, 0x00000801 for labels).",
        )
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"'{path.name}' is truncated inside its header.", "Download it again.")
    dims = tuple(int(d) for d in np.frombuffer(raw[4:header], ">u4"))
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        state = "is truncated" if len(raw) < expected else "has extra bytes"
        raise DataError(
            f"'{path.name}' {state}: its header says {kind} of shape {list(dims)} "
            f"({expected:,} bytes), but the file has {len(raw):,} bytes.",
            "Download it again (it looks like a partial download or a damaged file).",
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _short(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:100]
