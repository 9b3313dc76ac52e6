"""Arrays on disk, read a batch at a time: a file of fixed-size records of one dtype.

A set too large for memory (``--stream``) is written once into such a file (decoded images:
uint8 ``[H, W, C]`` records, see :mod:`layerwise.data.image_stream`; encoded table rows;
token ids) and then read by position. :class:`Records` behaves like the array ``[N, ...]`` the
in-memory path holds, for what training and evaluation do with it: ``len``, ``shape``, indexing by an integer, a slice or an array of
positions (each read from the file, never the whole), and :meth:`Records.subset` for a
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
    >>> with RecordWriter(path.with_suffix(".f4"), (3,), np.float32) as writer:
    ...     writer.add(np.ones((2, 3)))
    >>> writer.records[1].tolist(), writer.records.dtype
    ([1.0, 1.0, 1.0], dtype('float32'))
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

CHUNK = 1024  # records a chunked pass reads at once


class Records:
    """Records ``[N, *shape]`` of ``dtype`` in the file ``path`` (record ``i`` at byte
    ``i * record_bytes``); ``positions``: the records this view holds, in order (None: all)."""

    def __init__(self, path: str | os.PathLike, shape: tuple[int, ...], dtype: Any = np.uint8,
                 positions: np.ndarray | None = None):  # fmt: skip
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.stored = tuple(int(v) for v in shape)
        self.ndim = len(self.stored)
        self.items = int(np.prod(self.stored[1:]))  # values in one record
        self.record = self.items * self.dtype.itemsize  # bytes of one record
        size = self.path.stat().st_size
        if size != self.stored[0] * self.record:
            raise ValueError(f"{self.path} holds {size:,} bytes, not the {self.stored[0]:,} "
                             f"records of {self.record:,} bytes it should")  # fmt: skip
        self.positions = None if positions is None else np.asarray(positions, dtype=np.int64)

    def __len__(self) -> int:
        return self.stored[0] if self.positions is None else len(self.positions)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.stored[1:])

    @property
    def nbytes(self) -> int:
        return len(self) * self.record

    def subset(self, index: Any) -> Records:
        """The records at ``index`` (positions or a boolean mask in this view), unread."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        index = self._checked(index.astype(np.int64, copy=False))
        base = index if self.positions is None else self.positions[index]
        return type(self)(self.path, self.stored, self.dtype, base)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):  # the slice's positions only, not an index of the whole file
            span = range(len(self))[key]
            return self._read(np.arange(span.start, span.stop, span.step, dtype=np.int64))
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
        """The records in order, ``size`` at a time (a pass in bounded memory)."""
        for start in range(0, len(self), size):
            yield self[start : start + size]

    def _checked(self, index: np.ndarray) -> np.ndarray:
        n = len(self)
        index = np.where(index < 0, index + n, index)
        if len(index) and (index.min() < 0 or index.max() >= n):
            raise IndexError(f"record index out of range for {n:,} records")
        return index

    def _read(self, index: np.ndarray) -> np.ndarray:
        """The records at ``index`` of this view, each run of consecutive records in one read."""
        wanted = index if self.positions is None else self.positions[index]
        out = np.empty((len(wanted), *self.stored[1:]), dtype=self.dtype)
        if not len(wanted):
            return out
        order = np.argsort(wanted, kind="stable")
        ordered = wanted[order]
        flat = np.empty((len(wanted), self.items), dtype=self.dtype)
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
        with self.path.open("rb", buffering=0) as file:
            for start, stop in zip(np.r_[0, breaks], np.r_[breaks, len(ordered)], strict=True):
                file.seek(int(ordered[start]) * self.record)
                view = memoryview(flat[start:stop]).cast("B")
                done = 0
                while done < len(view):  # one read returns at most ~2 GB on Linux
                    got = file.readinto(view[done:])
                    if not got:
                        raise OSError(f"{self.path} ended early: the cache is damaged")
                    done += got
        out.reshape(len(wanted), -1)[order] = flat
        return out


class RecordWriter:
    """Appends records ``[n, *record_shape]`` of ``dtype`` to ``path`` through a temporary file
    that takes its name only when the writer closes without an error (a killed write leaves no
    cache)."""

    def __init__(self, path: str | os.PathLike, record_shape: tuple[int, ...],
                 dtype: Any = np.uint8):  # fmt: skip
        self.path = Path(path)
        self.record_shape = tuple(int(v) for v in record_shape)
        self.dtype = np.dtype(dtype)
        self.count = 0
        self.records: Records | None = None
        self._partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")

    def __enter__(self) -> RecordWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._partial.open("wb")
        return self

    def add(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.record_shape:
            raise ValueError(f"records of shape {rows.shape[1:]}, not {self.record_shape}")
        self._file.write(rows.tobytes())
        self.count += len(rows)

    def __exit__(self, kind: Any, *rest: Any) -> None:
        self._file.close()
        if kind is not None:
            self._partial.unlink(missing_ok=True)
            return
        os.replace(self._partial, self.path)
        self.records = Records(self.path, (self.count, *self.record_shape), self.dtype)


def channel_stats(images: Any, chunk: int = CHUNK) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 images ``[N, H, W, C]`` in [0, 1], in one
    pass of ``chunk`` images at a time (an array or uint8 :class:`Records`).

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
