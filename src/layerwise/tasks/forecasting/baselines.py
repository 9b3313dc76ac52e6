"""The classical forecasting baselines: naive, seasonal naive and a closed-form ridge map.

All work on the scaled series of :class:`~layerwise.tasks.forecasting.base.Windows` and return
``[N, horizon, C]`` float32 forecasts. Naive and seasonal naive learn nothing. Ridge is one
linear map from the last ``L`` steps of a channel to its next ``horizon`` steps, shared by
every channel of every series, solved in closed form in float64; its lookback and penalty are
chosen on the validation windows. Nothing is pickled: ridge's weights go to a safetensors
file, the rest is the JSON-safe info ``save`` returns. ETS lives in ``forecast_ets``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.errors import TrainingError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.forecasting.base import ForecastCandidate, Windows

LOOKBACKS = (96, 192, 336, 512, 720)
ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
MIN_ORIGINS = 100  # a lookback is tried when at least this many training origins have it
MAX_VAL_ORIGINS = 5000  # validation scoring uses an even subsample beyond this
CHUNK = 1024  # origins per block when building X^T X or forecasting


class _NoFit(ForecastCandidate):
    """What naive and seasonal naive share: nothing to learn, nothing to write."""

    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 0

    def fit(self, train: Windows, val: Windows) -> None:
        """Nothing to learn."""

    def save(self, run: RunFolder) -> dict[str, Any]:
        return {"horizon": self.horizon, "season": self.season}

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> ForecastCandidate:
        return cls(horizon=int(info["horizon"]), season=int(info["season"]))


class NaiveCandidate(_NoFit):
    """Repeat the last observed value of each channel over the whole horizon.

    Example:
        >>> w = Windows([np.arange(6.0)[:, None]], np.array([[0, 4]]), horizon=2)
        >>> NaiveCandidate(horizon=2).forecast(w)[0, :, 0].tolist()
        [3.0, 3.0]
    """

    name: ClassVar[str] = "naive"
    description: ClassVar[str] = "repeat the last value"
    lookback = 1

    def forecast(self, windows: Windows) -> np.ndarray:
        last = windows.history(1)
        return np.repeat(last, self.horizon, axis=1).astype(np.float32)


class SeasonalNaiveCandidate(_NoFit):
    """Repeat the last full season: the forecast at ``t + h`` is the last observed value in
    the same phase, ``series[t - m + (h mod m)]`` with ``m = season``. With ``season <= 1``
    it is the naive forecast.

    Example:
        >>> w = Windows([np.arange(8.0)[:, None]], np.array([[0, 6]]), horizon=5)
        >>> SeasonalNaiveCandidate(horizon=5, season=3).forecast(w)[0, :, 0].tolist()
        [3.0, 4.0, 5.0, 3.0, 4.0]
    """

    name: ClassVar[str] = "seasonal-naive"
    description: ClassVar[str] = "repeat the last season"

    def __init__(self, objective: str = "forecast", n_classes: int = 0, seed: int = 0, **params):
        super().__init__(objective, n_classes, seed, **params)
        self.lookback = max(1, self.season)

    def forecast(self, windows: Windows) -> np.ndarray:
        history = windows.history(self.lookback)
        phase = np.arange(self.horizon) % self.lookback
        return history[:, phase, :].astype(np.float32)


def _rows(windows: Windows, lookback: int) -> np.ndarray:
    """Ridge features of every (origin, channel) pair, ``[N * C, lookback + 1]`` float64:
    the last ``lookback`` values of the channel, oldest first, then 1 (the intercept)."""
    history = windows.history(lookback).astype(np.float64)  # [N, L, C]
    n, _, c = history.shape
    x = np.empty((n * c, lookback + 1))
    x[:, :lookback] = history.transpose(0, 2, 1).reshape(n * c, lookback)
    x[:, lookback] = 1.0
    return x


def _targets(windows: Windows) -> np.ndarray:
    """What follows each (origin, channel) pair, ``[N * C, horizon]`` float64."""
    y = windows.targets().astype(np.float64)  # [N, H, C]
    return y.transpose(0, 2, 1).reshape(-1, y.shape[1])


def _gram(train: Windows, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """``X^T X`` and ``X^T Y`` over every (origin, channel) pair, built by blocks of origins."""
    xtx = np.zeros((lookback + 1, lookback + 1))
    xty = np.zeros((lookback + 1, train.horizon))
    for start in range(0, len(train), CHUNK):
        block = train.subset(slice(start, start + CHUNK))
        x = _rows(block, lookback)
        xtx += x.T @ x
        xty += x.T @ _targets(block)
    return xtx, xty


def _solve(xtx: np.ndarray, xty: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge weights ``[L + 1, H]``: ``(X^T X + alpha I) W = X^T Y``, intercept not penalised."""
    penalty = np.full(len(xtx), float(alpha))
    penalty[-1] = 0.0
    return np.linalg.solve(xtx + np.diag(penalty), xty)


def _apply(windows: Windows, weights: np.ndarray) -> np.ndarray:
    """Forecasts ``[N, H, C]`` float32 of a ridge map ``[L + 1, H]``."""
    lookback, horizon = len(weights) - 1, weights.shape[1]
    out = np.zeros((len(windows), horizon, windows.n_channels), dtype=np.float32)
    for start in range(0, len(windows), CHUNK):
        block = windows.subset(slice(start, start + CHUNK))
        y = _rows(block, lookback) @ weights  # [n * C, H]
        out[start : start + len(block)] = y.reshape(len(block), -1, horizon).transpose(0, 2, 1)
    return out


class RidgeCandidate(ForecastCandidate):
    """One closed-form ridge regression from the last ``L`` steps of a channel to its next
    ``horizon`` steps, shared by every channel of every series (channel-independent, as
    DLinear). Each (training origin, channel) pair is a row; the intercept is not penalised.

    Params: ``lookback`` and ``alpha`` fix the settings; otherwise they are chosen by the
    lowest validation MSE among ``lookbacks`` (default 96-720, keeping those with at least 100
    training origins) and ``alphas`` (default 0.1-10 000). ``X^T X`` is built once per
    lookback and re-solved for each alpha.

    Example:
        >>> s = np.sin(np.arange(300) / 4.0)[:, None].repeat(2, axis=1)
        >>> from layerwise.tasks.forecasting.base import origins_between
        >>> train = Windows([s], origins_between([300], [0], [200], 8), horizon=8)
        >>> val = Windows([s], origins_between([300], [200], [300], 8), horizon=8)
        >>> model = RidgeCandidate(horizon=8, lookbacks=(16, 32), alphas=(0.1, 1.0))
        >>> model.fit(train, val)
        >>> model.lookback in (16, 32), model.forecast(val).shape
        (True, (93, 8, 2))
    """

    name: ClassVar[str] = "ridge"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 1
    description: ClassVar[str] = "ridge map from the lookback window to the horizon"
    model_file: ClassVar[str] = "model.ridge.safetensors"

    def _lookbacks(self, train: Windows) -> list[int]:
        if self.params.get("lookback") is not None:
            return [max(1, int(self.params["lookback"]))]
        grid = sorted({int(v) for v in self.params.get("lookbacks", LOOKBACKS)})
        t = train.origins[:, 1]
        feasible = [v for v in grid if v >= 1 and (t >= v).sum() >= MIN_ORIGINS]
        if feasible:
            return feasible
        # Too little history for the grid: the longest lookback half the origins have.
        return [max(1, min(grid[0], int(np.sort(t)[len(t) // 2])))]

    def fit(self, train: Windows, val: Windows) -> None:
        """Build ``X^T X`` per lookback on ``train``, solve per alpha, keep the pair with the
        lowest MSE on (at most 5000 evenly spaced) ``val`` origins."""
        if len(train) == 0:
            raise TrainingError("ridge: there are no training windows.", "Pass a longer history.")
        lookbacks = self._lookbacks(train)
        fixed_alpha = self.params.get("alpha")
        alphas = [float(a) for a in self.params.get("alphas", ALPHAS)]
        alphas = [float(fixed_alpha)] if fixed_alpha is not None else alphas
        scored = len(lookbacks) * len(alphas) > 1 and len(val) > 0
        if not scored:  # nothing to choose, or no validation windows: the usual settings
            lookbacks = [min(lookbacks, key=lambda v: abs(v - 336))]
            alphas = [min(alphas, key=lambda a: abs(np.log10(a)))]
        elif len(val) > MAX_VAL_ORIGINS:
            val = val.every(int(np.ceil(len(val) / MAX_VAL_ORIGINS)))
        best: tuple[float, int, float, np.ndarray] | None = None
        for lookback in lookbacks:
            xtx, xty = _gram(train.with_full_history(lookback), lookback)
            solved = [_solve(xtx, xty, alpha) for alpha in alphas]
            scores = _mse(val, solved) if scored else [float("nan")]
            for alpha, weights, mse in zip(alphas, solved, scores, strict=True):
                if best is None or mse < best[0]:
                    best = (mse, lookback, alpha, weights)
        assert best is not None
        self.val_mse, self.lookback, self.alpha, self.weights = best
        chosen = f"ridge: lookback {self.lookback}, alpha {self.alpha:g}"
        if scored:
            chosen += f" chosen on validation (MSE {self.val_mse:.4f})"
        self.notes.append(chosen)

    def forecast(self, windows: Windows) -> np.ndarray:
        return _apply(windows, self.weights)

    def facts(self) -> dict[str, Any]:
        """What metrics.json records of this model besides its scores."""
        return {"lookback": self.lookback, "alpha": self.alpha}

    def save(self, run: RunFolder) -> dict[str, Any]:
        import torch

        from layerwise.engine.checkpoint import save_weights

        save_weights(run.file(self.model_file), {"weights": torch.from_numpy(self.weights)})
        return {
            "file": self.model_file,
            "horizon": self.horizon,
            "season": self.season,
            "lookback": int(self.lookback),
            "alpha": float(self.alpha),
            "validation_mse": None if np.isnan(self.val_mse) else float(self.val_mse),
        }

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> RidgeCandidate:
        from layerwise.runs.weights import read_tensors

        model = cls(horizon=int(info["horizon"]), season=int(info["season"]))
        model.weights = read_tensors(run, info["file"])["weights"].numpy().astype(np.float64)
        model.lookback, model.alpha = int(info["lookback"]), float(info["alpha"])
        stored = info.get("validation_mse")
        model.val_mse = float("nan") if stored is None else float(stored)
        return model


def _mse(windows: Windows, solved: list[np.ndarray]) -> list[float]:
    """Mean squared error on ``windows`` of each ridge map in ``solved`` (one lookback)."""
    totals = [0.0] * len(solved)
    for start in range(0, len(windows), CHUNK):
        block = windows.subset(slice(start, start + CHUNK))
        x, y = _rows(block, len(solved[0]) - 1), _targets(block)
        for i, weights in enumerate(solved):
            err = x @ weights - y
            totals[i] += float(np.sum(err * err))
    count = max(len(windows) * windows.n_channels * windows.horizon, 1)
    return [total / count for total in totals]
