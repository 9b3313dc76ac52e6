"""Forecasting benchmark: layerwise forecasting with its defaults on ETTh1 in the standard
long-horizon protocol, and on statsmodels' univariate series against ETS and seasonal naive.

ETTh1 (../shared/datasets/ett/ETTh1.csv): the first 20 months (14,400 hourly rows), split
12/4/4 months (train rows 0..8639, validation 8640..11519, test 11520..14399), every column
standardised with the training mean and std, multivariate (all 7 columns), every test window
used; test MSE / MAE on the scaled values. Published horizon-96 MSE: PatchTST/64 0.370, DLinear
0.375, FEDformer 0.376, Informer 0.865; measured here, the ridge map from 512 steps reaches
0.367 and repeating the last value 1.294. Target: the advisor's choice <= 0.360 at horizon 96.

Univariate: co2 (weekly), sunspots and nile (yearly), 60/20/20 in time, MASE on the test
windows for every candidate.

    python benchmarks/forecasting.py                 # writes results/forecasting.md
    python benchmarks/forecasting.py --horizons 96   # ETTh1 at one horizon only
    python benchmarks/forecasting.py --quick         # horizon 96, 60 s per deep model, co2 only
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt, header, markdown_table, progress, write_result

ETT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ett" / "ETTh1.csv"
PACKAGES = ("layerwise", "torch", "numpy", "statsmodels")
PUBLISHED = {96: "PatchTST/64 0.370 / 0.400, DLinear 0.375 / 0.399, FEDformer 0.376 / 0.419",
             336: "PatchTST/64 0.416 / 0.430, DLinear 0.448 / 0.448, FEDformer 0.459 / 0.465"}  # fmt: skip


def fit(data, **options):
    import layerwise

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = layerwise.fit(data, task="forecasting", output_dir=tmp, verbose=False, **options)
        return run, time.perf_counter() - t0


def ett_table(horizon: int, time_limit: float | None) -> str:
    frame = pd.read_csv(ETT).iloc[:14_400]
    options = {"horizon": horizon, "val_size": 0.2, "test_size": 0.2, "time_column": "date"}
    if time_limit:
        options["candidate_params"] = {
            name: {"time_limit": time_limit} for name in ("dlinear", "patchtst", "segrnn")
        }
    run, seconds = fit(frame, **options)
    progress(f"ETTh1 horizon {horizon}: chosen {run.chosen} ({seconds:.0f} s)")
    rows = []
    for name, entry in run.metrics["candidates"].items():
        if "skipped" in entry:
            rows.append([name, entry["family"], "skipped", "", "", "", "", ""])
            continue
        rows.append(
            [
                name + (" (chosen)" if name == run.chosen else ""),
                entry["family"],
                fmt(entry["validation"]["mse"]),
                fmt(entry["test"]["mse"]),
                fmt(entry["test"]["mae"]),
                f"{entry['fit_seconds']:.1f}",
                fmt(entry.get("epochs")),
                fmt(entry.get("lookback")),
            ]
        )
    test = run.metrics["test"]
    head = ["candidate", "family", "val MSE", "test MSE", "test MAE", "fit s", "epochs", "lookback"]
    return (
        f"## ETTh1, horizon {horizon}\n\n"
        + markdown_table(head, rows)
        + f"\n\nAdvisor's choice: **{run.chosen}**, test MSE {test['mse']:.4f} / MAE "
        f"{test['mae']:.4f}; interval coverage on test: 80% -> {test['coverage_80%']:.3f}, 95% -> "
        f"{test['coverage_95%']:.3f}. Whole run {seconds:.0f} s. Published: {PUBLISHED.get(horizon, '-')}.\n"
    )


def univariate_table(names: list[str], time_limit: float | None) -> str:
    from layerwise.tasks.forecasting.sources import statsmodels_series

    rows = []
    for name in names:
        options = {"val_size": 0.2, "test_size": 0.2}
        if time_limit:
            options["time_limit"] = time_limit
        series = statsmodels_series(name)
        run, seconds = fit(series, **options)
        cands = run.metrics["candidates"]

        def mase(key: str, cands=cands) -> str:
            entry = cands.get(key, {})
            return fmt(entry["test"]["mase"]) if "test" in entry else "—"

        rows.append(
            [
                name,
                series.frequency_label(),
                run.metrics["horizon"],
                mase("naive"),
                mase("seasonal-naive"),
                mase("ets"),
                mase("ridge"),
                f"{run.chosen} {run.metrics['test']['mase']:.3f}",
                f"{run.metrics['test']['coverage_80%']:.2f} / "
                f"{run.metrics['test']['coverage_95%']:.2f}",
                f"{seconds:.0f}",
            ]
        )
        progress(f"{name}: chosen {run.chosen} ({seconds:.0f} s)")
    head = ["series", "frequency", "horizon", "naive", "seasonal naive", "ETS", "ridge",
            "advisor's choice", "coverage 80% / 95%", "run s"]  # fmt: skip
    return (
        "## Univariate series (test MASE, lower is better)\n\n" + markdown_table(head, rows) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizons", type=int, nargs="+", default=[96, 336])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    limit = 60.0 if args.quick else None
    horizons = [96] if args.quick else args.horizons
    parts = [header("Forecasting benchmark", PACKAGES)]
    if ETT.exists():
        parts += [ett_table(h, limit) for h in horizons]
    else:
        parts.append(f"ETTh1 not found at {ETT}: skipped.\n")
    parts.append(univariate_table(["co2"] if args.quick else ["co2", "sunspots", "nile"], limit))
    text = "\n".join(parts)
    print(text)
    print(f"wrote {write_result('forecasting', text, args.quick)}", file=sys.stderr)


if __name__ == "__main__":
    main()
