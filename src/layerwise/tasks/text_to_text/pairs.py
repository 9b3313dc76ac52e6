"""Sentence pairs to learn from: a source text and its target (its translation, or the reply to
a message), read from the user's files, which are untrusted.

Layouts read by :func:`read_pairs`:

- lines ``source<TAB>target[<TAB>anything]`` without a header (``.txt``, ``.tsv``), as in the
  Tatoeba/Anki files of manythings.org (``fra.txt``), whose third column, an attribution, is
  ignored; Tatoeba's own ``id<TAB>text<TAB>id<TAB>text`` export is recognised by its numbers;
- a table with a header (``.csv``, ``.jsonl``, ``.parquet``, or a ``.tsv`` when a column is
  named): ``source_column`` and ``target_column``, or else its only two text columns, in order.

:func:`read_parallel` reads two files line by line (line i of one is the translation of line i
of the other). Every text is Unicode NFC, stripped, its whitespace runs one space
(:func:`normalise_text`); pairs with an empty side or a side over ``max_chars`` characters are
dropped and counted in ``PairSet.notes``, as in ``"dropped 2 pairs with an empty side (first:
line 5)"``. :func:`split_by_source` splits by distinct source sentence, so that no test source is
ever seen in training.

Example:
    >>> pairs = PairSet(["Go.", "Hi.", "Go."], ["Va !", "Salut !", "Bouge !"])
    >>> len(pairs), references_by_source(pairs)["Go."]
    (3, ['Va !', 'Bouge !'])
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from layerwise.errors import ConfigError, DataError
from layerwise.tasks.text_to_text.pair_files import (
    LAYOUT,
    cell_text,
    check_file,
    load_table,
    missing_column,
    numbered_lines,
    table_columns,
    text_columns,
)

MAX_CHARS = 1000
LINE_SUFFIXES = ("", ".txt", ".tsv", ".tab")
TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", "", ".jsonl", ".ndjson", ".parquet", ".pq")
# A first line made of two of these (or of two snake_case names) is a header, not a pair.
HEADER_WORDS = {"source", "target", "src", "tgt", "input", "output", "inputs", "outputs",
                "question", "answer", "prompt", "response", "reply", "query", "text", "sentence",
                "translation", "context", "message", "english", "french", "german", "spanish",
                "italian", "portuguese", "dutch", "russian", "chinese", "japanese", "arabic",
                "en", "fr", "de", "es", "it", "pt", "nl", "ru", "zh", "ja", "ko", "ar"}  # fmt: skip
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")


@dataclass
class PairSet:
    """Pairs to learn from: ``targets[i]`` is the wanted output for ``sources[i]``; ``notes``:
    what reading left out or decided, one line each.

    >>> PairSet(["a", "b", "c"], ["A", "B", "C"]).subset([2, 0]).sources
    ['c', 'a']
    """

    sources: list[str]
    targets: list[str]
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.sources) != len(self.targets):
            raise ValueError(f"{len(self.sources)} sources but {len(self.targets)} targets")

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, index: Sequence[int] | np.ndarray) -> PairSet:
        """The pairs at ``index`` (positions, or a boolean mask), in that order; the notes,
        which describe reading the whole file, stay with this set."""
        index = np.asarray(index)
        rows = np.flatnonzero(index) if index.dtype == bool else index.astype(np.int64)
        rows = rows.tolist()
        return PairSet([self.sources[i] for i in rows], [self.targets[i] for i in rows])


def normalise_text(text: str) -> str:
    """``text`` in Unicode NFC, stripped, each whitespace run one space (no-break spaces too):
    the form pairs are learnt in, so apply it to a text before translating it.

    >>> normalise_text("  Va\\u202f!\\n ")
    'Va !'
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


class _Kept:
    """Pairs kept while reading, and counts (with the first position) of what was left out."""

    def __init__(self, max_chars: int, unit: str):
        if not isinstance(max_chars, int) or max_chars < 1:
            raise ConfigError(f"max_chars={max_chars!r} is not valid.", "Use an integer >= 1.")
        self.max_chars, self.unit = max_chars, unit
        self.sources: list[str] = []
        self.targets: list[str] = []
        self.left_out: dict[tuple[str, str, str], list[int]] = {}

    def skip(self, verb: str, one: str, many: str, position: int) -> None:
        entry = self.left_out.setdefault((verb, one, many), [0, position])
        entry[0] += 1

    def add(self, position: int, source: str, target: str) -> None:
        source, target = normalise_text(source), normalise_text(target)
        if not source or not target:
            self.skip("dropped", "pair with an empty side", "pairs with an empty side", position)
        elif max(len(source), len(target)) > self.max_chars:
            over = f"over {self.max_chars:,} characters"
            self.skip("dropped", f"pair with a side {over}", f"pairs with a side {over}", position)
        else:
            self.sources.append(source)
            self.targets.append(target)

    def result(self, notes: list[str], label: str, reverse: bool, hint: str) -> PairSet:
        for (verb, one, many), (count, first) in self.left_out.items():
            notes.append(f"{verb} {count:,} {one if count == 1 else many} "
                         f"(first: {self.unit} {first})")  # fmt: skip
        if not self.sources:
            raise DataError(
                f"No pairs are left in {label}" + (f" ({'; '.join(notes)})." if notes else "."),
                hint,
            )
        if reverse:
            notes.append("swapped sources and targets (reverse)")
            return PairSet(self.targets, self.sources, notes)
        return PairSet(self.sources, self.targets, notes)


def _is_header(fields: list[str]) -> bool:
    first, second = (f.strip().lower() for f in fields[:2])
    return (first in HEADER_WORDS and second in HEADER_WORDS) or bool(
        _SNAKE.match(first) and _SNAKE.match(second)
    )


def _is_tatoeba(fields: list[str]) -> bool:
    return len(fields) >= 4 and fields[0].strip().isdigit() and fields[2].strip().isdigit()


def _read_lines(path: Path, reverse: bool, max_chars: int) -> PairSet:
    kept, notes = _Kept(max_chars, "line"), [f"read '{path.name}' as source<TAB>target lines"]
    first, tatoeba, columns = True, False, 0
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            kept.skip("skipped", "line without a tab", "lines without a tab", number)
            continue
        if first:
            first, tatoeba = False, _is_tatoeba(fields)
            if _is_header(fields):
                notes.append(f"read line {number} as a header ({fields[0]}, {fields[1]})")
                continue
            if tatoeba:
                notes[0] = f"read '{path.name}' as Tatoeba id<TAB>text<TAB>id<TAB>text lines"
        if tatoeba:
            if not _is_tatoeba(fields):
                kept.skip("skipped", "line not id<TAB>text<TAB>id<TAB>text",
                          "lines not id<TAB>text<TAB>id<TAB>text", number)  # fmt: skip
                continue
            fields = [fields[1], fields[3]]
        columns = max(columns, len(fields))
        kept.add(number, fields[0], fields[1])
    if first:
        raise DataError(f"'{path}' has no tab on any line.", LAYOUT)
    if columns > 2:
        extra = "column 3" if columns == 3 else f"columns 3 to {columns}"
        notes[0] += f" (ignored {extra}, such as an attribution)"
    return kept.result(notes, f"'{path}'", reverse, LAYOUT)


def _read_table(path: Path, chosen: tuple[str | None, str | None], reverse: bool,
                max_chars: int) -> PairSet:  # fmt: skip
    source_column, target_column = chosen
    if source_column is not None and source_column == target_column:
        raise ConfigError(f"The source and target columns are both '{source_column}'.",
                          "Choose two different columns.")  # fmt: skip
    if source_column is not None or target_column is not None:
        columns = table_columns(path)
        for name, what in ((source_column, "source"), (target_column, "target")):
            if name is not None and name not in columns:
                raise missing_column(name, what, columns, path)
    named = [c for c in chosen if c is not None]
    df = load_table(path, named if len(named) == 2 else None)
    df.columns = [str(c) for c in df.columns]
    if df.empty:
        raise DataError(f"'{path}' has no rows.", "Give a table with one pair per row.")
    if len(named) < 2:
        texts = text_columns(df, named, path)
        source_column = source_column or texts.pop(0)
        target_column = target_column or texts.pop(0)
    notes = [f"read columns '{source_column}' (sources) and '{target_column}' (targets) of "
             f"'{path.name}'"]  # fmt: skip
    kept = _Kept(max_chars, "row")
    sources, targets = df[source_column].tolist(), df[target_column].tolist()
    for row, (source, target) in enumerate(zip(sources, targets, strict=True), 1):
        kept.add(row, cell_text(source, source_column, row, path),
                 cell_text(target, target_column, row, path))  # fmt: skip
    hint = "Choose the columns that hold the sentences (--source-column, --target-column)."
    return kept.result(notes, f"'{path}'", reverse, hint)


def read_pairs(
    path: str | os.PathLike,
    source_column: str | None = None,
    target_column: str | None = None,
    reverse: bool = False,
    max_chars: int = MAX_CHARS,
) -> PairSet:
    """The sentence pairs of one file: ``source<TAB>target`` lines, or a table's columns.

    Args:
        path: a ``.txt``/``.tsv`` of lines, or a ``.csv``/``.tsv``/``.jsonl``/``.parquet``
            table with a header (a ``.tsv`` is read as a table when a column is named).
        source_column: the table column of the sources (default: the first of its two text
            columns).
        target_column: the table column of the targets (default: the second).
        reverse: swap the sides, to learn the other direction from the same file.
        max_chars: pairs with a side longer than this are dropped.

    Raises:
        DataError: the file is missing, too large, not UTF-8, not in a layout above, or has no
            pair left; a ColumnError for a named column it does not have.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "fra.txt"
        >>> _ = path.write_text("Go.\\tVa !\\tCC-BY 2.0 (France)\\nHi.\\tSalut !\\n")
        >>> pairs = read_pairs(path, reverse=True)
        >>> pairs.sources, pairs.targets
        (['Va !', 'Salut !'], ['Go.', 'Hi.'])
    """
    path = Path(path)
    check_file(path)
    suffix = path.suffix.lower()
    named = source_column is not None or target_column is not None
    if suffix in LINE_SUFFIXES and not named:
        return _read_lines(path, reverse, max_chars)
    if suffix in TABLE_SUFFIXES:
        return _read_table(path, (source_column, target_column), reverse, max_chars)
    raise DataError(
        f"'{path}' has the extension '{suffix}', which is not read as sentence pairs.",
        "Give a .txt or .tsv of source<TAB>target lines, or a .csv, .jsonl or .parquet table.",
    )


def file_lines(path: Path) -> list[str]:
    lines = [text for _, text in numbered_lines(path)]
    while lines and not lines[-1].strip():  # a trailing blank line is no sentence
        lines.pop()
    if not lines:
        raise DataError(f"'{path}' has no text.", "Give a file with one sentence per line.")
    return lines


def read_parallel(
    source_path: str | os.PathLike,
    target_path: str | os.PathLike,
    reverse: bool = False,
    max_chars: int = MAX_CHARS,
) -> PairSet:
    """Pairs from two files read line by line: line i of ``target_path`` is the target of line
    i of ``source_path`` (the ``train.en`` + ``train.fr`` layout). Same cleaning as
    :func:`read_pairs`; blank lines at the end of a file are not counted.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "a.en").write_text("Hello.\\n\\nThanks.\\n")
        >>> _ = (folder / "a.fr").write_text("Bonjour.\\nVide ?\\nMerci.\\n")
        >>> pairs = read_parallel(folder / "a.en", folder / "a.fr")
        >>> pairs.targets, pairs.notes[-1]
        (['Bonjour.', 'Merci.'], 'dropped 1 pair with an empty side (first: line 2)')
    """
    source_path, target_path = Path(source_path), Path(target_path)
    sources, targets = file_lines(source_path), file_lines(target_path)
    if len(sources) != len(targets):
        raise DataError(
            f"'{source_path}' has {len(sources):,} lines but '{target_path}' has "
            f"{len(targets):,}; line i of one must be the translation of line i of the other.",
            "Give two files of the same corpus and split (one sentence per line, no line "
            "break inside a sentence).",
        )
    kept = _Kept(max_chars, "line")
    for number, (source, target) in enumerate(zip(sources, targets, strict=True), 1):
        kept.add(number, source, target)
    notes = [f"read '{source_path.name}' and '{target_path.name}' line by line"]
    hint = "Give two files with one sentence per line, the same sentence on the same line."
    return kept.result(notes, f"'{source_path}' and '{target_path}'", reverse, hint)


def split_by_source(
    pairs: PairSet, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> dict[str, PairSet]:
    """``{"train", "val", "test"}`` parts of ``pairs``, split by distinct source sentence: all
    pairs of one source go to the same part, so no test source is seen in training. About
    ``val_fraction`` and ``test_fraction`` of the pairs, at least one source each (none for a
    fraction of 0); each part in file order.

    Example:
        >>> pairs = PairSet([str(i % 10) for i in range(40)], ["x"] * 40)
        >>> parts = split_by_source(pairs, 0.2, 0.2, seed=0)
        >>> {name: len(part) for name, part in parts.items()}
        {'train': 24, 'val': 8, 'test': 8}
        >>> set(parts["test"].sources) & set(parts["train"].sources)
        set()
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise ConfigError(f"{name}={value!r} is not valid.", "Use a number in [0, 1).")
    if val_fraction + test_fraction >= 1:
        raise ConfigError(f"val_fraction + test_fraction = {val_fraction + test_fraction:g} "
                          "leaves no pairs to train on.", "Keep their sum below 1.")  # fmt: skip
    groups: dict[str, list[int]] = {}
    for i, source in enumerate(pairs.sources):
        groups.setdefault(source, []).append(i)
    sides = [(n, f) for n, f in (("test", test_fraction), ("val", val_fraction)) if f > 0]
    if len(groups) < len(sides) + 1:
        raise DataError(
            f"The pairs have {len(groups)} distinct source sentence(s); a split by source needs "
            f"{len(sides) + 1}, one for training and one for each of: "
            f"{', '.join(n for n, _ in sides)}.",
            "Give more pairs, or set the validation and test fractions to 0.",
        )
    distinct = list(groups)  # in file order, so that the seed alone decides the shuffle
    order = [distinct[i] for i in np.random.default_rng(seed).permutation(len(distinct))]
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for k, (name, fraction) in enumerate(sides):
        keep = len(sides) - k  # sources needed by the parts after this one, training included
        goal, count, taken, rest = fraction * len(pairs), 0, 0, []
        for j, source in enumerate(order):
            size = len(groups[source])
            closer = count + size - goal <= goal - count  # no further from the goal once added
            if count < goal and closer and len(rest) + len(order) - j - 1 >= keep:
                parts[name] += groups[source]
                count, taken = count + size, taken + 1
            else:
                rest.append(source)
        if not taken:  # every source alone overshoots the goal: the one with fewest pairs
            smallest = min(rest, key=lambda s: len(groups[s]))
            rest.remove(smallest)
            parts[name] += groups[smallest]
        order = rest
    for source in order:
        parts["train"] += groups[source]
    return {name: pairs.subset(sorted(index)) for name, index in parts.items()}


def references_by_source(pairs: PairSet) -> dict[str, list[str]]:
    """Every distinct target of each source, in file order: the references of a score that
    accepts any of a sentence's known translations.

    >>> references_by_source(PairSet(["Hi.", "Hi.", "Hi."], ["Salut.", "Bonjour.", "Salut."]))
    {'Hi.': ['Salut.', 'Bonjour.']}
    """
    out: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    for pair in zip(pairs.sources, pairs.targets, strict=True):
        if pair not in seen:
            seen.add(pair)
            out.setdefault(pair[0], []).append(pair[1])
    return out
