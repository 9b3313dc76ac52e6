"""The deep anomaly detectors on a planted problem: rows on a 2-D plane in 10 dimensions, and
outliers off the plane (within the inliers' range, so only the structure gives them away)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from layerwise.runs.folder import RunFolder
from layerwise.tasks.anomaly_detection.deep import AutoencoderDetector, DeepSVDDDetector

N_INLIERS, N_OUTLIERS, D = 600, 30, 10
COLUMN_OUTLIER = N_INLIERS  # the first planted outlier is off in column 3 only
FAST = {"epochs": 30, "pretrain_epochs": 10, "device": "cpu"}


def planted(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standardised rows ``[630, 10]`` (outliers included, as a detector sees them) and labels."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(2, D))
    rows = rng.normal(size=(N_INLIERS + N_OUTLIERS, 2)) @ w
    rows += 0.05 * rng.normal(size=rows.shape)
    plane, _ = np.linalg.qr(w.T)
    off = rng.normal(size=(N_OUTLIERS, D))
    off -= off @ plane @ plane.T  # orthogonal to the plane
    off *= 2.0 / np.linalg.norm(off, axis=1, keepdims=True)
    rows[N_INLIERS:] += off
    median = np.median(rows, axis=0)
    scale = np.subtract(*np.quantile(rows, [0.75, 0.25], axis=0))
    x = (rows - median) / scale
    x[COLUMN_OUTLIER] = x[0]  # an inlier ...
    x[COLUMN_OUTLIER, 3] += 3.0  # ... pushed off in column 3
    labels = np.r_[np.zeros(N_INLIERS), np.ones(N_OUTLIERS)]
    return x.astype(np.float32), labels


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return planted()


@pytest.fixture(scope="module")
def fitted(data) -> dict[str, object]:
    x, _ = data
    detectors = {}
    for cls in (AutoencoderDetector, DeepSVDDDetector):
        detector = cls(seed=0, **FAST)
        detector.fit(x)
        detectors[cls.name] = detector
    return detectors


@pytest.mark.parametrize(("name", "floor"), [("autoencoder", 0.95), ("deep-svdd", 0.9)])
def test_detectors_find_the_planted_outliers(fitted, data, name, floor):
    x, labels = data
    detector = fitted[name]
    scores = detector.score(x)
    assert scores.dtype == np.float64 and scores.shape == (len(x),)
    assert roc_auc_score(labels, scores) > floor
    assert detector.family == "deep" and detector.complexity == 3
    assert len(detector.history) >= 1


def test_autoencoder_contributions_point_at_the_column(fitted, data):
    x, _ = data
    shares = fitted["autoencoder"].contributions(x)
    assert shares.shape == x.shape
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-9)
    assert int(np.argmax(shares[COLUMN_OUTLIER])) == 3
    assert fitted["deep-svdd"].contributions(x) is None


def test_deep_svdd_scores_the_median_row_as_usual(fitted, data):
    """A bias-free network maps 0 to 0: without the input shift the most typical row would
    score as the most unusual."""
    x, _ = data
    detector = fitted["deep-svdd"]
    median_score = detector.score(np.zeros((1, D), dtype=np.float32))[0]
    assert median_score < np.quantile(detector.score(x[:N_INLIERS]), 0.5)


@pytest.mark.parametrize("name", ["autoencoder", "deep-svdd"])
def test_save_load_reproduces_scores(fitted, data, tmp_path, name):
    x, _ = data
    detector = fitted[name]
    run = RunFolder.create(tmp_path, "anomaly-detection")
    info = detector.save(run, f"detector-{name}")
    assert info["file"] == f"detector-{name}.safetensors" and run.exists(info["file"])
    assert info["name"] == name
    info = json.loads(json.dumps(info))  # JSON-safe, as the task stores it
    loaded = type(detector).load(run, info)
    np.testing.assert_array_equal(loaded.score(x), detector.score(x))
    if name == "deep-svdd":
        torch.testing.assert_close(loaded.model.center, detector.model.center)


@pytest.mark.parametrize("cls", [AutoencoderDetector, DeepSVDDDetector])
def test_same_seed_same_scores(cls, data):
    x = data[0][:200]
    params = {"epochs": 3, "pretrain_epochs": 2, "noise": 0.1, "device": "cpu"}
    first, second = cls(seed=3, **params), cls(seed=3, **params)
    first.fit(x)
    second.fit(x)
    np.testing.assert_array_equal(first.score(x), second.score(x))


@pytest.mark.parametrize("cls", [AutoencoderDetector, DeepSVDDDetector])
def test_edge_cases(cls):
    detector = cls(seed=0, epochs=2, pretrain_epochs=1, device="cpu")
    with pytest.raises(RuntimeError, match="not fitted"):
        detector.score(np.zeros((2, 3), dtype=np.float32))
    rng = np.random.default_rng(0)
    x = rng.standard_t(df=1, size=(12, 3)).astype(np.float32)  # tiny and heavy-tailed
    x[0, 0] = 1e6
    detector.fit(x)
    scores = detector.score(x)
    assert scores.shape == (12,) and np.isfinite(scores).all()
    assert detector.score(np.zeros((0, 3), dtype=np.float32)).shape == (0,)
