"""Images in a request, decoded with their memory bounded by what they decode to.

An image file's header gives its size before any pixel is decoded (Pillow reads it in
``Image.open``; ``load()`` decodes), so every image of a request is opened first and the request
is refused (413, naming the field and the limit) when one image, or all of them together, would
decode to more pixels than the limits allow. A 100 KB PNG can hold 25 megapixels of one colour:
the compressed size says nothing about the decoded one.

The images that pass are then decoded one at a time, on the event loop (so one image at a time in
the whole server), and each is brought at once to the run's input size and channels (the same
``resize_crop`` the task applies), so what a request holds while it waits, and what the
micro-batcher joins from several requests, is images of the model's size, never full frames.

>>> from PIL import Image
>>> from layerwise.serve.inputs import Limits
>>> buffer = io.BytesIO()
>>> Image.new("L", (40, 30)).save(buffer, format="PNG")
>>> decode_image(buffer.getvalue(), "file", Limits(), shape=(8, 8, 1)).shape
(8, 8)
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from typing import Any

import numpy as np

from layerwise.serve.inputs import Joinable, Limits, RequestError

_GRAY_MODES = ("1", "L", "I;16", "I")
# the formats a request may hold (those `layerwise predict` reads from files; JPEG's opener also
# takes cameras' MPO): Pillow would otherwise also open EPS (through Ghostscript), PSD, ICNS and
# dozens more
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")


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


def set_pillow_limits(limits: Limits) -> None:
    """Pillow's own decompression-bomb limit set to the server's (a server process only: it is
    process-wide). Pillow refuses images over twice it at ``Image.open``, which the server answers
    413; its warning for images between once and twice it is silenced, because the server's own
    check (:func:`open_image`) refuses those with a 413 naming the limit."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def open_image(data: bytes, field: str, limits: Limits) -> Any:
    """The image in ``data`` opened, not decoded: its size is known, its pixels are not read.
    Over ``limits.max_pixels`` is 413; not an image Pillow reads is 422."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise RequestError(422, f"{field} is empty.", field)
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as error:
        raise _too_many(field, None, limits) from error
    except UnidentifiedImageError as error:
        raise RequestError(422, f"{field} is not an image: give a PNG, JPEG, GIF, BMP, TIFF or "
                           "WebP file.", field) from error  # fmt: skip
    except (OSError, ValueError, SyntaxError) as error:
        raise RequestError(
            422, f"{field} is not an image Pillow can read ({error}).", field
        ) from error
    width, height = image.size
    if width * height > limits.max_pixels:
        image.close()
        raise _too_many(field, (width, height), limits)
    return image


def _too_many(field: str, size: tuple[int, int] | None, limits: Limits) -> RequestError:
    what = f"{size[0]}x{size[1]} pixels" if size else "over Pillow's decompression-bomb limit"
    return RequestError(413, f"{field} is {what}; at most {limits.max_pixels:,} pixels are "
                        "accepted per image. Send a smaller image.", field)  # fmt: skip


def decode(image: Any, field: str, shape: tuple | None = None) -> np.ndarray:
    """An opened image decoded as a uint8 array: at the run's ``(height, width, channels)`` when
    ``shape`` is known (resized and cropped as the task would), else as it is (gray or RGB)."""
    from PIL import Image

    from layerwise.data.image_set import resize_crop

    try:
        with image:
            image.load()
            gray = image.mode in _GRAY_MODES
            channels = shape[2] if shape else None
            mode = {1: "L", 3: "RGB"}.get(channels, "L" if gray else "RGB")
            converted = image if image.mode == mode else image.convert(mode)
            if shape:
                converted = resize_crop(converted, shape[:2])
            return np.asarray(converted)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise RequestError(
            422, f"{field} is not an image Pillow can read ({error}).", field
        ) from error


def decode_image(data: bytes, field: str, limits: Limits, shape: tuple | None = None) -> np.ndarray:
    """An image file's bytes as an array (see :func:`decode`); bombs and corrupt files refused."""
    return decode(open_image(data, field, limits), field, shape)


def images_from_json(body: dict, limits: Limits, shape: tuple | None = None) -> list[np.ndarray]:
    """``{"image": "<base64>"}`` or ``{"images": ["<base64>", ...]}``: every image opened (its
    header read) before any is decoded, so a request whose images add up to more than
    ``limits.max_request_pixels`` is refused without decoding one."""
    from layerwise.serve.inputs import _need

    single = "image" in body
    items = [_need(body, "image", str, "a base64 string")] if single else None
    if items is None:
        items = _need(body, "images", list, "a list of base64 strings")
    if not items or len(items) > limits.max_images:
        raise RequestError(422 if not items else 413, f"Give 1 to {limits.max_images} images.",
                           "images")  # fmt: skip
    opened: list[tuple[str, Any]] = []
    try:
        total = 0
        for i, item in enumerate(items):
            field = "image" if single else f"images[{i}]"
            if not isinstance(item, str):
                raise RequestError(422, f"{field} must be a base64 string.", field)
            try:
                data = base64.b64decode(item.split(",", 1)[-1], validate=True)
            except (binascii.Error, ValueError) as error:
                raise RequestError(422, f"{field} is not valid base64.", field) from error
            image = open_image(data, field, limits)
            opened.append((field, image))
            total += image.size[0] * image.size[1]
        if total > limits.max_request_pixels:
            raise RequestError(413, f"The {len(items)} images hold {total:,} pixels (from their "
                               f"headers); at most {limits.max_request_pixels:,} are decoded "
                               "per request. Send fewer or smaller images.", "images")  # fmt: skip
        out = []
        while opened:  # decoded one by one; each leaves the list, its file closed, when done
            field, image = opened.pop(0)
            out.append(decode(image, field, shape))
        return out
    finally:
        for _, image in opened:
            image.close()


def image_set(arrays: list[np.ndarray]) -> Any:
    """Decoded images as an ImageSet (resized by the task to its training size). Images of
    mixed sizes (only when the run's input size is unknown: otherwise every image already has
    it) are first resized to the largest one's (not padded: borders would change the
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


def input_shape(schema: dict | None) -> tuple[int, int, int] | None:
    """``(height, width, channels)`` of an image run's input schema; None when it is not one.

    >>> input_shape({"type": "image", "height": 8, "width": 8, "channels": 1})
    (8, 8, 1)
    """
    schema = schema or {}
    try:
        shape = (int(schema["height"]), int(schema["width"]), int(schema["channels"]))
    except (KeyError, TypeError, ValueError):
        return None
    return (
        shape if schema.get("type") == "image" and shape[2] in (1, 3) and min(shape) > 0 else None
    )
