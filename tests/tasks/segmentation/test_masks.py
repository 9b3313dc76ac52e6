"""Masks read as class indices from every storage people use: indices, 0/255, grey levels,
colours, palette PNGs (255 ignored), and JPEG-blurred binary masks."""

import io

import numpy as np
import pytest
from PIL import Image

from layerwise.errors import DataError
from layerwise.tasks.segmentation.masks import (
    IGNORE,
    apply_encoding,
    class_names,
    encoding_for,
    mask_codes,
)

CLASSES = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)


def _read(image: Image.Image, fmt: str = "PNG") -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return Image.open(io.BytesIO(buffer.getvalue()))


def _classes(images):
    codes = [mask_codes(_read(im)) for im in images]
    encoding = encoding_for(codes)
    return encoding, [apply_encoding(c, encoding) for c in codes]


def test_indices_grey_levels_and_colours_give_the_same_classes():
    colours = np.array([[0, 0, 0], [0, 128, 255], [255, 0, 0]], np.uint8)  # codes ascending
    for image in (Image.fromarray(CLASSES), Image.fromarray((CLASSES * 127).astype(np.uint8)),
                  Image.fromarray(colours[CLASSES])):  # fmt: skip
        encoding, (decoded,) = _classes([image])
        assert encoding["kind"] == "codes" and decoded.tolist() == CLASSES.tolist()
    assert class_names(encoding) == ["#000000", "#0080ff", "#ff0000"]


def test_a_palette_png_keeps_its_indices_and_ignores_255():
    indices = CLASSES.copy()
    indices[0, 0] = 255
    image = Image.fromarray(indices, mode="L").convert("P")
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0, 0, 0] * 252 + [224, 224, 192])
    image = Image.frombytes("P", image.size, indices.tobytes())
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0, 0, 0] * 252 + [224, 224, 192])
    _, (decoded,) = _classes([image])
    assert (
        decoded[0, 0] == IGNORE
        and decoded.reshape(-1)[1:].tolist() == CLASSES.reshape(-1)[1:].tolist()
    )


def test_binary_masks_and_jpeg_blurred_ones():
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 20:40] = 255
    encoding, (decoded,) = _classes([Image.fromarray(mask)])
    assert encoding["kind"] == "binary" and decoded.sum() == 32 * 20
    assert class_names(encoding) == ["background", "foreground"]
    # a JPEG's blur: the edge pixels take every grey level, the rest stay near black or white
    rng = np.random.default_rng(0)
    blurred = mask.astype(np.int64) + rng.integers(0, 31, mask.shape) * np.where(mask, -1, 1)
    edge = np.zeros_like(mask, bool)
    edge[16, 20:40] = True
    blurred[edge] = np.arange(20) * 12
    encoding = encoding_for([blurred])
    assert encoding["kind"] == "thresholded"
    decoded = apply_encoding(blurred, encoding)
    assert (decoded[~edge] == (mask[~edge] > 0)).all()


def test_too_many_values_and_wrong_class_names_are_named():
    ramp = np.tile(np.arange(256, dtype=np.uint8), (4, 1))
    with pytest.raises(DataError, match="256 different values"):
        encoding_for([mask_codes(Image.fromarray(ramp))])
    encoding = encoding_for([CLASSES.astype(np.int64)])
    assert class_names(encoding, ["bg", "cell", "nucleus"]) == ["bg", "cell", "nucleus"]
    with pytest.raises(DataError, match="names 2 classes but the masks hold 3"):
        class_names(encoding, ["bg", "cell"])
