"""The classical language model: an n-gram model with interpolated modified Kneser-Ney smoothing.

The probability of token ``w`` after context ``h`` (Chen & Goodman's interpolated modified KN)::

    P(w | h) = max(c(hw) - D(c(hw)), 0) / c(h) + gamma(h) * P(w | h minus its first token)

The top order counts n-grams (``c``); the lower orders count distinct left neighbours
(continuation counts); each order and kind of count has three discounts ``D1, D2, D3+``
estimated from its count-of-counts. The unigram level is interpolated with the uniform
distribution over the vocabulary, so every token has a probability above zero and the
probabilities over the vocabulary sum to 1 for every context. A context never seen (or seen
with nothing after it) passes the lower order's probability through.

Counting is numpy only: each n-gram is the integer ``id(its first n-1 tokens) * V + last
token`` (``V`` the vocabulary size), so every order is one ``np.unique`` over the training
ids, and lookups are ``np.searchsorted`` in the sorted keys.

:meth:`NGramLM.loss` scores every token of a sequence, the first ones with the shorter
context they have; the first token is scored with no context at all (a transformer's
full-split loss, see :func:`layerwise.tasks.language_generation.corpus.all_windows`, starts at the second token:
one token in N apart).

Example:
    >>> ids = np.array([0, 1, 2, 3] * 50)
    >>> lm = NGramLM(order=3).fit(ids[:160])
    >>> round(lm.loss(ids[160:]), 2), float(lm.next_probs([0, 1]).sum())
    (0.06, 1.0)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from layerwise.errors import ConfigError, DataError
from layerwise.io import atomic_write
from layerwise.runs.folder import RunFolder

FORMAT = "layerwise.ngram_lm"
VERSION = 1
ORDERS = {"char": range(2, 9), "bpe": range(1, 6)}  # tried on validation when order is None
MIN_DISCOUNT = 0.05  # keeps some mass for the lower orders whatever the count-of-counts say
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # when there are no singletons or pairs to estimate from


@dataclass
class _Level:
    """The n-grams of one order n: sorted keys and their counts."""

    keys: np.ndarray  # int64: id of the (n-1)-gram prefix * V + last token, sorted
    raw: np.ndarray  # int64: occurrences in the training ids
    cont: np.ndarray | None = None  # int64: distinct tokens seen just before it (not at the top)


@dataclass
class _Stats:
    """Per context of one order and kind of count: c(h) and gamma(h), plus the discounts."""

    discount: np.ndarray  # [0, D1, D2, D3+]
    total: np.ndarray
    gamma: np.ndarray


def _discounts(counts: np.ndarray) -> np.ndarray:
    """[0, D1, D2, D3+] from the numbers of n-grams seen once to four times."""
    n1, n2, n3, n4 = np.bincount(np.minimum(counts, 4), minlength=5)[1:5].astype(np.float64)
    if n1 == 0 or n2 == 0:
        return np.array([0.0, *FALLBACK_DISCOUNTS])
    y = n1 / (n1 + 2 * n2)
    d2 = 2 - 3 * y * n3 / n2
    d3 = 3 - 4 * y * n4 / n3 if n3 else d2
    return np.array([0.0, *np.clip([1 - 2 * y * n2 / n1, d2, d3], MIN_DISCOUNT, [1, 2, 3])])


def _count(train: np.ndarray, vocab: int, max_order: int) -> list[_Level]:
    """The n-gram tables of orders 1..max_order (fewer when the text is shorter)."""
    n = len(train)
    levels: list[_Level] = []
    prefix = np.zeros(n + 1, dtype=np.int64)  # id of the (k-1)-gram starting at each position
    for k in range(1, min(max_order, n) + 1):
        keys = prefix[: n - k + 1] * vocab + train[k - 1 :]
        uniq, first, inverse, counts = np.unique(
            keys, return_index=True, return_inverse=True, return_counts=True
        )
        if levels:  # each distinct k-gram adds one left neighbour to its (k-1)-gram suffix
            levels[-1].cont = np.bincount(prefix[first + 1], minlength=len(levels[-1].keys))
        levels.append(_Level(uniq, counts.astype(np.int64)))
        prefix = inverse.reshape(-1).astype(np.int64)
    return levels


class NGramLM:
    """An n-gram language model over token ids, smoothed with interpolated modified Kneser-Ney.

    Args:
        order: n (the context is n-1 tokens); None picks it on validation among
            ``ORDERS[kind]`` (2..8 for characters, 1..5 for BPE tokens).
        kind: "char" or "bpe": what the ids are (sets the orders tried).

    Attributes:
        val_losses: validation loss (nats per token) of each order tried, ``{n: loss}``.

    Example:
        >>> ids = np.array([0, 1, 2, 0, 1, 2, 0, 1, 3] * 40)
        >>> lm = NGramLM().fit(ids[:300], ids[300:])
        >>> lm.order, sorted(lm.val_losses) == list(range(2, 9))
        (8, True)
    """

    def __init__(self, order: int | None = None, kind: str = "char"):
        if kind not in ORDERS:
            raise ConfigError(f"NGramLM kind {kind!r} is not known.", f"Use one of {list(ORDERS)}.")
        if order is not None and (isinstance(order, bool) or not isinstance(order, int)):
            raise ConfigError(f"NGramLM order={order!r} is not a whole number.", "Use e.g. 6.")
        if order is not None and order < 1:
            raise ConfigError(f"NGramLM order={order} is below 1.", "Use e.g. 6 (5 tokens back).")
        self.order = order
        self.kind = kind
        self.vocab_size = 0
        self.val_losses: dict[int, float] = {}
        self._levels: list[_Level] = []
        self._stats: dict[tuple[int, bool], _Stats] = {}

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, train_ids: Any, val_ids: Any = None, vocab_size: int | None = None) -> NGramLM:
        """Count the n-grams of ``train_ids``; with ``order=None`` pick n on ``val_ids``.

        Args:
            train_ids: the training token ids (1-D, non-negative integers).
            val_ids: validation ids; needed when the order is to be chosen.
            vocab_size: the tokenizer's vocabulary size (default: the largest id + 1), over
                which the probabilities sum to 1.
        """
        train = _ids(train_ids, "training ids")
        val = None if val_ids is None else _ids(val_ids, "validation ids")
        if len(train) < 2:
            raise DataError(f"NGramLM needs at least 2 training tokens; got {len(train)}.")
        if self.order is None and (val is None or len(val) == 0):
            raise ConfigError(
                "NGramLM(order=None) chooses the order on validation ids, and none were given.",
                "Pass val_ids to fit, or give an order (e.g. NGramLM(order=6)).",
            )
        largest = max(int(train.max()), -1 if val is None or not len(val) else int(val.max()))
        self.vocab_size = int(vocab_size) if vocab_size is not None else largest + 1
        if largest >= self.vocab_size:
            raise DataError(f"Token id {largest} is not below vocab_size={self.vocab_size}.")
        tried = [self.order] if self.order is not None else list(ORDERS[self.kind])
        self._levels = _count(train, self.vocab_size, max(tried))
        self._stats = {}
        tried = sorted({min(n, len(self._levels)) for n in tried})
        if self.order is not None:
            self.order = tried[0]
        if val is not None and len(val):
            grams = self._gram_ids(val, max(tried))
            self.val_losses = {n: -float(self._log_probs(val, grams, n).mean()) for n in tried}
        if self.order is None:
            self.order = min(self.val_losses, key=self.val_losses.__getitem__)
        return self

    def _fitted(self, order: int | None) -> int:
        if not self._levels:
            raise ConfigError("This NGramLM is not fitted.", "Call fit(train_ids) first.")
        n = self.order if order is None else int(order)
        if not 1 <= n <= len(self._levels):
            raise ConfigError(
                f"Order {n} is not available.", f"Use 1..{len(self._levels)} (the orders counted)."
            )
        return n

    def _stat(self, k: int, top: bool) -> _Stats:
        """The statistics of order k, from raw counts at the top order, continuation below."""
        key = (k, top or self._levels[k - 1].cont is None)
        if key not in self._stats:
            level = self._levels[k - 1]
            counts = level.raw if key[1] else level.cont
            contexts = 1 if k == 1 else len(self._levels[k - 2].keys)
            discount = _discounts(counts)
            prefix = level.keys // self.vocab_size
            total = np.bincount(prefix, weights=counts, minlength=contexts)
            held = np.bincount(prefix, weights=discount[np.minimum(counts, 3)], minlength=contexts)
            gamma = np.divide(held, total, out=np.ones(contexts), where=total > 0)
            self._stats[key] = _Stats(discount, total, gamma)
        return self._stats[key]

    # -- scoring -----------------------------------------------------------------------------
    def _gram_ids(self, seq: np.ndarray, top: int) -> list[np.ndarray]:
        """``out[L][j]``: the id of the L-gram ``seq[j:j+L]`` among the training L-grams (-1:
        never seen), for L = 0..top."""
        out = [np.zeros(len(seq) + 1, dtype=np.int64)]
        for length in range(1, top + 1):
            size = max(len(seq) - length + 1, 0)
            prefix = out[-1][:size]
            keys = prefix * self.vocab_size + seq[length - 1 : length - 1 + size]
            table = self._levels[length - 1].keys
            pos = np.minimum(np.searchsorted(table, keys), len(table) - 1)
            out.append(np.where((prefix >= 0) & (table[pos] == keys), pos, -1))
        return out

    def _log_probs(self, seq: np.ndarray, grams: list[np.ndarray], order: int) -> np.ndarray:
        """Natural log probability of each token of ``seq`` given up to order-1 tokens before."""
        p = np.full(len(seq), 1.0 / self.vocab_size)
        for k in range(1, min(order, len(seq)) + 1):
            stats, level = self._stat(k, k == order), self._levels[k - 1]
            counts_of = level.raw if k == order or level.cont is None else level.cont
            size = len(seq) - k + 1  # positions k-1.. have a context of k-1 tokens
            ctx, gram = grams[k - 1][:size], grams[k][:size]
            seen = (ctx >= 0) & (stats.total[np.maximum(ctx, 0)] > 0)
            safe = np.maximum(ctx, 0)
            counts = np.where(gram >= 0, counts_of[np.maximum(gram, 0)], 0)
            own = (counts - stats.discount[np.minimum(counts, 3)]) / np.where(
                seen, stats.total[safe], 1.0
            )
            p[k - 1 :] = np.where(seen, own + stats.gamma[safe] * p[k - 1 :], p[k - 1 :])
        return np.log(p)

    def log_prob(self, ids: Any, order: int | None = None) -> np.ndarray:
        """The natural log probability of every token of ``ids`` (float64, same length)."""
        n = self._fitted(order)
        seq = self._check(ids)
        return self._log_probs(seq, self._gram_ids(seq, n), n)

    def loss(self, ids: Any, order: int | None = None) -> float:
        """Mean negative log-likelihood in nats per token over the whole sequence."""
        scores = self.log_prob(ids, order)
        if not len(scores):
            raise DataError("NGramLM.loss received no tokens.", "Give at least one token id.")
        return -float(scores.mean())

    def perplexity(self, ids: Any, order: int | None = None) -> float:
        """``exp(loss)``: the effective number of equally likely next tokens."""
        return float(np.exp(self.loss(ids, order)))

    def next_probs(self, context: Any, order: int | None = None) -> np.ndarray:
        """The distribution of the next token after ``context`` (float64, ``[vocab_size]``)."""
        n = self._fitted(order)
        seq = self._check(context)[-(n - 1) :] if n > 1 else np.zeros(0, np.int64)
        grams = self._gram_ids(seq, min(n, len(seq) + 1) - 1)
        p = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for k in range(1, min(n, len(seq) + 1) + 1):
            ctx = int(grams[k - 1][len(seq) - k + 1])
            stats, level = self._stat(k, k == n), self._levels[k - 1]
            if ctx < 0 or stats.total[ctx] == 0:
                continue
            counts_of = level.raw if k == n or level.cont is None else level.cont
            lo, hi = np.searchsorted(
                level.keys, [ctx * self.vocab_size, (ctx + 1) * self.vocab_size]
            )
            counts = counts_of[lo:hi]
            p *= stats.gamma[ctx]
            p[level.keys[lo:hi] - ctx * self.vocab_size] += (
                counts - stats.discount[np.minimum(counts, 3)]
            ) / stats.total[ctx]
        return p

    def sample(
        self, context: Any, n: int, seed: int | np.random.Generator = 0, order: int | None = None
    ) -> np.ndarray:
        """``n`` token ids drawn one after another, following ``context`` (not included).

        ``seed`` is an int or a numpy Generator; the same seed gives the same ids.
        """
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        seq = list(self._check(context).tolist())
        start = len(seq)
        for _ in range(int(n)):
            cumulative = np.cumsum(self.next_probs(seq[-64:], order))
            pick = np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")
            seq.append(int(min(pick, self.vocab_size - 1)))
        return np.asarray(seq[start:], dtype=np.int64)

    def _check(self, ids: Any) -> np.ndarray:
        seq = _ids(ids, "token ids")
        if len(seq) and int(seq.max()) >= self.vocab_size:
            raise DataError(
                f"Token id {int(seq.max())} is not below the model's vocab_size={self.vocab_size}.",
                "Encode the text with the tokenizer the model was fitted with.",
            )
        return seq

    # -- files -------------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        n = self._fitted(None)
        out = {}
        for k, level in enumerate(self._levels[:n], start=1):
            out[f"keys{k}"], out[f"raw{k}"] = level.keys, level.raw
            if k < n:
                out[f"cont{k}"] = level.cont
        return {name: np.ascontiguousarray(a, dtype=np.int64) for name, a in out.items()}

    def to_file(self, path: str | Path) -> None:
        """Write the counts up to the model's order to one ``.safetensors`` file (no pickle)."""
        from safetensors.numpy import save_file

        meta = {
            "format": FORMAT,
            "version": VERSION,
            "order": self.order,
            "kind": self.kind,
            "vocab_size": self.vocab_size,
            "val_losses": {str(k): v for k, v in self.val_losses.items()},
        }
        arrays = self._arrays()
        atomic_write(
            Path(path), lambda tmp: save_file(arrays, str(tmp), {"layerwise": json.dumps(meta)})
        )

    @classmethod
    def from_file(cls, path: str | Path) -> NGramLM:
        """Read a file written by :meth:`to_file`."""
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.is_file():
            raise DataError(f"N-gram model file '{path}' does not exist.", "Check the path.")
        try:
            with safe_open(str(path), framework="np") as handle:
                meta = json.loads((handle.metadata() or {}).get("layerwise", "{}"))
                arrays = {name: handle.get_tensor(name) for name in handle.keys()}
        except (SafetensorError, json.JSONDecodeError) as error:
            raise DataError(f"'{path}' is not a readable n-gram model: {error}.") from error
        if meta.get("format") != FORMAT or int(meta.get("version", 0)) > VERSION:
            raise DataError(
                f"'{path}' is not a layerwise n-gram model this version reads.",
                "Use a file written by NGramLM.to_file (upgrade layerwise if it is newer).",
            )
        lm = cls(int(meta["order"]), str(meta["kind"]))
        lm.vocab_size = int(meta["vocab_size"])
        lm.val_losses = {int(k): float(v) for k, v in meta.get("val_losses", {}).items()}
        lm._levels = [
            _Level(arrays[f"keys{k}"], arrays[f"raw{k}"], arrays.get(f"cont{k}"))
            for k in range(1, lm.order + 1)
        ]
        return lm

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        """Write ``<prefix>.safetensors`` into the run; returns the JSON-safe info for
        :meth:`load`."""
        name = prefix + ".safetensors"
        run.write_with(name, self.to_file)
        return {"name": "ngram", "file": name, "order": self.order, "kind": self.kind}

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> NGramLM:
        return cls.from_file(run.file(info["file"]))


def _ids(ids: Any, what: str) -> np.ndarray:
    """A 1-D int64 array of non-negative ids (accepts lists, numpy arrays and tensors)."""
    if hasattr(ids, "detach"):
        ids = ids.detach().cpu().numpy()
    array = np.asarray(ids)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"The {what} are {array.dtype}, not integers.", "Pass token ids.")
    array = array.astype(np.int64).reshape(-1)
    if array.size and array.min() < 0:
        raise DataError(f"The {what} include {int(array.min())}; ids must be >= 0.")
    return array
