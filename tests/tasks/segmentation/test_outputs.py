"""The pieces of a segmentation run between the models and the files: splitting by image, the
choice between the two models, the scores it records, and masks as palette PNGs."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from layerwise.tasks.segmentation.drawing import mask_png, overlay, palette_for
from layerwise.tasks.segmentation.fit import choose, score_masks, split_images
from layerwise.tasks.segmentation.readers import from_arrays


def _task(**options):
    defaults = {"seed": 0, "val_fraction": 0.15, "test_fraction": 0.2}
    return SimpleNamespace(option=lambda k: {**defaults, **options}[k])


def test_images_are_split_by_image_and_an_npz_keeps_its_own_test_split():
    data = from_arrays(np.zeros((20, 8, 8), np.uint8), np.tile([0, 1], (20, 8, 4)).astype(np.uint8))
    parts = split_images(_task(), {"train": data})
    assert [len(parts[k]) for k in ("train", "val", "test")] == [13, 3, 4]
    names = [set(parts[k].names) for k in parts]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    test = from_arrays(np.zeros((2, 8, 8), np.uint8), np.ones((2, 8, 8), np.uint8),
                       encoding=data.encoding)  # fmt: skip
    parts = split_images(_task(), {"train": data, "test": test})
    assert len(parts["test"]) == 2 and len(parts["train"]) + len(parts["val"]) == 20
    three = split_images(_task(), {"train": data.subset(range(3))})
    assert [len(three[k]) for k in ("train", "val", "test")] == [1, 1, 1]


def test_the_simpler_model_is_served_unless_the_unet_is_a_point_better():
    rows = [{"candidate": "pixel-forest", "validation": {"mean_dice": 0.800}},
            {"candidate": "unet", "validation": {"mean_dice": 0.805}}]  # fmt: skip
    assert choose(rows)[0] == "pixel-forest"
    rows[1]["validation"]["mean_dice"] = 0.82
    assert choose(rows)[0] == "unet"


def test_scores_match_a_hand_computed_case():
    truth = [np.array([[0, 0, 1, 1], [0, 0, 1, 1]]), np.array([[0, 0, 0, 0], [0, 0, 0, 255]])]
    predicted = [np.array([[0, 1, 1, 1], [0, 0, 1, 1]]), np.array([[0, 0, 0, 0], [0, 0, 0, 1]])]
    scores = score_masks(["background", "cell"], truth, predicted, summary=True)
    # cell: 4 true pixels, 5 predicted in the first image (the 255 pixel counts nowhere)
    assert scores["dice"]["cell"] == pytest.approx(8 / 9)
    assert scores["iou"]["cell"] == pytest.approx(4 / 5)
    assert scores["pixel_accuracy"] == pytest.approx(14 / 15)
    assert scores["per_image_dice"][0] == pytest.approx(8 / 9)
    assert scores["per_image_dice"][1] is None  # no cell in truth nor prediction
    assert np.asarray(scores["confusion"]).tolist() == [[10, 1], [0, 4]]


def test_a_mask_png_holds_the_class_indices_and_shows_the_masks_own_colours():
    mask = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    encoding = {"kind": "codes", "codes": [0x000000, 0x00FF00, 0xFF0000]}
    palette = palette_for(3, encoding)
    image = Image.open(io.BytesIO(mask_png(mask, palette)))
    assert image.mode == "P" and np.asarray(image).tolist() == mask.tolist()
    assert image.convert("RGB").getpixel((2, 0)) == (255, 0, 0)  # class 2 was red
    assert palette_for(2)[0].tolist() == [0, 0, 0]
    shown = overlay(np.full((2, 3), 100, np.uint8), mask, palette)
    assert shown[0, 0].tolist() == [100, 100, 100]  # background untouched
    assert shown[0, 1, 1] > shown[0, 1, 0]  # tinted green
