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
"""

from __future__ import annotations

import base64
import binascii
import io
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
    max_images: int = 64
    max_audio_seconds: float = 60.0
    max_text_chars: int = 100_000
    max_concurrency: int = 4  # predictions running at once (threads) ...
    max_queue: int = 28  # ... and requests waiting for one; past both, 503 at once


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
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RequestError(422, f"{field}: NaN and infinite numbers are not accepted.", field)
        return value
    raise RequestError(422, f"{field}: expected a number, text, true/false or null; got "
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


class Images(Joinable):
    """Decoded images (uint8 arrays); requests whose images share a shape are joined."""

    def __init__(self, arrays: list[np.ndarray]):
        self.arrays = arrays

    def __len__(self) -> int:
        return len(self.arrays)

    def key(self) -> Any:
        shapes = {a.shape for a in self.arrays}
        return ("images", *shapes) if len(shapes) == 1 else None

    @classmethod
    def join(cls, parts: list[Images]) -> Images:
        return Images([a for part in parts for a in part.arrays])

    def value(self) -> Any:
        return image_set(self.arrays)


def rows_frame(body: dict, limits: Limits) -> pd.DataFrame:
    """``{"rows": [{column: value, ...}, ...]}`` as a DataFrame (tables, series, anomalies)."""
    return read_rows(body, limits).value()


def read_rows(body: dict, limits: Limits) -> Rows:
    """``{"rows": [...]}`` checked (types, NaN, the row limit) and held as :class:`Rows`."""
    rows = _need(body, "rows", list, "a list of objects, one per row")
    if not rows:
        raise RequestError(422, "'rows' is empty: give at least one row.", "rows")
    if len(rows) > limits.max_rows:
        raise RequestError(413, f"{len(rows)} rows is more than the {limits.max_rows} allowed "
                           "in one request.", "rows")  # fmt: skip
    clean = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RequestError(422, f"rows[{i}] must be an object of column: value.", f"rows[{i}]")
        clean.append({str(k): _scalar(v, f"rows[{i}].{k}") for k, v in row.items()})
    names = list(dict.fromkeys(k for row in clean for k in row))
    return Rows({name: [row.get(name) for row in clean] for name in names}, len(clean))


def texts_list(body: dict, limits: Limits) -> list[str]:
    """``{"text": "..."}`` or ``{"texts": [...]}``."""
    texts = [_need(body, "text", str, "a string")] if "text" in body else None
    if texts is None:
        texts = _need(body, "texts", list, "a list of strings")
    if not texts:
        raise RequestError(422, "'texts' is empty.", "texts")
    if len(texts) > limits.max_rows:
        raise RequestError(413, f"{len(texts)} texts is more than the {limits.max_rows} allowed.",
                           "texts")  # fmt: skip
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise RequestError(422, f"texts[{i}] must be a string.", f"texts[{i}]")
        if len(text) > limits.max_text_chars:
            raise RequestError(413, f"texts[{i}] has {len(text)} characters; at most "
                               f"{limits.max_text_chars}.", f"texts[{i}]")  # fmt: skip
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
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise RequestError(422, f"{where}[{j}] must be a number.", f"{where}[{j}]")
            _scalar(float(x), f"{where}[{j}]")
    return np.asarray(rows, dtype=np.float32)


def decode_image(data: bytes, field: str, limits: Limits) -> np.ndarray:
    """An image file's bytes as an RGB/gray uint8 array; bombs and corrupt files refused."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise RequestError(422, f"{field} is empty.", field)
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > limits.max_pixels:
                raise RequestError(413, f"{field} is {width}x{height} pixels; at most "
                                   f"{limits.max_pixels:,} are accepted.", field)  # fmt: skip
            image.load()
            mode = "L" if image.mode in ("1", "L", "I;16", "I") else "RGB"
            return np.asarray(image.convert(mode))
    except RequestError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise RequestError(
            422, f"{field} is not an image Pillow can read ({error}).", field
        ) from error


def images_from_json(body: dict, limits: Limits) -> list[np.ndarray]:
    """``{"image": "<base64>"}`` or ``{"images": ["<base64>", ...]}``."""
    items = [_need(body, "image", str, "a base64 string")] if "image" in body else None
    if items is None:
        items = _need(body, "images", list, "a list of base64 strings")
    if not items or len(items) > limits.max_images:
        raise RequestError(422 if not items else 413, f"Give 1 to {limits.max_images} images.",
                           "images")  # fmt: skip
    out = []
    for i, item in enumerate(items):
        field = "image" if "image" in body else f"images[{i}]"
        if not isinstance(item, str):
            raise RequestError(422, f"{field} must be a base64 string.", field)
        try:
            data = base64.b64decode(item.split(",", 1)[-1], validate=True)
        except (binascii.Error, ValueError) as error:
            raise RequestError(422, f"{field} is not valid base64.", field) from error
        out.append(decode_image(data, field, limits))
    return out


def image_set(arrays: list[np.ndarray]) -> Any:
    """Decoded images as an ImageSet (resized by the task to its training size). Images of
    mixed sizes are first resized to the largest one's (not padded: borders would change the
    prediction)."""
    from PIL import Image

    from layerwise.data.images import read_images

    if len({a.shape for a in arrays}) > 1:
        height, width = max(a.shape[0] for a in arrays), max(a.shape[1] for a in arrays)
        rgb = [a if a.ndim == 3 else np.repeat(a[..., None], 3, axis=2) for a in arrays]
        arrays = [a if a.shape[:2] == (height, width) else np.asarray(
            Image.fromarray(a[..., :3]).resize((width, height), Image.BILINEAR)) for a in rgb]  # fmt: skip
        arrays = [a[..., :3] for a in arrays]
    return read_images(np.stack(arrays))


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
