"""The molecules of a run: reading them from a table, an SDF or a ``.smi`` file.

:func:`read_molecules` turns what a chemist brings into a :class:`MoleculeSet` (canonical
SMILES, RDKit molecules, a float target matrix with NaN for missing values), the one form every
model of the application reads. It finds the SMILES column and the target when they are not
named, skips what cannot be read and says so in ``notes``, and refuses targets that cannot be
trained on with an error naming the column, the row and the value.

Rows are counted from 1: ``row 1`` is the first row below a table's header, ``record 1`` the
first molecule of an SDF file, ``line 1`` the first line of a ``.smi`` file.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layerwise.errors import ColumnError, DataError, closest, missing_column
from layerwise.tasks.molecules.chemistry import parse_smiles, sdf_records

MAX_ROWS = 2_000_000
SDF_SUFFIXES = {".sdf", ".sd"}
SMI_SUFFIXES = {".smi", ".smiles"}
TABLE_SUFFIXES = {".csv", ".tsv", ".tab", ".parquet", ".pq", ".jsonl", ".ndjson"}
# True/False and yes/no columns are read as 1/0 classes (only when every value is one of them)
BOOL_WORDS = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0}
_ID_NAMES = {"id", "num", "number", "no", "index", "idx", "row", "rowid", "key", "unnamed: 0"}
_NAME_COLUMN = re.compile(
    r"^(names?|title|iupac|drug( ?name)?|(compound|mol|molecule|chembl)[ _]?(id|name)?)$"
)
_SMILES_CHARS = re.compile(r"^[A-Za-z0-9@+\-\[\]()=#$%/\\.:*~]+$")


@dataclass
class MoleculeSet:
    """Molecules with their measured values: the data contract of the application.

    Example:
        >>> s = read_molecules(pd.DataFrame({"smiles": ["CCO", "c1ccccc1"], "y": [0.5, 1.5]}))
        >>> s.smiles, s.target_names, s.kind, s.targets.shape
        (['CCO', 'c1ccccc1'], ['y'], 'regression', (2, 1))
    """

    smiles: list[str]
    mols: list[Any]
    targets: np.ndarray
    target_names: list[str]
    kind: str
    names: list[str] | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.smiles)

    def subset(self, index: Any) -> MoleculeSet:
        """The molecules at ``index`` (an array of ints), in that order."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        return MoleculeSet(
            smiles=[self.smiles[i] for i in index],
            mols=[self.mols[i] for i in index],
            targets=self.targets[index],
            target_names=list(self.target_names),
            kind=self.kind,
            names=None if self.names is None else [self.names[i] for i in index],
            notes=list(self.notes),
        )


@dataclass
class _Source:
    frame: pd.DataFrame  # every column but the SMILES of an SDF file
    label: str  # the file's name, for messages
    unit: str = "row"  # how a row is called in messages
    smiles_column: str | None = None  # None: ``texts`` holds the SMILES
    texts: list[Any] | None = None
    problems: dict[int, str] = field(default_factory=dict)  # rows already known to be bad
    numbers: list[int] | None = None  # the number shown for each row (default: 1, 2, ...)

    @property
    def where(self) -> str:
        return f"'{self.label}'" if self.label != "the data" else self.label


def read_molecules(
    data: Any,
    smiles_column: str | None = None,
    target: Any = None,
    largest_fragment: bool = True,
    require_targets: bool = True,
    merge_duplicates: bool = True,
) -> MoleculeSet:
    """Read molecules and their targets.

    Args:
        data: a MoleculeSet (returned as is), a DataFrame, a list of SMILES, or a path: a table
            (CSV/TSV/Parquet/JSONL), an SDF file (targets from its SD properties) or a ``.smi``
            file (``SMILES [name]`` per line).
        smiles_column: the column of SMILES; None: a column named like ``smiles``, else the
            text column whose first 50 values are mostly SMILES.
        target: None, a column, ``"NR-AR,NR-AhR"`` or a list of columns. None while
            ``require_targets``: the one numeric column that is not an id.
        largest_fragment: keep the largest fragment of each molecule (salts dropped).
        require_targets: False for molecules to score: targets are read only when named and
            present, rows are neither dropped for missing targets nor merged when repeated.
        merge_duplicates: merge the rows of one molecule (the same canonical SMILES) into one:
            the mean of their values, or the majority of their labels (a 50/50 tie dropped).

    Returns:
        The MoleculeSet; ``kind`` is ``"classification"`` when every target holds only 0/1
        (True/False and yes/no are read as 1/0), else ``"regression"``.

    Raises:
        ColumnError: no SMILES column, a target that is missing, not numeric or a mix of
            classes and values.
        DataError: unreadable file, no readable SMILES, too many rows, nothing left.

    Example:
        >>> frame = pd.DataFrame({"smiles": ["OCC", "C(O)C", "c1ccccc1", "C1CC"], "active": [1, 1, 0, 0]})
        >>> s = read_molecules(frame)
        >>> s.kind, s.smiles, s.notes[0]
        ('classification', ['CCO', 'c1ccccc1'], "1 of 4 SMILES could not be read and were skipped: row 4 'C1CC': unclosed ring 1 (opened at position 2)")
    """
    if isinstance(data, MoleculeSet):
        return data
    source = _load(data)
    if len(source.frame) > MAX_ROWS:
        raise _too_many(source.label)
    texts = _smiles_texts(source, smiles_column)
    names = _target_columns(source, target, require_targets)
    values = np.stack([_numbers(source, c) for c in names], axis=1) if names else None
    values = values if values is not None else np.zeros((len(texts), 0))
    notes = list(source.frame.attrs.get("notes", []))
    if np.isinf(values).any():
        notes.append(f"{int(np.isinf(values).sum()):,} target values that are not finite (inf) "
                     "were treated as missing")  # fmt: skip
        values[np.isinf(values)] = np.nan
    empty = [n for n, v in zip(names, values.T, strict=True) if np.isnan(v).all()]
    if empty and require_targets:
        raise DataError(f"Target column '{empty[0]}' in {source.where} has no values.",
                        "Choose a target column that is filled in.")  # fmt: skip
    molset, rows = _parse_all(source, texts, values, names, notes, largest_fragment)
    if require_targets and names:
        missing = np.isnan(molset.targets).all(axis=1)
        if missing.any():
            where = ", ".join(f"{source.unit} {source.numbers[i]}" for i in rows[missing][:3])
            more = " ..." if missing.sum() > 3 else ""
            molset.notes.append(f"{int(missing.sum()):,} molecules with no target value were "
                                f"skipped ({where}{more})")  # fmt: skip
            molset = molset.subset(np.flatnonzero(~missing))
        molset = _merge_duplicates(molset) if merge_duplicates else molset
    if len(molset) == 0:
        raise DataError(f"No molecule of {source.where} has a target value.",
                        "Fill in the target column(s) or choose other ones with --target.")  # fmt: skip
    return molset


def _parse_all(source: _Source, texts: list[Any], values: np.ndarray, names: list[str],
               notes: list[str], largest_fragment: bool) -> tuple[MoleculeSet, np.ndarray]:  # fmt: skip
    """The MoleculeSet of the rows whose SMILES parse, and those rows' indices."""
    numbers = source.numbers = source.numbers or list(range(1, len(texts) + 1))
    keep, smiles, mols, bad, stripped = [], [], [], [], []
    for i, text in enumerate(texts):
        parsed = parse_smiles(text, largest_fragment) if i not in source.problems else None
        if parsed is None or not parsed.ok:
            bad.append((i, parsed.problem if parsed else source.problems[i]))
            continue
        keep.append(i)
        smiles.append(parsed.smiles)
        mols.append(parsed.mol)
        if parsed.stripped:
            stripped.append((i, parsed.smiles))
    shown = "; ".join(f"{source.unit} {numbers[i]} {_short(texts[i])}: {p}" for i, p in bad[:3])
    if not keep:
        raise DataError(
            f"None of the {len(texts):,} SMILES in {source.where} could be read: {shown}.",
            "Check that the SMILES column holds SMILES (e.g. CCO for ethanol), or name it "
            "with --smiles-column.",
        )
    if bad:
        notes.append(f"{len(bad):,} of {len(texts):,} SMILES could not be read and were skipped: "
                     f"{shown}" + (" ..." if len(bad) > 3 else ""))  # fmt: skip
    if stripped:
        i, parent = stripped[0]
        notes.append(f"{len(stripped):,} molecules had salts or solvents removed (the largest "
                     f"fragment kept), e.g. {source.unit} {numbers[i]} {_short(texts[i])} -> "
                     f"{_short(parent)}")  # fmt: skip
    rows = np.asarray(keep, dtype=np.int64)
    column = _names_column(source, names)
    labels = None if column is None else [_text(source.frame[column].iloc[i]) for i in rows]
    kind = _kind(names, values, source)
    molset = MoleculeSet(smiles, mols, values[rows].astype(np.float64), list(names), kind,
                         labels, notes)  # fmt: skip
    return molset, rows


def _merge_duplicates(molset: MoleculeSet) -> MoleculeSet:
    """One row per canonical SMILES: the mean (regression) or the majority (classification)."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(molset.smiles):
        groups.setdefault(s, []).append(i)
    if len(groups) == len(molset):
        return molset
    firsts = np.asarray([rows[0] for rows in groups.values()], dtype=np.int64)
    merged = molset.subset(firsts)
    repeated = 0
    for k, rows in enumerate(groups.values()):
        if len(rows) == 1:
            continue
        repeated += 1
        block = molset.targets[rows]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a target missing in every copy
            mean = np.nanmean(block, axis=0)
        if molset.kind == "classification":
            mean = np.where(mean > 0.5, 1.0, np.where(mean < 0.5, 0.0, np.nan))
        merged.targets[k] = mean
    note = (f"{repeated:,} molecules appeared more than once (the same canonical SMILES) and were "
            "merged into one row each")  # fmt: skip
    conflicting = np.isnan(merged.targets).all(axis=1)
    if molset.kind == "classification":
        note += " by the majority of their labels"
        if conflicting.any():
            note += f"; {int(conflicting.sum()):,} whose labels conflict 50/50 were dropped"
    else:
        note += " with the mean of their values"
    merged.notes.append(note)
    return merged.subset(np.flatnonzero(~conflicting)) if conflicting.any() else merged


# ---- reading the source ------------------------------------------------------------------
def _load(data: Any) -> _Source:
    from layerwise.data.tabular import read_table

    if isinstance(data, (list, tuple)) and all(isinstance(x, str) for x in data):
        return _Source(pd.DataFrame({"smiles": list(data)}), "the data", smiles_column="smiles")
    if isinstance(data, (str, Path)) and Path(data).suffix.lower() in SDF_SUFFIXES | SMI_SUFFIXES:
        path = Path(data)
        if not path.is_file():
            raise DataError(f"'{path}' does not exist or is not a file.",
                            "Check the path (relative paths start from the current folder).")  # fmt: skip
        return _read_sdf(path) if path.suffix.lower() in SDF_SUFFIXES else _read_smi(path)
    frame = read_table(data)
    return _Source(frame, str(frame.attrs.get("name", "the data")))


def _read_sdf(path: Path) -> _Source:
    from rdkit import Chem

    texts, rows, problems = [], [], {}
    for i, (mol, props, problem) in enumerate(sdf_records(path, MAX_ROWS)):
        if i >= MAX_ROWS:
            raise _too_many(path.name)
        if mol is None:
            problems[i] = problem
        texts.append("" if mol is None else Chem.MolToSmiles(mol))
        rows.append(props)
    if not rows:
        raise DataError(f"'{path.name}' holds no molecules.", "Give an SDF file with records.")
    frame = pd.DataFrame.from_records(rows)
    name = "name" if "name" not in frame.columns else "sdf_name"
    frame = frame.rename(columns={"_Name": name})
    return _Source(frame, path.name, "record", texts=texts, problems=problems)


def _read_smi(path: Path) -> _Source:
    texts, labels, numbers = [], [], []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        parts = line.strip().split(None, 1)
        if not parts or parts[0].startswith("#") or (not texts and parts[0].lower() == "smiles"):
            continue
        if len(texts) >= MAX_ROWS:
            raise _too_many(path.name)
        texts.append(parts[0])
        labels.append(parts[1].strip() if len(parts) > 1 else "")
        numbers.append(number)
    if not texts:
        raise DataError(f"'{path.name}' holds no SMILES.", "Write one SMILES [name] per line.")
    frame = pd.DataFrame({"name": labels}) if any(labels) else pd.DataFrame(index=range(len(texts)))
    return _Source(frame, path.name, "line", texts=texts, numbers=numbers)


def smiles_of(data: Any, smiles_column: str | None = None) -> list[Any]:
    """The SMILES of a file or table as given, in order and with repeats (prediction's inputs);
    an SDF record RDKit cannot read is a DataError naming it."""
    source = _load(data)
    texts = _smiles_texts(source, smiles_column)
    for i, problem in sorted(source.problems.items())[:1]:
        raise DataError(f"{source.unit.capitalize()} {i + 1} of {source.where} cannot be read: "
                        f"{problem}.", "Correct or remove it.")  # fmt: skip
    return texts


def _too_many(label: str) -> DataError:
    return DataError(f"'{label}' holds more than {MAX_ROWS:,} molecules.",
                     f"Train on a sample of at most {MAX_ROWS:,} rows.")  # fmt: skip


# ---- columns ------------------------------------------------------------------------------
def _smiles_texts(source: _Source, smiles_column: str | None) -> list[Any]:
    if source.texts is not None:
        return source.texts
    frame = source.frame
    column = smiles_column or source.smiles_column
    if column is not None and column not in frame.columns:
        raise missing_column(column, frame.columns, "SMILES column", source.where)
    column = column or _named_smiles(frame.columns)
    if column is None:
        shares = {c: _smiles_share(frame[c].head(50)) for c in _text_columns(frame)}
        best = max(shares, key=lambda c: shares[c], default=None)
        if best is None or shares[best] <= 0.5:
            guess = closest("smiles", frame.columns)
            guess = guess or (best if best is not None and shares[best] > 0 else None)
            shown = ", ".join(map(str, frame.columns[:12]))
            raise ColumnError(
                f"No column of {source.where} holds SMILES (columns: {shown}).",
                (f"Did you mean '{guess}'? " if guess else "")
                + "Name the column of SMILES with --smiles-column.",
            )
        column = best
        frame.attrs.setdefault("notes", []).append(
            f"read the SMILES from column '{best}' ({shares[best]:.0%} of its first values are SMILES)"
        )
    source.smiles_column = column
    return list(frame[column])


def _named_smiles(columns: Any) -> str | None:
    named = [c for c in columns if "smiles" in str(c).lower() or str(c).lower() == "smile"]
    exact = [c for c in named if str(c).lower() == "smiles"]
    return (exact or named or [None])[0]


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c
        for c in frame.columns
        if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])
    ]


def _smiles_share(values: Any) -> float:
    """The share of the non-empty values that parse as SMILES of 3 or more heavy atoms on
    average (so that codes such as 'CO' or 'NC' in an ordinary table do not count)."""
    texts = [str(v).strip() for v in values if isinstance(v, str) and v.strip()]
    if not texts:
        return 0.0
    parsed = [parse_smiles(t, False) for t in texts if _SMILES_CHARS.match(t)]
    good = [p.mol.GetNumHeavyAtoms() for p in parsed if p.ok]
    if not good or np.mean(good) < 3:
        return 0.0
    return len(good) / len(texts)


def _target_columns(source: _Source, target: Any, require_targets: bool) -> list[str]:
    frame = source.frame
    if isinstance(target, str):
        target = [t.strip() for t in target.split(",") if t.strip()]
    if target is not None:
        names = [str(t) for t in target]
        absent = [t for t in names if t not in frame.columns]
        if absent and require_targets:
            raise missing_column(absent[0], frame.columns, "Target column", source.where)
        return [] if absent else names
    if not require_targets:
        return []
    numbers = {c: _as_numbers(frame[c]) for c in frame.columns if c != source.smiles_column}
    candidates = [c for c, v in numbers.items()
                  if v is not None and not np.isnan(v).all() and not _id_like(frame[c])]  # fmt: skip
    if len(candidates) == 1:
        return candidates
    if not candidates:
        raise ColumnError(f"No column of {source.where} holds numbers to predict.",
                          "Name the target column(s) with --target.")  # fmt: skip
    shown = ", ".join(f"'{c}'" for c in candidates[:12])
    raise ColumnError(f"{source.where} has several numeric columns that could be the target: "
                      f"{shown}.", "Say which to predict with --target (e.g. --target "
                      f"'{candidates[-1]}'; several: comma-separated).")  # fmt: skip


def _id_like(column: pd.Series) -> bool:
    name = str(column.name).strip().lower()
    if name in _ID_NAMES or name.startswith("unnamed") or re.search(r"(^|[\s_.-])id$", name):
        return True
    if not pd.api.types.is_integer_dtype(column) or len(column) < 3:
        return False
    values = column.to_numpy(dtype=np.int64)  # row numbers: 0, 1, 2, ... or 1, 2, 3, ...
    return bool(values[0] in (0, 1) and np.array_equal(values, values[0] + np.arange(len(values))))


def _as_numbers(column: pd.Series) -> np.ndarray | None:
    """The column as floats (NaN where missing), or None when a value is not a number."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    text = column.astype("string").str.strip()
    missing = column.isna().to_numpy() | text.eq("").fillna(True).to_numpy(dtype=bool)
    numbers = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(
        np.float64, na_value=np.nan
    )
    words = text.str.lower()
    if (~missing & np.isnan(numbers)).any():
        if not words[~missing].isin(list(BOOL_WORDS)).all():
            return None
        numbers = words.map(BOOL_WORDS).to_numpy(np.float64, na_value=np.nan)
    return numbers


def _numbers(source: _Source, name: str) -> np.ndarray:
    column = source.frame[name]
    values = _as_numbers(column)
    if values is not None:
        return values
    text = column.astype("string").str.strip()
    bad = (text.ne("") & pd.to_numeric(text, errors="coerce").isna()).fillna(False).to_numpy(bool)
    first = int(np.flatnonzero(bad)[0])
    number = (source.numbers or list(range(1, len(column) + 1)))[first]
    more = f" (and {int(bad.sum()) - 1:,} more)" if bad.sum() > 1 else ""
    raise ColumnError(f"Target column '{name}' in {source.where} holds text that is not a "
                      f"number: {source.unit} {number} has {str(column.iloc[first])[:40]!r}{more}.",
                      "Give numbers in every target column (0/1 for classes) and leave a cell "
                      "empty when a value is missing.")  # fmt: skip


def _kind(names: list[str], values: np.ndarray, source: _Source) -> str:
    if not names:
        return "regression"
    binary = [bool(np.isin(v[~np.isnan(v)], (0.0, 1.0)).all()) for v in values.T]
    if all(binary):
        return "classification"
    if not any(binary):
        return "regression"
    classes = ", ".join(f"'{n}'" for n, b in zip(names, binary, strict=True) if b)
    numbers = ", ".join(f"'{n}'" for n, b in zip(names, binary, strict=True) if not b)
    raise ColumnError(f"The targets of {source.where} mix classes ({classes} hold only 0/1) and "
                      f"measured values ({numbers}).", "Train the classification and the "
                      "regression targets in separate runs (--target).")  # fmt: skip


def _names_column(source: _Source, targets: list[str]) -> str | None:
    for c in source.frame.columns:
        if c not in targets and c != source.smiles_column and _NAME_COLUMN.match(str(c).lower()):
            return str(c)
    return None


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _short(text: Any) -> str:
    text = str(text)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def looks_like_molecules(data: Any) -> bool:
    """Whether ``data`` holds molecules: a MoleculeSet, an SDF or ``.smi`` file, or a table
    with a column named like ``smiles`` or a text column whose first 20 values are mostly
    SMILES. Cheap (at most 50 rows are read) and never raises.

    Example:
        >>> looks_like_molecules(pd.DataFrame({"mol": ["CCO", "c1ccccc1O", "CC(=O)O"]}))
        True
        >>> looks_like_molecules(pd.DataFrame({"species": ["Adelie", "Gentoo"], "mass": [3750, 5000]}))
        False
    """
    try:
        if isinstance(data, MoleculeSet):
            return True
        if isinstance(data, (str, Path)):
            path = Path(data)
            suffix = path.suffix.lower()
            if not path.is_file() or suffix not in SDF_SUFFIXES | SMI_SUFFIXES | TABLE_SUFFIXES:
                return False
            if suffix in SDF_SUFFIXES | SMI_SUFFIXES:
                return True
            data = _head(path, suffix)
        if not isinstance(data, pd.DataFrame):
            return False
        head = data.head(50)
        if _named_smiles(head.columns) is not None:
            return True
        return any(_smiles_share(head[c].dropna().head(20)) > 0.5 for c in _text_columns(head))
    except Exception:  # a guess about the data must never stop the caller
        return False


def _head(path: Path, suffix: str) -> pd.DataFrame | None:
    """The first 50 rows of a table file, read cheaply."""
    if suffix in {".parquet", ".pq"}:
        import pyarrow.parquet as pq

        batch = next(pq.ParquetFile(path).iter_batches(batch_size=50), None)
        return None if batch is None else batch.to_pandas()
    if suffix in {".jsonl", ".ndjson"}:
        import json

        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = [line for _, line in zip(range(50), handle, strict=False) if line.strip()]
        return pd.DataFrame.from_records([json.loads(line) for line in lines])
    sep = "," if suffix == ".csv" else "\t"
    return pd.read_csv(path, sep=sep, nrows=50, skipinitialspace=True, encoding_errors="replace")
