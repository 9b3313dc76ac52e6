"""Training data the engine reads a batch at a time instead of holding: :class:`RowsOnDisk`.

The engine's usual data is a tuple of tensors in memory. A set larger than memory (images
decoded once to a record file, ``--stream``) is wrapped in :class:`RowsOnDisk` and given in
the tensor's place: the trainer indexes it with each batch's positions (a seeded shuffle, the
shard of a rank, a slice for evaluation) exactly as it indexes a tensor, and only that batch
is read and converted. Nothing else changes: schedules, DDP, checkpoints and resume.

Example:
    >>> import numpy as np
    >>> rows = RowsOnDisk(np.arange(10.0), torch.from_numpy)
    >>> len(rows), rows[torch.tensor([3, 1])].tolist(), rows[8:].tolist()
    (10, [3.0, 1.0], [8.0, 9.0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
