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
whitespace; the text is otherwise kept as it is (no lowercasing).
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerwise.errors import ConfigError, DataError, missing_column

TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json", ".parquet", ".pq")
TEXT_FILE_SUFFIX = ".txt"
SPLIT_NAMES = {"train", "test", "val", "valid", "validation", "dev", "unsup"}
MIN_TEXT_CHARS = 20
BINARY_SAMPLE = 8192
MAX_CONTROL_SHARE = 0.05
_FALLBACKS = ("cp1252", "latin-1")
_C1 = bytes(range(0x80, 0xA0))


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


@dataclass
class _Collected:
    """Texts read from one source, before the labels are encoded."""

    texts: list[str]
    names: list[str]
    labels: list[str] | None
    notes: list[str]
    source: str


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
        encoding = _check_encoding(encoding)
    if class_files is not None:
        return _finish(_read_class_files(class_files, _base_folder(source), encoding), known)
    if isinstance(source, TextSet):
        return _from_textset(source, known)
    if isinstance(source, pd.DataFrame):
        name = str(source.attrs.get("name", "the data"))
        return _finish(_from_table(_read_table(source), text_column, target, name), known)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _is_path(source)):
        return _finish(_read_path(Path(source).expanduser(), text_column, target, encoding), known)
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


# ---- decoding --------------------------------------------------------------------------
def _check_encoding(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError as exc:
        raise ConfigError(
            f"Encoding '{encoding}' is not known.",
            "Use a Python codec name such as 'utf-8', 'latin-1' or 'cp1252', or leave it out.",
        ) from exc


def _read_text_file(path: Path, label: str, encoding: str | None, notes: list[str]) -> str:
    """The text of ``path``: decoded, newlines normalised; a note when not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"'{label}' could not be read ({exc.strerror or exc}).", "Check the file."
        ) from exc
    if not raw.strip():
        raise DataError(f"'{label}' is empty.", "Give a file with one text per line.")
    text, used = _decode(raw, label, encoding)
    if used is not None:
        notes.append(f"read '{label}' as {used} (not valid UTF-8)")
    return text


def _decode(raw: bytes, label: str, encoding: str | None) -> tuple[str, str | None]:
    """(text, the encoding used when it is not UTF-8 and was detected, else None)."""
    if encoding is not None:
        try:
            text = raw.decode("utf-8-sig" if encoding == "utf-8" else encoding)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"'{label}' is not valid {encoding} (byte {exc.start}).",
                "Leave the encoding out to detect it, or give the file's real encoding.",
            ) from exc
        return _normalise(_check_binary(text.removeprefix("\ufeff"), label)), None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _normalise(_check_binary(raw.decode("utf-16"), label)), "UTF-16"
        except UnicodeDecodeError as exc:
            raise _binary(label) from exc
    if b"\x00" in raw[:BINARY_SAMPLE]:
        raise _binary(label)
    try:
        return _normalise(_check_binary(raw.decode("utf-8-sig"), label)), None
    except UnicodeDecodeError:
        pass
    for name in (*_detected(raw), *_FALLBACKS):
        try:
            text = _check_binary(raw.decode(name), label)
        except (UnicodeDecodeError, LookupError):
            continue
        return _normalise(text), _encoding_name(name, raw)
    raise _binary(label)  # pragma: no cover - latin-1 decodes any bytes


def _detected(raw: bytes) -> list[str]:
    """charset_normalizer's best guess, when it is installed."""
    try:
        import charset_normalizer
    except ImportError:
        return []
    best = charset_normalizer.from_bytes(raw).best()
    return [] if best is None or not best.encoding else [best.encoding]


def _encoding_name(name: str, raw: bytes) -> str:
    """A readable name; cp1252 without bytes 0x80-0x9F decodes exactly as latin-1."""
    name = codecs.lookup(name).name
    if name == "iso8859-1" or (name == "cp1252" and not any(b in _C1 for b in raw)):
        return "latin-1"
    return name


def _check_binary(text: str, label: str) -> str:
    """Reject text in which control characters are common (a binary file)."""
    sample = text[:BINARY_SAMPLE]
    controls = sum(
        1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or 0x7F <= ord(ch) <= 0x9F
    )
    if sample and controls / len(sample) > MAX_CONTROL_SHARE:
        raise _binary(label)
    return text


def _binary(label: str) -> DataError:
    return DataError(
        f"'{label}' looks like a binary file, not text.",
        "Give plain text files (UTF-8 preferred), one example per line or per file.",
    )


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---- paths -----------------------------------------------------------------------------
def _is_path(text: str) -> bool:
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


def _read_path(
    path: Path, text_column: str | None, target: str | None, encoding: str | None
) -> _Collected:
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
        df = _read_table(path, encoding)
        return _from_table(df, text_column, target, str(path.resolve()))
    notes: list[str] = []
    texts, names = _read_lines(path, path.name, encoding, notes)
    split = _label_tab_text(texts)
    if split is not None:  # "ham<TAB>Go until jurong point..." (the SMS Spam Collection layout)
        notes.append(f"read '{path.name}' as label<TAB>text lines")
        return _Collected(split[1], names, split[0], notes, str(path.resolve()))
    return _Collected(texts, names, None, notes, str(path.resolve()))


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
    lines = _read_text_file(path, label, encoding, notes).split("\n")
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


def _base_folder(source: Any) -> Path:
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


def _read_class_files(class_files: dict[str, str], base: Path, encoding: str | None) -> _Collected:
    if not isinstance(class_files, dict) or not class_files:
        raise ConfigError(
            f"class_files must be a non-empty dict of class -> file, got {class_files!r}.",
            'Give e.g. {"pos": "rt-polarity.pos", "neg": "rt-polarity.neg"}.',
        )
    out = _Collected([], [], [], [], str(base.resolve()))
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


def _read_folder(root: Path, encoding: str | None) -> _Collected:
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
    out = _Collected([], [], [] if nested else None, [], str(root.resolve()))
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


def _read_files(root: Path, files: list[Path], encoding: str | None, out: _Collected) -> None:
    """Read one example per file into ``out``; empty files are counted, not fatal."""
    empty: list[str] = []
    decoded: dict[str, list[str]] = {}
    for rel in files:
        name = rel.as_posix()
        raw = (root / rel).read_bytes()
        text = ""
        if raw.strip():
            text, used = _decode(raw, name, encoding)
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


# ---- tables ----------------------------------------------------------------------------
def _read_table(source: Any, encoding: str | None = None) -> pd.DataFrame:
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
    text = _read_text_file(path, path.name, encoding, notes)
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


def _from_table(
    df: pd.DataFrame, text_column: str | None, target: str | None, source: str
) -> _Collected:
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
        labels = [_label_text(v) for v in df[target].tolist()]
        keep_text, keep = keep, keep & ~no_label
        if (~keep_text & ~no_label).any():
            notes.append(f"dropped {int((~keep_text & ~no_label).sum()):,} rows with an empty text")
    elif (~keep).any():
        notes.append(f"dropped {int((~keep).sum()):,} rows with an empty text")
    rows = np.flatnonzero(keep)
    values = df[text_column].tolist()
    return _Collected(
        texts=[_normalise(str(values[i])).strip() for i in rows],
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


# ---- memory and labels -----------------------------------------------------------------
def _from_memory(texts: Any, labels: Any, source: str) -> _Collected:
    items = list(texts)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise DataError(
                f"Text {i} is a {type(item).__name__} ({item!r:.40}), expected a string.",
                "Give the texts as a list of strings.",
            )
    names = [f"text[{i}]" for i in range(len(items))]
    cleaned = [_normalise(t).strip() for t in items]
    if labels is None:
        return _Collected(cleaned, names, None, [], source)
    values = [_label_text(v) for v in list(labels)]
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
    return _Collected(
        [cleaned[i] for i in keep],
        [names[i] for i in keep],
        [values[i] for i in keep],
        notes,
        source,
    )


def _label_text(value: Any) -> str | None:
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


def _finish(found: _Collected, known: list[str] | None) -> TextSet:
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
