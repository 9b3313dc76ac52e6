"""TabM for tables: piecewise-linear numeric embeddings and an efficient ensemble of MLPs.

Two results from the tabular deep-learning literature, both cheap on a CPU:

- Piecewise-linear encoding (PLE; Gorishniy et al. 2022, "On embeddings for numerical
  features in tabular deep learning"): each numeric column is cut at quantiles of its training
  values, a value becomes its fraction of every bin (1 for bins below it, 0 above, the
  fraction inside its own), and a per-column linear map turns that into a vector. An MLP on
  these embeddings learns the sharp, non-smooth functions of single columns that trees find
  easily and an MLP on raw values does not. Here it is their "version B": a plain linear
  embedding of the value plus the PLE term, whose weights start at zero, so training starts
  from the plain model and adds the piecewise part where it helps.
- TabM (Gorishniy et al. 2024, "TabM: Advancing tabular deep learning with
  parameter-efficient ensembling"): k members share every weight of one MLP and differ only by
  a multiplicative adapter, initialised to random signs, at the input ("TabM-mini") or also in
  every layer ("TabM", BatchEnsemble); each has its own head, all are trained at once on the
  same batches (the loss is the mean of the members' losses) and their predictions are
  averaged. The members' diversity is where the gain comes from; the cost is k times the
  matrix products of one MLP, which is small for tables.

The module returns every member's output, ``[batch, k, n_outputs]``; :func:`ensemble_mean`
averages them (probabilities for a classifier). Bin edges are a buffer, saved with the weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from layerwise.models.tabular_mlp import embedding_size

ADAPTERS = ("input", "hidden", "all")
_FAR = 1e30  # "no clipping" bound of the first and last bins (a finite number exports cleanly)


def quantile_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin edges ``[n_columns, n_bins + 1]`` at the quantiles of each column's finite values.

    Repeated quantiles (a column with few distinct values) are merged, and the edge list is
    padded at its end by repeating the last edge: a bin of zero width is empty, and the encoder
    skips it. A column with one value (or none) has no bins at all.

    Example:
        >>> quantile_edges(np.array([[0.0], [1.0], [1.0], [3.0]]), 2).tolist()
        [[0.0, 1.0, 3.0]]
        >>> quantile_edges(np.array([[1.0], [1.0], [np.nan]]), 2).tolist()
        [[1.0, 1.0, 1.0]]
    """
    edges = np.zeros((values.shape[1], n_bins + 1), dtype=np.float32)
    for j in range(values.shape[1]):
        column = values[:, j][np.isfinite(values[:, j])]
        if len(column) == 0:
            continue
        cuts = np.unique(np.quantile(column, np.linspace(0.0, 1.0, n_bins + 1)))
        edges[j, : len(cuts)] = cuts
        edges[j, len(cuts) :] = cuts[-1]
    return edges


class PiecewiseLinearEmbeddings(nn.Module):
    """``[batch, n_features]`` -> ``[batch, n_features, d]``: a linear embedding of each value
    plus a per-feature linear map of its piecewise-linear encoding (zero at the start).

    Example:
        >>> ple = PiecewiseLinearEmbeddings(2, 4, 8)
        >>> ple(torch.zeros(3, 2)).shape
        torch.Size([3, 2, 8])
    """

    def __init__(self, n_features: int, n_bins: int, d: int):
        super().__init__()
        self.register_buffer("edges", torch.zeros(n_features, n_bins + 1))
        bound = d**-0.5
        self.scale = nn.Parameter(torch.empty(n_features, d).uniform_(-bound, bound))
        self.shift = nn.Parameter(torch.empty(n_features, d).uniform_(-bound, bound))
        self.weight = nn.Parameter(torch.zeros(n_features, n_bins, d))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The piecewise-linear encoding ``[batch, n_features, n_bins]`` of ``x``."""
        left, width = self.edges[:, :-1], self.edges[:, 1:] - self.edges[:, :-1]
        real = width > 0  # the padded bins at the end have zero width
        ratio = (x.unsqueeze(-1) - left) / torch.where(real, width, torch.ones_like(width))
        index = torch.arange(width.shape[1], device=x.device)
        last = index == real.sum(dim=1, keepdim=True) - 1
        # Values below the first edge or above the last extrapolate linearly in the outer bins.
        lower = torch.where(index == 0, -_FAR, 0.0)
        upper = torch.where(last, _FAR, 1.0)
        ratio = torch.minimum(torch.maximum(ratio, lower), upper)
        return ratio * real

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        piecewise = torch.einsum("bft,ftd->bfd", self.encode(x), self.weight)
        return x.unsqueeze(-1) * self.scale + self.shift + piecewise


@dataclass
class TabMConfig:
    """The network's shape. ``n_numeric`` is the width of the standardised input (numeric
    columns, then missing indicators); its first ``n_encoded`` columns get piecewise-linear
    embeddings of ``d_embedding`` from ``n_bins`` bins (0: the plain value)."""

    n_numeric: int
    cardinalities: list[int] = field(default_factory=list)
    n_outputs: int = 1
    n_encoded: int = 0
    n_bins: int = 0
    d_embedding: int = 16
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    dropout: float = 0.1
    k: int = 16
    adapters: str = "input"

    def __post_init__(self) -> None:
        if self.adapters not in ADAPTERS:
            raise ValueError(f"adapters={self.adapters!r}; use one of {ADAPTERS}")
        if not (1 <= self.k <= 256 and 0 <= self.n_encoded <= self.n_numeric and self.hidden):
            raise ValueError(f"k={self.k}, n_encoded={self.n_encoded} out of range")

    def to_dict(self) -> dict:
        return asdict(self)


def _signs(k: int, width: int) -> torch.Tensor:
    return torch.randint(0, 2, (k, width)).float() * 2 - 1


class _Block(nn.Module):
    """Linear -> ReLU -> Dropout on ``[batch, k, d]``; with BatchEnsemble adapters (per-member
    input and output scales and bias) when ``ensemble``, else shared by all members."""

    def __init__(self, d_in: int, d_out: int, k: int, ensemble: bool, first: bool, dropout: float):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out, bias=not ensemble)
        self.r = self.s = self.bias = None
        if ensemble:
            # The first layer's input scale is the model's input adapter, not a second one.
            self.r = None if first else nn.Parameter(torch.ones(k, d_in))
            self.s = nn.Parameter(torch.ones(k, d_out))
            bound = d_in**-0.5  # nn.Linear's bias init, the same for every member
            self.bias = nn.Parameter(torch.empty(d_out).uniform_(-bound, bound).repeat(k, 1))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.r is not None:
            x = x * self.r
        x = self.linear(x)
        if self.s is not None:
            x = x * self.s + self.bias
        return self.dropout(torch.relu(x))


class TabM(nn.Module):
    """Embeddings -> k members (input adapter, shared MLP, own heads) -> ``[batch, k, out]``.

    Example:
        >>> model = TabM(TabMConfig(n_numeric=3, cardinalities=[4], n_outputs=2, n_encoded=2,
        ...                         n_bins=4, hidden=[8], k=5))
        >>> model(torch.zeros(6, 3), torch.zeros(6, 1, dtype=torch.long)).shape
        torch.Size([6, 5, 2])
    """

    def __init__(self, config: TabMConfig):
        super().__init__()
        self.config = c = config
        self.ple = (
            PiecewiseLinearEmbeddings(c.n_encoded, c.n_bins, c.d_embedding)
            if c.n_encoded and c.n_bins
            else None
        )
        encoded = c.n_encoded * c.d_embedding if self.ple is not None else 0
        self.embeddings = nn.ModuleList(nn.Embedding(k, embedding_size(k)) for k in c.cardinalities)
        width = encoded + c.n_numeric - (c.n_encoded if self.ple is not None else 0)
        width += sum(embedding_size(k) for k in c.cardinalities)
        # "hidden": the adapter scales the first layer's output, not its input, so the widest
        # product (all the embeddings into the first layer) is computed once, not k times.
        self.adapter = nn.Parameter(_signs(c.k, c.hidden[0] if c.adapters == "hidden" else width))
        blocks = []
        for i, size in enumerate(c.hidden):
            blocks.append(_Block(width, size, c.k, c.adapters == "all", i == 0, c.dropout))
            width = size
        self.blocks = nn.Sequential(*blocks)
        bound = width**-0.5
        self.head_weight = nn.Parameter(
            torch.empty(c.k, width, c.n_outputs).uniform_(-bound, bound)
        )
        self.head_bias = nn.Parameter(torch.empty(c.k, c.n_outputs).uniform_(-bound, bound))

    def features(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        """The flat input row ``[batch, width]`` every member sees (before its adapter)."""
        parts = [numeric]
        if self.ple is not None:
            n = self.config.n_encoded
            parts = [self.ple(numeric[:, :n]).flatten(1), numeric[:, n:]]
        parts += [emb(categorical[:, i]) for i, emb in enumerate(self.embeddings)]
        return torch.cat(parts, dim=1)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        x = self.features(numeric, categorical)
        blocks = self.blocks
        if self.config.adapters == "hidden":
            first, blocks = self.blocks[0], self.blocks[1:]
            x = first.dropout(torch.relu(first.linear(x).unsqueeze(1) * self.adapter))
        else:
            x = x.unsqueeze(1) * self.adapter  # [batch, k, width]
        x = blocks(x)
        return torch.einsum("bkd,kdo->bko", x, self.head_weight) + self.head_bias


def ensemble_mean(outputs: torch.Tensor, classifier: bool) -> torch.Tensor:
    """The ensemble's prediction from every member's: the mean of the members' probabilities
    (``[batch, n_classes]``) for a classifier, of their values (``[batch, n_outputs]``) else.

    Example:
        >>> ensemble_mean(torch.zeros(2, 4, 3), True)[0].tolist()
        [0.3333333432674408, 0.3333333432674408, 0.3333333432674408]
    """
    if classifier:
        return torch.softmax(outputs.float(), dim=-1).mean(dim=1)
    return outputs.float().mean(dim=1)
