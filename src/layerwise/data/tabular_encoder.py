"""Turn a table into model inputs; the fitted encoder is saved as plain JSON.

Numeric, boolean and datetime columns become float columns (raw scale, NaN where
missing: tree models want them so); categorical columns become integer codes
(0 = missing or unseen). :meth:`TabularEncoder.standardized` and
:meth:`TabularEncoder.one_hot` give the inputs of neural and linear models.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from layerwise.data.profile import DROPPED_KINDS, ColumnInfo, bool_pair, bool_token
from layerwise.errors import ColumnError, DataError, closest

MAX_CATEGORIES = 200
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

    def __len__(self) -> int:
        return int(self.numeric.shape[0])


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


def _to_float(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s):
        s = s.astype("float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = pd.to_numeric(
            s.astype(object).where(~_missing(s.to_numpy(dtype=object)), None), errors="coerce"
        )
    out = np.array(pd.Series(values).to_numpy(dtype="float64", na_value=np.nan), dtype="float64")
    out[~np.isfinite(out)] = np.nan
    return out


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

    def _numeric(self, df: pd.DataFrame) -> np.ndarray:
        blocks: list[np.ndarray] = []
        ready = self._numeric_block(df)
        for spec in self.specs:
            if spec["name"] in ready:
                blocks.append(ready[spec["name"]])
                continue
            s = df[spec["name"]]
            if spec["kind"] == "numeric":
                blocks.append(_to_float(s)[:, None])
            elif spec["kind"] == "boolean":
                mapping = spec["map"]
                values = s.to_numpy(dtype=object)
                miss = _missing(values)
                col = [
                    np.nan if m else mapping.get(bool_token(v), np.nan)
                    for v, m in zip(values, miss, strict=True)
                ]
                blocks.append(np.asarray(col, dtype="float64")[:, None])
            elif spec["kind"] == "datetime":
                dt = _to_datetime(s)
                parts = [getattr(dt.dt, _DT_ATTR.get(p, p)) for p in DATE_PARTS] + (
                    [dt.dt.hour] if spec["hour"] else []
                )
                blocks.append(
                    np.column_stack([p.to_numpy(dtype="float64", na_value=np.nan) for p in parts])
                )
        return np.hstack(blocks) if blocks else np.zeros((len(df), 0), dtype="float64")

    def _numeric_block(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """Numeric columns that already hold numbers, converted in one step (a column at a time
        costs ~0.1 ms each in pandas: most of a served single-row prediction)."""
        names = [s["name"] for s in self.specs if s["kind"] == "numeric"]
        dtypes = dict(zip(df.columns, df.dtypes, strict=True))
        names = [n for n in names if pd.api.types.is_numeric_dtype(dtypes[n])
                 and not pd.api.types.is_bool_dtype(dtypes[n])]  # fmt: skip
        if not names:
            return {}
        block = np.array(df[names].to_numpy(dtype="float64", na_value=np.nan), dtype="float64")
        block[~np.isfinite(block)] = np.nan
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

    def _codes(self, df: pd.DataFrame) -> np.ndarray:
        cols = []
        for spec in self.categorical_specs:
            lookup = {c: i + 1 for i, c in enumerate(spec["categories"])}
            other = len(lookup) + 1 if spec["other"] else 0
            values = df[spec["name"]].to_numpy(dtype=object)
            miss = _missing(values)
            cols.append(
                [
                    0 if m else lookup.get(_category_key(v), other)
                    for v, m in zip(values, miss, strict=True)
                ]
            )
        return np.asarray(cols, dtype="int64").T.reshape(len(df), len(cols))

    def transform(self, df: pd.DataFrame) -> EncodedTable:
        """The table as an :class:`EncodedTable` (raw numeric values, NaN where missing).

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
        return EncodedTable(
            numeric=self._numeric(df).astype("float32"),
            categorical=self._codes(df),
            numeric_names=self.numeric_names,
            categorical_names=[s["name"] for s in specs],
            cardinalities=[len(s["categories"]) + 1 + int(s["other"]) for s in specs],
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
