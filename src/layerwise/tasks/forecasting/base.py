"""What every forecasting candidate shares: forecast origins over scaled series, and the
candidate interface.

A forecast starts at an *origin*: series ``k`` at step ``t`` means "forecast ``series[k][t : t
+ horizon]`` knowing ``series[k][:t]``". Training, validation and test are sets of origins over
the same (scaled) arrays, so a validation or test forecast may read history from earlier
parts, as in the standard long-horizon benchmark protocol (ETT, Weather, ...).

Every candidate, classical or deep, implements ``fit(train, val)`` and ``forecast(windows)``
on :class:`Windows`, works on values already scaled by the task (each channel of each series
standardised with its training mean and std), and says how much history it needs
(``lookback``; None: all there is, as ETS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from layerwise.core.candidate import Candidate
from layerwise.runs.folder import RunFolder


@dataclass
class Windows:
    """Forecast origins over a list of series.

    ``series``: one ``[T_k, C]`` float array per series (all with the same C channels);
    ``origins``: ``[N, 2]`` int64 rows of (series number, t); ``horizon``: steps forecast.
    ``t`` may equal ``T_k`` (a forecast past the end: no targets, as at predict time).

    Example:
        >>> w = Windows([np.arange(10.0)[:, None]], np.array([[0, 6]]), horizon=3)
        >>> w.history(4)[0, :, 0].tolist(), w.targets()[0, :, 0].tolist()
        ([2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0])
    """

    series: list[np.ndarray]
    origins: np.ndarray
    horizon: int

    def __len__(self) -> int:
        return len(self.origins)

    @property
    def n_channels(self) -> int:
        return int(self.series[0].shape[1])

    def history(self, length: int) -> np.ndarray:
        """The ``length`` steps before each origin, ``[N, length, C]``; where a series has
        fewer, the front is padded with its first value."""
        out = np.empty((len(self.origins), length, self.n_channels), dtype=np.float32)
        for row, (k, t) in enumerate(self.origins):
            values = self.series[k][max(0, t - length) : t]
            pad = length - len(values)
            out[row, pad:] = values
            if pad:
                out[row, :pad] = self.series[k][0]
        return out

    def targets(self) -> np.ndarray:
        """What happened after each origin, ``[N, horizon, C]`` (origins need full futures)."""
        return np.stack([self.series[k][t : t + self.horizon] for k, t in self.origins]).astype(
            np.float32
        )

    def subset(self, index: Any) -> Windows:
        return Windows(self.series, self.origins[index], self.horizon)

    def with_full_history(self, lookback: int) -> Windows:
        """The origins with ``lookback`` real steps before them, when at least half have them
        (else all: padding with the first value is then the lesser evil)."""
        full = self.origins[:, 1] >= lookback
        return self.subset(full) if full.sum() >= max(1, len(self) // 2) else self

    def every(self, step: int) -> Windows:
        """Every ``step``-th origin (a cheaper validation for slow candidates)."""
        return self.subset(slice(None, None, max(1, step)))


def origins_between(
    lengths: list[int], start: list[int], stop: list[int], horizon: int, lookback: int = 1
) -> np.ndarray:
    """All origins ``t`` of series ``k`` with ``max(start[k], lookback) <= t`` and ``t +
    horizon <= stop[k]``: every window whose future lies inside ``[start, stop)``.

    >>> origins_between([10], [0], [10], horizon=3, lookback=5).tolist()
    [[0, 5], [0, 6], [0, 7]]
    """
    rows = []
    for k, (n, a, b) in enumerate(zip(lengths, start, stop, strict=True)):
        ts = np.arange(max(a, lookback), min(b, n) - horizon + 1)
        rows.append(np.stack([np.full(len(ts), k), ts], axis=1))
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 2), np.int64)


class ForecastCandidate(Candidate):
    """A forecaster in the bake-off. ``params`` always hold ``horizon`` and ``season`` (steps
    in one seasonal cycle; 1 when there is none) and may hold the candidate's own settings.

    Subclasses implement ``fit``, ``forecast``, ``save``, ``load`` and set ``lookback``.
    """

    family: ClassVar[str]
    lookback: int | None = None  # history steps a forecast reads; None: all of it

    def __init__(self, objective: str = "forecast", n_classes: int = 0, seed: int = 0, **params):
        super().__init__(objective, n_classes, seed, **params)
        self.horizon = int(params.get("horizon", 1))
        self.season = int(params.get("season", 1))
        self.notes: list[str] = []

    def fit(self, train: Windows, val: Windows) -> None:  # type: ignore[override]
        """Learn from the training origins; ``val`` may choose settings or stop training."""
        raise NotImplementedError

    def forecast(self, windows: Windows) -> np.ndarray:
        """Scaled forecasts ``[N, horizon, C]`` for the origins of ``windows``."""
        raise NotImplementedError

    def predict(self, windows: Windows) -> np.ndarray:  # type: ignore[override]
        return self.forecast(windows)

    def save(self, run: RunFolder) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> ForecastCandidate:
        raise NotImplementedError
