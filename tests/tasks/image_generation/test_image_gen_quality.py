"""The image-generation quality judge: Fréchet distance, feature network, judge state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerwise.candidates.cnn import to_tensor
from layerwise.data.image_sources import digits
from layerwise.tasks.image_generation.quality import (
    QualityJudge,
    classify,
    features,
    frechet_distance,
    train_feature_net,
)


def _signed(images: np.ndarray) -> torch.Tensor:
    return to_tensor(images).float() / 127.5 - 1.0


@pytest.fixture(scope="module")
def judged():
    torch.manual_seed(0)
    s = digits()
    model, info = train_feature_net(s.images[:400], s.labels[:400], seed=0, time_limit=4)
    reference = _signed(s.images[400:700])
    return s, model, info, QualityJudge(model, reference, info)


def test_frechet_distance_is_zero_for_identical_sets_symmetric_and_grows_with_shift():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 6)), rng.normal(size=(400, 6)) * 1.3
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)
    shifts = [frechet_distance(a, a + d) for d in (0.5, 1.0, 2.0)]
    assert shifts == pytest.approx([6 * 0.25, 6 * 1.0, 6 * 4.0], rel=1e-6)
    # rank-deficient covariances stay finite and non-negative
    low = np.repeat(rng.normal(size=(50, 1)), 6, axis=1)
    assert 0.0 <= frechet_distance(low, a) < np.inf


def test_feature_net_learns_classes_and_gives_features_of_its_dim(judged):
    s, model, info, _ = judged
    assert info["kind"] == "classes" and info["n_outputs"] == 10
    assert info["feature_dim"] == model.config.widths[-1]
    assert info["val_accuracy"] > 0.25 and info["epochs"] >= 1
    x = _signed(s.images[:7])
    assert features(model, x).shape == (7, info["feature_dim"])
    assert features(model, x).dtype == np.float64
    assert classify(model, x).shape == (7,)


def test_unlabelled_images_train_rotation_prediction():
    s = digits()  # what the net becomes is checked, not how well it learns: a few epochs do
    model, info = train_feature_net(s.images[:200], None, seed=0, time_limit=0.2)
    assert info["kind"] == "rotation" and info["n_outputs"] == 4
    assert features(model, _signed(s.images[:3])).shape == (3, info["feature_dim"])
    _, one_class = train_feature_net(s.images[:40], np.zeros(40, dtype=int), time_limit=0.2)
    assert one_class["kind"] == "rotation"


def test_noise_scores_worse_than_real_images_and_class_accuracy(judged):
    s, _, _, judge = judged
    real = _signed(s.images[700:1000])
    noise = torch.rand(real.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    scored = judge.score(real, s.labels[700:1000])
    assert judge.score(noise)["fd"] > 3 * judge.floor(real)
    assert scored["fd"] == pytest.approx(judge.floor(real))
    assert 0.25 < scored["class_accuracy"] <= 1.0  # chance: 0.1 (a few seconds of training)
    only_three = judge.score(real[:20], np.full(20, 3))["per_class_accuracy"]
    assert only_three[3] is not None and only_three[:3] == [None] * 3


def test_state_round_trip_through_safetensors_gives_the_same_score(judged, tmp_path):
    import json

    from safetensors.torch import load_file, save_file

    s, _, _, judge = judged
    tensors, meta = judge.state()
    save_file(tensors, str(tmp_path / "judge.safetensors"))
    (tmp_path / "judge.json").write_text(json.dumps(meta))
    again = QualityJudge.from_state(
        load_file(str(tmp_path / "judge.safetensors")),
        json.loads((tmp_path / "judge.json").read_text()),
    )
    images, labels = _signed(s.images[1000:1200]), s.labels[1000:1200]
    assert again.score(images, labels) == judge.score(images, labels)
