"""A subword vocabulary learned from the training texts, with Hugging Face ``tokenizers``.

Texts are normalised (Unicode clean-up, and lowercasing with accent stripping when
``lowercase``), split into words at whitespace and punctuation (each punctuation character is
a word of its own), and each word into subwords: WordPiece (``##`` marks a continuation) or
BPE. The ids ``[PAD]=0``, ``[UNK]=1`` and ``[CLS]=2`` are fixed; the text models rely on the
first two (padding masks, token dropout). ``[CLS]`` is reserved but :meth:`TextTokenizer.encode`
does not add it (the models pool over all tokens).

The saved file is one JSON object (see :meth:`TextTokenizer.to_dict`)::

    {"format": "layerwise.text_tokenizer", "version": 1, "kind": "wordpiece",
     "vocab_size": 8000, "lowercase": true, "max_length": 128,
     "tokenizer": {...the library's own tokenizer.json, as an object...}}

Example:
    >>> tok = TextTokenizer(vocab_size=100).fit(["a good film", "a bad film"])
    >>> ids, lengths = tok.encode(["a good film", ""])
    >>> ids.shape, lengths.tolist()
    (torch.Size([2, 3]), [3, 1])
    >>> [(start, end) for start, end, _ in tok.word_spans("Good film!")]
    [(0, 4), (5, 9), (9, 10)]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from layerwise.errors import ConfigError, DataError

KINDS = ("wordpiece", "bpe")
PAD, UNK, CLS = "[PAD]", "[UNK]", "[CLS]"
SPECIAL_TOKENS = [PAD, UNK, CLS]  # ids 0, 1, 2, in this order
PAD_ID, UNK_ID, CLS_ID = 0, 1, 2
FORMAT = "layerwise.text_tokenizer"
VERSION = 1
MIN_VOCAB = 16
# Stand-ins for continuation characters while training WordPiece: Unicode planes 15 and 16.
PRIVATE_USE = [*range(0xF0000, 0xFFFFE), *range(0x100000, 0x10FFFE)]


def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError as error:
        raise ConfigError(
            "Text tokenization needs the Hugging Face 'tokenizers' package, which is not installed.",
            'Run: pip install "tokenizers>=0.15"',
        ) from error
    return tokenizers


class TextTokenizer:
    """A subword vocabulary trained on the training texts; saved as its own JSON file.

    Args:
        kind: "wordpiece" or "bpe".
        vocab_size: the largest vocabulary to learn, special tokens included (small data may
            give fewer: see :attr:`vocab_size_actual`).
        lowercase: lowercase and strip accents before splitting.
        max_length: token sequences are cut to this many tokens by :meth:`encode`.

    Example:
        >>> tok = TextTokenizer("bpe", vocab_size=60).fit(["low lower lowest"] * 3)
        >>> tok.tokens("lowest")
        ['lowest']
    """

    def __init__(
        self,
        kind: str = "wordpiece",
        vocab_size: int = 8000,
        lowercase: bool = True,
        max_length: int = 128,
    ):
        if not isinstance(kind, str) or kind.lower() not in KINDS:
            raise ConfigError(
                f"TextTokenizer kind={kind!r} is not valid.",
                "Use one of: " + ", ".join(repr(k) for k in KINDS) + ".",
            )
        for name, value, low in (
            ("vocab_size", vocab_size, MIN_VOCAB),
            ("max_length", max_length, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(
                    f"TextTokenizer {name}={value!r} is not valid.", f"Use a whole number >= {low}."
                )
        self.kind = kind.lower()
        self.vocab_size = vocab_size
        self.lowercase = bool(lowercase)
        self.max_length = max_length
        self._tokenizer: Any = None

    # -- training ------------------------------------------------------------------------------

    def _pipeline(self, tokenizer: Any) -> Any:
        tk = _tokenizers()
        tokenizer.normalizer = tk.normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, lowercase=self.lowercase
        )
        tokenizer.pre_tokenizer = tk.pre_tokenizers.BertPreTokenizer()
        return tokenizer

    def fit(self, texts: list[str]) -> TextTokenizer:
        """Learn the vocabulary from ``texts``; the same texts always give the same vocabulary."""
        texts = self._check_texts(texts, "fit")
        if not any(t.strip() for t in texts):
            raise DataError(
                f"TextTokenizer.fit received {len(texts)} texts, all empty.",
                "Give the training texts (at least one non-empty string).",
            )
        tk = _tokenizers()
        if self.kind == "bpe":
            tokenizer = self._pipeline(tk.Tokenizer(tk.models.BPE(unk_token=UNK)))
            trainer = tk.trainers.BpeTrainer(
                vocab_size=self.vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False
            )
            tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
        else:
            tokenizer = self._fit_wordpiece(texts)
        ids = [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS]
        if ids != [PAD_ID, UNK_ID, CLS_ID]:  # guaranteed by the trainers; checked, not assumed
            raise ConfigError(f"Special token ids are {ids}, not [0, 1, 2].", "Report this bug.")
        self._tokenizer = tokenizer
        return self

    def _fit_wordpiece(self, texts: list[str]) -> Any:
        """WordPiece, trained deterministically.

        The library's ``WordPieceTrainer`` gives a different vocabulary from run to run (it
        numbers the ``##`` continuation characters in hash-map order, and merge ties are
        broken by those numbers). So: every character after the first of a word is mapped to
        a private-use character, the plain BPE trainer (deterministic: its alphabet is sorted)
        learns the merges, and mapped characters are turned back into ``##`` pieces. This is
        what ``WordPieceTrainer`` does, with a fixed numbering.
        """
        tk = _tokenizers()
        probe = self._pipeline(tk.Tokenizer(tk.models.WordPiece(unk_token=UNK)))
        normalize, split = probe.normalizer.normalize_str, probe.pre_tokenizer.pre_tokenize_str
        words = [[w for w, _ in split(normalize(t))] for t in texts]
        chars = sorted({c for row in words for w in row for c in w[1:]})
        chars = chars[: len(PRIVATE_USE)]  # any beyond 131,068 stay as they are
        table = {ord(c): chr(PRIVATE_USE[i]) for i, c in enumerate(chars)}
        back = {chr(p): c for c, p in zip(chars, PRIVATE_USE, strict=False)}
        lines = (" ".join(w[0] + w[1:].translate(table) for w in row) for row in words)
        bpe = tk.Tokenizer(tk.models.BPE(unk_token=UNK))
        bpe.pre_tokenizer = tk.pre_tokenizers.WhitespaceSplit()
        trainer = tk.trainers.BpeTrainer(
            vocab_size=self.vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False
        )
        bpe.train_from_iterator(lines, trainer=trainer, length=len(words))
        vocab = {}
        for token, index in bpe.get_vocab(with_added_tokens=True).items():
            plain = "".join(back.get(c, c) for c in token)
            vocab["##" + plain if token[0] in back else plain] = index
        tokenizer = self._pipeline(tk.Tokenizer(tk.models.WordPiece(vocab, unk_token=UNK)))
        tokenizer.add_special_tokens(SPECIAL_TOKENS)
        tokenizer.decoder = tk.decoders.WordPiece()
        return tokenizer

    @staticmethod
    def _check_texts(texts: Any, where: str) -> list[str]:
        if isinstance(texts, str):
            raise DataError(
                f"TextTokenizer.{where} received one string, not a list of texts.",
                "Pass a list of strings, e.g. [text].",
            )
        texts = list(texts)
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise DataError(
                f"TextTokenizer.{where}: item {bad} is a {type(texts[bad]).__name__}, not a string.",
                "Convert missing values to '' and every text to str first.",
            )
        return texts

    @property
    def fitted(self) -> bool:
        return self._tokenizer is not None

    def _fitted(self) -> Any:
        if self._tokenizer is None:
            raise ConfigError(
                "This TextTokenizer has no vocabulary yet.",
                "Call fit(texts) first, or TextTokenizer.load(path).",
            )
        return self._tokenizer

    @property
    def vocab_size_actual(self) -> int:
        """The size of the learned vocabulary (special tokens included)."""
        return int(self._fitted().get_vocab_size())

    # -- encoding ------------------------------------------------------------------------------

    def _ids(self, encoding: Any) -> list[int]:
        return list(encoding.ids[: self.max_length]) or [UNK_ID]

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids ``int64 [n, L]`` padded with 0, and lengths ``int64 [n]``.

        ``L`` is the longest sequence in the batch, at most ``max_length``. An empty text (or
        one with no tokens) becomes a single ``[UNK]``, so every length is at least 1.

        Example:
            >>> tok = TextTokenizer(vocab_size=50).fit(["yes no", "no"])
            >>> ids, lengths = tok.encode(["no", "yes no"])
            >>> ids[0, 1].item(), lengths.tolist(), ids[0, 0] == ids[1, 1]
            (0, [1, 2], tensor(True))
        """
        tokenizer = self._fitted()
        texts = self._check_texts(texts, "encode")
        rows = [self._ids(e) for e in tokenizer.encode_batch(texts)] if texts else []
        width = max((len(r) for r in rows), default=1)
        ids = torch.zeros(len(rows), width, dtype=torch.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
        return ids, lengths

    def tokens(self, text: str) -> list[str]:
        """The subword tokens of one text, position for position as :meth:`encode` gives them."""
        encoding = self._fitted().encode(self._check_texts([text], "tokens")[0])
        return list(encoding.tokens[: self.max_length]) or [UNK]

    def word_spans(self, text: str) -> list[tuple[int, int, list[int]]]:
        """``(start, end, token positions)`` for each word of ``text``, in order.

        Words are split at whitespace and punctuation (each punctuation character is a word);
        ``text[start:end]`` is the word as written. Positions index the row :meth:`encode`
        gives, so token attributions sum to word attributions; a word past ``max_length``
        has no positions. An empty text has no words.

        Example:
            >>> tok = TextTokenizer(vocab_size=40).fit(["unhappy happy"])
            >>> tok.word_spans("Happy!")
            [(0, 5, [0]), (5, 6, [1])]
        """
        encoding = self._fitted().encode(self._check_texts([text], "word_spans")[0])
        spans: dict[int, list[Any]] = {}
        for position, (word, (start, end)) in enumerate(
            zip(encoding.word_ids, encoding.offsets, strict=True)
        ):
            if word is None:
                continue
            span = spans.setdefault(word, [start, end, []])
            span[0], span[1] = min(span[0], start), max(span[1], end)
            if position < self.max_length:
                span[2].append(position)
        return [(s, e, p) for s, e, p in (spans[w] for w in sorted(spans))]

    # -- files ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form written by :meth:`save` (documented in the module docstring)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "kind": self.kind,
            "vocab_size": self.vocab_size,
            "lowercase": self.lowercase,
            "max_length": self.max_length,
            "tokenizer": json.loads(self._fitted().to_str()),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "the tokenizer data") -> TextTokenizer:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, dict) or d.get("format") != FORMAT or "tokenizer" not in d:
            raise DataError(
                f"{source} is not a layerwise text tokenizer.",
                "Use a file written by TextTokenizer.save.",
            )
        if int(d.get("version", 0)) > VERSION:
            raise DataError(
                f"{source} is tokenizer format version {d['version']}; this layerwise reads "
                f"up to {VERSION}.",
                "Upgrade layerwise.",
            )
        tok = cls(d["kind"], int(d["vocab_size"]), bool(d["lowercase"]), int(d["max_length"]))
        tok._tokenizer = _tokenizers().Tokenizer.from_str(json.dumps(d["tokenizer"]))
        return tok

    def save(self, path: str | Path) -> None:
        """Write the tokenizer to one JSON file (UTF-8)."""
        text = json.dumps(self.to_dict(), ensure_ascii=False)
        Path(path).write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> TextTokenizer:
        """Read a file written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"Tokenizer file '{path}' does not exist.", "Check the path.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DataError(f"Tokenizer file '{path}' is not valid JSON: {error}.") from error
        return cls.from_dict(data, source=f"Tokenizer file '{path}'")
