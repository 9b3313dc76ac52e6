"""Column types and the data profile that the ML-vs-DL advisor reads.

:func:`infer_column_types` says what each column is (numeric, categorical, boolean,
datetime, text, id, constant); :func:`profile_table` summarises a whole table.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from layerwise.data.tabular import infer_task_kind
from layerwise.errors import DataError, missing_column

COLUMN_KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "id", "constant")
DROPPED_KINDS = ("text", "id", "constant")
TRUE_TOKENS = {"1", "1.0", "true", "yes", "y", "t"}
FALSE_TOKENS = {"0", "0.0", "false", "no", "n", "f"}
_ID_NAMES = {"id", "index", "key", "uuid", "guid", "unnamed: 0"}


@dataclass
class ColumnInfo:
    """What one column is: its kind, the share of missing cells and its distinct values.

    Example:
        >>> ColumnInfo("age", "numeric", 0.0, 40).kind
        'numeric'
    """

    name: str
    kind: str
    missing: float
    n_unique: int
    note: str = ""


@dataclass
class DataProfile:
    """A short description of a dataset, for the advisor and for people.

    Example:
        >>> p = profile_table(pd.DataFrame({"x": [1.5, 2.5, 3.5], "y": ["a", "b", "a"]}), "y")
        >>> p.n_classes
        2
    """

    modality: str
    n_rows: int
    n_columns: int
    target: str | None
    task_kind: str | None
    n_classes: int | None
    minority_fraction: float | None
    imbalance_ratio: float | None
    kinds: dict[str, int]
    missing_fraction: float
    columns: dict[str, ColumnInfo] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The profile as plain JSON-safe values."""
        out = asdict(self)
        out["columns"] = {name: asdict(info) for name, info in self.columns.items()}
        return out

    def summary_lines(self) -> list[str]:
        """A few short lines, e.g. ``"569 rows x 30 columns (30 numeric)"``."""
        parts = ", ".join(f"{n} {k}" for k, n in self.kinds.items() if n)
        lines = [
            f"{self.n_rows} rows x {self.n_columns} columns" + (f" ({parts})" if parts else "")
        ]
        if self.task_kind == "classification" and self.n_classes is not None:
            line = f"{self.n_classes} classes, minority {100 * (self.minority_fraction or 0):.1f}%"
            if self.imbalance_ratio and self.imbalance_ratio >= 3:
                line += f" (imbalance {self.imbalance_ratio:.1f}:1)"
            lines.append(line)
        elif self.task_kind == "regression":
            lines.append(f"regression target '{self.target}'")
        if self.missing_fraction > 0:
            lines.append(f"{100 * self.missing_fraction:.1f}% of feature cells missing")
        return lines + list(self.notes)


def _missing_mask(s: pd.Series) -> np.ndarray:
    mask = s.isna().to_numpy(dtype=bool)
    if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
        blank = s.astype("string").str.strip().eq("").fillna(False)
        mask = mask | blank.to_numpy(dtype=bool)
    return mask


def looks_like_id_name(name: str) -> bool:
    """True for names such as ``id``, ``customer_id``, ``CustomerID``, ``PassengerId``.

    Example:
        >>> looks_like_id_name("customer_id"), looks_like_id_name("paid")
        (True, False)
    """
    low = name.lower().strip()
    if low in _ID_NAMES or low.startswith("id_") or re.search(r"[_\- ]id$", low):
        return True
    return bool(re.search(r"[a-z0-9](ID|Id)$", name))


def bool_pair(values: list[Any]) -> dict[str, float] | None:
    """A map token -> 0/1 when two values form a yes/no pair (``1/0``, ``true/false``, ``y/n``...).

    Example:
        >>> bool_pair(["Yes", "no"])
        {'yes': 1.0, 'no': 0.0}
    """
    if len(values) != 2:
        return None
    tokens = [bool_token(v) for v in values]
    true = [t for t in tokens if t in TRUE_TOKENS]
    false = [t for t in tokens if t in FALSE_TOKENS]
    if len(true) == 1 and len(false) == 1:
        return {true[0]: 1.0, false[0]: 0.0}
    return None


def bool_token(value: Any) -> str:
    """The normalised text of a value, as used to match yes/no pairs."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip().lower()


def _looks_like_dates(values: pd.Series) -> bool:
    sample = values.astype(str).str.strip()
    sample = sample.drop_duplicates().head(200)
    if sample.empty or not sample.str.contains(r"\d").mean() >= 0.9 or sample.str.len().mean() < 6:
        return False
    if pd.to_numeric(sample, errors="coerce").notna().mean() > 0.5:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
        except (ValueError, TypeError, OverflowError):
            return False
    return bool(parsed.notna().mean() >= 0.9)


def _classify(s: pd.Series, name: str, n_rows: int) -> tuple[str, str]:
    """(kind, note) for one column."""
    missing = _missing_mask(s)
    present = s[~missing]
    n_unique = int(present.astype(str).nunique()) if len(present) else 0
    if n_unique <= 1:
        if n_unique == 0:
            return "constant", f"column '{name}' is entirely missing: dropped"
        value = present.iloc[0]
        value = value.item() if hasattr(value, "item") else value  # 0.0, not np.float64(0.0)
        return "constant", f"column '{name}' has a single value ({value!r}): dropped"
    if pd.api.types.is_bool_dtype(s) or bool_pair(list(pd.unique(present.to_numpy(dtype=object)))):
        return "boolean", ""
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime", ""
    all_distinct = n_unique == n_rows
    if pd.api.types.is_numeric_dtype(s):
        values = present.to_numpy(dtype="float64")
        integer = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
        monotonic = bool(present.is_monotonic_increasing or present.is_monotonic_decreasing)
        if integer and all_distinct and (looks_like_id_name(name) or (monotonic and n_rows > 20)):
            return "id", f"column '{name}' looks like an identifier (every value distinct): dropped"
        return "numeric", _unusable_note(name, present, values)
    text = present.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().mean() >= 0.95:
        return "numeric", _unusable_note(name, text, numbers.to_numpy(dtype="float64"))
    if _looks_like_dates(text):
        return "datetime", ""
    mean_len = float(text.str.len().mean())
    if all_distinct and (n_rows > 20 or looks_like_id_name(name)) and mean_len <= 40:
        return "id", f"column '{name}' looks like an identifier (every value distinct): dropped"
    spaces = float(text.str.count(" ").mean())
    if mean_len > 30 and n_unique / max(len(text), 1) > 0.5 and spaces >= 3:
        return "text", (
            f"column '{name}' looks like free text (mean {mean_len:.0f} characters): dropped "
            "(use text-classification for text)"
        )
    return "categorical", ""


def _unusable_note(name: str, present: pd.Series, values: np.ndarray) -> str:
    """A note counting the values of a numeric column that the encoder reads as missing:
    text that is not a number, inf, -inf and numbers beyond float32 (the models' precision)."""
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(values) <= np.finfo(np.float32).max)
    if not bad.any():
        return ""
    shown = list(dict.fromkeys(str(v) for v in present[bad].head(20)))
    examples = ", ".join(f"'{v}'" for v in shown[:3]) + (", ..." if len(shown) > 3 else "")
    count = int(bad.sum())
    return (
        f"column '{name}' is numeric, but {count} of its {len(values)} values "
        f"({examples}) {'is not a finite number' if count == 1 else 'are not finite numbers'}: "
        "read as missing"
    )


def usable_columns(profile: DataProfile, label: str = "the data") -> None:
    """Refuse a table in which no feature column can be used (all constant, ids or free text),
    before any training: a model of nothing fails deep inside a library.

    Raises:
        DataError: naming every column and why it is not used.

    Example:
        >>> usable_columns(profile_table(pd.DataFrame({"x": [1.5, 2.5], "y": [0, 1]}), "y"))
    """
    if any(c.kind not in DROPPED_KINDS for c in profile.columns.values()):
        return
    where = f" of '{label}'" if label != "the data" else ""
    columns = list(profile.columns.values())
    if not columns:
        raise DataError(
            f"{repr(label) if where else 'The table'} has no feature columns, only the target "
            f"'{profile.target}'.",
            "Add the columns to predict it from.",
        )
    shown = ", ".join(_why_unused(c) for c in columns[:8]) + (", ..." if len(columns) > 8 else "")
    if all(c.kind == "constant" for c in columns):
        problem = (
            f"Every feature column{where} is constant: nothing to learn from (columns: {shown})."
        )
    else:
        problem = f"No feature column{where} can be used (columns: {shown})."
    raise DataError(problem, "Add columns whose values differ from row to row.")


def _why_unused(column: ColumnInfo) -> str:
    if column.kind == "constant":
        single = column.note.partition("(")[2].rpartition(")")[0]
        return f"'{column.name}' is always {single}" if single else f"'{column.name}' is empty"
    return f"'{column.name}' is {'an identifier' if column.kind == 'id' else 'free text'}"


def infer_column_types(df: pd.DataFrame, target: str | None = None) -> dict[str, ColumnInfo]:
    """The kind of every column except the target.

    Args:
        df: the table.
        target: the target column, left out of the result.

    Returns:
        column name -> :class:`ColumnInfo`, in column order.

    Example:
        >>> df = pd.DataFrame({"x": [0.5, 1.5, 2.5], "flag": ["yes", "no", "yes"]})
        >>> {n: c.kind for n, c in infer_column_types(df).items()}
        {'x': 'numeric', 'flag': 'boolean'}
    """
    out: dict[str, ColumnInfo] = {}
    n_rows = len(df)
    for name in df.columns:
        if name == target:
            continue
        s = df[name]
        missing = _missing_mask(s)
        kind, note = _classify(s, str(name), n_rows)
        n_unique = int(s[~missing].astype(str).nunique())
        share = float(missing.mean()) if n_rows else 0.0
        out[str(name)] = ColumnInfo(str(name), kind, share, n_unique, note)
    return out


def profile_table(
    df: pd.DataFrame, target: str | None, task_kind: str | None = None
) -> DataProfile:
    """Describe a table: size, column kinds, missing cells and the target's classes.

    Args:
        df: the table.
        target: the target column, or None (unsupervised).
        task_kind: ``"classification"`` / ``"regression"``; inferred from the target if None.

    Returns:
        The :class:`DataProfile`.

    Raises:
        ColumnError: the target is not a column of ``df``.

    Example:
        >>> p = profile_table(pd.DataFrame({"x": [1.5, 2.5, 3.5, 4.5], "y": [0, 1, 0, 1]}), "y")
        >>> p.summary_lines()[:2]
        ['4 rows x 1 columns (1 numeric)', '2 classes, minority 50.0%']
    """
    if target is not None and target not in df.columns:
        label = str(df.attrs.get("name", "the data"))
        raise missing_column(
            target, df.columns, "Target column", f"'{label}'" if label != "the data" else label
        )
    columns = infer_column_types(df, target)
    kinds = {k: sum(1 for c in columns.values() if c.kind == k) for k in COLUMN_KINDS}
    kinds = {k: n for k, n in kinds.items() if n}
    cells = len(df) * len(columns)
    missing = sum(c.missing * len(df) for c in columns.values())
    notes = [c.note for c in columns.values() if c.note]
    n_classes = minority = ratio = None
    if target is not None:
        y = df[target].dropna()
        task_kind = task_kind or (infer_task_kind(y) if len(y) else None)
        if task_kind and task_kind.startswith("tabular-"):
            task_kind = task_kind.removeprefix("tabular-")
        if task_kind == "classification" and len(y):
            counts = y.astype(str).value_counts()
            n_classes = len(counts)
            minority = float(counts.min() / counts.sum())
            ratio = float(counts.max() / counts.min())
    return DataProfile(
        modality="tabular",
        n_rows=len(df),
        n_columns=len(columns),
        target=target,
        task_kind=task_kind,
        n_classes=n_classes,
        minority_fraction=minority,
        imbalance_ratio=ratio,
        kinds=kinds,
        missing_fraction=float(missing / cells) if cells else 0.0,
        columns=columns,
        notes=notes,
    )
