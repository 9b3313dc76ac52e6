r"""Reading a table a batch at a time (Parquet row groups, CSV blocks), and what is decided
before a table is read: whether it streams, and its task kind from the target column alone.

A table streams when asked (``--stream``) or when a Parquet or CSV file would decode to more
than a quarter of the machine's memory (:func:`~layerwise.data.disk_cache.too_big` of rows x
columns x 8 bytes). :func:`batches` reads it by Parquet row groups
(``pyarrow.parquet.ParquetFile.iter_batches``) or CSV blocks (``pyarrow.csv.open_csv``), never
whole; :mod:`layerwise.data.table_stream` makes the one pass that needs every row.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    >>> [len(b) for b in batches(path, "t.csv", batch_rows=4)], infer_kind(path, "y")
    ([10], 'classification')
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerwise.data import tabular
from layerwise.data.disk_cache import physical_memory, too_big
from layerwise.errors import DataError, missing_column

CSV_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
BATCH_ROWS = 65_536  # rows a batch of the file


def streamable(data: Any) -> Path | None:
    """The path of a Parquet or CSV file (what streams), else None."""
    if not isinstance(data, (str, Path)):
        return None
    path = Path(data)
    suffix = path.suffix.lower()
    known = suffix in tabular.PARQUET_SUFFIXES or suffix in CSV_SUFFIXES
    return path if known and path.is_file() else None


def decoded_bytes(path: Path) -> int:
    """Rows x columns x 8 bytes: the decoded size of a Parquet file (from its footer) or of a
    CSV file (rows estimated from the length of its first lines)."""
    if path.suffix.lower() in tabular.PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(path).metadata
        except Exception:  # unreadable: the reader says why, in one line
            return 0
        return int(meta.num_rows) * int(meta.num_columns) * 8
    with path.open("rb") as file:
        head = file.read(1 << 20)
    lines = head.splitlines()
    if len(lines) < 2:
        return 0
    columns = lines[0].count(b"\t" if b"\t" in lines[0] else b",") + 1
    per_line = max(len(head) / len(lines), 1.0)
    return int(path.stat().st_size / per_line) * columns * 8


def should_stream(asked: bool | None, data: Any) -> tuple[bool, str | None]:
    """Whether ``data`` streams (``asked``, or a Parquet/CSV file too big to hold), and the
    note when its size decided.

    >>> should_stream(None, pd.DataFrame({"x": [1]}))
    (False, None)
    """
    path = streamable(data)
    if asked is not None or path is None:
        return bool(asked), None
    size = decoded_bytes(path)
    if not too_big(size):
        return False, None
    memory = physical_memory() or 0
    return True, (f"streamed: '{path.name}' would decode to ~{size / 2**30:.1f} GiB, over a "
                  f"quarter of this machine's {memory / 2**30:.0f} GiB")  # fmt: skip


def batches(path: Path, label: str, columns: list[str] | None = None,
            batch_rows: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:  # fmt: skip
    """The file as DataFrames of up to ``batch_rows`` rows, column names stripped; a CSV's
    columns are read as text (their types are the whole file's, see :func:`scan`)."""
    suffix = path.suffix.lower()
    try:
        if suffix in tabular.PARQUET_SUFFIXES:
            import pyarrow as pa
            import pyarrow.parquet as pq

            # pre_buffer reads ahead and keeps what it read: memory grew with the file
            file = pq.ParquetFile(path, pre_buffer=False)
            names = _names(file.schema_arrow.names, label)
            wanted = None if columns is None else [names[c] for c in columns]
            for batch in file.iter_batches(batch_size=batch_rows, columns=wanted):
                frame = pa.Table.from_batches([batch]).to_pandas()
                frame.columns = [str(c).strip() for c in frame.columns]
                yield frame
            return
        yield from _csv_batches(path, label, columns, batch_rows)
    except DataError:
        raise
    except ImportError as exc:
        raise DataError(f"Streaming '{label}' needs pyarrow, which is not installed.",
                        'Run: pip install "pyarrow"') from exc  # fmt: skip
    except Exception as exc:  # pyarrow's errors: ArrowInvalid, OSError, UnicodeDecodeError...
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        kind = "Parquet" if suffix in tabular.PARQUET_SUFFIXES else "UTF-8 delimited text"
        raise DataError(
            f"'{label}' could not be read as {kind} ({reason}).",
            "Check that the file is complete (a CSV: UTF-8, every row as many fields as the "
            "header), or save it as Parquet; without --stream it is read whole.",
        ) from exc


def _names(raw: list[str], label: str) -> dict[str, str]:
    """Stripped column name -> the file's name, duplicates refused as the reader does."""
    names = [str(c).strip() for c in raw if not str(c).startswith("__index_level_")]
    tabular._check_duplicates(names, label)
    return dict(zip(names, [c for c in raw if not str(c).startswith("__index_level_")],
                    strict=True))  # fmt: skip


def _csv_batches(path: Path, label: str, columns: list[str] | None,
                 batch_rows: int) -> Iterator[pd.DataFrame]:  # fmt: skip
    import pyarrow as pa
    from pyarrow import csv

    with path.open("rb") as file:
        head = file.read(1 << 16)
    if not head.strip():
        raise DataError(f"'{label}' is empty.", "Give a file with a header row and data rows.")
    sep = CSV_SUFFIXES.get(path.suffix.lower()) or tabular._sniff(head.decode("utf-8", "replace"))
    parse = csv.ParseOptions(delimiter=sep)
    header = csv.open_csv(path, parse_options=parse).schema.names
    names = _names(header, label)
    convert = csv.ConvertOptions(
        column_types={n: pa.string() for n in header},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        include_columns=None if columns is None else [names[c] for c in columns],
    )
    reader = csv.open_csv(path, parse_options=parse, convert_options=convert,
                          read_options=csv.ReadOptions(block_size=1 << 22))  # fmt: skip
    buffered: list[pd.DataFrame] = []
    count = 0
    for batch in reader:
        frame = batch.to_pandas()
        frame.columns = [str(c).strip() for c in frame.columns]
        buffered.append(frame)
        count += len(frame)
        if count >= batch_rows:
            yield pd.concat(buffered, ignore_index=True)
            buffered, count = [], 0
    if buffered:
        yield pd.concat(buffered, ignore_index=True)


def streamed_kind(data: Any, target: str | None, asked: bool | None) -> str | None:
    """The task kind of a table that streams (:func:`infer_kind`), else None: it is read whole.

    Raises:
        DataError: no target given (naming the columns), or as :func:`infer_kind`.
    """
    path = streamable(data)
    if path is None or not should_stream(asked, path)[0]:
        return None
    if not target:
        from layerwise.errors import no_target

        raise no_target(next(batches(path, path.name, batch_rows=1), pd.DataFrame()).columns)
    return infer_kind(path, target)


def infer_kind(path: Path, target: str, label: str | None = None) -> str:
    """``"classification"`` or ``"regression"`` from the target column alone, read a batch at
    a time: :func:`~layerwise.data.tabular.infer_task_kind` on every value, in bounded memory
    (21 distinct values settle it).

    Raises:
        DataError: the target column is missing, or has no values.
    """
    label = label or path.name
    where = f"'{label}'"
    header = next(batches(path, label, batch_rows=1), None)
    if header is None or target not in header.columns:
        columns = [] if header is None else header.columns
        raise missing_column(target, columns, "Target column", where)
    distinct: set[Any] = set()
    numeric = integer = True
    seen = rows = 0
    csv_file = path.suffix.lower() not in tabular.PARQUET_SUFFIXES
    for frame in batches(path, label, columns=[target]):
        y = frame[target]
        rows += len(y)
        y = y[~tabular._target_missing(y).to_numpy(dtype=bool)]
        seen += len(y)
        if csv_file and numeric:
            parsed = pd.to_numeric(y, errors="coerce")
            numeric = bool(parsed.notna().all())
            y = parsed if numeric else y
        elif pd.api.types.is_bool_dtype(y) or not pd.api.types.is_numeric_dtype(y):
            numeric = False
        if not numeric or not len(y):
            continue
        values = y.to_numpy(dtype="float64")
        integer = integer and bool(
            np.all(np.isfinite(values)) and np.all(values == np.round(values))
        )
        if len(distinct) <= 20:
            distinct.update(np.unique(values)[:21].tolist())
    if seen == 0:
        raise tabular.no_target_values(target, where, rows)
    if not numeric:
        return "classification"
    return tabular.numbers_kind(integer, len(distinct), seen)
