"""Batch prediction over files too large for memory: read a CSV or Parquet file in chunks (or
a task's own chunks: an image run's folder, a chunk of files at a time), predict each, append
to the output (CSV, or Parquet for a ``.parquet`` output), with a progress bar over the input's
bytes, rows or files. Memory stays about one chunk; the output appears whole (written beside,
renamed at the end).

>>> import tempfile, pandas as pd  # doctest: +SKIP
>>> predict_file(task, "huge.csv", "out.csv", batch_size=10_000)  # doctest: +SKIP
{'rows': 1000000, 'chunks': 100, ...}
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from layerwise.errors import ConfigError, DataError

MAX_NOTES = 20  # notes kept from the chunks' predictions, each prefixed by its rows


class _CountingFile:
    """A binary file that counts the bytes read (the CSV progress bar's position)."""

    def __init__(self, path: Path):
        self._file = open(path, "rb")
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        data = self._file.read(n)
        self.read_bytes += len(data)
        return data

    def readline(self, n: int = -1) -> bytes:
        data = self._file.readline(n)
        self.read_bytes += len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def close(self) -> None:
        self._file.close()


def _chunks(path: Path, batch_size: int) -> tuple[Iterator[Any], Any, int]:
    """(chunks as DataFrames, a function giving progress done, the progress total)."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        done = {"rows": 0}

        def batches() -> Iterator[Any]:
            for batch in parquet.iter_batches(batch_size=batch_size):
                done["rows"] += batch.num_rows
                yield batch.to_pandas()

        return batches(), lambda: done["rows"], parquet.metadata.num_rows
    if suffix not in (".csv", ".tsv", ".txt"):
        raise ConfigError(f"--batch-size streams CSV, TSV or Parquet files; got '{path.name}'.",
                          "Convert the file, or leave out --batch-size.")  # fmt: skip
    counting = _CountingFile(path)
    sep = "\t" if suffix == ".tsv" else ","

    def frames() -> Iterator[Any]:
        try:
            yield from pd.read_csv(counting, sep=sep, chunksize=batch_size)
        finally:
            counting.close()

    return frames(), lambda: counting.read_bytes, os.path.getsize(path)


class _Output:
    """Prediction frames appended to a CSV file, or to a Parquet file (one row group each,
    every one in the first's schema)."""

    def __init__(self, path: Path, parquet: bool):
        self.path, self.parquet = path, parquet
        self.writer: Any = None
        self.file: Any = None

    def __enter__(self) -> _Output:
        if not self.parquet:
            self.file = open(self.path, "w", encoding="utf-8", newline="")
        return self

    def write(self, frame: Any) -> None:
        if not self.parquet:
            frame.to_csv(self.file, index=False, header=self.file.tell() == 0)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def __exit__(self, *exc: Any) -> None:
        if self.file is not None:
            self.file.close()
        if self.writer is not None:
            self.writer.close()


def predict_file(task: Any, source: str | os.PathLike, output: str | os.PathLike,
                 batch_size: int, progress: bool = True) -> dict[str, Any]:  # fmt: skip
    """Predict every row of ``source`` in chunks of ``batch_size`` rows (an image run: files of
    a folder) into ``output`` (CSV, or Parquet when it ends in .parquet)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(
            f"--batch-size {batch_size!r} is not valid.", "Use rows >= 1, e.g. 10000."
        )
    source, output = Path(source), Path(output)
    if hasattr(task, "prediction_chunks"):  # the task's own chunks (an image folder's files)
        chunks = task.prediction_chunks(source, batch_size)
        position, total = (lambda: chunks.done), len(chunks)
    elif not source.is_file():
        raise DataError(f"'{source}' is not a file.", "Give the path of a CSV or Parquet file.")
    else:
        chunks, position, total = _chunks(source, batch_size)
    partial = output.with_name(output.name + ".partial")
    rows = count = 0
    notes: list[str] = []
    started = time.perf_counter()
    bar = Progress(TextColumn("predicting"), BarColumn(), TextColumn("{task.fields[rows]:,} rows"),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True,
                   disable=not progress)  # fmt: skip
    try:
        with bar, _Output(partial, output.suffix.lower() in (".parquet", ".pq")) as out:
            job = bar.add_task("predict", total=total, rows=0)
            for frame in chunks:
                predictions = task.predict(frame)
                notes += [f"rows {rows + 1:,}-{rows + len(frame):,}: {note}"
                          for note in predictions.attrs.get("notes", [])]  # fmt: skip
                out.write(predictions)
                rows, count = rows + len(predictions), count + 1
                bar.update(job, completed=position(), rows=rows)
        notes += getattr(chunks, "notes", [])
        if count == 0:
            raise DataError(f"'{source}' has no rows.", "Give a file with a header and rows.")
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    if len(notes) > MAX_NOTES:  # a dirty column would repeat its note for every chunk
        notes = [*notes[:MAX_NOTES], f"... and {len(notes) - MAX_NOTES:,} more notes"]
    return {"rows": rows, "chunks": count, "seconds": time.perf_counter() - started,
            "output": str(output), "notes": notes}  # fmt: skip
