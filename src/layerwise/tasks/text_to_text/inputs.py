"""The texts a text-to-text run is asked to translate or answer: one text, a list, a text file
(one input per line) or a table (its source column, else its first text column).

Example:
    >>> input_texts("Where is the station?"), input_texts(["Hi.", "Go."])
    (['Where is the station?'], ['Hi.', 'Go.'])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from layerwise.errors import DataError

MAX_INPUTS = 1_000_000
TABLES = (".csv", ".tsv", ".parquet", ".jsonl")


def input_texts(inputs: Any, source_column: str | None = None) -> list[str]:
    """The input texts of ``inputs``; an empty input is a clear error (nothing to answer)."""
    if isinstance(inputs, pd.DataFrame):
        texts = _column(inputs, source_column, "the table")
    elif isinstance(inputs, Path) or (isinstance(inputs, str) and _is_file(inputs)):
        texts = _from_file(Path(inputs), source_column)
    elif isinstance(inputs, str):
        texts = [inputs]
    elif isinstance(inputs, (list, tuple)):
        texts = list(inputs)
    else:
        raise DataError(f"Cannot read inputs of type {type(inputs).__name__}.",
                        "Give a text, a list of texts, a text file or a table.")  # fmt: skip
    if not texts:
        raise DataError("There is no input text.", "Give at least one text.")
    if len(texts) > MAX_INPUTS:
        raise DataError(f"{len(texts):,} inputs is more than {MAX_INPUTS:,}.",
                        "Split them into several files.")  # fmt: skip
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"Input {i + 1} of {len(texts)} is empty (or not a text).",
                            "Give a text to translate or to reply to on every line.")  # fmt: skip
    return texts


def _is_file(text: str) -> bool:
    try:
        return len(text) < 4096 and "\n" not in text and Path(text).is_file()
    except OSError:  # a name too long for the file system, or otherwise not a path
        return False


def _from_file(path: Path, source_column: str | None) -> list[str]:
    if not path.is_file():
        raise DataError(f"'{path}' is not a file.", "Give a text file or a table of inputs.")
    if path.suffix.lower() in TABLES:
        from layerwise.tasks.text_to_text.pair_files import load_table

        return _column(load_table(path, None), source_column, f"'{path.name}'")
    from layerwise.tasks.text_to_text.pairs import file_lines

    return [line for line in file_lines(path) if line.strip()]


def _column(frame: pd.DataFrame, name: str | None, where: str) -> list[str]:
    if name is not None:
        if name not in frame.columns:
            raise DataError(f"{where} has no column '{name}' (its columns: "
                            f"{', '.join(map(str, frame.columns[:20]))}).",
                            "Give the column of the inputs with --source-column.")  # fmt: skip
        return frame[name].astype(str).tolist()
    texts = [c for c in frame.columns if frame[c].dtype == object]
    if not texts:
        raise DataError(f"{where} has no text column.", "Give a table with a column of texts.")
    return frame[texts[0]].astype(str).tolist()
