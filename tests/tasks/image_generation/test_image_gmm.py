"""The PCA + Gaussian-mixture image baseline."""

from __future__ import annotations

import numpy as np
import pytest

from layerwise.errors import DataError
from layerwise.tasks.image_generation.gmm import PixelGMM


@pytest.fixture(scope="module")
def blobs():
    """Three classes of 1x6x6 images, each around its own pattern."""
    rng = np.random.default_rng(0)
    centres = rng.uniform(-0.8, 0.8, size=(3, 1, 6, 6))
    labels = np.repeat(np.arange(3), 60)
    images = centres[labels] + rng.normal(scale=0.08, size=(180, 1, 6, 6))
    return np.clip(images, -1, 1), labels, centres


def test_shapes_range_and_determinism(blobs):
    images, _, _ = blobs
    model = PixelGMM(mixtures=(1, 2)).fit(images)
    a = model.sample(25, seed=3)
    assert a.shape == (25, 1, 6, 6) and a.min() >= -1 and a.max() <= 1
    assert np.array_equal(a, model.sample(25, seed=3))
    assert not np.array_equal(a, model.sample(25, seed=4))
    assert 1 <= len(model.pca_components) <= 36 and model.explained_variance >= 0.95


def test_conditional_samples_lie_near_their_class(blobs):
    images, labels, centres = blobs
    model = PixelGMM(mixtures=(1, 2)).fit(images, labels)
    want = np.repeat(np.arange(3), 20)
    x = model.sample(60, want, seed=0).reshape(60, -1)
    distances = ((x[:, None, :] - centres.reshape(1, 3, -1)) ** 2).sum(axis=2)
    assert np.array_equal(distances.argmin(axis=1), want)
    free = model.sample(30, seed=0)  # no labels: classes drawn uniformly
    assert free.shape == (30, 1, 6, 6)
    with pytest.raises(DataError):
        model.sample(2, np.array([0, 7]))


def test_state_round_trip_through_safetensors_is_identical(blobs, tmp_path):
    import json

    from safetensors.numpy import load_file, save_file

    images, labels, _ = blobs
    model = PixelGMM(mixtures=(1, 2)).fit(images, labels)
    arrays, meta = model.state()
    save_file(arrays, str(tmp_path / "gmm.safetensors"))
    again = PixelGMM.from_state(
        load_file(str(tmp_path / "gmm.safetensors")), json.loads(json.dumps(meta))
    )
    want = np.array([2, 0, 1, 1, 2])
    assert np.array_equal(again.sample(5, want, seed=9), model.sample(5, want, seed=9))
