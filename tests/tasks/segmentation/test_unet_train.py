"""The U-Net segmenter: it learns the generated cells past the all-cell guess in a few epochs,
tiles large images without visible seams, and keeps test-time augmentation only when it helps."""

import numpy as np
import pytest
import torch

from layerwise.tasks.segmentation import unet_train
from layerwise.tasks.segmentation.cells import generated_masks
from layerwise.tasks.segmentation.metrics import pixel_confusion, segmentation_scores
from layerwise.tasks.segmentation.unet_train import UNetSegmenter, class_weights, dice_ce_loss


def _dice(truth, found):
    return segmentation_scores(pixel_confusion(np.stack(truth), np.stack(found), 2))["mean_dice"]


def test_it_learns_the_cells_and_tiles_large_images(monkeypatch):
    torch.set_num_threads(2)
    images, masks, classes = generated_masks(20, size=64, seed=3)
    model = UNetSegmenter(seed=0, epochs=4, crop=64, widths=[8, 16, 32, 64]).fit(
        list(images[:14]), list(masks[:14]), classes, list(images[14:17]), list(masks[14:17])
    )
    found = model.predict(list(images[17:]))
    everything = _dice(masks[17:], [np.ones_like(m) for m in masks[17:]])
    assert _dice(masks[17:], found) > everything + 0.03
    assert len(model.history) == 4 and "test-time augmentation (2 views)" in model.notes[-1]
    # a 64 px tile over a 96 px image: the same masks as one pass over the whole image
    big = np.tile(images[17], (2, 2))[:96, :96]
    whole = model.predict([big])[0]
    monkeypatch.setattr(unet_train, "TILE", 32)
    tiled = model.predict([big])[0]
    assert tiled.shape == (96, 96) and (tiled == whole).mean() > 0.95


def test_the_loss_ignores_ignored_pixels_and_weights_rare_classes():
    logits = torch.zeros(1, 2, 2, 2, requires_grad=True)
    target = torch.tensor([[[0, 1], [255, 255]]])
    loss = dice_ce_loss(logits, target, torch.ones(2))
    loss.backward()
    assert float(logits.grad[0, :, 1].abs().sum()) == 0.0  # ignored pixels: no gradient
    weights = class_weights([np.array([[0] * 99 + [1]])], 2)
    assert float(weights[1] / weights[0]) == pytest.approx(np.sqrt(99), rel=1e-5)
    weights = class_weights([np.array([[0] * 9999 + [1]])], 2)
    assert float(weights[1] / weights[0]) == pytest.approx(10.0, rel=1e-5)  # the cap


def test_test_time_views_map_each_view_back_to_the_image():
    # a pixel-wise network is unchanged by flips and transposes: every view, mapped back,
    # must give the plain prediction again (a view left flipped or transposed would not)
    net = torch.nn.Conv2d(1, 2, 1)
    x = torch.rand(1, 1, 16, 16)
    plain = unet_train._forward(net, x, [(False, False, False)])
    views = unet_train._forward(net, x, list(unet_train.VIEWS))
    assert len(unet_train.VIEWS) == 8 and torch.allclose(plain, views, atol=1e-6)
