"""Image files decoded once into a record file on disk, for sets larger than memory.

``--stream`` (or automatically, when a folder would decode to more than a quarter of the
machine's memory: :func:`~layerwise.data.disk_cache.too_big`) decodes the files a chunk at a
time into a :class:`~layerwise.data.records.Records` file in the cache folder (``<output
dir>/.cache``: :mod:`layerwise.data.disk_cache`), and training reads its batches from there. Memory then holds one chunk of
decoded images, the file names and the labels, whatever the folder's size.

The cache's name is a fingerprint of every file's name, size and modification time, of the
image size and of the channels: a later run on the same unchanged folder reuses it (training
again costs no decoding), a changed folder gets a new one. A cache is complete or absent: its
description (``.json``) is written last, so a run killed while decoding decodes again. In a
world of several processes the first process of each machine decodes, the others wait for it.
Delete ``<output dir>/.cache`` to reclaim the space.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from layerwise.data.disk_cache import (
    fingerprint,
    physical_memory,
    publish,
    read_description,
    too_big,
    wait_for,
    writes_here,
)
from layerwise.data.records import CHUNK, Records, RecordWriter

FORMAT = 1  # the cache's layout; a change makes new fingerprints


def should_stream(asked: bool | None, n: int, size: tuple[int, int],
                  channels: int | None) -> tuple[bool, str | None]:  # fmt: skip
    """Whether ``n`` images of ``size`` stream (``asked``, or by their decoded size), and a
    note when the size decided.

    Example:
        >>> should_stream(None, 10, (8, 8), 1)
        (False, None)
        >>> should_stream(True, 10, (8, 8), 1)[0]
        True
    """
    if asked is not None:
        return bool(asked), None
    decoded = n * size[0] * size[1] * (channels or 3)
    if not too_big(decoded):
        return False, None
    memory = physical_memory() or 0
    return True, (f"streamed from disk: the {n:,} images decode to {decoded / 2**30:.1f} GiB, "
                  f"over a quarter of this machine's {memory / 2**30:.0f} GiB")  # fmt: skip


def decode_to_records(paths: list[Path], names: list[str], size: tuple[int, int],
                      channels: int | None, cache: Path, decode: Callable[[Path], Any],
                      workers: int = 1, progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """Decode ``paths`` with ``decode`` (a path -> ``(array, kind)`` or a reason) into a cached
    record file, or reuse the one these files made before.

    Returns ``records`` (the readable images, in order), ``kept`` (their positions in
    ``paths``), ``skipped`` ((name, reason) pairs) and ``notes``.
    """
    cache = Path(cache)
    key = fingerprint(paths, "images", FORMAT, size, channels)
    data, about = cache / f"images-{key}.u8", cache / f"images-{key}.json"
    found = _cached(data, about, len(paths))
    if found is None and not writes_here():
        found = wait_for(lambda: _cached(data, about, len(paths)), f"The image cache {data}")
    if found is not None:
        found["notes"].append(f"read {len(found['records']):,} decoded images from the cache "
                              f"{data} (made by an earlier run on the same files)")  # fmt: skip
        return found
    kept, skipped, shape = _decode_all(paths, names, size, channels, data, decode, workers,
                                       progress)  # fmt: skip
    described = {"format": FORMAT, "files": len(paths), "shape": list(shape), "kept": kept,
                 "skipped": [list(s) for s in skipped]}  # fmt: skip
    publish(about, described)
    return {"records": Records(data, shape), "kept": kept, "skipped": skipped,
            "notes": [f"decoded {shape[0]:,} images once into {data} "
                      f"({data.stat().st_size / 2**30:.2f} GiB); training reads its batches "
                      "from there"]}  # fmt: skip


def _cached(data: Path, about: Path, files: int) -> dict[str, Any] | None:
    """A complete cache of these files, checked against its description, or None."""
    described = read_description(about)
    if described is None:
        return None
    try:
        shape = tuple(int(v) for v in described["shape"])
        kept = [int(i) for i in described["kept"]]
        skipped = [(str(a), str(b)) for a, b in described["skipped"]]
        if described["format"] != FORMAT or described["files"] != files or len(kept) != shape[0]:
            return None
        if kept and (min(kept) < 0 or max(kept) >= files):
            return None
        records = Records(data, shape)  # checks the file's length against the shape
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {"records": records, "kept": kept, "skipped": skipped, "notes": []}


def _decode_all(paths: list[Path], names: list[str], size: tuple[int, int], channels: int | None,
                data: Path, decode: Callable[[Path], Any], workers: int,
                progress: bool) -> tuple[list[int], list[tuple[str, str]], tuple]:  # fmt: skip
    """Decode into ``data`` a chunk at a time. Without asked channels the records hold RGB and
    are cut to one channel at the end if every image was gray (one more pass over the file)."""
    kept: list[int] = []
    skipped: list[tuple[str, str]] = []
    depth = channels or 3
    gray = True
    bar = _progress(len(paths)) if progress else nullcontext(None)
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool, bar as shown:
        mapper = pool.map if pool is not None else map
        with RecordWriter(data, (*size, depth)) as writer:
            for start in range(0, len(paths), CHUNK):
                chunk = []
                for offset, result in enumerate(mapper(decode, paths[start : start + CHUNK])):
                    if isinstance(result, str):
                        skipped.append((names[start + offset], result))
                        continue
                    array, kind = result
                    gray = gray and kind != "RGB"
                    chunk.append(array if array.ndim == 3 and depth == 3 else
                                 _with_depth(array, depth))  # fmt: skip
                    kept.append(start + offset)
                if chunk:
                    writer.add(np.stack(chunk))
                if shown is not None:
                    shown[0].advance(shown[1], min(CHUNK, len(paths) - start))
    if not kept:
        data.unlink(missing_ok=True)
        return kept, skipped, (0, *size, depth)
    if channels is None and gray:
        _to_one_channel(data, writer.records)
        depth = 1
    return kept, skipped, (len(kept), *size, depth)


def _with_depth(array: np.ndarray, depth: int) -> np.ndarray:
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[-1] == depth:
        return array
    return np.repeat(array, depth, axis=-1) if depth == 3 else array[..., :1]


def _to_one_channel(data: Path, records: Any) -> None:
    """Rewrite RGB records whose channels are all equal as one channel."""
    shape = records.shape
    narrow = data.with_name(data.name + ".gray")
    with RecordWriter(narrow, (*shape[1:3], 1)) as writer:
        for part in records.chunks():
            writer.add(part[..., :1])
    os.replace(narrow, data)


def _progress(total: int) -> Any:
    from contextlib import contextmanager

    from rich.progress import Progress

    @contextmanager
    def shown() -> Any:
        with Progress(transient=True) as bar:
            yield bar, bar.add_task(f"decoding {total:,} images to disk", total=total)

    return shown()
