"""The generated cell and lesion images: seeded, every class present, and not solvable by
intensity alone (the context around a pixel is needed, as in real microscopy)."""

import numpy as np
import pytest

from layerwise.errors import ConfigError
from layerwise.tasks.segmentation.cells import generated_masks
from layerwise.tasks.segmentation.metrics import pixel_confusion, segmentation_scores


@pytest.mark.parametrize("kind", ["cells", "lesions"])
def test_generated_sets_are_seeded_and_hold_every_class(kind):
    images, masks, classes = generated_masks(6, size=64, seed=4, kind=kind)
    again, masks_again, _ = generated_masks(6, size=64, seed=4, kind=kind)
    assert np.array_equal(images, again) and np.array_equal(masks, masks_again)
    assert not np.array_equal(generated_masks(6, size=64, seed=5, kind=kind)[0], images)
    assert images.shape[:3] == masks.shape == (6, 64, 64) and images.dtype == np.uint8
    assert set(np.unique(masks)) == set(range(len(classes)))


def test_no_intensity_threshold_segments_the_cells():
    images, masks, _ = generated_masks(20, size=96, seed=0)
    best = 0.0
    for threshold in range(20, 240, 5):
        found = (images > threshold).astype(int)
        best = max(best, segmentation_scores(pixel_confusion(masks, found, 2))["mean_dice"])
    assert 0.6 < best < 0.9, best


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="kind"):
        generated_masks(2, kind="tumours")
    with pytest.raises(ConfigError, match="out of range"):
        generated_masks(0)
