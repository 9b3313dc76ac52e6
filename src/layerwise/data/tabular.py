"""Reading tables (CSV, TSV, text, Parquet, JSON lines, JSON) and preparing the target.

Every reader returns a :class:`pandas.DataFrame` whose ``attrs`` hold ``"name"`` (the
file name, used in error messages) and ``"notes"`` (a list of strings: what was done
to the data that a user may want to know, e.g. the encoding that was used).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerwise.errors import ConfigError, DataError, missing_column

TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
PARQUET_SUFFIXES = {".parquet", ".pq"}
JSON_LINES_SUFFIXES = {".jsonl", ".ndjson"}
KINDS = ("classification", "regression")
# a class needs rows in the training folds, the validation fold and the test split: 5-fold
# stratified cross-validation needs 5 of them
MIN_CLASS_ROWS = 5
_FIX_TEXT = "Save it as UTF-8 CSV (e.g. in a spreadsheet: 'Save as' > 'CSV UTF-8') and try again."


def read_table(source: Any, *, name: str | None = None) -> pd.DataFrame:
    """Read a table from a file, a DataFrame or a dict of columns.

    Args:
        source: a path (``.csv``, ``.tsv``/``.tab``, ``.txt``, ``.parquet``/``.pq``,
            ``.jsonl``/``.ndjson``, ``.json``, ``.npz`` with arrays ``X`` and optional ``y``;
            anything else is read as delimited
            text), a DataFrame (copied) or a dict of columns.
        name: how to call the data in messages (defaults to the file name).

    Returns:
        The table; ``df.attrs["notes"]`` lists what was done while reading it.

    Raises:
        DataError: the file is missing, empty, unreadable or has duplicate columns.

    Example:
        >>> df = read_table({"age": [31, 45], "churn": ["no", "yes"]})
        >>> df.shape
        (2, 2)
    """
    notes: list[str] = []
    if isinstance(source, pd.DataFrame):
        label = name or str(source.attrs.get("name", "the data"))
        df = source.copy()
        notes = list(source.attrs.get("notes", []))
    elif isinstance(source, Mapping):
        label = name or "the data"
        try:
            df = pd.DataFrame(dict(source))
        except ValueError as exc:
            raise DataError(
                f"Could not build a table from the dict of columns given as {label}: {exc}.",
                "Give a dict of equally long lists, one per column.",
            ) from exc
    elif isinstance(source, (str, Path)):
        path = Path(source)
        label = name or path.name
        df = _read_path(path, label, notes)
    else:
        raise DataError(
            f"Cannot read a table from a {type(source).__name__}.",
            "Give a path to a CSV/Parquet/JSONL file, a pandas DataFrame or a dict of columns.",
        )
    df = _clean_columns(df, label)
    if df.shape[1] == 0:
        raise DataError(
            f"'{label}' is empty (no columns).", "Give a table with a header row and data rows."
        )
    if len(df) == 0:
        raise DataError(
            f"'{label}' has a header ({df.shape[1]} columns) but no rows.",
            "Add data rows below the header.",
        )
    df.attrs = {"name": label, "notes": notes}
    return df


def _read_path(path: Path, label: str, notes: list[str]) -> pd.DataFrame:
    if not path.exists():
        raise DataError(
            f"'{path}' does not exist.",
            "Check the path (relative paths start from the current folder).",
        )
    if path.is_dir():
        raise DataError(
            f"'{path}' is a folder, expected a table file.",
            "Give the path of a CSV or Parquet file.",
        )
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, label)
    if suffix == ".npz":
        return _read_npz(path, label)
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"'{label}' is empty.", "Give a file with a header row and data rows.")
    text = _decode(raw, label, notes)
    if not text.strip():
        raise DataError(f"'{label}' is empty.", "Give a file with a header row and data rows.")
    if suffix in JSON_LINES_SUFFIXES:
        return _read_json_lines(text, label)
    if suffix == ".json":
        return _read_json(text, label)
    sep = TEXT_SUFFIXES.get(suffix) or _sniff(text)
    if suffix not in TEXT_SUFFIXES:
        notes.append(
            f"read '{label}' as delimited text (unknown extension '{suffix}', separator {sep!r})"
        )
    return _read_csv_text(text, sep, label)


def _read_parquet(path: Path, label: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except ImportError as exc:
        raise DataError(
            f"Reading Parquet file '{label}' needs pyarrow, which is not installed.",
            'Run: pip install "pyarrow"',
        ) from exc
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DataError(
            f"'{label}' could not be read as Parquet ({reason}).",
            "Check that it is a complete Parquet file, or save the table as UTF-8 CSV.",
        ) from exc


def _read_npz(path: Path, label: str) -> pd.DataFrame:
    """Arrays ``X`` (rows x features) and optionally ``y`` (one value per row), the ADBench
    layout, as a table with columns ``x0``, ``x1``, ... and ``y``."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as arrays:
            parts = {key: arrays[key] for key in arrays.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"'{label}' could not be read as NumPy .npz arrays ({exc}).",
            "Save the arrays with numpy.savez(path, X=features, y=labels).",
        ) from exc
    x = parts.get("X", parts.get("x"))
    if x is None or x.ndim != 2:
        shapes = ", ".join(f"{k} {v.shape}" for k, v in parts.items()) or "no arrays"
        raise DataError(
            f"'{label}' holds {shapes}; expected a 2-D array named X (rows x features).",
            "Save the arrays with numpy.savez(path, X=features, y=labels).",
        )
    df = pd.DataFrame(x, columns=[f"x{j}" for j in range(x.shape[1])])
    y = parts.get("y", parts.get("Y"))
    if y is not None:
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(
                f"'{label}': y has shape {y.shape} but X has {len(x)} rows.",
                "Give y as one label per row of X.",
            )
        df["y"] = y
    return df


def _decode(raw: bytes, label: str, notes: list[str]) -> str:
    """Bytes to text: UTF-8 (BOM or not), UTF-16 with BOM, else cp1252 / latin-1 with a note."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise _not_text(label) from exc
        notes.append(f"read '{label}' as UTF-16 (not UTF-8)")
        return _check_garbage(text, label)
    if b"\x00" in raw:
        raise _not_text(label)
    try:
        return _check_garbage(raw.decode("utf-8-sig"), label)
    except UnicodeDecodeError:
        pass
    for encoding in ("cp1252", "latin-1"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        text = _check_garbage(text, label)
        notes.append(f"read '{label}' as {encoding} (not UTF-8)")
        return text
    raise _not_text(label)  # pragma: no cover - latin-1 decodes any bytes


def _check_garbage(text: str, label: str) -> str:
    """Reject text in which control characters are common (a binary file)."""
    sample = text[:20000]
    controls = sum(
        1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or 0x7F <= ord(ch) <= 0x9F
    )
    if sample and controls / len(sample) > 0.01:
        raise _not_text(label)
    return text


def _not_text(label: str) -> DataError:
    return DataError(
        f"'{label}' is not a readable text table (binary content / unknown encoding).", _FIX_TEXT
    )


def _sniff(text: str) -> str:
    """The delimiter of delimited text: csv.Sniffer over the first lines, else the most common."""
    head = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(head, delimiters=",\t;|").delimiter
    except csv.Error:
        first = text.splitlines()[0] if text.splitlines() else ""
        counts = {d: first.count(d) for d in ",\t;|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _read_csv_text(text: str, sep: str, label: str) -> pd.DataFrame:
    header = next(csv.reader(io.StringIO(text.lstrip("\r\n")), delimiter=sep), [])
    _check_duplicates([h.strip() for h in header], label)
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            f"'{label}' is empty.", "Give a file with a header row and data rows."
        ) from exc
    except (pd.errors.ParserError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:160]
        raise DataError(
            f"'{label}' could not be parsed as a table with separator {sep!r} ({reason}).",
            "Check that every row has as many fields as the header and that quotes are closed.",
        ) from exc


def _read_json_lines(text: str, label: str) -> pd.DataFrame:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"'{label}' line {number} is not valid JSON ({exc.msg}).",
                "Write one JSON object per line (JSON Lines).",
            ) from exc
        if not isinstance(record, dict):
            raise DataError(
                f"'{label}' line {number} is a JSON {type(record).__name__}, expected an object.",
                'Write one object per line, e.g. {"age": 31, "churn": "no"}.',
            )
        records.append(record)
    return pd.DataFrame.from_records(records) if records else pd.DataFrame()


def _read_json(text: str, label: str) -> pd.DataFrame:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            return _read_json_lines(text, label)
        raise DataError(
            f"'{label}' is not valid JSON ({exc.msg} at line {exc.lineno}).",
            "Give a list of records, a dict of columns, or one object per line.",
        ) from exc
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return pd.DataFrame.from_records(data) if data else pd.DataFrame()
    if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
        return read_table(data, name=label)
    raise DataError(
        f"'{label}' holds a JSON {type(data).__name__} that is not a table.",
        'Give a list of records ([{"age": 31}, ...]) or a dict of columns ({"age": [31, ...]}).',
    )


def _check_duplicates(names: list[str], label: str) -> None:
    seen: set[str] = set()
    dupes = [n for n in names if n in seen or seen.add(n)]
    if dupes:
        shown = ", ".join(f"'{d}'" for d in dict.fromkeys(dupes))
        raise DataError(
            f"'{label}' has duplicate column names: {shown}.",
            "Rename the columns so that every name is unique.",
        )


def _clean_columns(df: pd.DataFrame, label: str) -> pd.DataFrame:
    names = [str(c).strip() for c in df.columns]
    _check_duplicates(names, label)
    df.columns = names
    return df


def _target_missing(s: pd.Series) -> pd.Series:
    mask = s.isna()
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        mask = mask | s.astype("string").str.strip().eq("").fillna(False).astype(bool)
    return mask


def infer_task_kind(y: pd.Series) -> str:
    """``"classification"`` or ``"regression"`` from the values of a target (missing dropped).

    Example:
        >>> infer_task_kind(pd.Series(["a", "b", "a"]))
        'classification'
    """
    y = y.dropna()
    if pd.api.types.is_bool_dtype(y) or not pd.api.types.is_numeric_dtype(y):
        return "classification"
    values = y.to_numpy(dtype="float64")
    integer_valued = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    return numbers_kind(integer_valued, int(pd.Series(values).nunique()), len(values))


def numbers_kind(integer_valued: bool, n_unique: int, n_values: int) -> str:
    """The kind of a numeric target: classes when its values are whole numbers of few distinct
    values (at most 20, and at most 10 or under 5% of the values), else regression.

    >>> numbers_kind(True, 3, 100), numbers_kind(False, 3, 100), numbers_kind(True, 15, 100)
    ('classification', 'regression', 'regression')
    """
    few = n_unique <= 20 and (n_unique / max(n_values, 1) < 0.05 or n_unique <= 10)
    return "classification" if integer_valued and few else "regression"


def _normalize_kind(kind: str | None) -> str | None:
    if kind is None:
        return None
    short = str(kind).lower().removeprefix("tabular-")
    if short not in KINDS:
        raise ConfigError(
            f"Task kind '{kind}' is not known.",
            "Use 'classification' or 'regression' (or leave it out to infer it).",
        )
    return short


def prepare_target(
    df: pd.DataFrame, target: str, kind: str | None, training: bool = True
) -> tuple[pd.DataFrame, str, list[str]]:
    """Check the target column, drop rows where it is missing and resolve the task kind.

    Args:
        df: the table (``df.attrs["name"]`` is used in messages).
        target: the target column.
        kind: ``"classification"``, ``"regression"`` or None to infer it.
        training: False for data a fitted model is scored on: one class is enough there, and
            classes with a single row are no concern.

    Returns:
        (the table without rows whose target is missing, the kind, notes).

    Raises:
        ColumnError: the target column is not in the table.
        DataError: the target is all missing, has one class, or is not numeric for regression.

    Example:
        >>> df = pd.DataFrame({"x": [1, 2, 3, 4], "y": ["a", "b", None, "a"]})
        >>> out, kind, notes = prepare_target(df, "y", None)
        >>> len(out), kind
        (3, 'classification')
    """
    label = str(df.attrs.get("name", "the data"))
    where = f"'{label}'" if label != "the data" else label
    if target not in df.columns:
        raise missing_column(target, df.columns, "Target column", where)
    kind = _normalize_kind(kind)
    notes: list[str] = []
    missing = _target_missing(df[target])
    if bool(missing.all()):
        raise no_target_values(target, where, len(df))
    if bool(missing.any()):
        notes.append(dropped_missing_note(int(missing.sum()), target))
        df = df.loc[~missing.to_numpy()]
    df = df.reset_index(drop=True)
    kind = kind or infer_task_kind(df[target])
    if kind == "regression":
        df = _numeric_target(df, target, where, notes)
    elif training:
        _check_classes(df[target], target, where, notes)
    df.attrs = {"name": label, "notes": list(df.attrs.get("notes", [])) + notes}
    return df, kind, notes


def _numeric_target(df: pd.DataFrame, target: str, where: str, notes: list[str]) -> pd.DataFrame:
    y = df[target]
    if pd.api.types.is_bool_dtype(y):
        y = y.astype("float64")
    values = pd.to_numeric(y, errors="coerce").astype("float64")
    bad = values.isna().to_numpy() | ~np.isfinite(values.fillna(0).to_numpy())
    if bad.any():
        examples = ", ".join(repr(str(v)) for v in pd.unique(y[bad].astype(str))[:3])
        notes.append(not_numeric_target(target, where, int(bad.sum()), len(y), examples))
    df = df.loc[~bad].copy()
    df[target] = values[~bad].to_numpy()
    return df.reset_index(drop=True)


def _check_classes(y: pd.Series, target: str, where: str, notes: list[str]) -> None:
    check_class_counts(y.value_counts(), target, where, notes)


def no_target_values(target: str, where: str, rows: int) -> DataError:
    """The error for a target column with no value on any of ``rows`` rows."""
    return DataError(
        f"Target column '{target}' in {where} has no values (all {rows} rows are missing).",
        "Choose a target column that is filled in.",
    )


def dropped_missing_note(count: int, target: str) -> str:
    return f"dropped {count} rows whose target '{target}' is missing"


def not_numeric_target(target: str, where: str, bad: int, rows: int, examples: str) -> str:
    """The note for ``bad`` of ``rows`` regression targets that are not numbers (dropped), or
    the DataError when they are too many to be a few typos."""
    if bad > max(3, 0.01 * rows):
        raise DataError(
            f"Target column '{target}' in {where} is not numeric ({bad} values such as {examples}), "
            "so it cannot be a regression target.",
            "Use --task tabular-classification to predict categories, or clean the column.",
        )
    return f"dropped {bad} rows whose target '{target}' is not a number ({examples})"


def check_class_counts(counts: pd.Series, target: str, where: str, notes: list[str]) -> None:
    """Refuse a single class; note the classes of a single row (``counts``: rows a class,
    most first, as ``value_counts`` gives them)."""
    if len(counts) < 2:
        raise DataError(
            f"Target column '{target}' in {where} has a single class ({counts.index[0]!r}); "
            "classification needs at least two classes.",
            "Check the target column, or add rows of the other classes.",
        )
    single = [str(v) for v, c in counts.items() if c == 1]
    if single:
        shown = ", ".join(f"'{v}'" for v in single[:5]) + (" ..." if len(single) > 5 else "")
        notes.append(
            f"{len(single)} class(es) of '{target}' have a single row ({shown}): kept, but they cannot be "
            "both trained on and tested"
        )


def check_trainable_classes(df: pd.DataFrame, target: str) -> None:
    """Refuse a classification target whose rows are mostly in classes too small to train on.

    A class with fewer than ``MIN_CLASS_ROWS`` rows cannot be in the training folds, the
    validation fold and the test rows at once. A few such classes are fine (they get a note);
    when they hold most of the rows, training would take long and learn nothing: a target
    with a different value on almost every row is usually an identifier or a measurement.

    Raises:
        DataError: naming the class counts and the fix.

    Example:
        >>> check_trainable_classes(pd.DataFrame({"y": ["a", "b"] * 10}), "y")
    """
    label = str(df.attrs.get("name", "the data"))
    numeric = pd.api.types.is_numeric_dtype(df[target]) and not pd.api.types.is_bool_dtype(
        df[target]
    )
    check_trainable_counts(df[target].astype(str).value_counts(), target, label, numeric)


def check_trainable_counts(counts: pd.Series, target: str, label: str, numeric: bool) -> None:
    """:func:`check_trainable_classes` from the rows of each class (``counts``, by class name)."""
    rare = counts[counts < MIN_CLASS_ROWS]
    rows = int(counts.sum())
    if rare.sum() * 2 <= rows:
        return
    where = f"'{label}'" if label != "the data" else label
    raise DataError(
        f"Target column '{target}' in {where} has {len(counts)} classes, {len(rare)} of them with "
        f"fewer than {MIN_CLASS_ROWS} rows (holding {int(rare.sum())} of the {rows} rows): "
        "too few examples per class to train and test a classifier.",
        f"Check that '{target}' is the column to predict"
        + (" (for a measured value use --task tabular-regression)" if numeric else "")
        + f", or merge rare classes or add rows so that most rows are in classes of "
        f"{MIN_CLASS_ROWS} or more.",
    )
