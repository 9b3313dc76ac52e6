"""A convolutional text classifier over subword ids (Kim, 2014).

Embedding, parallel 1-D convolutions of several widths, ReLU, max-pooling over time (over the
windows that start at a real token), concatenation, dropout, linear head.

Padding (id 0, as :class:`layerwise.data.tokenizer.TextTokenizer` gives it) never changes the
output: padding embeddings are zeroed, the sequence is extended with ``max(kernel_sizes) - 1``
zero vectors inside :meth:`TextCNN.forward_from_embeddings` (so texts shorter than the widest
kernel work, and the last tokens are seen by every kernel), and only windows starting at a
non-padding token are pooled.

Example:
    >>> model = TextCNN(TextCNNConfig(vocab_size=50, n_classes=3, dim=16, channels=8)).eval()
    >>> model(torch.tensor([[5, 6, 0], [7, 0, 0]])).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from layerwise.errors import DataError, dataclass_from_dict
from layerwise.models.text_transformer import PAD_ID, check_fields


@dataclass
class TextCNNConfig:
    """The architecture of a :class:`TextCNN`, JSON-able through :meth:`to_dict`.

    Example:
        >>> config = TextCNNConfig(8000, 2, kernel_sizes=[2, 3])
        >>> config.kernel_sizes, TextCNNConfig.from_dict(config.to_dict()) == config
        ((2, 3), True)
    """

    vocab_size: int
    n_classes: int
    dim: int = 128
    kernel_sizes: Sequence[int] = (3, 4, 5)
    channels: int = 100
    dropout: float = 0.5

    def __post_init__(self) -> None:
        self.kernel_sizes = tuple(int(k) for k in self.kernel_sizes)
        check_fields(
            "TextCNNConfig",
            [
                ("vocab_size", self.vocab_size >= 2, "a whole number >= 2 ([PAD] and [UNK])"),
                ("n_classes", self.n_classes >= 1, "a whole number >= 1"),
                ("dim", self.dim >= 1, "a whole number >= 1"),
                (
                    "kernel_sizes",
                    bool(self.kernel_sizes) and min(self.kernel_sizes) >= 1,
                    "one or more window widths >= 1, e.g. [3, 4, 5]",
                ),
                ("channels", self.channels >= 1, "a whole number >= 1"),
                ("dropout", 0.0 <= self.dropout < 1.0, "a fraction in [0, 1)"),
            ],
            self,
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kernel_sizes"] = list(self.kernel_sizes)  # JSON and YAML friendly
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextCNNConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)


class TextCNN(nn.Module):
    """Kim-style CNN classifier: ``forward(ids [N, L] int64) -> logits [N, n_classes]``.

    ``forward(ids) == forward_from_embeddings(embed(ids), ids)``, for attributions on
    embeddings; :meth:`features` gives the pooled features before the head.

    Example:
        >>> model = TextCNN(TextCNNConfig(50, 2, dim=8, channels=4)).eval()
        >>> ids = torch.tensor([[5, 6]])  # shorter than the widest kernel (5)
        >>> torch.allclose(model(ids), model.forward_from_embeddings(model.embed(ids), ids))
        True
        >>> model.features(ids).shape
        torch.Size([1, 12])
    """

    def __init__(self, config: TextCNNConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.dim, padding_idx=PAD_ID)
        self.convs = nn.ModuleList(
            nn.Conv1d(config.dim, config.channels, k) for k in config.kernel_sizes
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.channels * len(config.kernel_sizes), config.n_classes)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings ``[N, L, dim]``."""
        if ids.dim() != 2:
            raise DataError(
                f"TextCNN got token ids of shape {tuple(ids.shape)}.", "Expected [batch, length]."
            )
        return self.embedding(ids)

    def features_from_embeddings(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[N, channels * len(kernel_sizes)]`` from embeddings ``[N, L, dim]``."""
        real = ids != PAD_ID
        x = (emb * real.unsqueeze(-1).to(emb.dtype)).transpose(1, 2)  # [N, dim, L]
        length = ids.shape[1]
        x = F.pad(x, (0, max(self.config.kernel_sizes) - 1))
        pooled = []
        for conv in self.convs:
            out = torch.relu(conv(x))[:, :, :length]  # windows starting at each position
            # ReLU outputs are >= 0, so zeroing the windows at padding is a masked max
            # (and a row of only padding pools to 0 instead of -inf).
            pooled.append(out.masked_fill(~real.unsqueeze(1), 0.0).amax(2))
        return torch.cat(pooled, 1)

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """Pooled features for token ids (what the linear head sees)."""
        return self.features_from_embeddings(self.embed(ids), ids)

    def forward_from_embeddings(self, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Logits from token embeddings ``emb [N, L, dim]``; ``ids`` give the padding mask."""
        return self.head(self.drop(self.features_from_embeddings(emb, ids)))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, n_classes]`` for token ids ``[N, L]`` (0 = padding)."""
        return self.forward_from_embeddings(self.embed(ids), ids)
