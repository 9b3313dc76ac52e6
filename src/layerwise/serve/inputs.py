"""Turn an HTTP request body into the inputs a task's ``predict`` takes, checked on the way.

Every task is reached the same way: the JSON object (or an uploaded file) is mapped to what
the CLI would pass to ``predict``, with limits (rows, pixels, audio seconds) and strict types.
A problem is a :class:`RequestError` naming the field, which the app answers with 4xx.

>>> limits = Limits()
>>> rows_frame({"rows": [{"age": 41, "plan": "pro"}]}, limits).shape
(1, 2)
>>> try:
...     rows_frame({"rows": [{"age": float("nan")}]}, limits)
... except RequestError as e:
...     print(e.status, e.message)
422 rows[0].age: NaN and infinite numbers are not accepted.
>>> try:
...     read_rows({"rows": [{"age": "forty"}]}, limits, {"age": "numeric"})
... except RequestError as e:
...     print(e.status, e.field)
422 rows[0].age
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Limits:
    """What one request may hold; larger requests get 413, malformed ones 422."""

    max_body_bytes: int = 10 * 1024 * 1024
    max_rows: int = 10_000
    max_pixels: int = 25_000_000  # per image: beyond it a file is a decompression bomb
    # decoded pixels per request, summed from the images' headers before any is decoded: one
    # 25 MP photo, or 64 images of 700x700, pass; a request of many small-file bombs does not
    max_request_pixels: int = 32_000_000
    max_images: int = 64
    max_audio_seconds: float = 60.0
    max_text_chars: int = 100_000
    max_concurrency: int = 4  # predictions running at once (threads) ...
    max_queue: int = 28  # ... and requests waiting for one; past both, 503 at once


# The largest float32: the deep models compute in float32, where a larger finite number becomes
# infinity (and then NaN) without an error, so numeric inputs beyond it are refused by name.
FLOAT32_MAX = float(np.finfo(np.float32).max)


class RequestError(Exception):
    """A request the server refuses: ``status`` (4xx), a message naming the field."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _need(body: dict, key: str, kind: type | tuple, what: str) -> Any:
    if key not in body:
        raise RequestError(422, f"'{key}' is missing: give {what}.", key)
    value = body[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise RequestError(422, f"'{key}' must be {what}; got {type(value).__name__}.", key)
    return value


def _scalar(value: Any, field: str) -> Any:
    """A cell of a column with no numeric kind (categories, booleans, dates, or not in the run's
    schema): any JSON scalar but NaN and infinity."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RequestError(422, f"{field}: NaN and infinite numbers are not accepted.", field)
        return value
    raise RequestError(422, f"{field}: expected a number, text, true/false or null; got "
                       f"{type(value).__name__}.", field)  # fmt: skip


def number(value: Any, field: str) -> Any:
    """A cell of a numeric column: a number, a text that reads as one ("41", as CSV-minded
    clients send; returned as a float), or null / blank text for missing. Words, true/false,
    NaN, infinity and numbers beyond float32's range are 422 naming the field.

    >>> number(" 41 ", "rows[0].age"), number(41, "rows[0].age"), number("", "rows[0].age")
    (41.0, 41, None)
    """
    kind = type(value)  # the common cases first: this runs for every cell of every row
    if kind is float and -FLOAT32_MAX <= value <= FLOAT32_MAX:  # NaN fails both: checked below
        return value
    if kind is int and -(2**53) <= value <= 2**53:
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        raise RequestError(422, f"{field}: {str(value).lower()} is not a number; send a number "
                           "or null.", field)  # fmt: skip
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            shown = value if len(value) <= 40 else value[:40] + "..."
            raise RequestError(422, f"{field}: {shown!r} is not a number; send a number "
                               "(e.g. 41) or null.", field) from None  # fmt: skip
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise RequestError(422, f"{field}: NaN and infinite numbers are not accepted.", field)
        if abs(value) > FLOAT32_MAX:
            raise RequestError(422, f"{field}: {float(value):.3g} is beyond the range the model "
                               f"computes in (at most {FLOAT32_MAX:.3g} in size).", field)  # fmt: skip
        return float(value) if abs(value) > 2**53 else value  # no int column pandas cannot hold
    raise RequestError(422, f"{field}: expected a number or null; got "
                       f"{type(value).__name__}.", field)  # fmt: skip


class Joinable:
    """Checked request inputs that concurrent requests can join into one ``predict`` call
    (:mod:`layerwise.serve.batching`): those with equal :meth:`key` are joined by :meth:`join`,
    and :meth:`value` makes what ``predict`` takes, once per batch."""

    def __len__(self) -> int:
        raise NotImplementedError

    def key(self) -> Any:
        """What inputs must share to be joined; None when these cannot be joined."""
        raise NotImplementedError

    @classmethod
    def join(cls, parts: list) -> Joinable:
        raise NotImplementedError

    def value(self) -> Any:
        raise NotImplementedError


class Rows(Joinable):
    """Checked JSON rows held as columns (name -> list of values).

    Building a DataFrame costs about a millisecond whatever its length, so a server joins the
    rows of concurrent requests first (list concatenation) and builds one frame per batch.
    """

    def __init__(self, columns: dict[str, list], length: int):
        self.columns, self.length = columns, length

    def __len__(self) -> int:
        return self.length

    def key(self) -> Any:
        return ("rows", tuple(self.columns))

    @classmethod
    def join(cls, parts: list[Rows]) -> Rows:
        """Rows of parts with the same columns, one after another."""
        names = parts[0].columns
        return Rows({n: [v for part in parts for v in part.columns[n]] for n in names},
                    sum(len(part) for part in parts))  # fmt: skip

    def value(self) -> pd.DataFrame:
        return pd.DataFrame(self.columns, index=pd.RangeIndex(self.length))


def rows_frame(body: dict, limits: Limits, kinds: dict | None = None) -> pd.DataFrame:
    """``{"rows": [{column: value, ...}, ...]}`` as a DataFrame (tables, series, anomalies)."""
    return read_rows(body, limits, kinds).value()


def read_rows(body: dict, limits: Limits, kinds: dict | None = None) -> Rows:
    """``{"rows": [...]}`` checked (types, NaN, the row limit) and held as :class:`Rows`.
    ``kinds`` (column -> kind, from the run's input schema) makes the numeric columns' cells
    numbers or 422 (see :func:`number`); the other columns take any scalar."""
    rows = _need(body, "rows", list, "a list of objects, one per row")
    if not rows:
        raise RequestError(422, "'rows' is empty: give at least one row.", "rows")
    if len(rows) > limits.max_rows:
        raise RequestError(413, f"{len(rows)} rows is more than the {limits.max_rows} allowed "
                           "in one request.", "rows")  # fmt: skip
    numeric = {name for name, kind in (kinds or {}).items() if kind == "numeric"}
    clean = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RequestError(422, f"rows[{i}] must be an object of column: value.", f"rows[{i}]")
        clean.append({str(k): (number if k in numeric else _scalar)(v, f"rows[{i}].{k}")
                      for k, v in row.items()})  # fmt: skip
    names = list(dict.fromkeys(k for row in clean for k in row))
    return Rows({name: [row.get(name) for row in clean] for name in names}, len(clean))


def check_frame(frame: pd.DataFrame, kinds: dict | None, field: str) -> pd.DataFrame:
    """An uploaded table's numeric columns checked as JSON rows are (:func:`number`): the first
    bad cell is 422 naming the file, row and column. Text that reads as numbers is converted."""
    for name, kind in (kinds or {}).items():
        if kind != "numeric" or name not in frame.columns:
            continue
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            values = column.to_numpy(dtype=object)
            checked = [number(v if not _blank(v) else None, f"{field} row {i + 1}, column {name}")
                       for i, v in enumerate(values)]  # fmt: skip
            frame[name] = pd.to_numeric(pd.Series(checked, index=frame.index, dtype=object))
            continue
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        bad = np.flatnonzero(np.isinf(values) | (np.abs(np.nan_to_num(values)) > FLOAT32_MAX))
        if len(bad):
            number(float(values[bad[0]]), f"{field} row {bad[0] + 1}, column {name}")
    return frame


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def texts_list(body: dict, limits: Limits, one: str = "text", many: str = "texts") -> list[str]:
    """``{"text": "..."}`` or ``{"texts": [...]}`` (other key names: ``one``, ``many``; one key
    for both, e.g. ``{"smiles": "CCO"}`` or ``{"smiles": ["CCO", "CCN"]}``)."""
    if one in body and (one != many or isinstance(body[one], str)):
        texts = [_need(body, one, str, "a string")]
    else:
        texts = _need(body, many, list, "a list of strings")
    if not texts:
        raise RequestError(422, f"'{many}' is empty.", many)
    if len(texts) > limits.max_rows:
        raise RequestError(413, f"{len(texts)} {many} is more than the {limits.max_rows} "
                           "allowed.", many)  # fmt: skip
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise RequestError(422, f"{many}[{i}] must be a string.", f"{many}[{i}]")
        if len(text) > limits.max_text_chars:
            raise RequestError(413, f"{many}[{i}] has {len(text)} characters; at most "
                               f"{limits.max_text_chars}.", f"{many}[{i}]")  # fmt: skip
    return texts


def observations(body: dict, limits: Limits) -> np.ndarray:
    """``{"observation": [...]}`` or ``{"observations": [[...], ...]}`` as float32 rows."""
    key = "observation" if "observation" in body else "observations"
    value = _need(
        body, key, list, "a list of numbers" if key == "observation" else "a list of lists"
    )
    rows = [value] if key == "observation" else value
    if not rows or len(rows) > limits.max_rows:
        raise RequestError(422 if not rows else 413, f"'{key}' must hold 1 to "
                           f"{limits.max_rows} observations.", key)  # fmt: skip
    for i, row in enumerate(rows):
        where = key if key == "observation" else f"{key}[{i}]"
        if not isinstance(row, list) or not row:
            raise RequestError(422, f"{where} must be a non-empty list of numbers.", where)
        for j, x in enumerate(row):
            if isinstance(x, (bool, str)) or not isinstance(x, (int, float)):
                raise RequestError(422, f"{where}[{j}] must be a number.", f"{where}[{j}]")
            number(x, f"{where}[{j}]")  # finite, and within float32 (the array's type)
    return np.asarray(rows, dtype=np.float32)


def wav_samples(data: bytes, field: str, limits: Limits) -> tuple[np.ndarray, int]:
    """A WAV file's bytes as mono float32 samples and their rate; a file that is not a WAV
    (PCM or float) or lasts over the limit is refused. Decoded in memory: nothing is written."""
    from layerwise.data.audio import read_wav_bytes
    from layerwise.errors import LayerwiseError

    try:
        samples, rate = read_wav_bytes(data, field)
    except LayerwiseError as error:
        raise RequestError(422, f"{field} is not a WAV file: {error.one_line()}", field) from error
    seconds = len(samples) / rate
    if seconds > limits.max_audio_seconds:
        raise RequestError(413, f"{field} lasts {seconds:.1f} s; at most "
                           f"{limits.max_audio_seconds:g} s are accepted.", field)  # fmt: skip
    return samples, rate
