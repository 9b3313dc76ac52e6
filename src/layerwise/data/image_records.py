"""Images on disk, read a batch at a time: a file of fixed-size uint8 records ``[H, W, C]``.

A set too large for memory (``--stream``) is decoded once into such a file (see
:mod:`layerwise.data.image_stream`) and then read by position. :class:`ImageRecords` behaves
like the uint8 array ``[N, H, W, C]`` the in-memory path holds, for what training and
evaluation do with it: ``len``, ``shape``, indexing by an integer, a slice or an array of
positions (each read from the file, never the whole), and :meth:`ImageRecords.subset` for a
split (a view: nothing is read). The records are read with plain file reads, not a memory
map: a map's touched pages count as the process's resident memory, so an epoch over a 20 GB
file would grow the process by 20 GB, while reads leave the pages to the OS's cache.

Example:
    >>> import tempfile, pathlib
    >>> x = np.arange(5 * 2 * 2 * 1, dtype=np.uint8).reshape(5, 2, 2, 1)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.u8"
    >>> with RecordWriter(path, (2, 2, 1)) as writer:
    ...     writer.add(x)
    >>> records = writer.records
    >>> records.shape, int(records[3].sum()), records.subset([4, 0])[0:2].shape
    ((5, 2, 2, 1), 54, (2, 2, 2, 1))
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

CHUNK = 1024  # images a chunked pass reads at once


class ImageRecords:
    """uint8 images ``[N, H, W, C]`` in the file ``path`` (record ``i`` at byte ``i * H*W*C``);
    ``positions``: the records this view holds, in order (None: all of them)."""

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int, int, int],
                 positions: np.ndarray | None = None):  # fmt: skip
        self.path = Path(path)
        self.stored = tuple(int(v) for v in shape)
        self.record = int(np.prod(self.stored[1:]))
        size = self.path.stat().st_size
        if size != self.stored[0] * self.record:
            raise ValueError(f"{self.path} holds {size:,} bytes, not the {self.stored[0]:,} "
                             f"images of {self.record:,} bytes it should")  # fmt: skip
        self.positions = None if positions is None else np.asarray(positions, dtype=np.int64)

    def __len__(self) -> int:
        return self.stored[0] if self.positions is None else len(self.positions)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self), *self.stored[1:])  # type: ignore[return-value]

    @property
    def nbytes(self) -> int:
        return len(self) * self.record

    def subset(self, index: Any) -> ImageRecords:
        """The images at ``index`` (positions or a boolean mask in this view), unread."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        index = self._checked(index.astype(np.int64, copy=False))
        base = index if self.positions is None else self.positions[index]
        return ImageRecords(self.path, self.stored, base)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            return self._read(np.arange(len(self))[key])
        if isinstance(key, (int, np.integer)):
            return self._read(self._checked(np.array([int(key)])))[0]
        if hasattr(key, "numpy"):  # a torch index tensor
            key = key.numpy()
        key = np.asarray(key)
        if key.dtype == bool:
            key = np.flatnonzero(key)
        return self._read(self._checked(key.astype(np.int64, copy=False)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)

    def chunks(self, size: int = CHUNK) -> Iterator[np.ndarray]:
        """The images in order, ``size`` at a time (a pass in bounded memory)."""
        for start in range(0, len(self), size):
            yield self[start : start + size]

    def _checked(self, index: np.ndarray) -> np.ndarray:
        n = len(self)
        index = np.where(index < 0, index + n, index)
        if len(index) and (index.min() < 0 or index.max() >= n):
            raise IndexError(f"image index out of range for {n:,} images")
        return index

    def _read(self, index: np.ndarray) -> np.ndarray:
        """The records at ``index`` of this view, each run of consecutive records in one read."""
        wanted = index if self.positions is None else self.positions[index]
        out = np.empty((len(wanted), *self.stored[1:]), dtype=np.uint8)
        if not len(wanted):
            return out
        order = np.argsort(wanted, kind="stable")
        ordered = wanted[order]
        flat = np.empty((len(wanted), self.record), dtype=np.uint8)
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
        with self.path.open("rb", buffering=0) as file:
            for start, stop in zip(np.r_[0, breaks], np.r_[breaks, len(ordered)], strict=True):
                file.seek(int(ordered[start]) * self.record)
                view = memoryview(flat[start:stop]).cast("B")
                done = 0
                while done < len(view):  # one read returns at most ~2 GB on Linux
                    got = file.readinto(view[done:])
                    if not got:
                        raise OSError(f"{self.path} ended early: the image cache is damaged")
                    done += got
        out.reshape(len(wanted), -1)[order] = flat
        return out


class RecordWriter:
    """Appends uint8 images ``[n, H, W, C]`` to ``path`` through a temporary file that takes
    its name only when the writer closes without an error (a killed write leaves no cache)."""

    def __init__(self, path: str | os.PathLike, image_shape: tuple[int, int, int]):
        self.path = Path(path)
        self.image_shape = tuple(int(v) for v in image_shape)
        self.count = 0
        self.records: ImageRecords | None = None
        self._partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")

    def __enter__(self) -> RecordWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._partial.open("wb")
        return self

    def add(self, images: np.ndarray) -> None:
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if images.shape[1:] != self.image_shape:
            raise ValueError(f"images of shape {images.shape[1:]}, not {self.image_shape}")
        self._file.write(images.tobytes())
        self.count += len(images)

    def __exit__(self, kind: Any, *rest: Any) -> None:
        self._file.close()
        if kind is not None:
            self._partial.unlink(missing_ok=True)
            return
        os.replace(self._partial, self.path)
        self.records = ImageRecords(self.path, (self.count, *self.image_shape))


def channel_stats(images: Any, chunk: int = CHUNK) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 images ``[N, H, W, C]`` in [0, 1], in one
    pass of ``chunk`` images at a time (an array or :class:`ImageRecords`).

    Example:
        >>> x = np.zeros((4, 2, 2, 1), np.uint8); x[:2] = 255
        >>> channel_stats(x, chunk=3)
        ([0.5], [0.5])
    """
    channels = int(images.shape[3])
    total = np.zeros(channels)
    squares = np.zeros(channels)
    count = 0
    for start in range(0, len(images), chunk):
        part = np.asarray(images[start : start + chunk]).reshape(-1, channels) / 255.0
        total += part.sum(axis=0)
        squares += np.square(part).sum(axis=0)
        count += len(part)
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(squares / max(count, 1) - mean**2, 0.0))
    return mean.tolist(), std.tolist()
