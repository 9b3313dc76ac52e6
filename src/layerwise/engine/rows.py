"""Training data the engine reads a batch at a time instead of holding: :class:`RowsOnDisk`.

The engine's usual data is a tuple of tensors in memory. A set larger than memory (images
decoded once to a record file, ``--stream``) is wrapped in :class:`RowsOnDisk` and given in
the tensor's place: the trainer indexes it with each batch's positions (a seeded shuffle, the
shard of a rank, a slice for evaluation) exactly as it indexes a tensor, and only that batch
is read and converted. Nothing else changes: schedules, DDP, checkpoints and resume.

Records that hold several of the data's tensors at once (a table row's inputs and target)
are read once a batch for all of them: :func:`rows_together`.

Example:
    >>> import numpy as np
    >>> rows = RowsOnDisk(np.arange(10.0), torch.from_numpy)
    >>> len(rows), rows[torch.tensor([3, 1])].tolist(), rows[8:].tolist()
    (10, [3.0, 1.0], [8.0, 9.0])
    >>> x, y = rows_together(np.arange(10.0), lambda b: (torch.from_numpy(b), torch.from_numpy(-b)), 2)
    >>> x[torch.tensor([2])].tolist(), y[torch.tensor([2])].tolist()
    ([2.0], [-2.0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch


class RowsOnDisk:
    """``source`` (anything with ``len`` that numpy-style indexing reads: positions or a slice)
    as tensors: ``convert(source[key])`` for each key the trainer asks for."""

    reads_rows = True  # how the trainer tells it from a tensor
    device = torch.device("cpu")  # batches are read on the CPU, then moved like a tensor's

    def __init__(self, source: Any, convert: Callable[[Any], torch.Tensor]):
        self.source, self.convert = source, convert

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: Any) -> torch.Tensor:
        if isinstance(key, torch.Tensor):
            key = key.numpy()
        return self.convert(self.source[key])


def reads_rows(data: Any) -> bool:
    """Whether ``data`` is read a batch at a time (a :class:`RowsOnDisk`), not a tensor."""
    return bool(getattr(data, "reads_rows", False))


def rows_together(source: Any, convert: Callable[[Any], tuple], parts: int) -> tuple:
    """``parts`` :class:`RowsOnDisk` for the tensors one record of ``source`` holds together:
    ``convert(source[key])`` gives all of them. The trainer indexes each tensor of its data in
    turn with the same positions; the records at those positions are read once for all."""
    shared = _SharedRead(source, convert)
    return tuple(RowsOnDisk(_Part(shared, i), lambda t: t) for i in range(parts))


class _SharedRead:
    """The last positions read and what they converted to."""

    def __init__(self, source: Any, convert: Callable[[Any], tuple]):
        self.source, self.convert = source, convert
        self.key: Any = None
        self.parts: tuple = ()

    def get(self, key: Any) -> tuple:
        same = (
            self.key is not None
            and type(key) is type(self.key)
            and (key == self.key if isinstance(key, slice) else np.array_equal(key, self.key))
        )
        if not same:
            self.parts = self.convert(self.source[key])
            self.key = key if isinstance(key, slice) else np.array(key, copy=True)
        return self.parts


class _Part:
    """The ``index``-th tensor of a shared read, as a source :class:`RowsOnDisk` indexes."""

    def __init__(self, shared: _SharedRead, index: int):
        self.shared, self.index = shared, index

    def __len__(self) -> int:
        return len(self.shared.source)

    def __getitem__(self, key: Any) -> Any:
        return self.shared.get(key)[self.index]
