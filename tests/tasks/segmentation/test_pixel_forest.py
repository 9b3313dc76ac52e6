"""The pixel forest: beats any intensity threshold on held-out generated cells, tiles without
changing its answer, and reloads from its text model to the same masks."""

import numpy as np

from layerwise.tasks.segmentation import pixel_forest
from layerwise.tasks.segmentation.cells import generated_masks
from layerwise.tasks.segmentation.metrics import pixel_confusion, segmentation_scores
from layerwise.tasks.segmentation.pixel_forest import PixelForest, tiled_features


def _dice(truth, found):
    return segmentation_scores(pixel_confusion(np.stack(truth), np.stack(found), 2))["mean_dice"]


def test_the_forest_beats_every_threshold_on_held_out_cells():
    images, masks, _ = generated_masks(18, size=128, seed=2)
    forest = PixelForest(seed=0, n_estimators=60).fit(list(images[:12]), list(masks[:12]), 2)
    found = forest.predict(list(images[12:]))
    # the best threshold is chosen on the test images themselves: the forest still does better
    thresholds = max(_dice(masks[12:], [(im > t).astype(np.uint8) for im in images[12:]])
                     for t in range(20, 240, 5))  # fmt: skip
    assert _dice(masks[12:], found) > thresholds + 0.01
    again = PixelForest.from_text(forest.to_text(), 2).predict(list(images[12:]))
    assert all(np.array_equal(a, b) for a, b in zip(found, again, strict=True))


def test_tiles_give_the_whole_images_features_inside_each_tile(monkeypatch):
    image = generated_masks(1, size=160, seed=1)[0][0]
    whole = pixel_forest.pixel_features(image)
    tiled = np.zeros_like(whole)
    for y0, y1, x0, x1, features in tiled_features(image, tile=64):
        tiled[y0:y1, x0:x1] = features
    assert np.abs(tiled - whole).max() < 0.02 * np.abs(whole).max()
