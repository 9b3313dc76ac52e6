"""A decoder-only GPT (nanoGPT-style) for language generation, with a KV cache.

Token embedding plus a learned position embedding, pre-norm blocks (causal self-attention,
the shared :class:`~layerwise.models.attention.MultiHeadSelfAttention` with ``is_causal=True``,
then a 4x GELU MLP), a final LayerNorm and an LM head whose weight is the token embedding
(weight tying). GPT-2 init: normal(0.02), the residual projections scaled by
``1 / sqrt(2 * layers)``.

:meth:`GPT.generate` prefills each attention layer's key/value cache once, then feeds one
token per step. Past ``block_size`` the window slides: the cache is rebuilt from the last
``slide_to`` tokens (default ``block_size // 2``), so a slide costs one prefill every
``block_size - slide_to + 1`` tokens instead of a full forward per token. With learned
absolute positions the cached keys cannot simply be shifted, hence the recompute.

Example:
    >>> torch.manual_seed(0) and None
    >>> model = GPT(GPTConfig(vocab_size=10, block_size=8, dim=16, layers=1, heads=2)).eval()
    >>> model(torch.tensor([[1, 2, 3]])).shape
    torch.Size([1, 3, 10])
    >>> model.generate(torch.tensor([[1, 2, 3]]), 12, temperature=0).shape
    torch.Size([1, 15])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from layerwise.errors import ConfigError, closest, dataclass_from_dict
from layerwise.models.attention import MultiHeadSelfAttention
from layerwise.models.text_transformer import check_fields

# Sized for a 2-core CPU (tiny, small) and a GPU (base). Non-embedding parameters are about
# 12 * layers * dim**2: tiny ~0.79M, small ~4.7M, base ~14.2M. Tiny is nanoGPT's CPU shape
# (4x128, block 64): on Tiny Shakespeare, 90 s on one core, batch 32, it reached a
# validation loss of 2.23 against 2.44 with block 128 (tokens/s is about the same, but
# block 64 takes twice the optimizer steps, and early on steps matter more than context).
# Small takes ~7 s per 32x256 batch on one core: for long CPU runs. No dropout on the CPU
# presets: a few minutes of training underfits.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"block_size": 64, "dim": 128, "layers": 4, "heads": 4, "dropout": 0.0},
    "small": {"block_size": 256, "dim": 256, "layers": 6, "heads": 4, "dropout": 0.0},
    "base": {"block_size": 256, "dim": 384, "layers": 8, "heads": 6, "dropout": 0.1},
}


@dataclass
class GPTConfig:
    """The architecture of a :class:`GPT`, JSON-able through :meth:`to_dict`.

    Example:
        >>> config = GPTConfig.preset("tiny", vocab_size=65)
        >>> (config.layers, config.dim, config.block_size)
        (4, 128, 64)
        >>> GPTConfig.from_dict(config.to_dict()) == config
        True
    """

    vocab_size: int
    block_size: int = 256
    dim: int = 256
    layers: int = 6
    heads: int = 4
    dropout: float = 0.0
    bias: bool = False

    def __post_init__(self) -> None:
        check_fields(
            "GPTConfig",
            [
                ("vocab_size", self.vocab_size >= 1, "a whole number >= 1"),
                ("block_size", self.block_size >= 1, "a whole number >= 1"),
                ("layers", self.layers >= 1, "a whole number >= 1"),
                ("heads", self.heads >= 1, "a whole number >= 1"),
                ("dim", self.dim >= 1 and self.dim % self.heads == 0, "a multiple of heads"),
                ("dropout", 0.0 <= self.dropout < 1.0, "a fraction in [0, 1)"),
            ],
            self,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GPTConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)

    @classmethod
    def preset(cls, name: str, vocab_size: int, block_size: int | None = None) -> GPTConfig:
        """The config of preset ``name`` (see ``PRESETS``), optionally with another block size."""
        if name not in PRESETS:
            guess = closest(name, PRESETS)
            raise ConfigError(
                f"There is no GPT preset {name!r}.",
                f"Did you mean {guess!r}?" if guess else f"Use one of: {', '.join(PRESETS)}.",
            )
        options = dict(PRESETS[name])
        if block_size is not None:
            options["block_size"] = block_size
        return cls(vocab_size=vocab_size, **options)


def parameter_count(model: GPT) -> dict[str, int]:
    """``{"total": ..., "non_embedding": ...}``, each parameter counted once (the LM head
    shares the token embedding). ``non_embedding`` leaves out the token and position
    embeddings (Kaplan et al.), so it does not depend on the vocabulary.

    Example:
        >>> parameter_count(GPT(GPTConfig(vocab_size=10, block_size=4, dim=8, layers=1, heads=2)))
        {'total': 904, 'non_embedding': 792}
    """
    total = sum(p.numel() for p in model.parameters())
    embedding = model.token_embedding.weight.numel() + model.position_embedding.numel()
    return {"total": total, "non_embedding": total - embedding}


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in nats per token of ``logits [B, T, V]`` against ``targets [B, T]``
    (targets of -100 are ignored).

    Example:
        >>> float(lm_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.long)))  # log 4
        1.3862943649291992
    """
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class CausalSelfAttention(MultiHeadSelfAttention):
    """Multi-head causal self-attention that can append to its own key/value cache."""

    def __init__(self, config: GPTConfig):
        super().__init__(config.dim, config.heads, config.dropout, config.bias)
        self.capacity = config.block_size
        self.cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self.cached = 0  # positions held in the cache

    def reset_cache(self) -> None:
        self.cache, self.cached = None, 0

    def forward(self, x: torch.Tensor, use_cache: bool = False) -> torch.Tensor:
        if not use_cache:
            return super().forward(x, causal=True)
        q, k, v = self.split_heads(x)  # each [N, heads, L, head_dim]
        return self.merge_heads(self._attend_cached(q, k, v))

    def _attend_cached(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        past, length = self.cached, q.shape[2]
        if self.cache is None or past == 0:
            shape = (*k.shape[:2], self.capacity, k.shape[3])
            self.cache = (k.new_empty(shape), v.new_empty(shape))
        keys, values = self.cache
        keys[:, :, past : past + length] = k
        values[:, :, past : past + length] = v
        self.cached = past + length
        keys, values = keys[:, :, : self.cached], values[:, :, : self.cached]
        if past == 0 or length == 1:  # a fresh prefill is plain causal; one new query sees all
            return F.scaled_dot_product_attention(q, keys, values, is_causal=length > 1)
        # Queries start at position `past`: is_causal would align them to key 0 instead.
        allowed = torch.ones(length, self.cached, dtype=torch.bool, device=q.device)
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=allowed.tril(past))


class Block(nn.Module):
    """Pre-norm: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        dim = config.dim
        self.ln1 = nn.LayerNorm(dim, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(dim, bias=config.bias)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 4 * dim, bias=config.bias),
            nn.GELU(),
            nn.Linear(4 * dim, dim, bias=config.bias),
        )
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, use_cache: bool = False) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x), use_cache))
        return x + self.drop(self.mlp(self.ln2(x)))


def sample_logits(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token id per row ``[B, 1]`` drawn from ``logits [B, V]``.

    ``temperature`` 0 is greedy (argmax); otherwise the logits are divided by it, cut to the
    ``top_k`` most likely and then to the smallest set whose probability reaches ``top_p``
    (nucleus), and sampled with ``generator``.

    Example:
        >>> sample_logits(torch.tensor([[0.0, 3.0, 1.0]]), temperature=0)
        tensor([[1]])
    """
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        ordered, order = logits.sort(dim=-1, descending=True)
        probs = ordered.softmax(-1)
        # Drop a token when the more likely ones already reach top_p (the first always stays).
        ordered = ordered.masked_fill(probs.cumsum(-1) - probs >= top_p, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, ordered)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)


class GPT(nn.Module):
    """Decoder-only Transformer: ``forward(idx [B, T] int64) -> logits [B, T, vocab_size]``.

    The logits at ``t`` predict token ``t + 1``; ``T <= config.block_size``. Train with
    :func:`lm_loss`; sample with :meth:`generate`.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.dim)
        self.position_embedding = nn.Parameter(torch.zeros(config.block_size, config.dim))
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.dim, bias=config.bias)
        self.head = nn.Linear(config.dim, config.vocab_size, bias=False)
        self.head.weight = self.token_embedding.weight
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.position_embedding, std=0.02)
        residual_std = 0.02 / math.sqrt(2 * self.config.layers)
        for block in self.blocks:
            nn.init.normal_(block.attn.proj.weight, std=residual_std)
            nn.init.normal_(block.mlp[2].weight, std=residual_std)

    def reset_cache(self) -> None:
        """Empty every attention layer's key/value cache."""
        for block in self.blocks:
            block.attn.reset_cache()

    def _hidden(self, idx: torch.Tensor, use_cache: bool) -> torch.Tensor:
        if idx.dim() != 2:
            raise ValueError(f"GPT expects token ids [batch, time], got shape {tuple(idx.shape)}.")
        past = self.blocks[0].attn.cached if use_cache else 0
        if past + idx.shape[1] > self.config.block_size:
            raise ValueError(
                f"GPT got {past + idx.shape[1]} positions but block_size="
                f"{self.config.block_size}; crop the input to its last block_size tokens."
            )
        x = self.token_embedding(idx) + self.position_embedding[past : past + idx.shape[1]]
        x = self.drop(x)
        for block in self.blocks:
            x = block(x, use_cache)
        return self.norm(x)

    def forward(self, idx: torch.Tensor, use_cache: bool = False) -> torch.Tensor:
        """Logits ``[B, T, vocab_size]`` for token ids ``[B, T]``.

        With ``use_cache`` the tokens continue the ones already in the key/value cache (their
        positions follow on) and are appended to it; :meth:`reset_cache` starts afresh.
        """
        return self.head(self._hidden(idx, use_cache))

    def _last_logits(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self._hidden(idx, use_cache=True)[:, -1])

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        on_token: Callable[[Any], None] | None = None,
        slide_to: int | None = None,
    ) -> torch.Tensor:
        """The prompt ``idx [B, T]`` followed by ``max_new_tokens`` sampled ones, ``[B, T + n]``.

        Sampling is :func:`sample_logits` (``generator`` must be on the model's device). A
        prompt longer than ``block_size`` is cropped to its last ``block_size`` tokens. When
        the context would exceed ``block_size``, it is cut to its last ``slide_to`` tokens
        (default ``block_size // 2``; ``block_size`` gives nanoGPT's rule, a full forward per
        token). ``on_token`` gets each new token as soon as it is drawn: an ``int`` for one
        sequence, a ``list[int]`` (one per row) for a batch. Runs in eval mode.
        """
        block = self.config.block_size
        keep = block // 2 if slide_to is None else slide_to
        _check_generate(idx, max_new_tokens, temperature, top_k, top_p, keep, block)
        was_training = self.training
        self.eval()
        out = torch.empty(idx.shape[0], idx.shape[1] + max_new_tokens, dtype=idx.dtype)
        out = out.to(idx.device)
        out[:, : idx.shape[1]] = idx
        try:
            self.reset_cache()
            logits = self._last_logits(idx[:, -block:])
            for end in range(idx.shape[1], out.shape[1]):
                token = sample_logits(logits, temperature, top_k, top_p, generator)
                out[:, end : end + 1] = token
                if on_token is not None:
                    on_token(int(token) if len(token) == 1 else token[:, 0].tolist())
                if end + 1 == out.shape[1]:
                    break
                if self.blocks[0].attn.cached == block:
                    self.reset_cache()
                    logits = self._last_logits(out[:, end + 1 - keep : end + 1])
                else:
                    logits = self._last_logits(token)
        finally:
            self.reset_cache()
            self.train(was_training)
        return out


def _check_generate(
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    keep: int,
    block: int,
) -> None:
    checks = [
        (idx.dim() == 2 and idx.shape[1] >= 1, f"idx of shape {tuple(idx.shape)}", "[B, T>=1]"),
        (max_new_tokens >= 0, f"max_new_tokens={max_new_tokens}", ">= 0"),
        (temperature >= 0, f"temperature={temperature}", ">= 0 (0 is greedy)"),
        (top_k is None or top_k >= 1, f"top_k={top_k}", "None or >= 1"),
        (top_p is None or 0 < top_p <= 1, f"top_p={top_p}", "None or in (0, 1]"),
        (1 <= keep <= block, f"slide_to={keep}", f"in [1, block_size={block}]"),
    ]
    for ok, got, expected in checks:
        if not ok:
            raise ValueError(f"GPT.generate got {got}; expected {expected}.")
