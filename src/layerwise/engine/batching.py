"""How the engine feeds a model: training and evaluation data checked, placed on the device,
cut into batches, and shared among the ranks of a world.

:class:`Batching` is the part of :class:`~layerwise.engine.trainer.Trainer` that turns the data
it is given into batches: a tuple of equally long tensors (or of
:class:`~layerwise.engine.rows.RowsOnDisk`, read a batch at a time) is shuffled by the
trainer's seeded generator (the same order on every rank), sharded among the ranks
(:func:`~layerwise.engine.distributed.shard`), cut into ``rank_batch`` rows a step and moved to
the device; any other iterable yields its own batches. It reads the trainer's ``config``,
``world``, ``device`` and ``_generator``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from layerwise.engine.distributed import shard
from layerwise.engine.rows import reads_rows
from layerwise.errors import DataError

# Training data up to this size is moved to the GPU once, so batches are slices, not copies.
GPU_RESIDENT_BYTES = 1 << 30

Data = tuple[torch.Tensor, ...] | Iterable[Any]


class Batching:
    """Batches for the trainer (see the module doc); a base of ``Trainer``."""

    config: Any
    world: Any
    device: torch.device
    _generator: torch.Generator

    def _prepare(self, data: Data, name: str) -> Data:
        if not isinstance(data, tuple | list):
            return data  # a DataLoader or other iterable of batches
        if not data or not all(isinstance(t, torch.Tensor) or reads_rows(t) for t in data):
            raise DataError(
                f"{name} must be a tuple of tensors (*inputs, target); got {[type(t).__name__ for t in data]}."
            )
        lengths = {len(t) for t in data}
        if len(lengths) != 1 or 0 in lengths:
            raise DataError(
                f"The tensors of {name} have lengths {[len(t) for t in data]}.",
                "Give tensors of one equal, non-zero length.",
            )
        if any(reads_rows(t) for t in data):  # too large to hold: batches go to the device
            return tuple(data)
        size = sum(t.numel() * t.element_size() for t in data)
        if self.device.type == "cpu" or size <= GPU_RESIDENT_BYTES:
            return tuple(t.to(self.device) for t in data)
        return tuple(data)

    @property
    def rank_batch(self) -> int:
        """Training examples a step on this process: ``batch_size`` is the step's whole batch,
        shared by the processes of a world (so ``--devices N`` takes the steps one process
        would, N times faster, and chooses what one process chooses)."""
        return max(1, self.config.batch_size // self.world.size)

    def _steps_per_epoch(self, data: Data) -> int | None:
        if isinstance(data, tuple):
            n, size = -(-len(data[0]) // self.world.size), self.rank_batch  # this rank's
            whole = math.ceil(self._train_stop(n) / size)
            return min(whole, self.config.steps_per_epoch or whole)
        try:
            return len(data)  # type: ignore[arg-type]
        except TypeError:
            return None

    def _train_stop(self, n: int) -> int:
        # A last batch of one sample breaks BatchNorm in training mode; it is left out (the
        # permutation changes every epoch, so no sample is left out for good).
        return n - 1 if n > 1 and n % self.rank_batch == 1 else n

    def _batches(self, data: Data, train: bool) -> Iterator[tuple[Any, ...]]:
        if not isinstance(data, tuple | list):
            for batch in data:
                batch = batch if isinstance(batch, tuple | list) else (batch,)
                yield tuple(
                    t.to(self.device, non_blocking=True) if isinstance(t, torch.Tensor) else t
                    for t in batch
                )
            return
        n = len(data[0])
        size = (
            self.rank_batch
            if train
            else (self.config.eval_batch_size or 4 * self.config.batch_size)
        )
        on_device = all(t.device == self.device for t in data)
        perm = None
        if train and self.config.shuffle:
            perm = torch.randperm(n, generator=self._generator)  # the same on every rank
        if train and self.world.distributed:
            perm = shard(torch.arange(n) if perm is None else perm, self.world)
        if perm is not None:
            n = len(perm)
            # On a GPU one gather per epoch makes every batch a free slice; on the CPU the same
            # gather is a full copy of the data each epoch, slower than gathering batch by batch.
            if on_device and self.device.type != "cpu":
                data = tuple(t[perm.to(t.device)] for t in data)
                perm = None
        stop = self._train_stop(n) if train else n
        if train and self.config.steps_per_epoch:
            stop = min(stop, self.config.steps_per_epoch * size)
        for start in range(0, stop, size):
            if perm is None:
                batch = tuple(t[start : start + size] for t in data)
            else:
                index = perm[start : start + size]
                batch = tuple(t[index] for t in data)
            if not on_device:  # pinned host memory lets the copy to the GPU overlap compute
                pin = self.device.type == "cuda"
                batch = tuple(
                    (t.pin_memory() if pin else t).to(self.device, non_blocking=True) for t in batch
                )
            if self.config.channels_last:
                batch = tuple(
                    t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t
                    for t in batch
                )
            yield batch
