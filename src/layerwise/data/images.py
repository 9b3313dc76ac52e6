"""Reading image datasets into one :class:`ImageSet` of uint8 arrays ``[N, H, W, C]``.

Layouts :func:`read_images` recognises:

* a folder per class (``photos/<class>/**/*.png``), optionally under split folders
  (``photos/train/<class>/...``, ``photos/test/<class>/...``); a folder holding images
  directly (no class subfolders) or a single image file reads as unlabelled images;
* a MedMNIST-style NPZ (``train_images``/``train_labels``/``val_...``/``test_...``, or
  ``x``/``y``), read with ``allow_pickle=False``;
* MNIST IDX files (a folder holding ``train-images-idx3-ubyte`` & co, ``.gz`` or not, or
  the path of one images file);
* a CSV/TSV table with a column of image paths (relative to the table's folder) and an
  optional label column;
* arrays in memory: ``X`` ``[N, H, W(, C)]``, a pair ``(X, y)``, or an :class:`ImageSet`.

Unreadable files are skipped and listed in ``ImageSet.skipped``; what was done to the data
(resizing, channel conversion, dropped rows) is listed in ``ImageSet.notes``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerwise.data import image_arrays as arrays
from layerwise.data.image_files import DEFAULT_CACHE, Files, decode_files
from layerwise.data.image_set import ImageSet, Options
from layerwise.errors import ConfigError, DataError, missing_column

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq", ".jsonl", ".ndjson", ".json")
SPLIT_FOLDERS = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}


def read_images(
    source: Any,
    *,
    size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    image_column: str | None = None,
    target: str | None = None,
    classes: list[str] | None = None,
    progress: bool = False,
    stream: bool | None = False,
    cache: str | os.PathLike | None = None,
) -> ImageSet:
    """Read images from a folder, an NPZ/IDX/CSV file, an image file or arrays in memory.

    Args:
        source: a path (folder per class, unlabelled folder, image file, ``.npz``, IDX file
            or folder, CSV/TSV of image paths), an array ``[N, H, W(, C)]``, a pair
            ``(X, y)`` or an :class:`ImageSet`.
        size: target ``(H, W)`` (an int for square); None keeps the native size when all
            images share it, else resizes to ``S x S`` with S the median shorter side
            (at most 128). Resizing scales the shorter side, then center-crops.
        channels: 1 or 3 to force; None gives 1 when every image is gray, else 3.
        image_column: for a table, the column of image paths (relative to the table's
            folder, or absolute).
        target: for a table, the label column (None: unlabelled).
        classes: a known label map (at predict time): names not in it get label -1.
        progress: show a progress bar while decoding more than 200 files.
        stream: image files (folders, tables of paths) decoded once into a record file in
            ``cache`` and read from there a batch at a time, for sets larger than memory; None
            streams when they would decode to over a quarter of the machine's memory (see
            :mod:`layerwise.data.image_stream`).
        cache: the folder of decoded image files (default ``runs/.cache``).

    Returns:
        The images; ``skipped`` lists unreadable files, ``notes`` what was done.

    Raises:
        DataError: nothing readable, an empty folder, a truncated or unsupported file.
        ColumnError: ``image_column`` or ``target`` is not in the table.
        ConfigError: an invalid ``size`` or ``channels``.

    Example:
        >>> x = np.random.default_rng(0).integers(0, 256, (6, 10, 12, 3), dtype=np.uint8)
        >>> s = read_images((x, ["cat", "dog"] * 3), size=8)
        >>> s.images.shape, s.classes
        ((6, 8, 8, 3), ['cat', 'dog'])
    """
    known = None if classes is None else [str(c) for c in classes]
    opts = Options(_check_size(size), _check_channels(channels), known, bool(progress),
                   None if stream is None else bool(stream), Path(cache or DEFAULT_CACHE))  # fmt: skip
    if isinstance(source, ImageSet):
        return _from_imageset(source, opts)
    if isinstance(source, tuple):
        if len(source) != 2:
            raise DataError(
                f"Got a tuple of {len(source)} items as images.",
                "Give (X, y): an image array [N, H, W(, C)] and its N labels.",
            )
        x, y = source
        return arrays.finish(
            arrays.Raw(np.asarray(x), np.asarray(y), source="<in-memory (X, y)>"), opts
        )
    if isinstance(source, (np.ndarray, list)):
        return arrays.finish(arrays.Raw(np.asarray(source), source="<in-memory array>"), opts)
    if isinstance(source, (str, os.PathLike)):
        return _read_path(Path(source).expanduser(), opts, image_column, target)
    raise DataError(
        f"Cannot read images from a {type(source).__name__}.",
        "Give a folder, an image/NPZ/IDX/CSV file, an array [N, H, W(, C)] or a pair (X, y).",
    )


def _check_size(size: Any) -> tuple[int, int] | None:
    if size is None:
        return None
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in pair):
        raise ConfigError(
            f"Image size {size!r} is not valid.",
            "Give one positive integer (square) or (height, width), e.g. 64 or (48, 64).",
        )
    return int(pair[0]), int(pair[1])


def _check_channels(channels: Any) -> int | None:
    if channels is not None and channels not in (1, 3):
        raise ConfigError(
            f"channels={channels!r} is not valid.",
            "Use 1 (grayscale), 3 (RGB) or leave it out to detect it.",
        )
    return None if channels is None else int(channels)


def _from_imageset(images: ImageSet, opts: Options) -> ImageSet:
    labels = images.labels
    if labels is not None and opts.classes is not None:
        index = {c: i for i, c in enumerate(opts.classes)}
        lookup = np.array([index.get(c, -1) for c in images.classes] + [-1], dtype=np.int64)
        labels = lookup[np.where(labels >= 0, labels, len(images.classes))]
    classes = list(images.classes) if opts.classes is None else list(opts.classes)
    raw = arrays.Raw(images.images, source=images.source, names=list(images.names))
    out = arrays.finish(raw, replace(opts, classes=None))
    return replace(
        out,
        labels=None if labels is None else labels.copy(),
        classes=classes,
        split=None if images.split is None else images.split.copy(),
        skipped=list(images.skipped),
        notes=list(images.notes) + out.notes,
    )


def _read_path(path: Path, opts: Options, image_column: str | None, target: str | None):
    if not path.exists():
        raise DataError(
            f"'{path}' does not exist.",
            "Check the path (relative paths start from the current folder).",
        )
    suffix = path.suffix.lower()
    is_table = path.is_file() and (suffix in TABLE_SUFFIXES or image_column is not None)
    if path.is_dir():
        idx = arrays.find_idx_files(path)
        out = (
            arrays.read_idx(idx, path, opts)
            if idx
            else decode_files(_scan_folder(path), path, opts)
        )
    elif suffix == ".npz":
        out = arrays.read_npz(path, opts)
    elif arrays.idx_name(path.name):
        out = arrays.read_idx_file(path, opts)
    elif suffix in IMAGE_EXTENSIONS:
        out = decode_files(Files([path], [path.name]), path, opts)
    elif is_table:
        out = _read_table_of_paths(path, image_column, target, opts)
    else:
        raise DataError(
            f"'{path.name}' is not an image dataset this reader knows (extension '{suffix}').",
            "Give a folder of images (one subfolder per class), an image file, an .npz, "
            "MNIST IDX files, or a CSV with image_column.",
        )
    return out


# ---- folders ---------------------------------------------------------------------------
def _scan_folder(root: Path) -> Files:
    """The image files under ``root`` with their class (first-level folder) and split."""
    found: list[Path] = []
    other: set[str] = set()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(p.startswith(".") or p == "__MACOSX" for p in rel.parts) or not path.is_file():
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            found.append(rel)
        else:
            other.add(path.suffix.lower() or path.name)
    if not found:
        raise _no_images(root, other)
    nested = [r for r in found if len(r.parts) > 1]
    if not nested:
        return Files([root / r for r in found], [r.as_posix() for r in found])
    files = Files([], [], labels=[])
    firsts = {r.parts[0] for r in nested}
    by_split = firsts <= set(SPLIT_FOLDERS) and all(len(r.parts) > 2 for r in nested)
    if by_split:
        files.split = []
    for rel in nested:
        files.paths.append(root / rel)
        files.names.append(rel.as_posix())
        files.labels.append(rel.parts[1] if by_split else rel.parts[0])
        if files.split is not None:
            files.split.append(SPLIT_FOLDERS[rel.parts[0]])
    direct = len(found) - len(nested)
    if direct:
        files.notes.append(
            f"{direct} images directly in '{root.name}' (not in a class folder) were ignored"
        )
    if other:
        files.notes.append(f"ignored files that are not images ({', '.join(sorted(other)[:5])})")
    return files


def _no_images(root: Path, other: set[str]) -> DataError:
    hint = "Put the images in one subfolder per class, e.g. photos/cat/001.jpg."
    if other & set(TABLE_SUFFIXES):
        hint += " For a CSV of image paths, give the CSV file with image_column."
    if ".npz" in other:
        hint += " For an NPZ of arrays, give the .npz file itself."
    found = f" (found only: {', '.join(sorted(other)[:6])})" if other else ""
    return DataError(
        f"No image files in '{root}'{found}; looked for {', '.join(IMAGE_EXTENSIONS)}.", hint
    )


# ---- tables of paths -------------------------------------------------------------------
def _read_table_of_paths(
    path: Path, image_column: str | None, target: str | None, opts: Options
) -> ImageSet:
    from layerwise.data.tabular import read_table

    df = read_table(path)
    label = path.name
    notes = list(df.attrs.get("notes", []))
    if image_column is None:
        shown = ", ".join(str(c) for c in df.columns[:12])
        raise ConfigError(
            f"No image_column given for the table '{label}'.",
            f"Pass the column of image paths (--image-column), one of: {shown}.",
        )
    if image_column not in df.columns:
        raise missing_column(image_column, df.columns, "Image column", f"'{label}'")
    if target is not None and target not in df.columns:
        raise missing_column(target, df.columns, "Target column", f"'{label}'")
    df = _drop_blank_rows(df, image_column, target, notes)
    files = Files([], [], labels=None if target is None else [], notes=notes)
    values = arrays.label_strings(df[target].tolist()) if target is not None else None
    for i, written in enumerate(df[image_column].astype(str).str.strip()):
        full = Path(written.replace("\\", "/")).expanduser()
        full = full if full.is_absolute() else path.parent / full
        if not full.is_file():
            files.skipped.append((written, "file not found"))
            continue
        files.paths.append(full)
        files.names.append(written)
        if values is not None:
            files.labels.append(values[i])
    return decode_files(files, path, opts)


def _drop_blank_rows(
    df: pd.DataFrame, image_column: str, target: str | None, notes: list[str]
) -> pd.DataFrame:
    """Rows without an image path, or without a label when there is a target, dropped."""

    def blank(column: pd.Series) -> pd.Series:
        return column.isna() | column.astype(str).str.strip().eq("")

    keep = ~blank(df[image_column])
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} rows without an image path dropped")
    if target is not None:
        unlabelled = blank(df[target]) & keep
        if unlabelled.all():
            raise DataError(
                f"Target column '{target}' in '{df.attrs.get('name')}' has no values.",
                "Choose the column that holds each image's class.",
            )
        if unlabelled.any():
            notes.append(f"{int(unlabelled.sum())} rows without a label dropped")
        keep &= ~unlabelled
    return df.loc[keep.to_numpy()]
