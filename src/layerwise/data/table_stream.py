"""The one pass over a table read by batches (:mod:`layerwise.data.table_batches`) that
computes what needs every row.

:func:`scan` counts the rows, the target's classes (or checks its numbers), each column's
missing cells and category counts (a bounded dictionary: the encoder keeps 200 categories),
and keeps seeded uniform samples of rows (bottom-k of a hash of each row's position, so any
later pass agrees on which row went where). Each row's side (test or training) is decided by
another hash of its position and the seed, the same in every pass.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> pd.DataFrame({"x": np.arange(100.0), "y": ["a", "b"] * 50}).to_parquet(path)
    >>> found = scan(path, "y", "classification", seed=0, test_share=0.2, batch_rows=30)
    >>> found.rows, sorted(found.classes), len(found.test) + len(found.holdout) + len(found.sample)
    (100, ['a', 'b'], 100)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerwise.data import table_batches, tabular
from layerwise.data.table_batches import BATCH_ROWS
from layerwise.errors import DataError, missing_column

SAMPLE_ROWS = 200_000  # the classical candidates' sample: as many rows as LightGBM bins from
SAMPLE_BYTES = 256 * 2**20  # ... or fewer, when that many rows would take more memory
HOLDOUT_SHARE, HOLDOUT_ROWS = 0.2, 100_000  # the bake-off's held-out rows: 20%, at most this
TEST_ROWS = 200_000  # test rows scored at the end, at most
CATEGORY_KEYS = 20_000  # distinct values counted a column; past twice that, the rarest go
_MASK = np.uint64(2**64 - 1)


def uniforms(positions: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) for each row position (splitmix64 of the position, the seed
    and ``salt``): the same in every pass.

    >>> a = uniforms(np.arange(5), 0, 1)
    >>> bool(((a >= 0) & (a < 1)).all()), bool((a == uniforms(np.arange(5), 0, 1)).all())
    (True, True)
    """
    with np.errstate(over="ignore"):
        x = positions.astype(np.uint64) + np.uint64(
            (seed * 1000003 + salt) & 0xFFFFFFFFFFFF
        ) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * 2.0**-53


class BottomK:
    """The ``k`` rows of smallest key seen so far: a seeded uniform sample, in bounded memory
    (rows under the current k-th key are kept, and the kept rows cut back to k when twice)."""

    def __init__(self, k: int):
        self.k, self.threshold = int(k), np.inf
        self.frames: list[pd.DataFrame] = []
        self.keys: list[np.ndarray] = []
        self.held = 0

    def add(self, frame: pd.DataFrame, keys: np.ndarray) -> None:
        keep = keys < self.threshold
        if not keep.any() or self.k == 0:
            return
        self.frames.append(frame.loc[keep])
        self.keys.append(keys[keep])
        self.held += int(keep.sum())
        if self.held >= 2 * self.k:
            self._cut()

    def _cut(self) -> None:
        frame = pd.concat(self.frames, ignore_index=True) if self.frames else pd.DataFrame()
        keys = np.concatenate(self.keys) if self.keys else np.zeros(0)
        if len(keys) > self.k:
            chosen = np.argpartition(keys, self.k - 1)[: self.k]
            frame, keys = frame.iloc[chosen].reset_index(drop=True), keys[chosen]
            self.threshold = float(keys.max())
        self.frames, self.keys, self.held = [frame], [keys], len(keys)

    def rows(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The kept rows in order of their key, and the keys."""
        self._cut()
        order = np.argsort(self.keys[0], kind="stable")
        return self.frames[0].iloc[order].reset_index(drop=True), self.keys[0][order]


@dataclass
class Scan:
    """What :func:`scan` learnt of a file: its counts and the rows it kept (each frame has a
    ``__position__`` column: the row's position in the file)."""

    rows: int  # rows kept (a target present)
    columns: list[str]
    numeric: list[str]  # a CSV's columns whose every value is a number (read as numbers)
    classes: dict[Any, list[int]]  # class -> [training rows, test rows]
    missing: dict[str, int]  # missing cells a column, over every row kept
    categories: dict[str, dict[str, int]]  # training rows a category key, text columns
    overflowed: set[str]  # columns with more distinct values than counted
    notes: list[str]
    sample: pd.DataFrame  # training rows for the classical candidates
    holdout: pd.DataFrame  # the bake-off's validation rows (training rows, not the sample's)
    test: pd.DataFrame  # test rows scored at the end
    test_rows: int  # test rows in the file
    training_rows: int
    label: str
    target: str
    test_share: float  # each row's chance of being a test row (0: a separate test file)
    floats: list[str] = field(default_factory=list)  # numeric columns pandas reads as floats


def prepare(
    frame: pd.DataFrame, target: str, kind: str, numeric: list[str], floats: list[str] = ()
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A batch as the in-memory path holds it: a CSV's number columns as numbers, and the rows
    whose target is missing (or, for regression, not a number) dropped. Returns the batch,
    the missing-target and the bad-target masks (of the rows given)."""
    _numbers(frame, numeric, floats)
    missing = tabular._target_missing(frame[target]).to_numpy(dtype=bool)
    bad = np.zeros(len(frame), dtype=bool)
    if kind == "regression":
        frame[target], bad = _target_numbers(frame[target], missing)
    keep = ~(missing | bad)
    return frame.loc[keep], missing, bad


def _target_numbers(y: pd.Series, missing: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """A regression target as float64 numbers, and its cells that are present but not a finite
    number (text, inf): those rows are dropped, as the in-memory path drops them."""
    values = pd.to_numeric(y.astype("float64") if pd.api.types.is_bool_dtype(y) else y,
                           errors="coerce").astype("float64")  # fmt: skip
    bad = (values.isna().to_numpy() | ~np.isfinite(values.fillna(0).to_numpy())) & ~missing
    return values, bad


def scan(path: Path, target: str, kind: str, *, seed: int, test_share: float,
         label: str | None = None, batch_rows: int = BATCH_ROWS) -> Scan:  # fmt: skip
    """One pass over ``path``: see the module docstring. ``test_share``: each row's chance of
    being a test row (1.0: every row, for a separate test file).

    Raises:
        DataError: as :func:`~layerwise.data.tabular.read_table` and
            :func:`~layerwise.data.tabular.prepare_target` would for the whole table.
    """
    label = label or path.name
    where = f"'{label}'"
    csv_file = path.suffix.lower() not in tabular.PARQUET_SUFFIXES
    state = _State(target, kind, csv_file)
    position = 0
    for frame in table_batches.batches(path, label, batch_rows=batch_rows):
        if position == 0:
            state.start(frame, label, where)
        positions = np.arange(position, position + len(frame), dtype=np.int64)
        position += len(frame)
        state.add(frame, positions, seed, test_share)
    if position == 0:
        raise DataError(f"'{label}' is empty (no rows).", "Add data rows below the header.")
    return state.finish(label, where, position, test_share)


class _State:
    """The counts :func:`scan` keeps while it reads."""

    def __init__(self, target: str, kind: str, csv_file: bool):
        self.target, self.kind, self.csv_file = target, kind, csv_file
        self.missing_target = self.bad_target = 0
        self.bad_examples: list[str] = []
        self.classes: dict[Any, list[int]] = {}
        self.texts: list[str] = []
        self.numbers: dict[str, bool] = {}  # a CSV column: every value so far a number
        self.kept = self.training = self.tests = 0

    def start(self, frame: pd.DataFrame, label: str, where: str) -> None:
        if frame.shape[1] == 0:
            raise DataError(f"'{label}' is empty (no columns).",
                            "Give a table with a header row and data rows.")  # fmt: skip
        if self.target not in frame.columns:
            raise missing_column(self.target, frame.columns, "Target column", where)
        self.columns = [str(c) for c in frame.columns]
        self.missing = dict.fromkeys(self.columns, 0)
        self.categories: dict[str, dict[str, int]] = {}
        self.overflowed: set[str] = set()
        self.numbers = dict.fromkeys(self.columns, True) if self.csv_file else {}
        row_bytes = max(frame.memory_usage(deep=True).sum() / max(len(frame), 1), 1.0)
        self.sample = BottomK(HOLDOUT_ROWS + min(SAMPLE_ROWS, int(SAMPLE_BYTES // row_bytes)))
        self.test = BottomK(TEST_ROWS)

    def add(self, frame: pd.DataFrame, positions: np.ndarray, seed: int, share: float) -> None:
        from layerwise.data.profile import _missing_mask

        for name in [n for n, ok in self.numbers.items() if ok]:
            present = frame[name].notna()
            parsed = pd.to_numeric(frame[name][present], errors="coerce")
            self.numbers[name] = bool(parsed.notna().all())
        missing = tabular._target_missing(frame[self.target]).to_numpy(dtype=bool)
        self.missing_target += int(missing.sum())
        if self.kind == "regression":
            y = frame[self.target]
            _, bad = _target_numbers(y, missing)
            if bad.any():
                self.bad_target += int(bad.sum())
                self.bad_examples += [repr(str(v)) for v in pd.unique(y[bad].astype(str))[:3]]
            missing = missing | bad
        frame, positions = frame.loc[~missing], positions[~missing]
        test = uniforms(positions, seed, 1) < share
        keys = uniforms(positions, seed, 2)
        self.kept += len(frame)
        self.tests += int(test.sum())
        self.training += int((~test).sum())
        if self.kind == "classification":
            for side, rows in ((0, ~test), (1, test)):
                for value, count in frame[self.target][rows].value_counts().items():
                    value = value.item() if hasattr(value, "item") else value
                    self.classes.setdefault(value, [0, 0])[side] += int(count)
        train_rows = frame.loc[~test]
        for name in self.columns:
            s = frame[name]
            self.missing[name] += int(_missing_mask(s).sum())
            text = not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
            if text and name != self.target and name not in self.overflowed:
                self._count(name, train_rows[name])
        frame = frame.assign(__position__=positions)
        self.sample.add(frame.loc[~test], keys[~test])
        self.test.add(frame.loc[test], keys[test])

    def _count(self, name: str, s: pd.Series) -> None:
        """Category keys (as the encoder makes them) of a text column's training rows."""
        from layerwise.data.tabular_encoder import _category_key, _missing

        values = s.to_numpy(dtype=object)
        present = pd.Series(values[~_missing(values)], dtype=object)
        counts = self.categories.setdefault(name, {})
        for value, count in present.value_counts().items():
            key = _category_key(value)
            counts[key] = counts.get(key, 0) + int(count)
        if len(counts) > 2 * CATEGORY_KEYS:  # counted no further: its top keys are known
            self.overflowed.add(name)
            kept = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:CATEGORY_KEYS]
            self.categories[name] = dict(kept)

    def finish(self, label: str, where: str, rows: int, test_share: float) -> Scan:
        if self.kept == 0 and self.missing_target == rows:
            raise tabular.no_target_values(self.target, where, rows)
        notes = []
        if self.missing_target:
            notes.append(tabular.dropped_missing_note(self.missing_target, self.target))
        if self.bad_target:
            examples = ", ".join(list(dict.fromkeys(self.bad_examples))[:3])
            notes.append(tabular.not_numeric_target(self.target, where, self.bad_target,
                                                    rows - self.missing_target, examples))  # fmt: skip
        numeric = [n for n, ok in self.numbers.items() if ok and self.missing[n] < self.kept]
        for name in numeric:
            self.categories.pop(name, None)
            self.overflowed.discard(name)
        floats = [
            n for n in numeric if self.missing[n] or (n == self.target and self.missing_target)
        ]
        sample, _ = self.sample.rows()
        test, _ = self.test.rows()
        if self.kind == "classification" and self.target in numeric:
            self.classes = _numeric_classes(self.classes, self.missing_target > 0)
        n_holdout = min(HOLDOUT_ROWS, math.ceil(HOLDOUT_SHARE * self.training))
        holdout, sample = sample.iloc[:n_holdout], sample.iloc[n_holdout:]
        return Scan(
            rows=self.kept, columns=self.columns, numeric=numeric, classes=self.classes,
            missing=self.missing, categories=self.categories, overflowed=self.overflowed,
            notes=notes, sample=_in_order(sample, numeric, floats), holdout=_in_order(holdout, numeric, floats),
            test=_in_order(test, numeric, floats), test_rows=self.tests, training_rows=self.training,
            label=label, target=self.target, test_share=test_share, floats=floats,
        )  # fmt: skip


def _numbers(frame: pd.DataFrame, numeric: list[str], floats: list[str]) -> None:
    """A CSV's number columns as numbers, floats where pandas reads the whole file's so (a
    missing value): a batch without one would otherwise hold integers."""
    for name in numeric:
        values = pd.to_numeric(frame[name])
        frame[name] = values.astype("float64") if name in floats else values


def _in_order(frame: pd.DataFrame, numeric: list[str], floats: list[str]) -> pd.DataFrame:
    """Rows in file order (a column's order tells an identifier), a CSV's number columns as
    numbers."""
    frame = frame.sort_values("__position__", kind="stable").reset_index(drop=True)
    _numbers(frame, numeric, floats)
    return frame


def _numeric_classes(classes: dict[Any, list[int]], had_missing: bool) -> dict[Any, list[int]]:
    """A CSV's number classes as pandas reads them: integers, floats where the column had a
    missing value or a fraction."""
    values = pd.to_numeric(pd.Series(list(classes), dtype=object))
    if had_missing:
        values = values.astype("float64")
    return {v.item() if hasattr(v, "item") else v: c
            for v, c in zip(values, classes.values(), strict=True)}  # fmt: skip
