"""Turn a table into model inputs; the fitted encoder is saved as plain JSON.

Numeric, boolean and datetime columns become float columns (raw scale, NaN where
missing: tree models want them so); categorical columns become integer codes
(0 = missing or unseen). :meth:`TabularEncoder.standardized` and
:meth:`TabularEncoder.one_hot` give the inputs of neural and linear models.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from layerwise.data.profile import DROPPED_KINDS, ColumnInfo, bool_pair, bool_token
from layerwise.errors import ColumnError, DataError, closest

MAX_CATEGORIES = 200
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_STANDARD_SCORE = 1000.0  # standardised values are clipped to +-this many standard deviations  # models see float32: larger values become inf
_NUMBERS = ("a finite number", "finite numbers")
OTHER = "<other>"
DATE_PARTS = ("year", "month", "day", "dayofweek")
_DT_ATTR = {"dayofweek": "day_of_week"}
FORMAT = "layerwise.tabular_encoder"


@dataclass
class EncodedTable:
    """A table as arrays: raw numeric features and categorical codes.

    Example:
        >>> t = EncodedTable(np.zeros((2, 1), "float32"), np.zeros((2, 0), "int64"), ["x"], [], [])
        >>> t.numeric.shape
        (2, 1)
    """

    numeric: np.ndarray
    categorical: np.ndarray
    numeric_names: list[str]
    categorical_names: list[str]
    cardinalities: list[int]
    # what transform did to the values that a user may want to know (see _Coerced)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.numeric.shape[0])

    def rows(self, index: np.ndarray) -> EncodedTable:
        """The rows ``index`` (a fold, a split), the column facts unchanged.

        >>> t = EncodedTable(np.arange(3.0).reshape(3, 1), np.zeros((3, 0), "int64"), ["x"], [], [])
        >>> t.rows(np.array([2, 0])).numeric[:, 0].tolist()
        [2.0, 0.0]
        """
        return replace(self, numeric=self.numeric[index], categorical=self.categorical[index])


def _missing(values: np.ndarray) -> np.ndarray:
    """Missing cells of an object array: None, NaN, pd.NA, NaT and blank strings."""
    mask = np.asarray(pd.isna(values), dtype=bool)
    blank = np.fromiter((isinstance(v, str) and not v.strip() for v in values), bool, len(values))
    return mask | blank


def _category_key(value: Any) -> str:
    """Values as category names: 3 and 3.0 are the same category; whitespace is stripped."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _to_float(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The column as float64 (text that is not a number -> NaN; inf kept) and its missing cells."""
    if pd.api.types.is_bool_dtype(s):
        s = s.astype("float64")
    missing = _missing(s.to_numpy(dtype=object))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = pd.to_numeric(s.astype(object).where(~missing, None), errors="coerce")
    out = np.array(pd.Series(values).to_numpy(dtype="float64", na_value=np.nan), dtype="float64")
    return out, missing


def _usable(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Set what a model cannot use (inf, -inf, beyond float32, text read as NaN) to NaN in
    place; return the cells that were given but are now missing."""
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(values) <= FLOAT32_MAX)  # NaN and inf compare False
    values[bad] = np.nan
    return bad & ~missing


class _Coerced:
    """Counts of given values that became missing, per column, with a few examples: the
    notes a user reads when text, inf or 1e309 reach a numeric column."""

    def __init__(self) -> None:
        self.columns: dict[str, tuple[tuple[str, str], int, list[str]]] = {}

    def add(self, name: str, what: tuple[str, str], bad: np.ndarray, original: pd.Series) -> None:
        """Count the cells ``bad`` of column ``name``; ``what`` they are not, (one, several)."""
        if bad.any():
            examples = list(
                dict.fromkeys(_shown(v) for v in original.to_numpy(dtype=object)[bad][:20])
            )
            self.columns[name] = (what, int(bad.sum()), examples)

    def notes(self, empty_rows: np.ndarray, order: list[str]) -> list[str]:
        """One note per column (in ``order``) and one for the rows with no feature value."""
        out = []
        for name in sorted(self.columns, key=order.index):
            what, count, examples = self.columns[name]
            shown = ", ".join(examples[:3]) + (", ..." if len(examples) > 3 else "")
            one = count == 1
            out.append(f"{count} value{'' if one else 's'} in '{name}' {'was' if one else 'were'} "
                       f"not {what[0] if one else what[1]} ({shown}) and "
                       f"{'was' if one else 'were'} treated as missing")  # fmt: skip
        if empty_rows.any():
            rows = np.flatnonzero(empty_rows)
            where = ", ".join(str(r + 1) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            out.append(f"{len(rows)} row{'s' * (len(rows) != 1)} {'has' if len(rows) == 1 else 'have'} "
                       f"no feature values (row {where}): a prediction that uses nothing from the row")  # fmt: skip
        return out


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value.strip())
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return repr(value)


def _to_datetime(s: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        dt = s
    else:
        text = s.astype(object).where(~_missing(s.to_numpy(dtype=object)), None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dt = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
    if getattr(dt.dt, "tz", None) is not None:
        dt = dt.dt.tz_convert("UTC").dt.tz_localize(None)
    return dt


class TabularEncoder:
    """Fit on training rows, then turn any table with the same columns into arrays.

    Args:
        columns: column name -> :class:`ColumnInfo` (from ``infer_column_types``);
            id, text and constant columns are not used.

    Example:
        >>> from layerwise.data.profile import infer_column_types
        >>> df = pd.DataFrame({"age": [31.0, None, 45.0], "city": ["Oslo", "Rome", "Oslo"]})
        >>> enc = TabularEncoder(infer_column_types(df)).fit(df)
        >>> enc.transform(df).categorical.ravel().tolist()
        [1, 2, 1]
    """

    def __init__(self, columns: dict[str, ColumnInfo]):
        self.columns = dict(columns)
        self.feature_columns: list[str] = [
            n for n, c in self.columns.items() if c.kind not in DROPPED_KINDS
        ]
        self.specs: list[dict[str, Any]] = []
        self.mean: list[float] = []
        self.std: list[float] = []
        self.indicators: list[int] = []
        self.notes: list[str] = []
        self.fitted = False

    # ----------------------------------------------------------------- fitting
    def fit(self, df: pd.DataFrame) -> TabularEncoder:
        """Learn categories, boolean maps, date parts and numeric mean/std from training rows.

        Example:
            >>> enc = TabularEncoder({"x": ColumnInfo("x", "numeric", 0.0, 2)}).fit(pd.DataFrame({"x": [1, 3]}))
            >>> enc.mean
            [2.0]
        """
        self.check_columns(df)
        if len(df) == 0:
            raise DataError(
                "Cannot fit the encoder on a table with no rows.", "Give at least one training row."
            )
        self.specs, self.notes = [], []
        for name in self.feature_columns:
            self.specs.append(self._fit_column(name, self.columns[name].kind, df[name]))
        self.fitted = True
        numeric = self._numeric(df)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(numeric, axis=0) if numeric.size else np.zeros(numeric.shape[1])
            std = np.nanstd(numeric, axis=0) if numeric.size else np.ones(numeric.shape[1])
        mean = np.where(np.isfinite(mean), mean, 0.0)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]
        self.indicators = [int(j) for j in np.flatnonzero(np.isnan(numeric).any(axis=0))]
        return self

    def _fit_column(self, name: str, kind: str, s: pd.Series) -> dict[str, Any]:
        if kind == "boolean":
            values = s.to_numpy(dtype=object)
            present = list(pd.unique(values[~_missing(values)]))
            mapping = bool_pair(present)
            if mapping is None:  # not a yes/no pair: the two values in sorted order
                tokens = sorted({bool_token(v) for v in present})
                mapping = {t: float(i) for i, t in enumerate(tokens[:2])}
            return {"name": name, "kind": kind, "map": mapping}
        if kind == "datetime":
            dt = _to_datetime(s).dropna()
            hour = bool(len(dt) and (dt.dt.hour * 60 + dt.dt.minute).nunique() > 1)
            return {"name": name, "kind": kind, "hour": hour}
        if kind == "categorical":
            values = s.to_numpy(dtype=object)
            keys = [_category_key(v) for v in values[~_missing(values)]]
            counts = pd.Series(keys, dtype=object).value_counts()
            ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            categories = [k for k, _ in ordered[:MAX_CATEGORIES]]
            capped = len(ordered) > MAX_CATEGORIES
            if capped:
                self.notes.append(
                    f"column '{name}' has {len(ordered)} categories: kept the {MAX_CATEGORIES} most frequent, "
                    f"the rest share one '{OTHER}' code"
                )
            return {"name": name, "kind": kind, "categories": categories, "other": capped}
        return {"name": name, "kind": "numeric"}

    # ------------------------------------------------------------ transforming
    def _require_fitted(self) -> None:
        if not self.fitted:
            raise DataError(
                "The encoder is not fitted yet.", "Call fit(train_df) before transform()."
            )

    def _numeric(self, df: pd.DataFrame, coerced: _Coerced | None = None) -> np.ndarray:
        """Numeric, boolean and datetime columns as float64 (NaN where missing or unusable);
        ``coerced`` collects the given values that could not be used."""
        coerced = coerced or _Coerced()
        blocks: list[np.ndarray] = []
        ready = self._numeric_block(df, coerced)
        for spec in self.specs:
            if spec["name"] in ready:
                blocks.append(ready[spec["name"]])
                continue
            name, s = spec["name"], df[spec["name"]]
            if spec["kind"] == "numeric":
                values, missing = _to_float(s)
                coerced.add(name, _NUMBERS, _usable(values, missing), s)
                blocks.append(values[:, None])
            elif spec["kind"] == "boolean":
                mapping = spec["map"]
                values = s.to_numpy(dtype=object)
                miss = _missing(values)
                col = np.asarray([np.nan if m else mapping.get(bool_token(v), np.nan)
                                  for v, m in zip(values, miss, strict=True)], dtype="float64")  # fmt: skip
                pair = " or ".join(f"'{t}'" for t in mapping)
                coerced.add(name, (pair, pair), np.isnan(col) & ~miss, s)
                blocks.append(col[:, None])
            elif spec["kind"] == "datetime":
                dt = _to_datetime(s)
                unread = dt.isna().to_numpy(dtype=bool) & ~_missing(s.to_numpy(dtype=object))
                coerced.add(name, ("a date", "dates"), unread, s)
                parts = [getattr(dt.dt, _DT_ATTR.get(p, p)) for p in DATE_PARTS] + (
                    [dt.dt.hour] if spec["hour"] else []
                )
                blocks.append(
                    np.column_stack([p.to_numpy(dtype="float64", na_value=np.nan) for p in parts])
                )
        return np.hstack(blocks) if blocks else np.zeros((len(df), 0), dtype="float64")

    def _numeric_block(self, df: pd.DataFrame, coerced: _Coerced) -> dict[str, np.ndarray]:
        """Numeric columns that already hold numbers, converted in one step (a column at a time
        costs ~0.1 ms each in pandas: most of a served single-row prediction)."""
        names = [s["name"] for s in self.specs if s["kind"] == "numeric"]
        dtypes = dict(zip(df.columns, df.dtypes, strict=True))
        names = [n for n in names if pd.api.types.is_numeric_dtype(dtypes[n])
                 and not pd.api.types.is_bool_dtype(dtypes[n])]  # fmt: skip
        if not names:
            return {}
        block = np.array(df[names].to_numpy(dtype="float64", na_value=np.nan), dtype="float64")
        bad = _usable(block, np.isnan(block))
        for j in np.flatnonzero(bad.any(axis=0)):  # inf, -inf, 1e309, 1e39: rare, so per column
            coerced.add(names[j], _NUMBERS, bad[:, j], df[names[j]])
        return {name: block[:, [i]] for i, name in enumerate(names)}

    @property
    def numeric_names(self) -> list[str]:
        """Names of the numeric columns of :meth:`transform`, datetime parts included."""
        names: list[str] = []
        for spec in self.specs:
            if spec["kind"] == "datetime":
                parts = list(DATE_PARTS) + (["hour"] if spec["hour"] else [])
                names += [f"{spec['name']}_{p}" for p in parts]
            elif spec["kind"] != "categorical":
                names.append(spec["name"])
        return names

    @property
    def categorical_specs(self) -> list[dict[str, Any]]:
        return [s for s in self.specs if s["kind"] == "categorical"]

    def _codes(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Category codes ``[n, k]`` and whether each row misses every categorical value."""
        cols, all_missing = [], np.ones(len(df), dtype=bool)
        for spec in self.categorical_specs:
            lookup = {c: i + 1 for i, c in enumerate(spec["categories"])}
            other = len(lookup) + 1 if spec["other"] else 0
            values = df[spec["name"]].to_numpy(dtype=object)
            miss = _missing(values)
            all_missing &= miss
            cols.append(
                [
                    0 if m else lookup.get(_category_key(v), other)
                    for v, m in zip(values, miss, strict=True)
                ]
            )
        return np.asarray(cols, dtype="int64").T.reshape(len(df), len(cols)), all_missing

    def transform(self, df: pd.DataFrame) -> EncodedTable:
        """The table as an :class:`EncodedTable` (raw numeric values, NaN where missing).

        Values a model cannot use (text in a numeric column, inf, numbers beyond float32, text
        that is not a date, a yes/no column's third value) become missing, and rows with no
        feature value at all are counted: ``notes`` says so, per column, with examples.

        Raises:
            ColumnError: a training column is missing from ``df``.

        Example:
            >>> enc = TabularEncoder({"c": ColumnInfo("c", "categorical", 0.0, 2)}).fit(pd.DataFrame({"c": ["a", "b"]}))
            >>> enc.transform(pd.DataFrame({"c": ["b", "zzz", None]})).categorical.ravel().tolist()
            [2, 0, 0]
        """
        self._require_fitted()
        self.check_columns(df)
        specs = self.categorical_specs
        coerced = _Coerced()
        numeric = self._numeric(df, coerced)
        codes, no_category = self._codes(df)
        empty = np.isnan(numeric).all(axis=1) & no_category if self.specs else no_category[:0]
        return EncodedTable(
            numeric=numeric.astype("float32"),
            categorical=codes,
            numeric_names=self.numeric_names,
            categorical_names=[s["name"] for s in specs],
            cardinalities=[len(s["categories"]) + 1 + int(s["other"]) for s in specs],
            notes=coerced.notes(empty, self.feature_columns),
        )

    def standardized(self, table: EncodedTable) -> np.ndarray:
        """``(x - mean) / std`` with NaN -> 0, plus a 0/1 missing indicator per numeric
        feature that had missing values in training. float32 ``[n, d_num + n_indicators]``.

        Example:
            >>> enc = TabularEncoder({"x": ColumnInfo("x", "numeric", 0.0, 2)}).fit(pd.DataFrame({"x": [1.0, 3.0]}))
            >>> enc.standardized(enc.transform(pd.DataFrame({"x": [3.0]}))).tolist()
            [[1.0]]
        """
        self._require_fitted()
        x = table.numeric.astype("float64")
        z = (x - np.asarray(self.mean, dtype="float64")) / np.asarray(self.std, dtype="float64")
        z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
        # A value thousands of standard deviations out (1e30 passes as a float32) says nothing
        # a network learned, and would overflow float32 inside it: null probabilities served.
        np.clip(z, -MAX_STANDARD_SCORE, MAX_STANDARD_SCORE, out=z)
        flags = np.isnan(x[:, self.indicators]).astype("float64")
        return np.hstack([z, flags]).astype("float32")

    def one_hot(self, table: EncodedTable) -> np.ndarray:
        """:meth:`standardized` followed by a one-hot block (all k+1 slots) per categorical.

        Example:
            >>> enc = TabularEncoder({"c": ColumnInfo("c", "categorical", 0.0, 2)}).fit(pd.DataFrame({"c": ["a", "b"]}))
            >>> enc.one_hot(enc.transform(pd.DataFrame({"c": ["b"]}))).tolist()
            [[0.0, 0.0, 1.0]]
        """
        blocks = [self.standardized(table)]
        for j, k in enumerate(table.cardinalities):
            blocks.append(np.eye(k, dtype="float32")[table.categorical[:, j]])
        return np.hstack(blocks).astype("float32")

    # ----------------------------------------------------------------- columns
    def check_columns(self, df: pd.DataFrame, ignore: tuple[str, ...] = ()) -> list[str]:
        """Raise if a training column is missing; return notes about extra columns.

        Args:
            df: the table to check (``df.attrs["name"]`` names it in messages).
            ignore: extra columns not worth a note (e.g. the target).

        Raises:
            ColumnError: listing every missing training column.

        Example:
            >>> enc = TabularEncoder({"x": ColumnInfo("x", "numeric", 0.0, 2)})
            >>> enc.check_columns(pd.DataFrame({"x": [1], "foo": [2]}))
            ["ignored 1 extra column: 'foo'"]
        """
        present = {str(c) for c in df.columns}
        missing = [c for c in self.feature_columns if c not in present]
        extra = [str(c) for c in df.columns if str(c) not in self.columns and str(c) not in ignore]
        if missing:
            label = str(df.attrs.get("name", "the data"))
            noun = "column" if len(missing) == 1 else "columns"
            shown = ", ".join(f"'{c}'" for c in missing)
            guesses = [f"'{g}' for '{c}'" for c in missing if (g := closest(c, extra))]
            hint = f"Did you mean {', '.join(guesses)}? " if guesses else ""
            raise ColumnError(
                f"{label} is missing {len(missing)} {noun} the model was trained on: {shown}.",
                hint
                + "Add them (cells may be left empty) or rename the columns to match the training data.",
            )
        if not extra:
            return []
        noun = "column" if len(extra) == 1 else "columns"
        return [f"ignored {len(extra)} extra {noun}: " + ", ".join(f"'{c}'" for c in extra)]

    # -------------------------------------------------------------------- json
    def to_json(self) -> dict[str, Any]:
        """The fitted encoder as plain JSON-safe values (for ``preprocess.json``)."""
        self._require_fitted()
        return {
            "format": FORMAT,
            "version": 1,
            "columns": {n: asdict(c) for n, c in self.columns.items()},
            "specs": self.specs,
            "mean": self.mean,
            "std": self.std,
            "indicators": self.indicators,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TabularEncoder:
        """Rebuild an encoder saved by :meth:`to_json`.

        Example:
            >>> enc = TabularEncoder({"x": ColumnInfo("x", "numeric", 0.0, 2)}).fit(pd.DataFrame({"x": [1, 3]}))
            >>> TabularEncoder.from_json(enc.to_json()).mean
            [2.0]
        """
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise DataError(
                f"The saved preprocessing is not a tabular encoder (format {d.get('format') if isinstance(d, dict) else d!r}).",
                "Check that preprocess.json belongs to a tabular run.",
            )
        enc = cls({n: ColumnInfo(**c) for n, c in d["columns"].items()})
        enc.specs = [dict(s) for s in d["specs"]]
        enc.mean = [float(v) for v in d["mean"]]
        enc.std = [float(v) for v in d["std"]]
        enc.indicators = [int(v) for v in d["indicators"]]
        enc.notes = list(d.get("notes", []))
        enc.fitted = True
        return enc
