"""The classical baseline for spoken words: MFCC statistics + logistic regression.

Each clip becomes 120 numbers: the mean and standard deviation over its voiced frames of 20
MFCCs, their deltas and their delta-deltas. A standardised, L2-regularised logistic regression
(scikit-learn to fit, a numpy matrix product to predict) classifies them; the model is plain
JSON in the run folder.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from layerwise.candidates.linear import (
    class_coefficients,
    intercept_from_json,
    intercept_to_json,
    softmax,
)
from layerwise.core.candidate import Candidate
from layerwise.runs.folder import RunFolder

MODEL_FILE = "model.mfcc.json"
N_MFCC = 20


def mfcc_statistics(
    waves: np.ndarray, lengths: np.ndarray, features: dict[str, Any], n_mfcc: int = N_MFCC
) -> np.ndarray:
    """``[N, 6 * n_mfcc]``: mean and std of MFCCs, deltas and delta-deltas over the voiced
    frames of clips centred in ``waves [N, L]`` (``lengths``: voiced samples of each)."""
    import torch

    from layerwise.data.audio_features import FeatureConfig, LogMel, deltas, mfcc

    config = FeatureConfig.from_dict(features)
    front = LogMel(config)
    hop, width = config.hop_length, waves.shape[1]
    rows = []
    with torch.no_grad():
        for start in range(0, len(waves), 512):
            batch = torch.from_numpy(np.ascontiguousarray(waves[start : start + 512]))
            c = mfcc(front(batch), n_mfcc)
            d = deltas(c)
            stack = torch.cat([c, d, deltas(d)], dim=1)  # [B, 3n, T]
            frames = stack.shape[2]
            voiced = torch.from_numpy(lengths[start : start + 512]).long()
            first = ((width - voiced) // 2) // hop
            last = torch.clamp((((width - voiced) // 2) + voiced) // hop, max=frames - 1)
            index = torch.arange(frames)[None, :]
            mask = ((index >= first[:, None]) & (index <= last[:, None])).float()[:, None, :]
            count = mask.sum(dim=2).clamp_min(1)
            mean = (stack * mask).sum(dim=2) / count
            var = (((stack - mean[:, :, None]) ** 2) * mask).sum(dim=2) / count
            rows.append(torch.cat([mean, var.sqrt()], dim=1).numpy())
    return np.concatenate(rows).astype(np.float64) if rows else np.zeros((0, 6 * n_mfcc))


class MFCCLogisticCandidate(Candidate):
    """Logistic regression on MFCC statistics; C is picked from a small grid on validation.

    >>> MFCCLogisticCandidate("multiclass", n_classes=10).family
    'classical'
    """

    name: ClassVar[str] = "mfcc-logistic"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 1
    description: ClassVar[str] = "MFCC statistics (mean, std, deltas) + logistic regression"

    def _x(self, speech: Any) -> np.ndarray:
        x = mfcc_statistics(speech.waves, speech.lengths, self.features)
        return (x - self.mean) / self.scale

    def fit(self, train: Any, val: Any = None, class_weights: np.ndarray | None = None) -> None:
        """Train on ``train`` (a SpeechSet); ``val`` picks C from a small grid when given."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        self.features = {"sample_rate": int(train.rate), "n_mels": 40}
        raw = mfcc_statistics(train.waves, train.lengths, self.features)
        self.mean, self.scale = raw.mean(axis=0), raw.std(axis=0) + 1e-6
        x = (raw - self.mean) / self.scale
        xv = None if val is None else self._x(val)
        weight = None if class_weights is None else class_weights[train.labels]
        grid = [self.params["C"]] if "C" in self.params else [0.03, 0.3, 3.0]
        best = None
        for c in grid:
            model = LogisticRegression(C=c, max_iter=1000)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(x, train.labels, sample_weight=weight)
            coef, intercept = class_coefficients(model, max(self.n_classes, 2))
            score = 0.0
            if xv is not None and len(grid) > 1:
                proba = softmax(xv @ coef.T + intercept)
                score = float(np.mean(proba.argmax(axis=1) == val.labels))
            if best is None or score > best[0]:
                best = (score, c, coef, intercept)
        _, self.C, self.coef, self.intercept = best

    def predict(self, speech: Any) -> np.ndarray:
        """Class probabilities ``[n, k]`` for a SpeechSet."""
        return softmax(self._x(speech) @ self.coef.T + self.intercept)

    def save(self, run: RunFolder) -> dict[str, Any]:
        run.write_json(
            MODEL_FILE,
            {
                "features": self.features,
                "n_mfcc": N_MFCC,
                "C": self.C,
                "mean": self.mean.tolist(),
                "scale": self.scale.tolist(),
                "coef": self.coef.tolist(),
                "intercept": intercept_to_json(self.intercept),
            },
        )
        return {"file": MODEL_FILE}

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> MFCCLogisticCandidate:
        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        stored = run.read_json(info["file"])
        model.features, model.C = stored["features"], stored["C"]
        model.mean = np.asarray(stored["mean"], dtype=np.float64)
        model.scale = np.asarray(stored["scale"], dtype=np.float64)
        model.coef = np.asarray(stored["coef"], dtype=np.float64)
        model.intercept = intercept_from_json(stored["intercept"])
        return model
