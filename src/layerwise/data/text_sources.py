"""Where the texts to classify come from, read into one :class:`Collected` each: a path (a
table, a text file of lines, a folder per class), the files of ``class_files``, or a table's
text and label columns. :mod:`layerwise.data.text` turns them into a ``TextSet``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerwise.data.text_decoding import decode, normalise, read_text_file
from layerwise.errors import ConfigError, DataError, missing_column

TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json", ".parquet", ".pq")
TEXT_FILE_SUFFIX = ".txt"
SPLIT_NAMES = {"train", "test", "val", "valid", "validation", "dev", "unsup"}
MIN_TEXT_CHARS = 20


@dataclass
class Collected:
    """Texts read from one source, before the labels are encoded."""

    texts: list[str]
    names: list[str]
    labels: list[str] | None
    notes: list[str]
    source: str


def is_path(text: str) -> bool:
    """Whether a string names a file: it exists, or it looks like a path (no spaces, a
    known suffix or a folder separator), so that a typo is reported, not read as text."""
    if "\n" in text or not text.strip():
        return False
    try:
        if Path(text).expanduser().exists():
            return True
    except (OSError, ValueError):
        return False
    if any(ch.isspace() for ch in text) or "://" in text:
        return False
    suffix = Path(text).suffix.lower()
    return suffix in (*TABLE_SUFFIXES, TEXT_FILE_SUFFIX) or "/" in text or "\\" in text


def _missing(path: Path) -> DataError:
    return DataError(
        f"'{path}' does not exist.",
        "Check the path (relative paths start from the current folder); to classify the "
        "string itself, pass it in a list.",
    )


def read_path(
    path: Path, text_column: str | None, target: str | None, encoding: str | None
) -> Collected:
    if not path.exists():
        raise _missing(path)
    if path.is_dir():
        if text_column is not None or target is not None:
            raise ConfigError(
                f"text_column/target apply to a table file, but '{path}' is a folder.",
                "Give the CSV/JSONL/Parquet file, or leave them out to read a folder per class.",
            )
        return _read_folder(path, encoding)
    if path.suffix.lower() in TABLE_SUFFIXES or text_column is not None or target is not None:
        df = read_table(path, encoding)
        return from_table(df, text_column, target, str(path.resolve()))
    notes: list[str] = []
    texts, names = _read_lines(path, path.name, encoding, notes)
    split = _label_tab_text(texts)
    if split is not None:  # "ham<TAB>Go until jurong point..." (the SMS Spam Collection layout)
        notes.append(f"read '{path.name}' as label<TAB>text lines")
        return Collected(split[1], names, split[0], notes, str(path.resolve()))
    return Collected(texts, names, None, notes, str(path.resolve()))


def _label_tab_text(lines: list[str]) -> tuple[list[str], list[str]] | None:
    """(labels, texts) when every line is ``label<TAB>text`` with few distinct labels."""
    if len(lines) < 4 or not all("\t" in line for line in lines):
        return None
    labels, texts = zip(*(line.split("\t", 1) for line in lines), strict=True)
    distinct = set(labels)
    if len(distinct) > min(50, len(lines) // 2) or any(len(x) > 40 for x in distinct):
        return None
    return [x.strip() for x in labels], [t.strip() for t in texts]


def _read_lines(
    path: Path, label: str, encoding: str | None, notes: list[str]
) -> tuple[list[str], list[str]]:
    """One example per non-empty line; names are ``file:line`` (1-based)."""
    if not path.is_file():
        raise (
            _missing(path)
            if not path.exists()
            else DataError(
                f"'{path}' is a folder, expected a text file.",
                "Give a file with one text per line.",
            )
        )
    lines = read_text_file(path, label, encoding, notes).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    texts, names = [], []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            texts.append(line.strip())
            names.append(f"{label}:{number}")
    if not texts:
        raise DataError(f"'{label}' holds only empty lines.", "Give a file with one text per line.")
    if len(texts) < len(lines):
        notes.append(f"skipped {len(lines) - len(texts):,} empty lines in '{label}'")
    return texts, names


def base_folder(source: Any) -> Path:
    if source is None:
        return Path.cwd()
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(
            f"class_files was given with a {type(source).__name__} as the source.",
            "Give the folder holding the class files as the source, or None.",
        )
    path = Path(source).expanduser()
    if not path.exists():
        raise _missing(path)
    return path if path.is_dir() else path.parent


def read_class_files(class_files: dict[str, str], base: Path, encoding: str | None) -> Collected:
    if not isinstance(class_files, dict) or not class_files:
        raise ConfigError(
            f"class_files must be a non-empty dict of class -> file, got {class_files!r}.",
            'Give e.g. {"pos": "rt-polarity.pos", "neg": "rt-polarity.neg"}.',
        )
    out = Collected([], [], [], [], str(base.resolve()))
    for name, file in class_files.items():
        path = Path(file).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.exists():
            raise DataError(
                f"The file '{file}' of class '{name}' does not exist in '{base}'.",
                "Check the path (relative paths start from the source folder or the current one).",
            )
        texts, names = _read_lines(path, path.name, encoding, out.notes)
        out.texts += texts
        out.names += names
        out.labels += [str(name)] * len(texts)
    return out


def _read_folder(root: Path, encoding: str | None) -> Collected:
    """``root/<class>/**/*.txt`` (labelled) or ``root/*.txt`` (unlabelled), a file each."""
    found, other = [], set()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(p.startswith(".") or p == "__MACOSX" for p in rel.parts) or not path.is_file():
            continue
        if path.suffix.lower() == TEXT_FILE_SUFFIX:
            found.append(rel)
        else:
            other.add(path.suffix.lower() or path.name)
    if not found:
        hint = "Put one .txt file per example in one subfolder per class, e.g. reviews/pos/1.txt."
        if other & set(TABLE_SUFFIXES):
            hint += " For a table of texts, give the table file itself."
        shown = f" (found only: {', '.join(sorted(other)[:6])})" if other else ""
        raise DataError(f"No .txt files in '{root}'{shown}.", hint)
    nested = [r for r in found if len(r.parts) > 1]
    out = Collected([], [], [] if nested else None, [], str(root.resolve()))
    if (
        nested
        and {r.parts[0] for r in nested} <= SPLIT_NAMES
        and all(len(r.parts) > 2 for r in nested)
    ):
        splits = ", ".join(sorted({r.parts[0] for r in nested}))
        raise ConfigError(
            f"'{root}' holds split folders ({splits}), not class folders.",
            f"Give one split's folder, e.g. '{root / nested[0].parts[0]}'.",
        )
    if nested and len(nested) < len(found):
        out.notes.append(
            f"{len(found) - len(nested)} .txt files directly in '{root.name}' (not in a class "
            "folder) were ignored"
        )
    if other:
        out.notes.append(f"ignored files that are not .txt ({', '.join(sorted(other)[:5])})")
    _read_files(root, nested or found, encoding, out)
    return out


def _read_files(root: Path, files: list[Path], encoding: str | None, out: Collected) -> None:
    """Read one example per file into ``out``; empty files are counted, not fatal."""
    empty: list[str] = []
    decoded: dict[str, list[str]] = {}
    for rel in files:
        name = rel.as_posix()
        raw = (root / rel).read_bytes()
        text = ""
        if raw.strip():
            text, used = decode(raw, name, encoding)
            text = text.strip()
            if used is not None:
                decoded.setdefault(used, []).append(name)
        if not text:
            empty.append(name)
            continue
        out.texts.append(text)
        out.names.append(name)
        if out.labels is not None:
            out.labels.append(rel.parts[0])
    if empty:
        out.notes.append(f"skipped {len(empty):,} empty files (first: '{empty[0]}')")
    for used, names in decoded.items():
        if len(names) == 1:
            out.notes.append(f"read '{names[0]}' as {used} (not valid UTF-8)")
        else:
            out.notes.append(
                f"read {len(names):,} files as {used} (not valid UTF-8), e.g. '{names[0]}'"
            )


def read_table(source: Any, encoding: str | None = None) -> pd.DataFrame:
    """A table via :func:`read_table`; with an explicit encoding, decoded here first."""
    from layerwise.data import tabular

    if encoding is None or isinstance(source, pd.DataFrame):
        return tabular.read_table(source)
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in tabular.PARQUET_SUFFIXES:
        return tabular.read_table(path)
    if not path.exists():
        raise _missing(path)
    notes: list[str] = []
    text = read_text_file(path, path.name, encoding, notes)
    if suffix in tabular.JSON_LINES_SUFFIXES:
        df = tabular._read_json_lines(text, path.name)
    elif suffix == ".json":
        df = tabular._read_json(text, path.name)
    else:
        sep = tabular.TEXT_SUFFIXES.get(suffix) or tabular._sniff(text)
        df = tabular._read_csv_text(text, sep, path.name)
    df.attrs = {"name": path.name, "notes": notes}
    return tabular.read_table(df, name=path.name)


def _blank(column: pd.Series) -> np.ndarray:
    return (column.isna() | column.astype(str).str.strip().eq("")).to_numpy(dtype=bool)


def from_table(
    df: pd.DataFrame, text_column: str | None, target: str | None, source: str
) -> Collected:
    label = str(df.attrs.get("name", "the data"))
    where = f"'{label}'" if label != "the data" else label
    notes = list(df.attrs.get("notes", []))
    if target is not None and target not in df.columns:
        raise missing_column(target, df.columns, "Target column", where)
    if text_column is None:
        text_column = _guess_text_column(df, target, where, notes)
    elif text_column not in df.columns:
        raise missing_column(text_column, df.columns, "Text column", where)
    if text_column == target:
        raise ConfigError(
            f"The text column and the target are both '{target}' in {where}.",
            "Give the column of texts as text_column and the column of labels as target.",
        )
    keep = ~_blank(df[text_column])
    labels = None
    if target is not None:
        no_label = _blank(df[target])
        if no_label.all():
            raise DataError(
                f"Target column '{target}' in {where} has no values.",
                "Choose the column that holds each text's class.",
            )
        if no_label.any():
            notes.append(f"dropped {int(no_label.sum()):,} rows without a label")
        labels = [label_text(v) for v in df[target].tolist()]
        keep_text, keep = keep, keep & ~no_label
        if (~keep_text & ~no_label).any():
            notes.append(f"dropped {int((~keep_text & ~no_label).sum()):,} rows with an empty text")
    elif (~keep).any():
        notes.append(f"dropped {int((~keep).sum()):,} rows with an empty text")
    rows = np.flatnonzero(keep)
    values = df[text_column].tolist()
    return Collected(
        texts=[normalise(str(values[i])).strip() for i in rows],
        names=[f"row {i + 1}" for i in rows],
        labels=None if labels is None else [labels[i] for i in rows],
        notes=notes,
        source=source,
    )


def _guess_text_column(df: pd.DataFrame, target: str | None, where: str, notes: list[str]) -> str:
    candidates = []
    for name in df.columns:
        column = df[name]
        if name == target or not (
            pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)
        ):
            continue
        strings = column.dropna()
        strings = strings[strings.map(lambda v: isinstance(v, str))]
        if len(strings) and float(strings.str.len().mean()) > MIN_TEXT_CHARS:
            candidates.append(str(name))
    if len(candidates) == 1:
        notes.append(f"used column '{candidates[0]}' as the text (set text_column to choose)")
        return candidates[0]
    shown = ", ".join(str(c) for c in df.columns[:12]) + (" ..." if df.shape[1] > 12 else "")
    found = (
        f"several columns look like text ({', '.join(candidates)})"
        if candidates
        else f"no column holds text longer than {MIN_TEXT_CHARS} characters on average"
    )
    raise ConfigError(
        f"No text_column given for {where} and {found}.",
        f"Pass the column of texts (--text-column), one of: {shown}.",
    )


def label_text(value: Any) -> str | None:
    """A label value as a class name (1.0 -> "1", " pos " -> "pos"); None when missing."""
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None
