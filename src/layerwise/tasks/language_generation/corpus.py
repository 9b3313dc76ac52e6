"""One text corpus for language modelling: reading it, tokenizing it, splitting and batching it.

* :func:`read_corpus` reads a text file (or takes a string) as one long text. Decoding is
  :mod:`layerwise.data.text`'s: UTF-8 (a BOM dropped), other encodings detected and named in
  the notes, binary files refused, newlines normalised to ``\\n``.
* :class:`CharTokenizer` has one token per distinct character of the training text;
  :class:`BPETokenizer` is a byte-level BPE (Hugging Face ``tokenizers``) with no unknown
  characters. Both save to one JSON object (``to_dict``/``from_dict``).
* :func:`split_corpus` keeps the last fraction of the tokens for validation (nanoGPT's split);
  :func:`random_windows` draws training batches; :func:`all_windows` covers a whole split once.

Example:
    >>> corpus = read_corpus("to be or not to be, that is the question\\n" * 20)
    >>> tok = make_tokenizer("char", corpus.text)
    >>> ids = tok.encode(corpus.text)
    >>> tok.decode(ids[:9])
    'to be or '
    >>> train, val = split_corpus(ids, 0.1, block=8)
    >>> len(train), len(val)
    (738, 82)
"""

from __future__ import annotations

import json
import math
import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from layerwise.data.text_decoding import check_encoding, decode
from layerwise.data.text_sources import is_path
from layerwise.data.tokenizer import _tokenizers
from layerwise.errors import ConfigError, DataError

FORMAT = "layerwise.lm_tokenizer"
VERSION = 1
KINDS = ("char", "bpe")
UNKNOWN_MODES = ("error", "skip", "map")
DEFAULT_BPE_VOCAB = 1024
BYTE_ALPHABET = 256  # a byte-level BPE starts from one token per byte
IGNORE_INDEX = -100  # targets :func:`all_windows` leaves unscored (torch's cross-entropy default)
_LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_FOLD = {"-": "‐‑‒–—―−", "'": "‘’‚‛′`´", '"': "“”„‟″«»"}


@dataclass
class Corpus:
    """One text, where it came from, and what was done to read it."""

    text: str
    name: str
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.text)

    def summary(self) -> str:
        """e.g. ``"input.txt: 1,115,394 characters (65 distinct), 40,000 lines"``."""
        lines = self.text.count("\n") + (not self.text.endswith("\n"))
        return (
            f"{self.name}: {len(self.text):,} characters ({len(set(self.text)):,} distinct), "
            f"{lines:,} lines"
        )


def read_corpus(source: str | os.PathLike, encoding: str | None = None) -> Corpus:
    """Read one text file (any suffix) as a corpus, or take a string as the text itself.

    Args:
        source: a path, or the text (a string that does not look like a path).
        encoding: the file's encoding; None reads UTF-8 and detects others (named in notes).

    Raises:
        DataError: a missing, unreadable, empty (or whitespace-only) or binary file.

    Example:
        >>> read_corpus("Hello\\r\\nworld").text
        'Hello\\nworld'
    """
    if encoding is not None:
        encoding = check_encoding(encoding)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and is_path(source)):
        return _read_file(Path(source).expanduser(), encoding)
    if not isinstance(source, str):
        raise DataError(
            f"Cannot read a corpus from a {type(source).__name__}.",
            "Give the path of a text file, or the text as a string.",
        )
    if not source.strip():
        raise DataError("The text given is empty.", "Give the training text, or a file path.")
    return Corpus(source.replace("\r\n", "\n").replace("\r", "\n"), "<in-memory text>", [])


def _read_file(path: Path, encoding: str | None) -> Corpus:
    if not path.exists():
        raise DataError(
            f"'{path}' does not exist.", "Check the path (relative paths start from here)."
        )
    if path.is_dir():
        raise DataError(f"'{path}' is a folder.", "Give one text file (e.g. input.txt).")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"'{path}' could not be read ({exc.strerror or exc}).") from exc
    if not raw.strip():
        raise DataError(
            f"'{path}' is empty (or only whitespace).", "Give a file with the text to model."
        )
    text, used = decode(raw, str(path), encoding)
    if not text.strip():
        raise DataError(f"'{path}' holds only whitespace.", "Give a file with the text to model.")
    notes = [f"read '{path.name}' as {used} (not valid UTF-8)"] if used else []
    if b"\r" in raw:
        notes.append("Windows/old Mac newlines were converted to \\n")
    return Corpus(text, path.name, notes)


# ---- tokenizers ------------------------------------------------------------------------------
class CharTokenizer:
    """One token per distinct character of the training text, in code point order.

    Example:
        >>> tok = CharTokenizer.fit("hello")
        >>> tok.chars, tok.encode("hole").tolist()
        ('ehlo', [1, 3, 2, 0])
        >>> tok.unknown("Hé!"), tok.decode(tok.encode("Hé!", unknown="map"))
        (['!', 'H', 'é'], 'he')
    """

    kind = "char"

    def __init__(self, chars: str):
        self.chars = "".join(sorted(set(chars)))
        if not self.chars:
            raise DataError("The character vocabulary is empty.", "Fit it on a non-empty text.")
        self._points = np.frombuffer(self.chars.encode("utf-32-le"), dtype=np.uint32)

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        """The vocabulary of ``text``: its sorted distinct characters."""
        return cls(text)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def _positions(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(vocabulary index of each character, whether the character is known)."""
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        index = np.minimum(np.searchsorted(self._points, points), len(self._points) - 1)
        return index, self._points[index] == points

    def unknown(self, text: str) -> list[str]:
        """The sorted distinct characters of ``text`` that are not in the vocabulary."""
        points = np.unique(np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32))
        index = np.minimum(np.searchsorted(self._points, points), len(self._points) - 1)
        return [chr(p) for p in points[self._points[index] != points].tolist()]

    def mapping(self, chars: list[str]) -> dict[str, str]:
        """What ``unknown="map"`` writes for each character: a close known one ("" drops it).

        Tried in order: the Unicode compatibility form without accents (``é`` -> ``e``,
        ``ﬁ`` -> ``fi``), its lower or upper case, a plain dash or quote for typographic
        ones, a newline for a line or page break, and otherwise a space; when even that is
        not in the vocabulary the character is dropped.
        """
        return {ch: self._closest(ch) for ch in chars}

    def _closest(self, ch: str) -> str:
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        for candidate in (base, base.lower(), base.upper(), ch.lower(), ch.upper()):
            if candidate and all(c in self.chars for c in candidate):
                return candidate
        for plain, fancy in _FOLD.items():
            if ch in fancy and plain in self.chars:
                return plain
        if ch in _LINE_BREAKS and "\n" in self.chars:
            return "\n"
        return " " if " " in self.chars else ""

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        """Token ids (int64) of ``text``.

        Args:
            text: the text to encode.
            unknown: what to do with characters not in the vocabulary: "error" (a
                DataError naming them), "skip" (drop them) or "map" (see :meth:`mapping`).
        """
        if unknown not in UNKNOWN_MODES:
            raise ConfigError(f"unknown={unknown!r} is not valid.", f"Use one of {UNKNOWN_MODES}.")
        index, known = self._positions(text)
        if known.all():
            return index.astype(np.int64)
        if unknown == "skip":
            return index[known].astype(np.int64)
        missing = self.unknown(text)
        if unknown == "map":
            table = str.maketrans(self.mapping(missing))
            return self.encode(text.translate(table), unknown="skip")
        shown = ", ".join(repr(c) for c in missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise DataError(
            f"The text has {len(missing)} character(s) not in the vocabulary learned from the "
            f"training text: {shown}.",
            "Pass unknown='map' to replace each with a close known character, unknown='skip' "
            "to drop them, or use a byte-level BPE tokenizer (kind='bpe'), which knows every "
            "character.",
        )

    def decode(self, ids: Any) -> str:
        """The text of token ids (a sequence, numpy array or tensor)."""
        ids = _as_numpy_ids(ids, self.vocab_size)
        return self._points[ids].tobytes().decode("utf-32-le", "surrogatepass")

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "kind": "char", "chars": self.chars}

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "the tokenizer data") -> CharTokenizer:
        _check_dict(d, "char", source)
        return cls(str(d["chars"]))


class BPETokenizer:
    """A byte-level BPE learned from the training text (GPT-2's scheme, HF ``tokenizers``).

    The text is split into bytes first, so no character is ever unknown, and
    :meth:`decode` gives back exactly the text that was encoded (newlines, accents, emoji).

    Args:
        vocab_size: the number of tokens to learn, the 256 bytes included.

    Example:
        >>> tok = BPETokenizer(300).fit("the cat and the hat\\n" * 50)
        >>> text = "the naïve cat 🙂\\n"
        >>> tok.decode(tok.encode(text)) == text, tok.unknown(text)
        (True, [])
    """

    kind = "bpe"

    def __init__(self, vocab_size: int = DEFAULT_BPE_VOCAB):
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
            raise ConfigError(f"vocab_size={vocab_size!r} is not a whole number.")
        if vocab_size < BYTE_ALPHABET:
            raise ConfigError(
                f"vocab_size={vocab_size} is below the {BYTE_ALPHABET} byte tokens a "
                "byte-level BPE starts from.",
                f"Use {BYTE_ALPHABET} or more (e.g. {DEFAULT_BPE_VOCAB}).",
            )
        self.requested = vocab_size
        self._tokenizer: Any = None

    @staticmethod
    def _pipeline(model: Any) -> Any:
        tk = _tokenizers()
        tokenizer = tk.Tokenizer(model)
        tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = tk.decoders.ByteLevel()
        return tokenizer

    def fit(self, text: str) -> BPETokenizer:
        """Learn the merges from ``text`` (deterministic for a given text)."""
        if not text:
            raise DataError("BPETokenizer.fit received an empty text.", "Give the training text.")
        return self.fit_lines(text.splitlines(keepends=True))

    def fit_lines(self, lines: Iterable[str]) -> BPETokenizer:
        """Learn the merges from the text's ``lines`` (an iterator: a file streamed)."""
        tk = _tokenizers()
        tokenizer = self._pipeline(tk.models.BPE())
        trainer = tk.trainers.BpeTrainer(
            vocab_size=self.requested,
            initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tokenizer.train_from_iterator(lines, trainer=trainer)
        self._tokenizer = tokenizer
        return self

    def encode_parts(self, parts: list[str]) -> list[np.ndarray]:
        """Token ids of each text of ``parts``, encoded in parallel."""
        return [np.asarray(e.ids, dtype=np.int64) for e in self._fitted().encode_batch(parts)]

    def _fitted(self) -> Any:
        if self._tokenizer is None:
            raise ConfigError("This BPETokenizer has no vocabulary yet.", "Call fit(text) first.")
        return self._tokenizer

    @property
    def vocab_size(self) -> int:
        """The learned vocabulary's size (a small text may give fewer than asked)."""
        return int(self._fitted().get_vocab_size())

    def unknown(self, text: str) -> list[str]:
        """Always empty: every character is made of known bytes."""
        return []

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        """Token ids (int64); ``unknown`` is accepted for a common interface and never used."""
        if unknown not in UNKNOWN_MODES:
            raise ConfigError(f"unknown={unknown!r} is not valid.", f"Use one of {UNKNOWN_MODES}.")
        return np.asarray(self._fitted().encode(text).ids, dtype=np.int64)

    def decode(self, ids: Any) -> str:
        ids = _as_numpy_ids(ids, self.vocab_size)
        return self._fitted().decode(ids.tolist(), skip_special_tokens=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "kind": "bpe",
            "vocab_size": self.requested,
            "tokenizer": json.loads(self._fitted().to_str()),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "the tokenizer data") -> BPETokenizer:
        _check_dict(d, "bpe", source)
        tok = cls(int(d["vocab_size"]))
        tok._tokenizer = _tokenizers().Tokenizer.from_str(json.dumps(d["tokenizer"]))
        return tok


def make_tokenizer(
    kind: str, text: str, vocab_size: int | None = None
) -> CharTokenizer | BPETokenizer:
    """A tokenizer of ``kind`` ("char" or "bpe") fitted on ``text``.

    ``vocab_size`` is the BPE vocabulary (default 1024); it is ignored for "char", whose
    vocabulary is the text's distinct characters.
    """
    if kind == "char":
        return CharTokenizer.fit(text)
    if kind == "bpe":
        return BPETokenizer(DEFAULT_BPE_VOCAB if vocab_size is None else vocab_size).fit(text)
    raise ConfigError(f"Tokenizer kind {kind!r} is not known.", f"Use one of {KINDS}.")


def tokenizer_from_dict(d: dict[str, Any], source: str = "the tokenizer data") -> Any:
    """Rebuild either tokenizer from its ``to_dict`` form."""
    kind = d.get("kind") if isinstance(d, dict) else None
    cls = {"char": CharTokenizer, "bpe": BPETokenizer}.get(str(kind))
    if cls is None:
        _check_dict(d, "char or bpe", source)
    return cls.from_dict(d, source)


def _check_dict(d: Any, kind: str, source: str) -> None:
    if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("kind") not in kind:
        raise DataError(
            f"{source} is not a layerwise {kind} tokenizer.", "Use data written by to_dict."
        )
    if int(d.get("version", 0)) > VERSION:
        raise DataError(
            f"{source} is tokenizer format version {d['version']}; this layerwise reads up "
            f"to {VERSION}.",
            "Upgrade layerwise.",
        )


def _as_numpy_ids(ids: Any, vocab_size: int) -> np.ndarray:
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise DataError(
            f"Token ids must lie in [0, {vocab_size}); got {ids.min()}..{ids.max()}.",
            "Decode ids made by this tokenizer.",
        )
    return ids


# ---- splits and windows ----------------------------------------------------------------------
def split_corpus(ids: Any, val_fraction: float = 0.1, block: int = 1) -> tuple[Any, Any]:
    """(train, validation): the first ``1 - val_fraction`` of the tokens, then the rest.

    Training needs two windows of ``block + 1`` tokens and validation one.

    Raises:
        DataError: too few tokens (the message gives the minimum).

    Example:
        >>> train, val = split_corpus(np.arange(100), 0.1)
        >>> train[-1].item(), val.tolist()[:3], len(val)
        (89, [90, 91, 92], 10)
    """
    if not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(f"val_fraction={val_fraction} is not between 0 and 1.", "Use e.g. 0.1.")
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ConfigError(f"block={block!r} is not a positive whole number.")
    n = len(ids)
    n_train = int(n * (1.0 - val_fraction))
    need = max(
        math.ceil(2 * (block + 1) / (1.0 - val_fraction)), math.ceil((block + 1) / val_fraction)
    )
    if n_train < 2 * (block + 1) or n - n_train < block + 1:
        raise DataError(
            f"The corpus has {n:,} tokens; with block={block} and val_fraction={val_fraction} "
            f"it needs at least {need:,} (two blocks of training text, one of validation).",
            "Give more text, or use a smaller block size.",
        )
    return ids[:n_train], ids[n_train:]


def random_windows(
    ids: torch.Tensor, block: int, batch: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` random windows of ``block`` tokens and their next tokens, both ``[batch, block]``.

    Example:
        >>> x, y = random_windows(torch.arange(50), 8, 4, torch.Generator().manual_seed(0))
        >>> x.shape, bool((y == x + 1).all())
        (torch.Size([4, 8]), True)
    """
    ids = torch.as_tensor(ids)
    if ids.dim() != 1 or len(ids) < block + 1:
        raise DataError(
            f"Windows of {block} tokens need a 1-D sequence of at least {block + 1} tokens; "
            f"got shape {tuple(ids.shape)}.",
            "Use a longer text or a smaller block size.",
        )
    device = generator.device if generator is not None else torch.device("cpu")
    starts = torch.randint(len(ids) - block, (batch,), generator=generator, device=device)
    index = starts.to(ids.device)[:, None] + torch.arange(block, device=ids.device)
    return ids[index], ids[index + 1]


def all_windows(ids: Any, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows covering a whole split, for its full loss: ``(x, y)`` of shape ``[n, block]``.

    Every token but the first is a target exactly once. Windows follow each other without
    overlap; when the tokens do not fill the last one, it is aligned with the end of the
    split instead and its targets already scored are set to :data:`IGNORE_INDEX` (so those
    tokens are predicted with a longer context, and none twice). A split shorter than
    ``block + 1`` tokens gives one shorter window. Average the cross-entropy with
    ``ignore_index=IGNORE_INDEX`` over all windows to get the mean loss per scored token.

    Example:
        >>> x, y = all_windows(torch.arange(10), 4)
        >>> x.tolist(), y.tolist()
        ([[0, 1, 2, 3], [4, 5, 6, 7], [5, 6, 7, 8]], [[1, 2, 3, 4], [5, 6, 7, 8], [-100, -100, -100, 9]])
    """
    ids = torch.as_tensor(ids)
    targets = len(ids) - 1
    if ids.dim() != 1 or targets < 1:
        raise DataError(f"A split needs at least 2 tokens to score; got {len(ids)}.")
    block = min(block, targets)
    full = targets // block
    starts = torch.arange(full, device=ids.device) * block
    if targets % block:
        starts = torch.cat([starts, torch.tensor([targets - block], device=ids.device)])
    index = starts[:, None] + torch.arange(block, device=ids.device)
    x, y = ids[index], ids[index + 1].clone()
    if targets % block:
        y[-1, : block - targets % block] = IGNORE_INDEX
    return x, y
