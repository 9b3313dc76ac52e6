"""A text file tokenised once into a file of token ids on disk (nanoGPT's ``train.bin``), and the
training and validation windows read from there: language generation's ``--stream``.

:func:`tokenise_file` reads the file in pieces (:mod:`.text_stream`) three times at most: once
for its characters and lines (a character tokenizer's vocabulary is the whole text's distinct
characters, as in memory), once to learn a BPE from the lines of its training part (the first
``1 - val_fraction`` of the characters, as in memory; at most :data:`BPE_FIT_CHARS` of them)
and once to encode it, a piece at a time, into ``<output dir>/.cache/tokens-<key>.bin``: uint16
ids when the vocabulary has fewer than 65,536 tokens, else uint32, written through a
:class:`~layerwise.data.records.RecordWriter`. The tokenizer is saved beside it
(``tokens-<key>.tokenizer.json``) and the description (``tokens-<key>.json``) last
(:mod:`layerwise.data.disk_cache`): a run killed while tokenising leaves no cache, a later run
on the unchanged file reuses it, and in a world of several processes the first process of each
machine writes it while the others wait. Memory holds a piece (:data:`~.text_stream.CHUNK_BYTES`
of text and its ids), whatever the file's size.

:meth:`TokenFile.split` cuts the ids at a token position as :func:`~.corpus.split_corpus`
does; a :class:`TokenSpan` (a split) gives random windows read from the file
(:meth:`TokenSpan.random_windows`: the same draws as :func:`~.corpus.random_windows` makes in
memory, one read per run of windows) and bounded samples of evenly spaced runs
(:meth:`TokenSpan.spread`) for what needs its tokens in memory: the n-gram model's counts
(:data:`NGRAM_TOKENS`) and the final validation loss (:data:`VAL_TOKENS`).

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "t.txt").write_text("to be or not to be\\n" * 50)
    >>> tokens = tokenise_file(folder / "t.txt", "char", 0.1, folder / ".cache")
    >>> train, val = tokens.split(0.1)
    >>> len(tokens.records), len(train), len(val), tokens.records.dtype
    (950, 855, 95, dtype('uint16'))
    >>> tokens.tokenizer.decode(train.read(0, 9))
    'to be or '
    >>> again = tokenise_file(folder / "t.txt", "char", 0.1, folder / ".cache")
    >>> "from the cache" in again.text.notes[-1]
    True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from layerwise.data.disk_cache import fingerprint, publish, read_description, wait_for, writes_here
from layerwise.data.records import Records, RecordWriter
from layerwise.errors import DataError
from layerwise.io import atomic_write
from layerwise.tasks.language_generation.corpus import (
    BPETokenizer,
    CharTokenizer,
    split_corpus,
    tokenizer_from_dict,
)
from layerwise.tasks.language_generation.text_stream import (
    CHUNK_BYTES,
    StreamedText,
    check_file,
    safe_cut,
    text_pieces,
    text_stats,
)

FORMAT = 1  # the cache's layout; a change makes new fingerprints
BPE_FIT_CHARS = 200_000_000  # a BPE learns its merges from at most this many characters
NGRAM_TOKENS = 10_000_000  # training tokens the n-gram model counts when streaming (~1.5 GB)
VAL_TOKENS = 1_000_000  # validation tokens both models are scored on when streaming
RUNS = 16  # evenly spaced runs a bounded sample of a split is made of
BPE_PART = 2**20  # characters of a piece a BPE encodes at once (the parts in parallel)


@dataclass
class TokenFile:
    """A text's token ids on disk, its tokenizer, and what reading it learned."""

    text: StreamedText
    tokenizer: Any
    records: Records  # [tokens] of uint16 or uint32
    path: Path

    def split(self, fraction: float) -> tuple[TokenSpan, TokenSpan]:
        """(train, validation): the last ``fraction`` of the tokens held out, as
        :func:`~.corpus.split_corpus` splits (and refuses a text too short) in memory."""
        train, val = split_corpus(range(len(self.records)), fraction)
        return (TokenSpan(self.records, train.start, train.stop),
                TokenSpan(self.records, val.start, val.stop))  # fmt: skip


class TokenSpan:
    """The token ids ``[start, stop)`` of a token file (a split), read when asked."""

    def __init__(self, records: Records, start: int, stop: int):
        self.records, self.start, self.stop = records, int(start), int(stop)

    def __len__(self) -> int:
        return self.stop - self.start

    def read(self, start: int, stop: int) -> np.ndarray:
        """The ids ``[start, stop)`` of this span (int64), in one read."""
        return self.records[self.start + start : self.start + stop].astype(np.int64)

    def windows(self, starts: Any, length: int) -> np.ndarray:
        """``[len(starts), length]`` int64 ids of the windows beginning at ``starts``: windows
        that overlap or touch are merged into one run of the file, each run read at once."""
        starts = np.asarray(starts, dtype=np.int64)
        order = np.argsort(starts, kind="stable")
        s = starts[order]
        new = np.r_[True, s[1:] > s[:-1] + length]  # a window that starts a run
        first = np.flatnonzero(new)
        run_of = np.cumsum(new) - 1
        begin, end = s[first], np.r_[s[first[1:] - 1], s[-1:]] + length
        offset = np.r_[0, np.cumsum(end - begin)[:-1]]  # where each run lies in what is read
        flat = self.records[np.concatenate([np.arange(a, b) for a, b in zip(begin, end, strict=True)])
                            + self.start]  # fmt: skip
        at = offset[run_of] + s - begin[run_of]
        out = np.empty((len(s), length), dtype=np.int64)
        out[order] = flat[at[:, None] + np.arange(length)]
        return out

    def random_windows(self, block: int, batch: int,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """What :func:`~.corpus.random_windows` draws from these ids in memory: the same starts
        for the same generator, so the same windows."""
        if len(self) < block + 1:
            raise DataError(
                f"Windows of {block} tokens need a 1-D sequence of at least {block + 1} tokens; "
                f"got shape ({len(self)},).",
                "Use a longer text or a smaller block size.",
            )
        starts = torch.randint(len(self) - block, (batch,), generator=generator)
        both = torch.from_numpy(self.windows(starts.numpy(), block + 1))
        return both[:, :-1].contiguous(), both[:, 1:].contiguous()

    def spread(self, cap: int, runs: int = RUNS) -> list[np.ndarray]:
        """The whole span when it has at most ``cap`` tokens, else ``runs`` evenly spaced runs of
        ``cap // runs`` tokens (int64 arrays)."""
        if len(self) <= cap:
            return [self.read(0, len(self))]
        size = cap // runs
        return [self.read(a, a + size) for a in np.linspace(0, len(self) - size, runs).astype(int)]


def draw_windows(ids: Any, block: int, batch: int,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Random windows of a split in memory (a tensor) or on disk (a :class:`TokenSpan`)."""
    if isinstance(ids, TokenSpan):
        return ids.random_windows(block, batch, generator)
    from layerwise.tasks.language_generation.corpus import random_windows

    return random_windows(ids, block, batch, generator)


def scored_tokens(split: Any, cap: int = VAL_TOKENS) -> list[np.ndarray]:
    """The validation tokens both models are scored on: the whole split in memory, or at most
    ``cap`` tokens of one on disk (:meth:`TokenSpan.spread`)."""
    return split.spread(cap) if isinstance(split, TokenSpan) else [split]


def mean_loss(pieces: list[np.ndarray], loss: Any, unscored: int = 0) -> float:
    """``loss(piece)`` of one piece; over several, their mean weighted by the tokens each
    scores (its length less ``unscored``: 1 for a GPT, whose first token has no context)."""
    if len(pieces) == 1:
        return float(loss(pieces[0]))
    weights = [len(p) - unscored for p in pieces]
    return sum(float(loss(p)) * w for p, w in zip(pieces, weights, strict=True)) / sum(weights)


def tokenise_file(path: Path, kind: str, fraction: float, cache: Path, encoding: str | None = None,
                  say: Any = None) -> TokenFile:  # fmt: skip
    """The token ids of the text file ``path`` in a cache file under ``cache``: made now, or
    read from an earlier run on the same unchanged file (see the module's doc).

    Raises:
        DataError: a missing, empty, binary or undecodable file (nothing is written).
    """
    from layerwise.tasks.language_generation.corpus import DEFAULT_BPE_VOCAB

    path = Path(path).expanduser().resolve()
    check_file(path)
    key = fingerprint([path], "tokens", FORMAT, kind, DEFAULT_BPE_VOCAB, fraction, encoding,
                      CHUNK_BYTES, BPE_FIT_CHARS)  # fmt: skip
    files = _files(Path(cache), key)
    found = _cached(*files)
    if found is None and not writes_here():
        found = wait_for(lambda: _cached(*files), f"The token cache {files[0]}")
    if found is not None:
        found.text.notes.append(f"read {len(found.records):,} token ids from the cache "
                                f"{files[0]} (made by an earlier run on the same file)")  # fmt: skip
        return found
    text = text_stats(path, encoding)  # the first pass checks the file: nothing written yet
    (say or (lambda _: None))(f"tokenising '{path.name}' once into {files[0]}")
    tokenizer = _fit_tokenizer(path, kind, encoding, text, fraction)
    dtype = np.uint16 if tokenizer.vocab_size < 2**16 else np.uint32
    with RecordWriter(files[0], (), dtype) as writer:
        for piece in text_pieces(path, encoding, []):
            writer.add(encode_piece(tokenizer, piece))
    atomic_write(files[1], lambda p: p.write_text(json.dumps(tokenizer.to_dict()), "utf-8"))
    publish(files[2], {"format": FORMAT, "tokens": writer.count, "dtype": np.dtype(dtype).name,
                       "text": asdict(text)})  # fmt: skip
    text.notes.append(f"tokenised once into {files[0]} ({writer.count:,} ids, "
                      f"{files[0].stat().st_size / 2**20:,.1f} MiB); training reads its windows "
                      "from there")  # fmt: skip
    return TokenFile(text, tokenizer, writer.records, files[0])


def encode_piece(tokenizer: Any, piece: str) -> np.ndarray:
    """The ids of one piece (int64): a BPE encodes it in parts cut where its pre-tokenizer splits
    anyway (:func:`~.text_stream.safe_cut`), in parallel, and gives the ids of the whole."""
    if tokenizer.kind != "bpe" or len(piece) <= BPE_PART:
        return tokenizer.encode(piece)
    parts, start = [], 0
    while len(piece) - start > BPE_PART:
        cut = safe_cut(piece[start : start + BPE_PART])
        parts.append(piece[start : start + cut])
        start += cut
    parts.append(piece[start:])
    return np.concatenate(tokenizer.encode_parts(parts))


def _fit_tokenizer(path: Path, kind: str, encoding: str | None, text: StreamedText,
                   fraction: float) -> Any:  # fmt: skip
    """The tokenizer the in-memory run fits: a character one on the whole text's characters; a
    BPE on the training part's lines, streamed (at most :data:`BPE_FIT_CHARS` of them)."""
    from layerwise.tasks.language_generation.corpus import DEFAULT_BPE_VOCAB, make_tokenizer

    if kind == "char":
        return CharTokenizer(text.distinct)
    if kind != "bpe":
        return make_tokenizer(kind, "")  # refuses the kind
    training = int(text.characters * (1 - fraction))
    budget = min(training, BPE_FIT_CHARS)
    tokenizer = BPETokenizer(DEFAULT_BPE_VOCAB).fit_lines(_lines(path, encoding, budget))
    text.notes.append(
        f"the BPE learned its merges from the first {budget:,} of the training text's "
        f"{training:,} characters (at most {BPE_FIT_CHARS:,})" if budget < training else
        "the BPE learned its merges from the whole training text, streamed line by line"
    )  # fmt: skip
    return tokenizer


def _lines(path: Path, encoding: str | None, budget: int) -> Any:
    """The lines of the first ``budget`` characters of ``path`` (the last one maybe cut)."""
    for piece in text_pieces(path, encoding, []):
        if budget <= 0:
            return
        piece = piece[:budget]
        budget -= len(piece)
        yield from piece.splitlines(keepends=True)


def _files(cache: Path, key: str) -> tuple[Path, Path, Path]:
    """The cache's ids, tokenizer and description."""
    return (cache / f"tokens-{key}.bin", cache / f"tokens-{key}.tokenizer.json",
            cache / f"tokens-{key}.json")  # fmt: skip


def _cached(data: Path, tokenizer: Path, about: Path) -> TokenFile | None:
    """A complete cache, checked against its description, or None."""
    described = read_description(about)
    if described is None or described.get("format") != FORMAT:
        return None
    try:
        text = StreamedText(**described["text"])
        text.notes = list(text.notes)
        loaded = tokenizer_from_dict(json.loads(tokenizer.read_text(encoding="utf-8")))
        records = Records(data, (int(described["tokens"]),), np.dtype(described["dtype"]))
    except (OSError, ValueError, KeyError, TypeError, DataError):
        return None
    return TokenFile(text, loaded, records, data)
