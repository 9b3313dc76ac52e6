"""Reading text-classification datasets into one :class:`TextSet` of strings and labels.

Layouts :func:`read_texts` recognises:

* a table (CSV/TSV, JSON Lines, JSON, Parquet) with a text column and an optional label
  column; rows whose text or label is empty are dropped (and counted in the notes);
* one file per class (``class_files={"pos": "rt-polarity.pos", ...}``), one example a line;
* a folder per class (``reviews/<class>/**/*.txt``), one example a file; a folder holding
  ``.txt`` files directly, or a single text file (one example a line), reads as unlabelled;
* texts in memory: a list of strings, a pair ``(texts, labels)``, one string, a
  :class:`TextSet`.

Files are read as UTF-8 (a BOM is dropped); other encodings are detected and named in
the notes. Newlines are normalised to ``\\n`` and each example is stripped of surrounding
whitespace; the text is otherwise kept as it is (no lowercasing). The readers of each layout
are in :mod:`layerwise.data.text_sources`, the decoding in :mod:`layerwise.data.text_decoding`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerwise.data.text_decoding import check_encoding, normalise
from layerwise.data.text_sources import (
    Collected,
    base_folder,
    from_table,
    is_path,
    label_text,
    read_class_files,
    read_path,
    read_table,
)
from layerwise.errors import ConfigError, DataError


@dataclass
class TextSet:
    """Texts with their labels (int64 codes into ``classes``) and provenance.

    ``labels`` is None for unlabelled texts; -1 marks a class not in a given label map.

    Example:
        >>> s = read_texts((["good film", "dull", "great"], ["pos", "neg", "pos"]))
        >>> len(s), s.classes, s.labels.tolist()
        (3, ['neg', 'pos'], [1, 0, 1])
    """

    texts: list[str]
    labels: np.ndarray | None
    classes: list[str]
    names: list[str]
    notes: list[str] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Any) -> TextSet:
        """The texts at ``index`` (integer positions or a boolean mask of length N).

        Example:
            >>> s = read_texts((["a b", "c", "d e f"], [0, 1, 0]))
            >>> s.subset(s.labels == 0).texts
            ['a b', 'd e f']
        """
        index = np.atleast_1d(np.asarray(index))
        if index.dtype == bool:
            if len(index) != len(self):
                raise DataError(
                    f"A boolean mask of length {len(index)} was given for {len(self)} texts.",
                    "Give a mask with one value per text, or integer positions.",
                )
            index = np.flatnonzero(index)
        index = index.astype(np.int64, copy=False)
        return replace(
            self,
            texts=[self.texts[i] for i in index],
            labels=None if self.labels is None else self.labels[index],
            classes=list(self.classes),
            names=[self.names[i] for i in index],
            notes=list(self.notes),
        )

    def summary(self) -> str:
        """One line, e.g. ``"10,662 texts, 2 classes (neg 5,331, pos 5,331); median 20 words"``.

        Example:
            >>> read_texts(["one two", "three"]).summary()
            '2 texts, unlabelled; median 1.5 words'
        """
        n = len(self)
        text = f"{n:,} text{'' if n == 1 else 's'}"
        if self.labels is None:
            text += ", unlabelled"
        else:
            known = self.labels[self.labels >= 0]
            counts = np.bincount(known, minlength=len(self.classes))
            parts = [f"{c} {k:,}" for c, k in zip(self.classes, counts.tolist(), strict=True)]
            shown = ", ".join(parts[:8]) + (
                f", ... {len(parts) - 8} more" if len(parts) > 8 else ""
            )
            text += f", {len(self.classes)} classes ({shown})"
            if len(known) < n:
                text += f", {n - len(known):,} of unknown class"
        if n:
            words = float(np.median([len(t.split()) for t in self.texts]))
            shown = f"{words:,.0f}" if words.is_integer() else f"{words:,.1f}"
            text += f"; median {shown} word{'' if words == 1 else 's'}"
        return text


def read_texts(
    source: Any = None,
    *,
    text_column: str | None = None,
    target: str | None = None,
    class_files: dict[str, str] | None = None,
    classes: list[str] | None = None,
    encoding: str | None = None,
) -> TextSet:
    """Read texts (and their classes) from a table, files per class, a folder or memory.

    Args:
        source: a path (table file, text file, folder per class or of ``.txt`` files; with
            ``class_files`` the folder holding them, or None), a DataFrame, a list of
            strings (unlabelled), a pair ``(texts, labels)``, a :class:`TextSet`, or one
            string (a single unlabelled text, unless it names an existing file).
        text_column: for a table, the column of texts; None picks the only text-like
            column (string values averaging over 20 characters).
        target: for a table, the label column (None: unlabelled).
        class_files: ``{class: file}``, one example a line in each file; relative paths
            start from ``source`` when it is a folder.
        classes: a known label map (at predict time): names not in it get label -1.
        encoding: the files' encoding; None reads UTF-8 and detects others.

    Returns:
        The texts; ``notes`` lists what was done (encodings, dropped rows, skipped lines).

    Raises:
        DataError: a missing, empty or binary file, or no text at all.
        ColumnError: ``text_column`` or ``target`` is not in the table.
        ConfigError: no text column can be chosen, or the options do not fit the source.

    Example:
        >>> s = read_texts(["what a film", "a waste of time"])
        >>> s.labels is None, s.names
        (True, ['text[0]', 'text[1]'])
    """
    known = None if classes is None else [str(c) for c in classes]
    if encoding is not None:
        encoding = check_encoding(encoding)
    if class_files is not None:
        return _finish(read_class_files(class_files, base_folder(source), encoding), known)
    if isinstance(source, TextSet):
        return _from_textset(source, known)
    if isinstance(source, pd.DataFrame):
        name = str(source.attrs.get("name", "the data"))
        return _finish(from_table(read_table(source), text_column, target, name), known)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and is_path(source)):
        return _finish(read_path(Path(source).expanduser(), text_column, target, encoding), known)
    if isinstance(source, str):
        return _finish(_from_memory([source], None, "<in-memory text>"), known)
    if isinstance(source, tuple) and len(source) == 2 and not isinstance(source[0], str):
        texts, labels = source
        return _finish(_from_memory(texts, labels, "<in-memory (texts, labels)>"), known)
    if isinstance(source, (list, tuple, np.ndarray, pd.Series)):
        return _finish(_from_memory(source, None, "<in-memory texts>"), known)
    raise DataError(
        f"Cannot read texts from a {type(source).__name__}.",
        "Give a CSV/JSONL/Parquet file, a folder per class, a text file, a list of strings "
        "or a pair (texts, labels).",
    )


def read_class_files_arg(items: list[str]) -> dict[str, str]:
    """Parse the command-line form ``pos=rt-polarity.pos neg=rt-polarity.neg``.

    Example:
        >>> read_class_files_arg(["pos=rt-polarity.pos", "neg=rt-polarity.neg"])
        {'pos': 'rt-polarity.pos', 'neg': 'rt-polarity.neg'}
    """
    form = "Write one CLASS=FILE per class, e.g. pos=rt-polarity.pos neg=rt-polarity.neg."
    out: dict[str, str] = {}
    for item in items:
        name, sep, path = str(item).partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise ConfigError(f"Class file '{item}' is not of the form CLASS=FILE.", form)
        if name in out:
            raise ConfigError(f"Class '{name}' is given twice in the class files.", form)
        out[name] = path
    if not out:
        raise ConfigError("No class files given.", form)
    return out


# ---- memory and labels -----------------------------------------------------------------
def _from_memory(texts: Any, labels: Any, source: str) -> Collected:
    items = list(texts)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise DataError(
                f"Text {i} is a {type(item).__name__} ({item!r:.40}), expected a string.",
                "Give the texts as a list of strings.",
            )
    names = [f"text[{i}]" for i in range(len(items))]
    cleaned = [normalise(t).strip() for t in items]
    if labels is None:
        return Collected(cleaned, names, None, [], source)
    values = [label_text(v) for v in list(labels)]
    if len(values) != len(items):
        raise DataError(
            f"Got {len(items):,} texts but {len(values):,} labels.", "Give one label per text."
        )
    notes = []
    no_label = sum(v is None for v in values)
    empty = sum(not t for t in cleaned)
    if no_label:
        notes.append(f"dropped {no_label:,} texts without a label")
    if empty:
        notes.append(f"dropped {empty:,} empty texts")
    keep = [i for i in range(len(items)) if values[i] is not None and cleaned[i]]
    return Collected(
        [cleaned[i] for i in keep],
        [names[i] for i in keep],
        [values[i] for i in keep],
        notes,
        source,
    )


def _class_order(names: list[str]) -> list[str]:
    """Numeric order when every name is a number ("2" before "10"), else by name."""
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)


def _encode(
    names: list[str], known: list[str] | None, notes: list[str]
) -> tuple[np.ndarray, list[str]]:
    classes = list(known) if known is not None else _class_order(sorted(set(names)))
    position = {c: i for i, c in enumerate(classes)}
    codes = np.array([position.get(n, -1) for n in names], dtype=np.int64)
    if (codes < 0).any():
        unknown = sorted({n for n in names if n not in position})
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        notes.append(
            f"{int((codes < 0).sum()):,} texts have classes not in the known classes "
            f"({shown}): label -1"
        )
    return codes, classes


def _finish(found: Collected, known: list[str] | None) -> TextSet:
    if not any(found.texts):
        raise DataError(f"No text in {found.source}: every text is empty.", "Give non-empty texts.")
    notes = list(found.notes)
    if found.labels is None:
        labels, classes = None, list(known or [])
    else:
        labels, classes = _encode(found.labels, known, notes)
    return TextSet(list(found.texts), labels, classes, list(found.names), notes, found.source)


def _from_textset(texts: TextSet, known: list[str] | None) -> TextSet:
    labels = None if texts.labels is None else texts.labels.copy()
    notes = list(texts.notes)
    if labels is not None and known is not None:
        has = labels >= 0
        codes, _ = _encode([texts.classes[c] for c in labels[has]], known, notes)
        labels[has] = codes
    classes = list(texts.classes) if known is None else list(known)
    return replace(
        texts,
        texts=list(texts.texts),
        labels=labels,
        classes=classes,
        names=list(texts.names),
        notes=notes,
    )
