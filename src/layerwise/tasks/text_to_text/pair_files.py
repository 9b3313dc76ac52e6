"""Reading the files sentence pairs come in, untrusted: size and encoding checks, lines
split on ``\\n`` only, and tables (CSV, tab-separated, JSONL, Parquet) with the choice of their
text columns. :mod:`.pairs` turns what is read here into pairs."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerwise.errors import ColumnError, DataError, closest

MAX_BYTES = 2 << 30  # 2 GiB: the pairs are held in memory as Python strings, several times that

LAYOUT = (
    "Expected one pair per line as source<TAB>target (the Tatoeba/Anki layout of "
    "manythings.org), or a table with a header: pass --source-column and --target-column."
)


def check_file(path: Path) -> None:
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise DataError(f"'{path}' {what}.", "Give the path of a file of sentence pairs.")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise DataError(
            f"'{path}' is {size / (1 << 30):.1f} GiB, over the {MAX_BYTES >> 30} GiB read at once.",
            "Keep a sample of the pairs (e.g. `head -n 5000000`), or split the file.",
        )
    if size == 0:
        raise DataError(f"'{path}' is empty.", LAYOUT)


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line of ``path``, streamed. Split on ``\\n`` only, never on
    the Unicode line separators ``str.splitlines`` knows: a U+2028 inside a sentence of one
    parallel file would shift every line after it."""
    check_file(path)
    with path.open("rb") as file:
        head = file.read(2)
        if head in (b"\xff\xfe", b"\xfe\xff"):
            raise DataError(f"'{path}' is UTF-16 text.", "Re-save it as UTF-8.")
        file.seek(0)
        for number, raw in enumerate(file, 1):
            # Strict UTF-8 rather than errors="replace" or a guessed encoding: a model learns to
            # write what it is given, and U+FFFD or mojibake in the targets would be learnt too.
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"'{path}' line {number} is not valid UTF-8 (byte {exc.start + 1} of the "
                    "line).",
                    "Re-save the file as UTF-8 (in Excel: CSV UTF-8; with iconv: "
                    "iconv -f latin1 -t utf-8), or check that it is a text file.",
                ) from exc
            yield number, text.rstrip("\r\n")


def _bad_line(path: Path) -> None:
    """Raise the line-numbered error of the first line of ``path`` that is not UTF-8."""
    for _ in numbered_lines(path):
        pass


def _not_a_table(path: Path, exc: Exception) -> DataError:
    reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    return DataError(
        f"'{path}' could not be read as a {path.suffix or 'text'} table ({reason}).",
        "Check the file, or save it as a UTF-8 CSV with a header row. " + LAYOUT,
    )


def _csv(path: Path, **options: Any) -> pd.DataFrame:
    """``pd.read_csv`` of a .csv, or of tab-separated text where quotes are plain characters."""
    tab = path.suffix.lower() != ".csv"
    try:
        quoting = csv.QUOTE_NONE if tab else csv.QUOTE_MINIMAL
        df = pd.read_csv(
            path, sep="\t" if tab else ",", encoding="utf-8-sig", quoting=quoting, **options
        )
    except UnicodeDecodeError:
        _bad_line(path)
        raise  # pragma: no cover - _bad_line raises the DataError naming the line
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"'{path}' has no header row.", LAYOUT) from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise _not_a_table(path, exc) from exc
    if not isinstance(df.index, pd.RangeIndex):  # pandas made the first fields an index
        raise DataError(f"'{path}' has more fields on its first row than in its header.",
                        "Give every row as many fields as the header has names.")  # fmt: skip
    return df


def _parquet_columns(path: Path, text_only: bool) -> list[str]:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError) as exc:
        raise _not_a_table(path, exc) from exc
    text = ("string", "large_string", "string_view")
    return [n for n, t in zip(schema.names, schema.types, strict=True)
            if not text_only or str(t) in text]  # fmt: skip


def load_table(path: Path, wanted: list[str] | None) -> pd.DataFrame:
    """The table at ``path``, every column as read (as text for CSV), or only ``wanted``. For
    Parquet without ``wanted``, only its string columns: the rest could never be chosen."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        try:
            df = pd.read_json(path, lines=True, dtype=False, encoding="utf-8")
        except UnicodeDecodeError:
            _bad_line(path)
            raise  # pragma: no cover
        except ValueError as exc:
            raise _not_a_table(path, exc) from exc
        return df if wanted is None else df[wanted]
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path, columns=wanted or _parquet_columns(path, True))
        except (OSError, ValueError) as exc:
            raise _not_a_table(path, exc) from exc
    return _csv(path, dtype=str, keep_default_na=False, usecols=wanted)


def table_columns(path: Path) -> list[str]:
    """The column names of the table at ``path``, reading as little of it as possible."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return _parquet_columns(path, False)
    if suffix in (".jsonl", ".ndjson"):
        return [str(c) for c in load_table(path, None).columns]
    return [str(c) for c in _csv(path, nrows=0).columns]


def _is_text(column: pd.Series) -> bool:
    """Whether ``column`` holds text: strings, not all of them numbers."""
    if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
        return False
    values = column[column.map(lambda v: isinstance(v, str) and bool(v.strip()))]
    return len(values) > 0 and not pd.to_numeric(values, errors="coerce").notna().all()


def cell_text(value: Any, column: str, row: int, path: Path) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return str(value)
    raise DataError(
        f"Column '{column}' of '{path}' holds a {type(value).__name__} at row {row}, not text.",
        "Choose columns that hold one sentence per row.",
    )


def missing_column(name: str, what: str, columns: list[str], path: Path) -> ColumnError:
    near = closest(name, columns)
    return ColumnError(
        f"The {what} column '{name}' is not in '{path}', whose columns are: "
        f"{', '.join(columns[:20])}{' ...' if len(columns) > 20 else ''}.",
        f"Did you mean '{near}'?" if near else f"Pass --{what}-column with one of them.",
    )


def text_columns(df: pd.DataFrame, named: list[str], path: Path) -> list[str]:
    """The text columns of ``df`` besides ``named``, when they make two with ``named``."""
    columns = list(df.columns)
    texts = [c for c in columns if c not in named and _is_text(df[c])]
    if len(texts) != 2 - len(named):
        found = f"{len(texts)} text column{'' if len(texts) == 1 else 's'}"
        raise DataError(
            f"'{path}' has {found}{f' besides {named[0]!r}' if named else ''} "
            f"({', '.join(texts) or 'none'}; all columns read: {', '.join(columns[:20])}), so "
            "which hold the sources and which the targets is not clear.",
            "Pass --source-column and --target-column to choose them.",
        )
    return texts
