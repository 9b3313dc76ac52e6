"""ETTh1 in the standard long-horizon protocol, with the defaults (see benchmarks/forecasting.py).

Skips cleanly when ``../shared/datasets/ett/ETTh1.csv`` is absent. The ridge baseline must
reproduce the figure measured for it (0.367 at horizon 96); the advisor's choice must meet the
target (<= 0.360) and its intervals must cover about what they promise on the test windows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import layerwise

pytestmark = pytest.mark.slow
ETT = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "ett" / "ETTh1.csv"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not ETT.exists():
        pytest.skip(f"{ETT} not found")
    frame = pd.read_csv(ETT).iloc[:14_400]
    return layerwise.fit(
        frame,
        task="forecasting",
        horizon=96,
        val_size=0.2,
        test_size=0.2,
        output_dir=str(tmp_path_factory.mktemp("ett")),
        verbose=False,
    )


def test_ridge_reproduces_the_measured_baseline(run):
    ridge = run.metrics["candidates"]["ridge"]["test"]
    assert ridge["mse"] == pytest.approx(0.367, abs=0.003)
    assert run.metrics["candidates"]["naive"]["test"]["mse"] == pytest.approx(1.294, abs=0.002)


def test_the_advisor_meets_the_target(run):
    assert run.metrics["test"]["mse"] <= 0.360
    assert 0.75 <= run.metrics["test"]["coverage_80%"] <= 0.95
