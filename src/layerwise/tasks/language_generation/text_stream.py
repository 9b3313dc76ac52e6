"""A text file read in pieces, for corpora larger than memory (``--stream``).

:func:`text_pieces` reads a file a chunk of bytes at a time (:data:`CHUNK_BYTES`) and yields its
text in pieces of about that size, decoded as :func:`~.corpus.read_corpus` decodes the whole
file (:mod:`layerwise.data.text_decoding`'s checks: a UTF-8 BOM dropped, UTF-16 by its BOM, a
binary file refused, another encoding detected on the first chunk and named in the notes;
newlines normalised to ``\\n``, a ``\\r\\n`` split between two chunks included).

Each piece ends where a byte-level BPE (GPT-2's pre-tokenizer) splits the text anyway: after a
newline between two non-space characters, or else before a single space between two of them.
Encoding the pieces one by one then gives exactly the ids of the whole text, and training a BPE
on their lines counts exactly the words it counts on the whole text's. A chunk with neither
(a few MiB without a space) is cut where it ends, and the tokens at that cut may differ.

:func:`text_stats` is the one pass that counts the characters and lines and collects the
distinct characters (a character tokenizer's vocabulary); :func:`should_stream` decides.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.txt"
    >>> _ = path.write_bytes(b"one two\\r\\nthree\\r\\nfour five\\r\\n" * 3)
    >>> notes = []
    >>> pieces = list(text_pieces(path, None, notes, chunk_bytes=16))
    >>> "".join(pieces) == "one two\\nthree\\nfour five\\n" * 3, len(pieces) > 1
    (True, True)
    >>> text_stats(path, None, chunk_bytes=16).summary()
    't.txt: 72 characters (13 distinct), 9 lines'
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerwise.data.disk_cache import physical_memory, too_big
from layerwise.data.text_decoding import (
    BINARY_SAMPLE,
    binary_error,
    check_binary,
    decode,
    normalise,
)
from layerwise.errors import DataError

CHUNK_BYTES = 8 * 2**20  # bytes read at once: a piece's text, its ids and their copies stay <0.3 GB
BYTES_IN_MEMORY = 1 + 8  # per byte of text when read whole: the text, and its int64 ids
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# where a byte-level BPE's pre-tokenizer splits whatever surrounds it (see the module's doc);
# Python's \s holds every character the tokenizer's regex counts as a space, and a few more
_AFTER_LINE = re.compile(r"(?<=\S)\n(?=\S)")
_BEFORE_SPACE = re.compile(r"(?<=\S) (?=\S)")


@dataclass
class StreamedText:
    """What a pass over a streamed file learned of its text (it is never held whole)."""

    name: str
    characters: int
    distinct: str  # the distinct characters, sorted
    lines: int
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.characters

    def summary(self) -> str:
        """As :meth:`~.corpus.Corpus.summary` words it."""
        return (f"{self.name}: {self.characters:,} characters ({len(self.distinct):,} distinct), "
                f"{self.lines:,} lines")  # fmt: skip


def streamable(data: Any) -> Path | None:
    """The file ``data`` names when it is a path (a string that looks like one, or a PathLike);
    None for a text given as a string (it is in memory already)."""
    from layerwise.data.text_sources import is_path

    if isinstance(data, os.PathLike) or (isinstance(data, str) and is_path(data)):
        return Path(data).expanduser()
    return None


def should_stream(asked: bool | None, data: Any) -> tuple[bool, str | None]:
    """Whether to stream ``data`` (``asked``, or a file whose text and ids would take over a
    quarter of the memory read whole), and a note when the size decided.

    Example:
        >>> should_stream(True, "some text in memory"), should_stream(None, __file__)
        ((False, None), (False, None))
    """
    path = streamable(data)
    if asked is False or path is None or not path.is_file():
        return False, None  # a missing file or folder: read_corpus names the problem
    if asked:
        return True, None
    size = path.stat().st_size
    if not too_big(size * BYTES_IN_MEMORY):
        return False, None
    memory = physical_memory() or 0
    return True, (f"streamed from disk: '{path.name}' ({size / 2**30:.1f} GiB) and its token ids "
                  f"would take over a quarter of this machine's {memory / 2**30:.0f} GiB")  # fmt: skip


def check_file(path: Path) -> None:
    """The refusals of :func:`~.corpus.read_corpus` that need no reading."""
    if not path.exists():
        raise DataError(
            f"'{path}' does not exist.", "Check the path (relative paths start from here)."
        )
    if path.is_dir():
        raise DataError(f"'{path}' is a folder.", "Give one text file (e.g. input.txt).")
    if path.stat().st_size == 0:
        raise DataError(
            f"'{path}' is empty (or only whitespace).", "Give a file with the text to model."
        )


def text_pieces(path: Path, encoding: str | None, notes: list[str],
                chunk_bytes: int | None = None) -> Iterator[str]:  # fmt: skip
    """The text of ``path`` in pieces of about ``chunk_bytes`` (None: :data:`CHUNK_BYTES`), each cut where a byte-level BPE
    splits anyway (see the module's doc). ``notes`` receives what :func:`read_corpus` would
    note (the encoding when not UTF-8, converted newlines).

    Raises:
        DataError: a missing, empty or binary file, or bytes the encoding cannot decode.
    """
    path = Path(path)
    check_file(path)
    label, chunk_bytes = str(path), chunk_bytes or CHUNK_BYTES
    try:
        file = path.open("rb")
    except OSError as exc:
        raise DataError(f"'{path}' could not be read ({exc.strerror or exc}).") from exc
    with file:
        head = file.read(chunk_bytes)
        codec, named = _codec(head, label, encoding)
        if named:
            notes.append(f"read '{path.name}' as {named} (not valid UTF-8)")
        decoder = codecs.getincrementaldecoder(codec)()
        pending, done, raw, first, returns = "", 0, head, True, False
        while True:
            final = not raw
            try:
                text = pending + decoder.decode(raw, final=final)
            except UnicodeDecodeError as exc:
                raise _undecodable(path, codec, done + max(exc.start, 0)) from exc
            done += len(raw)
            returns = returns or "\r" in text
            held = "\r" if text.endswith("\r") and not final else ""  # may start a "\r\n"
            text = normalise(text[: len(text) - len(held)])
            if first:
                text = text.removeprefix("\ufeff")  # a BOM of a named encoding
                check_binary(text[:BINARY_SAMPLE], label)
                first = False
            cut = len(text) if final else safe_cut(text)
            if cut:
                yield text[:cut]
            if final:
                break
            pending = text[cut:] + held
            raw = file.read(chunk_bytes)
    if returns:
        notes.append("Windows/old Mac newlines were converted to \\n")


def text_stats(path: Path, encoding: str | None,
               chunk_bytes: int | None = None) -> StreamedText:  # fmt: skip
    """Characters, distinct characters and lines of ``path``, read once in pieces.

    Raises:
        DataError: as :func:`text_pieces`, and a file of whitespace only.
    """
    notes: list[str] = []
    characters, lines, distinct, last, blank = 0, 0, set(), "", True
    for piece in text_pieces(path, encoding, notes, chunk_bytes):
        characters += len(piece)
        lines += piece.count("\n")
        distinct.update(piece)
        blank = blank and not piece.strip()
        last = piece[-1]
    if blank:
        raise DataError(f"'{path}' holds only whitespace.", "Give a file with the text to model.")
    lines += last != "\n"
    return StreamedText(Path(path).name, characters, "".join(sorted(distinct)), lines, notes)


def _codec(head: bytes, label: str, encoding: str | None) -> tuple[str, str | None]:
    """The codec every chunk is decoded with, chosen on the first one, and its name for a note
    when it was detected (not UTF-8). :func:`~layerwise.data.text_decoding.decode`'s rules."""
    if encoding is not None:
        return ("utf-8-sig" if encoding == "utf-8" else encoding), None
    if head.startswith(_UTF16_BOMS):
        return "utf-16", "UTF-16"
    if b"\x00" in head[:BINARY_SAMPLE]:
        raise binary_error(label)
    try:  # a character cut by the chunk's end is not an error
        codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
        return "utf-8-sig", None
    except UnicodeDecodeError:
        pass
    lines = head[: head.rfind(b"\n") + 1] or head  # whole lines: no character cut at the end
    _, used = decode(lines, label, None)
    return (used or "utf-8-sig"), used


def _undecodable(path: Path, codec: str, at: int) -> DataError:
    name = "UTF-8" if codec == "utf-8-sig" else codec
    return DataError(
        f"'{path}' is not valid {name} at byte {at:,} (its first {CHUNK_BYTES // 2**20} MiB were, "
        "and a streamed file is decoded as its start is).",
        "Convert the file to UTF-8 (e.g. iconv -f <its encoding> -t utf-8), or read it whole "
        "with --no-stream, where the encoding is detected on all of it.",
    )


def safe_cut(text: str) -> int:
    """Where a piece of ``text`` ends: after its last newline between two non-space characters,
    or else before its last single space between two; else its end."""
    for pattern, after in ((_AFTER_LINE, True), (_BEFORE_SPACE, False)):
        size = 1 << 16
        while True:
            start = max(len(text) - size, 0)
            found = None
            for found in pattern.finditer(text, start):  # noqa: B007 - the last one
                pass
            if found is not None:
                return found.end() if after else found.start()
            if start == 0:
                break
            size *= 16
    return len(text)
