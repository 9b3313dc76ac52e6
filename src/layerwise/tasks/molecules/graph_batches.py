"""Batches of molecular graphs for the D-MPNN (:mod:`.dmpnn_train`), and its loss with missing
values masked (a multitask file leaves blanks).

Example:
    >>> from rdkit import Chem
    >>> from layerwise.tasks.molecules.graphs import mol_graph
    >>> graphs = [mol_graph(Chem.MolFromSmiles(s)) for s in ("CO", "CCO", "CCCO")]
    >>> batches = GraphBatches(graphs, np.zeros((3, 1)), batch_size=2, shuffle=False)
    >>> len(batches), [b[-1].shape[0] for b in batches]
    (2, [2, 1])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from layerwise.engine.distributed import current_world, rank_share
from layerwise.tasks.molecules.graphs import MolGraph, batch_graphs


class GraphBatches:
    """Re-iterable batches ``(*batch_graphs(...), [extra,] target)`` of precomputed graphs, in a
    new order each epoch from ``(seed, epoch)`` when ``shuffle`` (``epoch_of`` gives the epoch
    being trained, so a resumed run draws the orders it would have drawn), else in order and
    built once."""

    def __init__(self, graphs: Sequence[MolGraph], targets: np.ndarray, batch_size: int,
                 seed: int = 0, shuffle: bool = True, extra: np.ndarray | None = None):  # fmt: skip
        self.graphs, self.batch_size, self.seed, self.shuffle = graphs, batch_size, seed, shuffle
        self.targets = torch.as_tensor(np.asarray(targets, np.float32))
        self.extra = None if extra is None else torch.as_tensor(np.asarray(extra, np.float32))
        self.epoch_of: Callable[[], int] | None = None
        self._epoch = 0
        self._fixed: list[tuple] | None = None
        # in a world of several processes each takes its share of every training batch (the
        # same order on every rank, from the seed), so all take the same steps
        self.world = current_world()

    def __len__(self) -> int:
        return math.ceil(len(self.graphs) / self.batch_size)

    def batch(self, index: Sequence[int]) -> tuple:
        index = list(index)
        parts = batch_graphs([self.graphs[i] for i in index])
        if self.extra is not None:
            parts = (*parts, self.extra[index])
        return (*parts, self.targets[index])

    def __iter__(self):
        if not self.shuffle:
            if self._fixed is None:
                n = len(self.graphs)
                self._fixed = [self.batch(range(s, min(s + self.batch_size, n)))
                               for s in range(0, n, self.batch_size)]  # fmt: skip
            return iter(self._fixed)
        self._epoch += 1
        epoch = self.epoch_of() if self.epoch_of is not None else self._epoch
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.graphs))
        return (self.batch(rank_share(order[s : s + self.batch_size], self.world))
                for s in range(0, len(order), self.batch_size))  # fmt: skip


def masked_loss(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss of ``kind`` ("regression": squared error, "classification": BCE on logits)
    averaged over the known targets (NaN: missing, left out).

    Example:
        >>> loss = masked_loss("regression")
        >>> float(loss(torch.tensor([[1.0, 5.0]]), torch.tensor([[0.0, float("nan")]])))
        1.0
    """

    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        seen = ~torch.isnan(target)
        known = torch.where(seen, target, torch.zeros_like(target))
        if kind == "regression":
            each = (out.float() - known) ** 2
        else:
            each = torch.nn.functional.binary_cross_entropy_with_logits(
                out.float(), known, reduction="none"
            )
        return (each * seen).sum() / seen.sum().clamp(min=1)

    return loss
