"""SASRec (Kang & McAuley 2018): a causal Transformer over a user's item sequence.

Item embedding (row ``n_items`` is padding, kept at zero) scaled by ``sqrt(dim)``, plus a
learned position embedding, dropout, pre-norm blocks with causal self-attention through
``scaled_dot_product_attention``, and a final LayerNorm. The hidden state at position ``t``
scores the item that comes after ``t`` against the (tied) item embedding matrix.

Sequences are left-padded. Positions count back from the newest item (the last column is
position 0), and padded keys are masked out of every attention row, so the outputs at real
positions do not depend on how much padding there is. A padded query attends to itself
only, so no row of the attention is empty (no NaN).

Example:
    >>> model = SASRec(SASRecConfig(n_items=20, max_len=8, dim=16)).eval()
    >>> hidden = model(torch.tensor([[20, 20, 3, 4, 5], [1, 2, 3, 4, 5]]))
    >>> hidden.shape, model.item_scores(hidden[:, -1]).shape
    (torch.Size([2, 5, 16]), torch.Size([2, 20]))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: F401  (doctest)
from torch import nn

from layerwise.errors import DataError, dataclass_from_dict
from layerwise.models.attention import MultiHeadSelfAttention
from layerwise.models.text_transformer import check_fields


@dataclass
class SASRecConfig:
    """The architecture of a :class:`SASRec`, JSON-able through :meth:`to_dict`.

    Example:
        >>> config = SASRecConfig(n_items=100)
        >>> SASRecConfig.from_dict(config.to_dict()) == config
        True
    """

    n_items: int
    max_len: int = 50
    dim: int = 64
    heads: int = 2
    layers: int = 2
    dropout: float = 0.2

    def __post_init__(self) -> None:
        check_fields(
            "SASRecConfig",
            [
                ("n_items", self.n_items >= 1, "a whole number >= 1"),
                ("max_len", self.max_len >= 1, "a whole number >= 1"),
                ("heads", self.heads >= 1, "a whole number >= 1"),
                ("dim", self.dim >= 1 and self.dim % self.heads == 0, "a multiple of heads"),
                ("layers", self.layers >= 1, "a whole number >= 1"),
                ("dropout", 0.0 <= self.dropout < 1.0, "a fraction in [0, 1)"),
            ],
            self,
        )

    @property
    def pad(self) -> int:
        """The padding index (one past the last item)."""
        return self.n_items

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SASRecConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)


class SASRecBlock(nn.Module):
    """Pre-norm: ``x + attn(norm1(x))``, then ``x + ffn(norm2(x))``."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        # No dropout on the attention probabilities: on the CPU, drawing that mask was the
        # largest single cost of a training step.
        self.attn = MultiHeadSelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), real, causal=True))
        return x + self.drop(self.ffn(self.norm2(x)))


class SASRec(nn.Module):
    """``forward(seq [N, L]) -> hidden [N, L, dim]``; ``item_scores(h [N, dim]) -> [N, n_items]``.

    ``seq`` holds item indices, left-padded with ``config.pad``; ``L <= config.max_len``.
    """

    def __init__(self, config: SASRecConfig):
        super().__init__()
        self.config = config
        self.item_embedding = nn.Embedding(config.n_items + 1, config.dim, padding_idx=config.pad)
        self.position_embedding = nn.Parameter(torch.zeros(config.max_len, config.dim))
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            SASRecBlock(config.dim, config.heads, config.dropout) for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(config.dim)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.item_embedding.weight, std=self.config.dim**-0.5)
        with torch.no_grad():
            self.item_embedding.weight[self.config.pad].zero_()
        nn.init.normal_(self.position_embedding, std=0.02)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """Hidden states ``[N, L, dim]``; the one at ``t`` predicts the item after ``seq[:, t]``."""
        if seq.dim() != 2 or seq.shape[1] > self.config.max_len:
            raise DataError(
                f"SASRec got item sequences of shape {tuple(seq.shape)}.",
                f"Expected [batch, length] with length <= max_len={self.config.max_len}.",
            )
        real = seq != self.config.pad
        positions = self.position_embedding[: seq.shape[1]].flip(0)  # newest item = position 0
        x = self.item_embedding(seq) * self.config.dim**0.5 + positions
        x = self.drop(x) * real.unsqueeze(-1).to(x.dtype)
        for block in self.blocks:
            x = block(x, real)
        return self.norm(x)

    def item_embeddings(self) -> torch.Tensor:
        """The item embedding matrix without the padding row, ``[n_items, dim]``."""
        return self.item_embedding.weight[: self.config.n_items]

    def item_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores ``[N, n_items]`` of every item as the next one, for hidden states ``[N, dim]``."""
        return hidden @ self.item_embeddings().T


CHUNK_CELLS = 1 << 21  # logits per chunk in softmax_cross_entropy


class ChunkedSoftmaxCrossEntropy(torch.autograd.Function):
    """Mean softmax cross-entropy of ``hidden @ weight.T`` against ``targets``, a chunk of rows
    at a time, with the gradients computed in the forward pass, so that the ``[n, n_items]``
    logits never exist at once. On the CPU this is about twice as fast as
    ``F.cross_entropy`` on the full logits (the cost is memory traffic, not flops)."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> Any:
        n, chunk = len(hidden), max(64, min(1024, CHUNK_CELLS // len(weight)))
        grad_h, grad_w = torch.empty_like(hidden), torch.zeros_like(weight)
        total = hidden.new_zeros((), dtype=torch.float64)
        for start in range(0, n, chunk):
            h, t = hidden[start : start + chunk], targets[start : start + chunk]
            logits = h @ weight.T
            lse = torch.logsumexp(logits, 1)
            rows = torch.arange(len(t), device=t.device)
            total += (lse - logits[rows, t]).sum().double()
            p = logits.sub_(lse[:, None]).exp_()
            p[rows, t] -= 1.0  # d loss / d logits = softmax - one-hot
            torch.mm(p, weight, out=grad_h[start : start + chunk])
            grad_w.addmm_(p.T, h)
        ctx.save_for_backward(grad_h, grad_w)
        ctx.n = max(n, 1)
        return (total / ctx.n).float()

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        grad_h, grad_w = ctx.saved_tensors
        scale = grad / ctx.n
        return grad_h * scale, grad_w * scale, None


def softmax_cross_entropy(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """``F.cross_entropy(hidden @ weight.T, targets)``, computed in chunks of rows.

    Example:
        >>> h, w = torch.randn(5, 4), torch.randn(7, 4)
        >>> t = torch.tensor([0, 6, 2, 2, 1])
        >>> torch.allclose(softmax_cross_entropy(h, w, t), F.cross_entropy(h @ w.T, t))
        True
    """
    return ChunkedSoftmaxCrossEntropy.apply(hidden, weight, targets)
