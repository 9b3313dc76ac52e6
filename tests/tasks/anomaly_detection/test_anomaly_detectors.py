"""The classical anomaly detectors: planted outliers found, save -> load exact, the isolation
forest equal to scikit-learn's, contributions pointing at the right column, edge cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from layerwise.runs.folder import RunFolder
from layerwise.tasks.anomaly_detection.detectors import (
    IsolationForestDetector,
    KNNDetector,
    RobustGaussianDetector,
    average_path_length,
)

D, N_NORMAL, N_OUT = 6, 500, 25
COLUMN3 = N_NORMAL  # the first planted outlier is off in column 3 only
DETECTORS = [IsolationForestDetector, KNNDetector, RobustGaussianDetector]
FAST = {IsolationForestDetector: {"n_estimators": 100}}


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """500 rows of a correlated Gaussian, then 25 outliers: the first pushed +6 in column 3
    only, the rest shifted along a direction the correlation makes unlikely."""
    rng = np.random.default_rng(seed)
    cov = 0.6 * np.ones((D, D)) + 0.4 * np.eye(D)
    normal = rng.multivariate_normal(np.zeros(D), cov, size=N_NORMAL)
    outliers = rng.multivariate_normal(np.zeros(D), cov, size=N_OUT)
    outliers[0, 3] += 6.0
    signs = np.where(np.arange(D) % 2 == 0, 1.0, -1.0)
    outliers[1:] += 2.5 * signs * rng.choice([-1.0, 1.0], size=(N_OUT - 1, 1))
    x = np.vstack([normal, outliers]).astype(np.float32)
    return x, np.r_[np.zeros(N_NORMAL), np.ones(N_OUT)]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_data()


@pytest.fixture(scope="module")
def fitted(data) -> dict:
    x, _ = data
    out = {}
    for cls in DETECTORS:
        det = cls(seed=7, **FAST.get(cls, {}))
        det.fit(x)
        out[cls] = det
    return out


@pytest.mark.parametrize("cls", DETECTORS)
def test_planted_outliers_rank_high(cls, data, fitted):
    x, labels = data
    scores = fitted[cls].score(x)
    assert scores.dtype == np.float64 and scores.shape == (len(x),)
    assert roc_auc(labels, scores) > 0.9


@pytest.mark.parametrize("cls", DETECTORS)
def test_save_load_reproduces_scores(cls, data, fitted, tmp_path):
    x, _ = data
    det = fitted[cls]
    run = RunFolder.create(tmp_path, "anomaly-detection")
    info = det.save(run, f"detector-{cls.name}")
    info = json.loads(json.dumps(info))  # JSON-safe
    assert info["name"] == cls.name and info["file"] == f"detector-{cls.name}.safetensors"
    assert run.file(info["file"]).exists()
    assert not list(run.path.glob("*.pkl"))
    back = cls.load(run, info)
    np.testing.assert_array_equal(back.score(x), det.score(x))
    np.testing.assert_array_equal(back.contributions(x), det.contributions(x))
    if cls is KNNDetector:
        np.testing.assert_array_equal(back.score_training(), det.score_training())


@pytest.mark.parametrize("max_features", [1.0, 0.5])
def test_isolation_forest_equals_sklearn(max_features, data):
    from sklearn.ensemble import IsolationForest

    x, _ = data
    params = {"n_estimators": 60, "max_features": max_features}
    det = IsolationForestDetector(seed=3, **params)
    det.fit(x)
    ref = IsolationForest(max_samples="auto", random_state=3, n_jobs=1, **params).fit(x)
    probe = np.vstack([x, x + 0.3, np.full((1, D), 50.0, np.float32)])
    np.testing.assert_allclose(det.score(probe), -ref.score_samples(probe), rtol=0, atol=1e-10)


def test_average_path_length_matches_sklearn():
    from sklearn.ensemble._iforest import _average_path_length

    n = np.array([0, 1, 2, 3, 10, 256, 1000])
    np.testing.assert_array_equal(average_path_length(n), _average_path_length(n))


@pytest.mark.parametrize("cls", DETECTORS)
def test_contributions_sum_to_one(cls, data, fitted):
    x, _ = data
    c = fitted[cls].contributions(x)
    assert c.shape == x.shape and (c >= 0).all()
    np.testing.assert_allclose(c.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("cls", DETECTORS)
def test_outlier_in_column3_blames_column3(cls, data, fitted):
    x, _ = data
    c = fitted[cls].contributions(x[COLUMN3 : COLUMN3 + 1])
    assert c.argmax() == 3


def test_knn_training_scores_exclude_self(data, fitted):
    x, _ = data
    det = fitted[KNNDetector]
    train = det.score_training()
    assert (det.score(x) < train).all()  # each row's own zero distance is left out
    # the same as the k nearest of the other rows
    dist = np.sqrt(((x[:40, None].astype(np.float64) - x[None].astype(np.float64)) ** 2).sum(-1))
    dist[np.arange(40), np.arange(40)] = np.inf
    expected = np.sort(dist, axis=1)[:, : det.k].mean(axis=1)
    np.testing.assert_allclose(train[:40], expected, rtol=1e-9)


def test_knn_small_n_and_subsample():
    x = np.array([[0.0], [1.0], [3.0]], np.float32)
    det = KNNDetector(k=5)
    det.fit(x)
    assert det.k == 2
    np.testing.assert_allclose(det.score_training(), [2.0, 1.5, 2.5])
    single = KNNDetector()
    single.fit(x[:1])
    assert single.score(np.array([[2.0]], np.float32)).tolist() == [2.0]
    assert single.score_training().tolist() == [0.0]
    big = KNNDetector(seed=1, max_reference=50)
    big.fit(np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32))
    assert len(big.reference) == 50 and len(np.unique(big.reference_index)) == 50


@pytest.mark.parametrize("cls", DETECTORS)
def test_constant_column_and_single_column(cls):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 3)).astype(np.float32)
    x[:, 1] = 2.0
    params = {"n_estimators": 10} if cls is IsolationForestDetector else {}
    for data in (x, x[:, :1], x[:, 1:2]):  # a constant column; d = 1; d = 1 and constant
        det = cls(**params)
        det.fit(data)
        scores = det.score(data)
        assert scores.shape == (80,) and np.isfinite(scores).all()
        c = det.contributions(data)
        assert np.isfinite(c).all()
        np.testing.assert_allclose(c.sum(axis=1), 1.0, atol=1e-12)
