"""The forecast ensemble's weights are fitted on the validation forecasts: it is scored on
cross-fitted ones (each block weighted by the others), never on the forecasts it was fitted to."""

from __future__ import annotations

import numpy as np

from layerwise.tasks.forecasting.outputs import cross_fitted, greedy_weights


def test_cross_fitted_ensemble_is_not_scored_on_its_own_fit():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(400, 4, 1))
    # members that are pure noise around the truth: any weighting is luck on validation
    forecasts = {f"m{i}": truth + rng.normal(scale=1.0, size=truth.shape) for i in range(6)}
    blocks = np.repeat(np.arange(8), 50)
    weights = greedy_weights(forecasts, truth)
    fitted = sum(w * forecasts[n] for n, w in weights.items())
    honest = cross_fitted(forecasts, truth, blocks)
    in_sample = float(np.mean((fitted - truth) ** 2))
    out_of_sample = float(np.mean((honest - truth) ** 2))
    assert out_of_sample > in_sample  # the in-sample score flatters the ensemble
    assert honest.shape == truth.shape
