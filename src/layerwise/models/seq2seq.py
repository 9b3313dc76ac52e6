"""A Transformer encoder-decoder (Vaswani et al. 2017, pre-norm) for translation and replies.

One vocabulary for source and target: a single embedding, scaled by ``sqrt(dim)`` on the way
in (initialised with std ``dim ** -0.5``, so the scaled rows have unit scale, like the
positions) and used unscaled as the output projection (weight tying, as in fairseq). Fixed
sinusoidal positions, not learned ones: sentence-pair data sets are often small, and a table
of ``max_len x dim`` learned positions per side is parameters to fit from little data; the
sinusoids need none, are not stored in the weights, and are what the original Transformer
used for translation. Pre-norm blocks (LayerNorm before self-attention, cross-attention and
a GELU FFN), a final LayerNorm on each side. Attention is the project's one block,
:class:`~layerwise.models.attention.MultiHeadSelfAttention` (cross-attention included).

Masks: source padding (``pad_id``) is masked out of the encoder's self-attention and the
decoder's cross-attention, so it never changes the output; the decoder's self-attention is
causal, so right padding of the target changes nothing at the real positions.

Decoding (:meth:`Seq2Seq.greedy`, :meth:`Seq2Seq.beam_search`) keeps a :class:`DecoderCache`:
self-attention keys/values grow by one position per step, cross-attention keys/values are
computed once per source. ``use_cache=False`` recomputes the whole prefix every step instead
(same outputs, for measuring what the cache saves). Pad and bos are never generated; the
last allowed step forces eos, so ``max_len`` counts the eos.

Example:
    >>> torch.manual_seed(0) and None
    >>> model = Seq2Seq(Seq2SeqConfig(vocab_size=12, dim=16, heads=2, encoder_layers=1,
    ...                               decoder_layers=1)).eval()
    >>> source = torch.tensor([[5, 6, 7, 2], [8, 9, 2, 0]])  # 0 is padding
    >>> model(source, torch.tensor([[1, 5], [1, 8]])).shape
    torch.Size([2, 2, 12])
    >>> replies = model.greedy(source, max_len=4)
    >>> replies == model.greedy(source, max_len=4, use_cache=False)
    True
    >>> [len(reply) <= 3 for reply in replies]
    [True, True]
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from layerwise.errors import DataError, check_fields, dataclass_from_dict
from layerwise.models.attention import KeysValues, MultiHeadSelfAttention


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class Seq2SeqConfig:
    """The architecture of a :class:`Seq2Seq`, JSON-able through :meth:`to_dict`.

    ``max_target_len`` bounds the decoder input (bos plus the reply), so replies have at
    most ``max_target_len - 1`` tokens. ``pad_id``, ``bos_id`` and ``eos_id`` are the ids the
    task's tokenizer gives them. Label smoothing belongs to the training code, not here.

    Example:
        >>> config = Seq2SeqConfig(vocab_size=8000)
        >>> Seq2SeqConfig.from_dict(config.to_dict()) == config
        True
    """

    vocab_size: int
    dim: int = 256
    heads: int = 4
    encoder_layers: int = 3
    decoder_layers: int = 3
    ffn_ratio: float = 4.0
    dropout: float = 0.1
    max_source_len: int = 128
    max_target_len: int = 128
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    def __post_init__(self) -> None:
        vocab = self.vocab_size if _whole(self.vocab_size, 4) else 0
        heads = self.heads if _whole(self.heads, 1) else 0
        pad, bos, eos = (
            i if _whole(i, 0) and i < vocab else -1 for i in (self.pad_id, self.bos_id, self.eos_id)
        )
        in_vocab = f"an id in [0, vocab_size={self.vocab_size})"
        check_fields(
            self,
            [
                ("vocab_size", vocab > 0, "a whole number >= 4 (pad, bos, eos and a token)"),
                ("heads", heads > 0, "a whole number >= 1"),
                ("dim", heads > 0 and _whole(self.dim, 1) and self.dim % heads == 0, "a multiple of heads"),
                ("encoder_layers", _whole(self.encoder_layers, 1), "a whole number >= 1"),
                ("decoder_layers", _whole(self.decoder_layers, 1), "a whole number >= 1"),
                ("ffn_ratio", _number(self.ffn_ratio) and self.ffn_ratio > 0, "a number > 0"),
                ("dropout", _number(self.dropout) and 0 <= self.dropout < 1, "a fraction in [0, 1)"),
                ("max_source_len", _whole(self.max_source_len, 1), "a whole number >= 1"),
                ("max_target_len", _whole(self.max_target_len, 2), "a whole number >= 2"),
                ("pad_id", pad >= 0, in_vocab),
                ("bos_id", bos >= 0 and bos != pad, f"{in_vocab} other than pad_id"),
                ("eos_id", eos >= 0 and eos not in (pad, bos), f"{in_vocab} other than pad/bos"),
            ],
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Seq2SeqConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)


def seq2seq_config_for(n_pairs: int, vocab_size: int, on_cpu: bool, **fields: Any) -> Seq2SeqConfig:
    """A config sized for ``n_pairs`` training pairs (``fields`` override any choice).

    Small data overfits big models: on low-resource translation, Transformers smaller and
    more regularised than "base" do better (Sennrich & Zhang 2019; Araabi & Monz 2020), so
    dim 128 and 2+2 layers with dropout 0.3 below 5k pairs, dim 256 and 3+3 layers up to
    50k, and the "base" shape (512, 6+6, dropout 0.1) only from 500k pairs. On a CPU the
    model stops at dim 256 and 3+3 layers: bigger ones get too few updates in a CPU-sized
    time budget to beat a smaller model that trains more. Heads keep a head size of 64
    (32 for dim 128).

    Example:
        >>> config = seq2seq_config_for(2_000, vocab_size=4000, on_cpu=True)
        >>> (config.dim, config.encoder_layers, config.heads, config.dropout)
        (128, 2, 4, 0.3)
    """
    if n_pairs < 5_000:
        dim, layers, dropout = 128, 2, 0.3
    elif n_pairs < 50_000:
        dim, layers, dropout = 256, 3, 0.3
    elif n_pairs < 500_000:
        dim, layers, dropout = 384, 4, 0.2
    else:
        dim, layers, dropout = 512, 6, 0.1
    if on_cpu:
        dim, layers = min(dim, 256), min(layers, 3)
    options: dict[str, Any] = {
        "dim": dim,
        "heads": max(4, dim // 64),
        "encoder_layers": layers,
        "decoder_layers": layers,
        "dropout": dropout,
    }
    return Seq2SeqConfig(vocab_size=vocab_size, **{**options, **fields})


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """``[length, dim]``: sin on even columns, cos on odd ones, wavelengths ``2π`` to
    ``10000 · 2π`` (Vaswani et al. 2017).

    Example:
        >>> sinusoidal_positions(3, 4)[0].tolist()
        [0.0, 1.0, 0.0, 1.0]
    """
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(1e4) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, : dim // 2]
    return table


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> torch.Tensor:
    """Token id lists right-padded with ``pad_id`` into ``[N, longest]`` int64.

    Example:
        >>> pad_batch([[5, 6], [7]], pad_id=0).tolist()
        [[5, 6], [7, 0]]
    """
    out = torch.full((len(sequences), max([1, *map(len, sequences)])), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return out


def decoder_io(
    replies: Sequence[Sequence[int]], config: Seq2SeqConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher forcing: ``target_in`` (bos + reply, padded with pad_id) and ``target_out``
    (reply + eos, padded with -100, which ``F.cross_entropy`` ignores), each ``[N, T]``.

    Example:
        >>> target_in, target_out = decoder_io([[5, 6], [7]], Seq2SeqConfig(vocab_size=10))
        >>> target_in.tolist(), target_out.tolist()
        ([[1, 5, 6], [1, 7, 0]], [[5, 6, 2], [7, 2, -100]])
    """
    target_in = pad_batch([[config.bos_id, *r] for r in replies], config.pad_id)
    target_out = pad_batch([[*r, config.eos_id] for r in replies], -100)
    return target_in, target_out


@dataclass
class DecoderCache:
    """What decoding one step at a time keeps: the source padding mask ``keep [N, S]``, each
    decoder layer's cross-attention keys/values (computed once) and self-attention
    keys/values (one more position per step), and ``length``, the target positions held."""

    keep: torch.Tensor
    cross: list[KeysValues]
    past: list[KeysValues | None]
    length: int = 0

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep the self-attention rows ``rows`` (beam search). Each row must come from a
        row of the same source: the cross-attention keys/values are not moved."""
        self.past = [None if kv is None else (kv[0][rows], kv[1][rows]) for kv in self.past]


def _ffn(dim: int, ratio: float, dropout: float) -> nn.Sequential:
    hidden = max(1, round(dim * ratio))
    return nn.Sequential(
        nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
    )


class EncoderLayer(nn.Module):
    """Pre-norm: ``x + self_attn(norm1(x))``, then ``x + ffn(norm2(x))``."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        dim = config.dim
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = MultiHeadSelfAttention(dim, config.heads, config.dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = _ffn(dim, config.ffn_ratio, config.dropout)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.self_attn(self.norm1(x), keep))
        return x + self.drop(self.ffn(self.norm2(x)))


class DecoderLayer(nn.Module):
    """Pre-norm: causal ``self_attn``, then ``cross_attn`` to the memory, then ``ffn``."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        dim = config.dim
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = MultiHeadSelfAttention(dim, config.heads, config.dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.cross_attn = MultiHeadSelfAttention(dim, config.heads, config.dropout)
        self.norm3 = nn.LayerNorm(dim)
        self.ffn = _ffn(dim, config.ffn_ratio, config.dropout)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.self_attn(self.norm1(x), causal=True))
        x = x + self.drop(self.cross_attn(self.norm2(x), keep, memory=memory))
        return x + self.drop(self.ffn(self.norm3(x)))

    def step(
        self, x: torch.Tensor, past: KeysValues | None, cross: KeysValues, keep: torch.Tensor
    ) -> tuple[torch.Tensor, KeysValues]:
        """:meth:`forward` for the positions after ``past``; also returns the grown cache."""
        out, past = self.self_attn.step(self.norm1(x), past)
        x = x + self.drop(out)
        x = x + self.drop(self.cross_attn.attend_memory(self.norm2(x), cross, keep))
        return x + self.drop(self.ffn(self.norm3(x))), past


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


class Seq2Seq(nn.Module):
    """``forward(source_ids [N, S], target_in [N, T]) -> logits [N, T, vocab_size]``.

    ``target_in`` is bos followed by the reply, right-padded; the logits at ``t`` predict
    the reply's token ``t`` (eos after the last). Train with cross-entropy against
    :func:`decoder_io`'s ``target_out``.
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = config
        dim = config.dim
        self.embedding = nn.Embedding(config.vocab_size, dim, padding_idx=config.pad_id)
        longest = max(config.max_source_len, config.max_target_len)
        self.register_buffer("positions", sinusoidal_positions(longest, dim), persistent=False)
        self.encoder = nn.ModuleList(EncoderLayer(config) for _ in range(config.encoder_layers))
        self.encoder_norm = nn.LayerNorm(dim)
        self.decoder = nn.ModuleList(DecoderLayer(config) for _ in range(config.decoder_layers))
        self.decoder_norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(config.dropout)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.embedding.weight, std=dim**-0.5)
        with torch.no_grad():
            self.embedding.weight[config.pad_id].zero_()

    def _check(self, ids: torch.Tensor, what: str, limit: int) -> None:
        ok = ids.dim() == 2 and ids.shape[0] >= 1 and 1 <= ids.shape[1] <= limit
        if not ok or ids.dtype != torch.long:
            raise DataError(
                f"Seq2Seq got {what} of shape {tuple(ids.shape)} and dtype {ids.dtype}.",
                f"Expected int64 [batch, length] with 1 <= length <= {limit}.",
            )
        if ids.min() < 0 or ids.max() >= self.config.vocab_size:
            raise DataError(
                f"Seq2Seq got {what} with ids from {int(ids.min())} to {int(ids.max())}.",
                f"Expected ids in [0, vocab_size={self.config.vocab_size}).",
            )

    def _embed(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        x = self.embedding(ids) * self.config.dim**0.5
        return self.drop(x + self.positions[start : start + ids.shape[1]])

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(self.decoder_norm(hidden), self.embedding.weight)

    def encode(self, source_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The memory ``[N, S, dim]`` and the source mask ``keep [N, S]`` (True at real
        tokens; a source of only padding keeps its first position, so no row is empty)."""
        self._check(source_ids, "source_ids", self.config.max_source_len)
        keep = source_ids != self.config.pad_id
        keep[:, 0] |= ~keep.any(1)
        x = self._embed(source_ids)
        for layer in self.encoder:
            x = layer(x, keep)
        return self.encoder_norm(x), keep

    def decode(
        self, memory: torch.Tensor, keep: torch.Tensor, target_in: torch.Tensor
    ) -> torch.Tensor:
        """Logits ``[N, T, vocab_size]`` for the whole ``target_in`` (no cache)."""
        self._check(target_in, "target_in", self.config.max_target_len)
        x = self._embed(target_in)
        for layer in self.decoder:
            x = layer(x, memory, keep)
        return self._logits(x)

    def forward(self, source_ids: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        return self.decode(*self.encode(source_ids), target_in)

    def start_cache(self, memory: torch.Tensor, keep: torch.Tensor) -> DecoderCache:
        """An empty :class:`DecoderCache` for :meth:`encode`'s output."""
        cross = [layer.cross_attn.keys_values(memory) for layer in self.decoder]
        return DecoderCache(keep, cross, [None] * len(self.decoder))

    def decode_step(self, tokens: torch.Tensor, cache: DecoderCache) -> torch.Tensor:
        """Logits ``[N, t, vocab_size]`` for ``tokens [N, t]``, the target positions after
        those in ``cache`` (which grows by ``t``). Same values as :meth:`decode` on the whole
        prefix."""
        start = cache.length
        self._check(tokens, "tokens", self.config.max_target_len - start)
        x = self._embed(tokens, start)
        for i, layer in enumerate(self.decoder):
            x, cache.past[i] = layer.step(x, cache.past[i], cache.cross[i], cache.keep)
        cache.length += tokens.shape[1]
        return self._logits(x)

    def _limits(self, source_ids: torch.Tensor, max_len: int | None) -> torch.Tensor:
        """Per source, the most tokens to generate, eos included."""
        top = self.config.max_target_len
        if max_len is not None:
            if not _whole(max_len, 1) or max_len > top:
                raise ValueError(f"max_len={max_len!r}; expected 1 to max_target_len={top}.")
            return torch.full((len(source_ids),), max_len)
        length = (source_ids != self.config.pad_id).sum(1).cpu()
        return (1.5 * length + 10).long().clamp(max=top)

    def _next_log_probs(
        self,
        tokens: torch.Tensor,
        memory: torch.Tensor,
        keep: torch.Tensor,
        cache: DecoderCache | None,
        force_end: torch.Tensor,
    ) -> torch.Tensor:
        """Log-probabilities ``[N, vocab]`` of the token after ``tokens [N, t]``; pad and bos
        excluded, only eos where ``force_end``."""
        if cache is None:
            logits = self.decode(memory, keep, tokens)[:, -1]
        else:
            logits = self.decode_step(tokens[:, -1:], cache)[:, -1]
        logp = logits.float().log_softmax(-1)
        c = self.config
        logp[:, [c.pad_id, c.bos_id]] = float("-inf")
        not_eos = torch.arange(logp.shape[1], device=logp.device) != c.eos_id
        end = force_end.to(logp.device)[:, None] & not_eos
        return logp.masked_fill(end, float("-inf"))

    def _replies(self, tokens: torch.Tensor) -> list[list[int]]:
        out = []
        for row in tokens.tolist():
            stop = row.index(self.config.eos_id) if self.config.eos_id in row else len(row)
            out.append(row[:stop])
        return out

    def greedy(
        self, source_ids: torch.Tensor, max_len: int | None = None, use_cache: bool = True
    ) -> list[list[int]]:
        """The most likely next token each step, for each source: token id lists without bos
        or eos. ``max_len`` (eos included) defaults to ``min(max_target_len, 1.5 * source
        length + 10)`` per source, the length counting its non-padding tokens.

        Example:
            >>> torch.manual_seed(0) and None
            >>> model = Seq2Seq(Seq2SeqConfig(10, dim=8, heads=2, encoder_layers=1,
            ...                               decoder_layers=1))
            >>> [len(r) for r in model.greedy(torch.tensor([[4, 5, 0], [6, 7, 8]]), max_len=3)]
            [2, 2]
        """
        with _evaluating(self):
            memory, keep = self.encode(source_ids)
            limits = self._limits(source_ids, max_len)
            tokens = source_ids.new_full((len(source_ids), 1), self.config.bos_id)
            done = torch.zeros(len(source_ids), dtype=torch.bool, device=tokens.device)
            cache = self.start_cache(memory, keep) if use_cache else None
            for step in range(int(limits.max())):
                logp = self._next_log_probs(tokens, memory, keep, cache, step + 1 >= limits)
                token = logp.argmax(-1).masked_fill(done, self.config.pad_id)
                tokens = torch.cat([tokens, token[:, None]], 1)
                done |= token == self.config.eos_id
                if done.all():
                    break
            return self._replies(tokens[:, 1:])

    def beam_search(
        self,
        source_ids: torch.Tensor,
        beam: int = 5,
        length_penalty: float = 1.0,
        max_len: int | None = None,
        use_cache: bool = True,
    ) -> list[list[int]]:
        """Beam search per source: token id lists without bos or eos.

        fairseq's rules: each step the ``2 * beam`` best continuations of the live beams are
        ranked; those ending in eos among the first ``beam`` are finished, the first ``beam``
        others live on. A source stops when it has ``beam`` finished hypotheses or reaches
        its ``max_len`` (as in :meth:`greedy`; the last step forces eos). The answer is the
        finished hypothesis with the best ``log p(reply + eos) / (len(reply) + 1) **
        length_penalty`` (fairseq's normalisation, not GNMT's ``((5 + len) / 6) ** alpha``):
        1 ranks by mean log-probability per token, 0 by the total (favours short replies).
        ``beam=1`` is :meth:`greedy`. :meth:`score` gives the same number for any reply.

        Example:
            >>> torch.manual_seed(0) and None
            >>> model = Seq2Seq(Seq2SeqConfig(10, dim=8, heads=2, encoder_layers=1,
            ...                               decoder_layers=1))
            >>> source = torch.tensor([[4, 5, 0], [6, 7, 8]])
            >>> model.beam_search(source, beam=1, max_len=4) == model.greedy(source, max_len=4)
            True
        """
        if not _whole(beam, 1) or not _number(length_penalty):
            raise ValueError(f"beam={beam!r}, length_penalty={length_penalty!r}; expected a "
                             "whole number >= 1 and a finite number.")  # fmt: skip
        with _evaluating(self):
            n, eos = len(source_ids), self.config.eos_id
            memory, keep = (t.repeat_interleave(beam, 0) for t in self.encode(source_ids))
            limits = self._limits(source_ids, max_len)
            tokens = source_ids.new_full((n * beam, 1), self.config.bos_id)
            scores = torch.zeros(n, beam, device=memory.device)
            scores[:, 1:] = float("-inf")  # the beams start as one
            finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(n)]
            done = [False] * n
            base = torch.arange(n, device=memory.device)[:, None] * beam
            cache = self.start_cache(memory, keep) if use_cache else None
            for step in range(int(limits.max())):
                end = (step + 1 >= limits).repeat_interleave(beam)
                logp = self._next_log_probs(tokens, memory, keep, cache, end)
                vocab = logp.shape[1]
                candidates = (scores.view(-1, 1) + logp).view(n, beam * vocab)
                top, flat = candidates.topk(min(2 * beam, beam * vocab), dim=1)
                origin, token = flat // vocab, flat % vocab
                ends = ((token[:, :beam] == eos) & top[:, :beam].isfinite()).nonzero().tolist()
                for i, rank in ends:
                    if not done[i]:
                        reply = tokens[base[i, 0] + origin[i, rank], 1:].tolist()
                        normalised = float(top[i, rank]) / (step + 1) ** length_penalty
                        finished[i].append((normalised, reply))
                for i in range(n):
                    done[i] = done[i] or len(finished[i]) >= beam or step + 1 >= int(limits[i])
                if all(done):
                    break
                live = (token == eos).long().argsort(dim=1, stable=True)[:, :beam]
                scores = top.gather(1, live)
                rows = (base + origin.gather(1, live)).view(-1)
                tokens = torch.cat([tokens[rows], token.gather(1, live).view(-1, 1)], 1)
                if cache is not None:
                    cache.reorder(rows)
            return [max(f, key=lambda hyp: hyp[0])[1] for f in finished]

    def score(
        self,
        source_ids: torch.Tensor,
        replies: Sequence[Sequence[int]],
        length_penalty: float = 1.0,
    ) -> torch.Tensor:
        """``log p(reply + eos | source) / (len(reply) + 1) ** length_penalty`` per source,
        ``[N]``: the number :meth:`beam_search` ranks by.

        Example:
            >>> model = Seq2Seq(Seq2SeqConfig(10, dim=8, heads=2, encoder_layers=1,
            ...                               decoder_layers=1))
            >>> model.score(torch.tensor([[4, 5]]), [[6, 7]]).shape
            torch.Size([1])
        """
        with _evaluating(self):
            target_in, target_out = decoder_io(replies, self.config)
            target_in, target_out = (
                target_in.to(source_ids.device),
                target_out.to(source_ids.device),
            )
            logp = self(source_ids, target_in).float().log_softmax(-1)
            real = target_out != -100
            picked = logp.gather(-1, target_out.clamp(min=0)[..., None])[..., 0]
            total = (picked * real).sum(1)
            return total / real.sum(1).float() ** length_penalty

    def attention_maps(self, source_ids: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
        """The last decoder layer's cross-attention ``[N, heads, T, S]`` (eval mode), for the
        decoder input ``target_ids`` (bos then the reply, as in :meth:`forward`): row ``t`` is
        where the decoder looked while predicting reply token ``t`` (the last row: eos). Rows
        sum to 1 over the real source tokens; padding gets 0.

        Example:
            >>> model = Seq2Seq(Seq2SeqConfig(10, dim=8, heads=2, encoder_layers=1,
            ...                               decoder_layers=1))
            >>> model.attention_maps(torch.tensor([[4, 5, 0]]), torch.tensor([[1, 6]])).shape
            torch.Size([1, 2, 2, 3])
        """
        with _evaluating(self):
            memory, keep = self.encode(source_ids)
            self._check(target_ids, "target_ids", self.config.max_target_len)
            x = self._embed(target_ids)
            for layer in self.decoder[:-1]:
                x = layer(x, memory, keep)
            last = self.decoder[-1]
            x = x + last.self_attn(last.norm1(x), causal=True)
            return last.cross_attn.weights(last.norm2(x), keep, memory=memory)
