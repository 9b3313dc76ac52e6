"""Token-count batching for sequence-to-sequence training.

Pairs of similar length go into one batch, and a batch holds at most ``max_tokens`` tokens
counting its padding (rows x the longest source plus rows x the longest target), so short
sentences make wide batches and long ones narrow, and little compute goes to padding. The
pairs are sorted by length inside windows of ``WINDOW`` randomly ordered pairs (fairseq's and
tensor2tensor's scheme: enough sorting to cut the padding, enough randomness that every pass
sees different batches); the batches of a pass are then shuffled. Pass ``p`` is a function of
``(seed, p)`` alone, so a resumed run draws the same batches as an uninterrupted one.

Example:
    >>> pairs = PairBatches([np.arange(3, 3 + n % 5) for n in range(40)],
    ...                     [np.arange(3, 5 + n % 3) for n in range(40)], max_tokens=40, seed=0)
    >>> source, target_in, target_out = pairs.batch(0)
    >>> int(target_in[0, 0]), source.numel() + target_in.numel() <= 40
    (1, True)
"""

from __future__ import annotations

import numpy as np
import torch

from layerwise.errors import ConfigError
from layerwise.tasks.text_to_text.tokens import BOS_ID, EOS_ID, PAD_ID

IGNORE = -100  # target positions the loss skips (padding)
WINDOW = 4096


def pad_rows(rows: list[np.ndarray], value: int = PAD_ID) -> torch.Tensor:
    """``rows`` as one ``[N, longest]`` int64 tensor, padded at the end with ``value``."""
    out = np.full((len(rows), max((len(r) for r in rows), default=0) or 1), value, np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return torch.from_numpy(out)


class PairBatches:
    """The training pairs as token-count batches; see the module doc.

    ``sources`` / ``targets``: token ids without ``<bos>`` / ``<eos>`` (added here: the decoder
    reads ``<bos> y`` and is taught ``y <eos>``).
    """

    def __init__(self, sources: list[np.ndarray], targets: list[np.ndarray], max_tokens: int,
                 seed: int):  # fmt: skip
        if len(sources) != len(targets) or not sources:
            raise ConfigError("PairBatches needs as many sources as targets, at least one.")
        self.sources, self.targets = sources, targets
        self.max_tokens, self.seed = int(max_tokens), int(seed)
        self.source_len = np.array([max(len(s), 1) for s in sources])
        self.target_len = np.array([len(t) + 1 for t in targets])
        self._pass: tuple[int, list[np.ndarray]] | None = None
        self.per_pass = len(self._batches(0))

    def _batches(self, index: int) -> list[np.ndarray]:
        if self._pass is not None and self._pass[0] == index:
            return self._pass[1]
        rng = np.random.default_rng([self.seed, index])
        order = rng.permutation(len(self.sources))
        batches: list[np.ndarray] = []
        for start in range(0, len(order), WINDOW):
            window = order[start : start + WINDOW]
            window = window[np.lexsort((self.source_len[window], self.target_len[window]))]
            batches += self._cut(window)
        batches = [batches[i] for i in rng.permutation(len(batches))]
        self._pass = (index, batches)
        return batches

    def _cut(self, ordered: np.ndarray) -> list[np.ndarray]:
        """Consecutive runs of ``ordered`` whose padded size stays within ``max_tokens``."""
        out, begin, top_s, top_t = [], 0, 0, 0
        for i, pair in enumerate(ordered):
            s, t = max(top_s, self.source_len[pair]), max(top_t, self.target_len[pair])
            if i > begin and (i - begin + 1) * (s + t) > self.max_tokens:
                out.append(ordered[begin:i])
                begin, s, t = i, self.source_len[pair], self.target_len[pair]
            top_s, top_t = s, t
        out.append(ordered[begin:])
        return out

    def indices(self, step: int) -> np.ndarray:
        """The pairs of global step ``step`` (0-based, counted over all passes)."""
        # passes cut their windows differently, so their batch counts differ by a few: every
        # pass is counted as long as the first (a longer one leaves its last batches out)
        batches = self._batches(step // self.per_pass)
        return batches[(step % self.per_pass) % len(batches)]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(source [N, S], target_in [N, T], target_out [N, T])`` of global step ``step``;
        ``target_out`` is ``IGNORE`` at padding."""
        chosen = self.indices(step)
        return make_batch([self.sources[i] for i in chosen], [self.targets[i] for i in chosen])


def make_batch(sources: list[np.ndarray], targets: list[np.ndarray]) -> tuple:
    """Padded ``(source, <bos> + target, target + <eos>)`` with ``IGNORE`` on the padding."""
    source = pad_rows(sources)
    target_in = pad_rows([np.concatenate([[BOS_ID], t]) for t in targets])
    target_out = pad_rows([np.concatenate([t, [EOS_ID]]) for t in targets], IGNORE)
    return source, target_in, target_out
