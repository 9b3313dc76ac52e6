"""forecasting: the next ``horizon`` steps of one or many time series, with intervals.

Deep forecasters (DLinear, PatchTST, SegRNN) compete with naive, seasonal naive, a closed-form
ridge map from the lookback window to the horizon, and ETS; the mean of the best classical and
the best deep model competes too. The split is chronological (training, validation, test in
time, each series on its own), every channel of every series is standardised with its training
mean and std, the advisor picks on the validation windows, and the test windows are only
measured. Intervals are split-conformal on the validation errors of the chosen model.

Started by torchrun or ``--devices N``, every process trains the deep forecasters together (DDP,
with the first process's lookback, time limit and checkpoint folder) and the first alone the
classical ones, the ensemble and the run folder, as :mod:`layerwise.core.holdout_bakeoff` does.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.core.holdout import HOLDOUT_DEFAULTS, HoldoutTask
from layerwise.core.registry import Registry
from layerwise.core.selection import block_labels
from layerwise.core.task import Run
from layerwise.errors import ConfigError, DataError, TrainingError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.forecasting.base import Windows, origins_between

CANDIDATES = Registry("forecasting candidate")
for _name, _path, _about in [
    ("naive", "layerwise.tasks.forecasting.baselines:NaiveCandidate", "repeat the last value"),
    (
        "seasonal-naive",
        "layerwise.tasks.forecasting.baselines:SeasonalNaiveCandidate",
        "last season",
    ),
    (
        "ridge",
        "layerwise.tasks.forecasting.baselines:RidgeCandidate",
        "ridge map lookback -> horizon",
    ),
    ("ets", "layerwise.tasks.forecasting.ets:ETSCandidate", "exponential smoothing (statsmodels)"),
    ("dlinear", "layerwise.tasks.forecasting.deep:DLinearCandidate", "DLinear"),
    ("patchtst", "layerwise.tasks.forecasting.deep:PatchTSTCandidate", "PatchTST"),
    ("segrnn", "layerwise.tasks.forecasting.deep:SegRNNCandidate", "SegRNN"),
    (
        "ensemble",
        "layerwise.tasks.forecasting.outputs:ForecastEnsemble",
        "best classical + best deep",
    ),
]:
    CANDIDATES.register(_name, _path, _about)

DEFAULTS: dict[str, Any] = {
    **{
        k: v
        for k, v in HOLDOUT_DEFAULTS.items()
        if k not in ("threshold", "cost_fp", "cost_fn", "prior", "cheap_folds", "test_data")
    },
    "test_size": 0.2,
    "val_size": 0.2,
    "time_column": None,
    "id_column": None,
    "covariates": None,
    "fill": "auto",
    "horizon": None,  # default: one season (hourly 24, daily 7, monthly 12), else 10 steps
    "lookback": None,  # default: the one ridge picks on validation
    "levels": [0.8, 0.95],
}
CPU_DEEP_BUDGET_S = 150.0  # seconds each deep forecaster may train on a CPU by default


class Forecasting(HoldoutTask):
    """Forecast the next steps of time series; classical and deep forecasters compete.

    >>> import layerwise
    >>> from layerwise.tasks.forecasting.sources import synthetic
    >>> run = layerwise.fit(synthetic(400), task="forecasting", horizon=12)  # doctest: +SKIP
    >>> run.predict(synthetic(400)).columns[:3].tolist()  # doctest: +SKIP
    ['series', 'time', 'column']
    """

    name: ClassVar[str] = "forecasting"
    description: ClassVar[str] = "Forecast time series (with prediction intervals)"
    request_kind: ClassVar[str | None] = "series"  # served: see layerwise.serve.requests
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    CANDIDATES: ClassVar[Registry] = CANDIDATES
    unit: ClassVar[str] = "windows"
    # the deep forecasters under DDP on every rank, the classical ones on rank 0 (fit)
    data_parallel: ClassVar[bool] = True

    evaluate_options: ClassVar[tuple[str, ...]] = ("backtest",)  # layerwise evaluate

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.forecasting.cli import co2

        return co2(folder)

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # id -> (mean, std) [C]
        self.widths: dict[str, list] = {}
        self.meta: dict[str, Any] = {}

    # ---- reading and splitting ------------------------------------------------------------
    def read(self, data: Any, target: Any = None, labelled: bool = True) -> Any:
        from layerwise.tasks.forecasting.series import read_series

        if isinstance(target, str) and "," in target:
            target = [t.strip() for t in target.split(",") if t.strip()]
        return read_series(
            data,
            time_column=self.option("time_column"),
            id_column=self.option("id_column"),
            target=target,
            covariates=self.option("covariates"),
            fill=self.option("fill"),
        )

    def _horizon(self, series: Any) -> int:
        given = self.option("horizon")
        if given is None:
            return int(series.season) if series.season > 1 else 10
        if not isinstance(given, int | np.integer) or isinstance(given, bool) or given < 1:
            raise ConfigError(
                f"horizon={given!r} is not valid.", "Use a whole number of steps >= 1."
            )
        return int(given)

    def _borders(self, series: Any, horizon: int) -> tuple[list[int], list[int]]:
        """Per series, where validation and test start (each holds at least one horizon)."""
        val_start, test_start = [], []
        for name, n in zip(series.ids, series.lengths(), strict=True):
            test = max(horizon, round(self.option("test_size") * n))
            val = max(horizon, round(self.option("val_size") * n))
            if n - test - val < horizon + 2:
                need = 3 * horizon + 2
                raise DataError(
                    f"Series '{name}' has {n} steps: too short for horizon {horizon} (training, "
                    f"validation and test each need a full horizon; at least {need} steps).",
                    "Pass a longer history or a shorter --horizon.",
                )
            test_start.append(n - test)
            val_start.append(n - test - val)
        return val_start, test_start

    def _scale(self, series: Any, stop: list[int] | None = None) -> list[np.ndarray]:
        """Standardise each series with its training statistics (fitted here when ``stop``
        gives the training part; else the stored ones, or the series' own for a new id)."""
        out = []
        for k, (name, values) in enumerate(zip(series.ids, series.values, strict=True)):
            if stop is not None:
                part = values[: stop[k]]
                std = part.std(axis=0)
                self.stats[name] = (part.mean(axis=0), np.where(std > 1e-12, std, 1.0))
            mean, std = self.stats.get(name) or (values.mean(axis=0), values.std(axis=0) + 1e-12)
            out.append(((values - mean) / std).astype(np.float32))
        return out

    def profile_and_plan(self, data: Any, target: Any = None) -> tuple[tuple, Any, Any]:
        from layerwise.tasks.forecasting.plan import ForecastProfile, plan_forecast

        series = self.read(data, target)
        self.target = target
        horizon = self._horizon(series)
        val_start, test_start = self._borders(series, horizon)
        scaled = self._scale(series, val_start)
        lengths = series.lengths()
        zeros = [0] * len(lengths)
        parts = [
            Windows(scaled, origins_between(lengths, zeros, val_start, horizon), horizon),
            Windows(scaled, origins_between(lengths, val_start, test_start, horizon), horizon),
            Windows(scaled, origins_between(lengths, test_start, lengths, horizon), horizon),
        ]
        longest = int(np.argmax(lengths))
        # the validation origins in blocks of about one horizon or more (2 to 10 blocks), the
        # units the advisor pairs candidates on: neighbouring origins share most of their future
        position = parts[1].origins[:, 1] - np.asarray(val_start)[parts[1].origins[:, 0]]
        span = test_start[longest] - val_start[longest]
        self._val_blocks = block_labels(position, int(np.clip(span // horizon, 2, 10)))
        self.meta = {
            "columns": series.columns,
            "freq": series.freq,
            "season": series.season,
            "horizon": horizon,
            "time_column": series.time_column,
            "id_column": series.id_column,
            "val_start": val_start,
            "test_start": test_start,
            "span": max(7 * series.season, 48),  # steps whose spread scales the intervals
            "spread": "std",
            "ids": list(series.ids),
            "starts": [str(t[0]) for t in series.times],
        }
        profile = ForecastProfile(
            len(series),
            series.n_channels,
            series.columns,
            series.frequency_label(),
            series.season,
            horizon,
            (
                val_start[longest],
                test_start[longest] - val_start[longest],
                lengths[longest] - test_start[longest],
            ),
            tuple(len(p) for p in parts),
            series.source,
            list(series.notes),
        )
        protocol = (
            f"chronological split ({1 - self.option('val_size') - self.option('test_size'):.0%} "
            f"/ {self.option('val_size'):.0%} / {self.option('test_size'):.0%} of each series), "
            "every forecast origin of the validation part, candidates compared over "
            f"{self._val_blocks.max() + 1} blocks of consecutive origins"
        )
        self.series = series
        return tuple(parts), profile, self.announce(profile, plan_forecast(profile, protocol))

    # ---- the bake-off ----------------------------------------------------------------------
    def candidate_params(self, name: str) -> dict[str, Any]:
        from layerwise.engine.config import resolve_device

        params = {"horizon": self.meta["horizon"], "season": self.meta["season"]}
        params.update(super().candidate_params(name))
        if CANDIDATES.get(name).family == "deep":
            lookback = self.option("lookback") or getattr(
                self.models.get("ridge"), "lookback", None
            )
            params.setdefault("lookback", int(lookback or 336))
            cpu = resolve_device(self.option("device")).type == "cpu"
            if cpu and self.option("time_limit") is None:
                params.setdefault("time_limit", CPU_DEEP_BUDGET_S)
        elif name == "ridge" and self.option("lookback"):
            params.setdefault("lookback", int(self.option("lookback")))
        return params

    def fit(self, data: Any = None, target: Any = None, **options: Any) -> Run:
        """Split, train and measure every candidate, choose, and write the run. In a world of
        several processes every rank trains the deep forecasters together and rank 0 alone
        the rest; the other ranks return None."""
        from layerwise.engine.distributed import current_world
        from layerwise.runs.writer import open_run_folder
        from layerwise.tasks.forecasting.outputs import ensemble_row, write_forecast_run

        self._check_options(options)
        self.options = {**self.options, **options}
        started = time.perf_counter()
        (train, val, test), profile, plan = self.profile_and_plan(data, target)
        world = current_world()
        run = open_run_folder(self, data) if world.main else None
        self._val_truth = val.targets()
        rows = []
        for name in plan.candidates:
            # the classical models on rank 0 alone; a deep one on every rank, together
            if world.main or CANDIDATES.get(name).family == "deep":
                rows.append(self._measure(name, train, val, test, run, started))
        if not world.main:
            return None  # type: ignore[return-value]
        row = ensemble_row(self, rows)
        rows += [row] if row else []
        return write_forecast_run(self, run, (val, test), plan, rows, profile, started)

    def _measure(
        self, name: str, train: Windows, val: Windows, test: Windows, run: RunFolder, started: float
    ) -> dict[str, Any]:
        from layerwise.engine.distributed import agreed, current_world
        from layerwise.tasks.forecasting.scoring import errors

        main = current_world().main
        params = self.run_params(name, run, started) if main else None
        if CANDIDATES.get(name).family == "deep":
            # rank 0's on every rank: the lookback its ridge chose, its time limit and folder
            params = agreed(params)
        self.say(f"Training {name} on {len(train):,} windows")
        model = CANDIDATES.get(name)(seed=self.option("seed"), **params)
        t0 = time.perf_counter()
        try:
            model.fit(train, val)
        except TrainingError as exc:
            self.say(f"[yellow]{name} skipped[/yellow]: {exc.one_line()}")
            return {"candidate": name, "skipped": exc.one_line()}
        seconds = time.perf_counter() - t0
        if not main:  # its share of the training given, the measuring is rank 0's
            return {"candidate": name}
        self.models[name] = model
        val_forecast = model.forecast(val)
        t0 = time.perf_counter()
        test_forecast = model.forecast(test)
        latency = 1e6 * (time.perf_counter() - t0) / max(len(test), 1)
        validation = errors(val.targets(), val_forecast)
        self.say(f"{name}: validation MSE {validation['mse']:.4f} ({seconds:.1f} s)")
        return {
            "candidate": name,
            "validation": validation["mse"],
            "validation_std": 0.0,
            "validation_metrics": validation,
            "fit_seconds": seconds,
            "final_fit_seconds": seconds,
            "predict_us_per_row": latency,
            "val_forecast": val_forecast,
            "test_forecast": test_forecast,
        }

    # ---- predict and evaluate ---------------------------------------------------------------
    def _windows_at(self, series: Any, origins: np.ndarray) -> Windows:
        from layerwise.tasks.forecasting.series import check_continues

        check_continues(series, self.meta["freq"], self.meta["columns"])
        if series.columns != self.meta["columns"]:
            index = [series.columns.index(c) for c in self.meta["columns"]]
            series.values = [v[:, index] for v in series.values]
            series.columns = list(self.meta["columns"])
        model = self.models[self.chosen]
        members = getattr(model, "members", {model.name: model})
        if any(getattr(m, "lookback", 1) is None for m in members.values()):
            self._check_whole_history(series)
        lookback = getattr(model, "lookback", None) or 1
        for name, n in zip(series.ids, series.lengths(), strict=True):
            if n < lookback:
                raise DataError(
                    f"Series '{name}' has {n} steps; {self.chosen} reads the last {lookback}.",
                    f"Pass at least {lookback} recent steps of every series.",
                )
        return Windows(self._scale(series), origins, self.meta["horizon"])

    def _check_whole_history(self, series: Any) -> None:
        """ETS runs its recursion from the first training step: it needs every series, in the
        training order, from the same first timestamp."""
        starts = [str(t[0]) for t in series.times]
        if list(series.ids) != self.meta["ids"] or starts != self.meta["starts"]:
            raise DataError(
                f"{self.chosen} (ETS) forecasts from the whole history: it needs the series "
                f"{', '.join(self.meta['ids'][:5])} from {self.meta['starts'][0]} on, as trained.",
                "Pass the full history of every training series, or train again choosing "
                "another model (--candidates without ets).",
            )

    def spread(self, windows: Windows) -> np.ndarray:
        """The recent spread of each window ``[N, C]`` that scales its intervals."""
        from layerwise.tasks.forecasting.scoring import local_scale

        history = windows.history(int(self.meta.get("span", 24)) + 1)
        return local_scale(history, self.meta.get("spread", "diff"))

    def _unscale(self, series: Any, windows: Windows, scaled: np.ndarray) -> np.ndarray:
        mean = np.stack([self.stats.get(series.ids[k], (0, 1))[0] for k in windows.origins[:, 0]])
        std = np.stack([self.stats.get(series.ids[k], (0, 1))[1] for k in windows.origins[:, 0]])
        return scaled * std[:, None, :] + mean[:, None, :]

    def predict(self, inputs: Any) -> pd.DataFrame:
        """The next ``horizon`` steps after the end of each series in ``inputs`` (a table or
        SeriesSet continuing the training data), with 80% and 95% intervals: one row per
        series, step and column."""
        from layerwise.tasks.forecasting.outputs import forecast_frame

        self._require_fitted()
        series = self.read(inputs, self.target)
        origins = np.array([[k, n] for k, n in enumerate(series.lengths())], dtype=np.int64)
        windows = self._windows_at(series, origins)
        scaled = self.models[self.chosen].forecast(windows)
        return forecast_frame(self, series, windows, scaled)

    def evaluate(self, data: Any, backtest: int = 5) -> dict[str, Any]:
        """Rolling-origin backtest: ``backtest`` forecasts per series from origins one horizon
        apart at the end of ``data``; MSE/MAE (scaled), MASE, sMAPE and interval coverage."""
        from layerwise.tasks.forecasting.scoring import coverage, errors, mase_scale, smape

        self._require_fitted()
        series = self.read(data, self.target)
        horizon = self.meta["horizon"]
        rows = []
        for k, n in enumerate(series.lengths()):
            rows += [[k, n - horizon * i] for i in range(1, backtest + 1) if n - horizon * i > 1]
        if not rows:
            raise DataError(
                f"The series are too short to backtest {backtest} horizons of {horizon} steps.",
                "Pass a longer history or a smaller --backtest.",
            )
        windows = self._windows_at(series, np.asarray(rows, dtype=np.int64))
        truth, forecast = windows.targets(), self.models[self.chosen].forecast(windows)
        std = [self.stats.get(name, (0, np.ones(len(series.columns))))[1] for name in series.ids]
        scale = np.stack(
            [
                mase_scale(series.values[k], t, self.meta["season"], std[k])
                for k, t in windows.origins
            ]
        )
        metrics = errors(truth, forecast, scale)
        metrics["smape"] = smape(
            self._unscale(series, windows, truth), self._unscale(series, windows, forecast)
        )
        metrics.update(coverage(truth, forecast, self.widths, self.spread(windows)))
        rows = sum(series.lengths())
        metrics.update(origins=len(windows), model=self.chosen, horizon=horizon, rows=rows)
        return metrics

    def prediction_rows(self, inputs: Any) -> int:
        series = self.read(inputs, self.target)
        return len(series) * self.meta["horizon"] * len(self.meta["columns"])

    # ---- schema and loading -----------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        return {
            "type": "series",
            "time_column": self.meta.get("time_column"),
            "id_column": self.meta.get("id_column"),
            "columns": self.meta.get("columns"),
            "frequency": self.meta.get("freq"),
            "note": "recent history of every series, continuing the training frequency",
        }

    def output_schema(self) -> dict[str, Any]:
        return {
            "type": "forecast",
            "horizon": self.meta.get("horizon"),
            "levels": self.option("levels"),
            "fields": ["time", "column", "forecast"]
            + [
                f"{side}_{round(100 * lvl)}"
                for lvl in self.option("levels")
                for side in ("lower", "upper")
            ],
        }

    def restore(self, stored: dict[str, Any]) -> None:
        self.meta = stored["meta"]
        self.widths = stored["widths"]
        self.stats = {
            name: (np.asarray(s["mean"]), np.asarray(s["std"]))
            for name, s in stored["stats"].items()
        }

    def load_model(self, run: RunFolder, name: str, info: dict[str, Any]) -> Any:
        return CANDIDATES.get(name).load(run, info | {"fitted_models": self.models})

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.tasks.forecasting.report import SECTIONS

        return SECTIONS

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        from layerwise.tasks.forecasting.sources import synthetic

        frame = synthetic(n_steps=240, n_channels=2, season=12, seed=seed)
        fast = {"epochs": 2, "lookback": 48}
        options = {
            "horizon": 6,
            "lookback": 48,
            "candidate_params": {
                "dlinear": fast,
                "patchtst": {**fast, "dim": 8, "heads": 2, "depth": 1},
                "segrnn": {**fast, "hidden": 16, "segment": 12},
            },
        }
        return frame, options, frame
