"""Write a forecasting run folder: every model, metrics (scaled MSE/MAE, MASE, sMAPE, interval
coverage), decision.md, the forecast past the end of the data (forecast.csv), and what the
report draws (forecast_examples.json, error_by_step.json); plus the ensemble candidate and the
forecast table ``predict`` returns."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.core.bakeoff import bakeoff_metrics, candidate_entries
from layerwise.core.holdout_outputs import save_models
from layerwise.core.task import Run
from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.writer import StandardFiles, finish_run, task_schema
from layerwise.tasks.forecasting.base import ForecastCandidate, Windows

FORECAST = "forecast.csv"
EXAMPLES = "forecast_examples.json"
BY_STEP = "error_by_step.json"


class ForecastEnsemble(ForecastCandidate):
    """A weighted mean of the forecasts of its members (already fitted candidates)."""

    name: ClassVar[str] = "ensemble"
    family: ClassVar[str] = "ensemble"
    complexity: ClassVar[int] = 5
    description: ClassVar[str] = "weighted mean of forecasters, chosen greedily on validation"

    def __init__(
        self, members: dict[str, Any] | None = None, weights: list[float] | None = None, **params
    ):
        super().__init__(**params)
        self.members = members or {}
        self.weights = list(weights or [1.0 / max(len(self.members), 1)] * len(self.members))
        looks = [getattr(m, "lookback", 1) for m in self.members.values()]
        self.lookback = None if None in looks else max(looks, default=1)

    def forecast(self, windows: Windows) -> np.ndarray:
        parts = [
            w * m.forecast(windows)
            for w, m in zip(self.weights, self.members.values(), strict=True)
        ]
        return np.sum(parts, axis=0).astype(np.float32)

    def facts(self) -> dict[str, Any]:
        return {"weights": dict(zip(self.members, self.weights, strict=True))}

    def save(self, run: RunFolder) -> dict[str, Any]:
        return {
            "members": list(self.members),
            "weights": self.weights,
            "horizon": self.horizon,
            "season": self.season,
        }

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> ForecastEnsemble:
        members = {m: info["fitted_models"][m] for m in info["members"]}
        return cls(members, info["weights"], horizon=info["horizon"], season=info["season"])


def greedy_weights(forecasts: dict[str, np.ndarray], truth: np.ndarray, rounds: int = 20) -> dict:
    """Caruana-style ensemble selection: add, with replacement, the member that lowers the
    validation MSE of the running mean most, ``rounds`` times; weights are the counts.

    >>> t = np.zeros((4, 2, 1)); f = {"a": t + 1, "b": t - 1, "c": t + 3}
    >>> greedy_weights(f, t, rounds=4)
    {'a': 0.5, 'b': 0.5}
    """
    counts: dict[str, int] = {}
    total = np.zeros_like(truth, dtype=np.float64)
    for step in range(1, rounds + 1):
        best = min(
            forecasts, key=lambda n: float(np.mean(((total + forecasts[n]) / step - truth) ** 2))
        )
        counts[best] = counts.get(best, 0) + 1
        total += forecasts[best]
    return {name: n / rounds for name, n in counts.items()}


def cross_fitted(
    forecasts: dict[str, np.ndarray], truth: np.ndarray, blocks: np.ndarray
) -> np.ndarray:
    """The ensemble's validation forecasts with each block's weights fitted on the other
    blocks (all of them when there is one block).

    >>> t = np.zeros((4, 1, 1)); f = {"a": t + 1, "b": t - 1}
    >>> cross_fitted(f, t, np.array([0, 0, 1, 1]))[:, 0, 0].tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    out = np.zeros_like(truth, dtype=np.float64)
    for b in np.unique(blocks):
        inside = blocks == b
        fit = ~inside if (~inside).any() else inside
        weights = greedy_weights({n: f[fit] for n, f in forecasts.items()}, truth[fit])
        out[inside] = sum(w * forecasts[n][inside] for n, w in weights.items())
    return out


def ensemble_row(task: Any, rows: list[dict]) -> dict | None:
    """The greedy weighted mean of the measured forecasters (but ETS), when it mixes two or
    more, scored on cross-fitted validation forecasts."""
    from layerwise.tasks.forecasting.scoring import errors

    # members read a fixed lookback, so the ensemble forecasts from recent history alone (ETS
    # runs from the first training step and would need the whole history at predict time)
    measured = {
        r["candidate"]: r
        for r in rows
        if "skipped" not in r and task.models[r["candidate"]].lookback is not None
    }
    forecasts = {n: r["val_forecast"] for n, r in measured.items()}
    weights = greedy_weights(forecasts, task._val_truth)
    if len(weights) < 2:
        return None
    members = {name: task.models[name] for name in weights}
    model = ForecastEnsemble(
        members, list(weights.values()), horizon=task.meta["horizon"], season=task.meta["season"]
    )
    task.models["ensemble"] = model
    # Its weights are fitted on the validation forecasts, so its score there is optimistic
    # (co2: 0.0055 against ridge's 0.0060, and 0.0087 against 0.0073 on test). It is scored
    # on cross-fitted forecasts instead: each validation block by weights fitted on the others.
    val_forecast = cross_fitted(forecasts, task._val_truth, task._val_blocks)
    test_forecast = sum(w * measured[n]["test_forecast"] for n, w in weights.items())
    seconds = sum(measured[n]["fit_seconds"] for n in weights)
    validation = errors(task._val_truth, val_forecast)
    mix = " + ".join(f"{w:.2f} {n}" for n, w in weights.items())
    task.say(f"ensemble {mix}: validation MSE {validation['mse']:.4f}")
    return {
        "candidate": "ensemble",
        "members": list(weights),
        "validation": validation["mse"],
        "validation_std": 0.0,
        "validation_metrics": validation,
        "fit_seconds": seconds,
        "final_fit_seconds": seconds,
        "predict_us_per_row": sum(measured[n]["predict_us_per_row"] for n in weights),
        "val_forecast": val_forecast.astype(np.float32),
        "test_forecast": test_forecast.astype(np.float32),
    }


def _test_scores(task: Any, test: Windows, forecast: np.ndarray) -> dict[str, float]:
    from layerwise.tasks.forecasting.scoring import errors, mase_scale, smape

    series = task.series
    truth = test.targets()
    std = {k: task.stats[name][1] for k, name in enumerate(series.ids)}
    per_series = {
        k: mase_scale(series.values[k], task.meta["val_start"][k], task.meta["season"], std[k])
        for k in range(len(series))
    }
    scale = np.stack([per_series[k] for k in test.origins[:, 0]])
    out = errors(truth, forecast, scale)
    out["smape"] = smape(task._unscale(series, test, truth), task._unscale(series, test, forecast))
    return out


def _metrics(task: Any, plan: Any, rows: list[dict], seconds: float, profile: Any) -> dict:
    def entry_of(row: dict) -> dict[str, Any]:
        model = task.models[row["candidate"]]
        entry = {
            "validation": row["validation_metrics"],
            "test": row["test"],
            "fit_seconds": row["fit_seconds"],
            "predict_ms_per_row": row["predict_us_per_row"] / 1000.0,
            "size_bytes": row.get("size_bytes"),
        }
        if model.history is not None:
            entry.update(epochs=len(model.history), stopped=getattr(model, "stopped_reason", ""))
        entry.update(getattr(model, "facts", dict)())
        return entry

    families = {r["candidate"]: task.CANDIDATES.get(r["candidate"]).family for r in rows}
    chosen = next(r for r in rows if r["candidate"] == task.chosen)
    return bakeoff_metrics(
        task.name,
        metric=plan.metric,
        greater_is_better=False,
        protocol=plan.protocol,
        chosen=task.chosen,
        test=chosen["test"],
        candidates=candidate_entries(rows, entry_of, families),
        horizon=task.meta["horizon"],
        total_seconds=seconds,
    )


def forecast_frame(task: Any, series: Any, windows: Windows, scaled: np.ndarray) -> pd.DataFrame:
    """One row per series, future step and column: the forecast and its intervals."""
    values = task._unscale(series, windows, scaled)
    spread = task.spread(windows)
    offset = pd.tseries.frequencies.to_offset(task.meta["freq"])
    records = []
    for row, (k, t) in enumerate(windows.origins):
        std = task.stats.get(series.ids[k], (0, np.ones(scaled.shape[2])))[1]
        start = series.times[k][t - 1]
        times = pd.date_range(start, periods=task.meta["horizon"] + 1, freq=offset)[1:]
        for c, column in enumerate(task.meta["columns"]):
            record = {"series": series.ids[k], "time": times, "column": column}
            record["forecast"] = values[row, :, c]
            for level, width in task.widths.items():
                half = np.asarray(width)[:, c] * spread[row, c] * std[c]
                pct = round(100 * float(level))
                record[f"lower_{pct}"] = values[row, :, c] - half
                record[f"upper_{pct}"] = values[row, :, c] + half
            records.append(pd.DataFrame(record))
    return pd.concat(records, ignore_index=True)


def _examples(task: Any, test: Windows, forecast: np.ndarray, limit: int = 4) -> dict:
    """The last test window of up to ``limit`` series x channels, in original units."""
    series, horizon = task.series, task.meta["horizon"]
    last = {}
    for row, (k, _) in enumerate(test.origins):
        last[int(k)] = row
    values = task._unscale(series, test, forecast)
    spread = task.spread(test)
    out = []
    for k, row in list(last.items())[:limit]:
        t = int(test.origins[row, 1])
        std = task.stats[series.ids[k]][1]
        for c, column in enumerate(series.columns[: max(1, limit // max(len(last), 1))]):
            back = max(0, t - 4 * horizon)
            half = {
                lvl: (np.asarray(w)[:, c] * spread[row, c] * std[c]).tolist()
                for lvl, w in task.widths.items()
            }
            out.append(
                {
                    "series": series.ids[k],
                    "column": column,
                    "history_time": [str(x) for x in series.times[k][back:t]],
                    "history": series.values[k][back:t, c].tolist(),
                    "time": [str(x) for x in series.times[k][t : t + horizon]],
                    "truth": series.values[k][t : t + horizon, c].tolist(),
                    "forecast": values[row, :, c].tolist(),
                    "half_widths": half,
                }
            )
    return {"model": task.chosen, "examples": out}


def write_forecast_run(
    task: Any,
    run: RunFolder,
    parts: tuple,
    plan: Any,
    rows: list[dict],
    profile: Any,
    started: float,
) -> Run:
    """Choose, calibrate the intervals, and write every file of the run folder."""
    from layerwise.core import advisor, selection
    from layerwise.tasks.forecasting.scoring import coverage, error_by_step, interval_widths

    val, test = parts
    measured = [r for r in rows if "skipped" not in r]
    for row in measured:
        row["test"] = _test_scores(task, test, row["test_forecast"])
        losses = np.mean((row["val_forecast"] - task._val_truth) ** 2, axis=(1, 2))
        row["evidence"] = selection.blocks(losses, task._val_blocks)
    for model in task.models.values():
        profile.notes += getattr(model, "notes", [])
    complexity = {n: task.CANDIDATES.get(n).complexity for n in task.CANDIDATES.names()}
    task.chosen, reason = selection.choose(measured, plan, complexity)
    task.say(f"[bold green]chosen[/bold green] {reason}")
    chosen = next(r for r in measured if r["candidate"] == task.chosen)
    levels = tuple(float(x) for x in task.option("levels"))
    residuals = chosen["val_forecast"] - task._val_truth
    task.widths = interval_widths(residuals, task.spread(val), levels)
    chosen["test"].update(
        coverage(test.targets(), chosen["test_forecast"], task.widths, task.spread(test))
    )

    infos = save_models(task, run, rows)
    families = {n: task.CANDIDATES.get(n).family for n in task.CANDIDATES.names()}
    decision = advisor.decision_markdown(profile, plan, rows, task.chosen, reason, families)
    stats = {k: {"mean": m.tolist(), "std": s.tolist()} for k, (m, s) in task.stats.items()}
    preprocess = {"classes": [], "chosen": task.chosen, "target": task.target, "meta": task.meta,
                  "stats": stats, "widths": task.widths, "models": infos}  # fmt: skip
    metrics = _metrics(task, plan, rows, time.perf_counter() - started, profile)
    run.write_json("profile.json", profile.to_dict())
    run.write_json(
        BY_STEP,
        {r["candidate"]: error_by_step(test.targets(), r["test_forecast"]) for r in measured},
    )
    run.write_json(EXAMPLES, _examples(task, test, chosen["test_forecast"]))
    ends = np.array([[k, n] for k, n in enumerate(task.series.lengths())], dtype=np.int64)
    future = Windows(val.series, ends, task.meta["horizon"])
    frame = forecast_frame(task, task.series, future, task.models[task.chosen].forecast(future))
    run.write_with(FORECAST, lambda p: frame.to_csv(p, index=False))
    history = None
    deep = [r for r in measured if task.models[r["candidate"]].history is not None]
    if deep:  # the chosen model's curves, else those of the best deep model on validation
        model = task.models[task.chosen]
        if model.history is None:
            model = task.models[min(deep, key=lambda r: r["validation"])["candidate"]]
        history = model.history
    files = StandardFiles(preprocess, task_schema(task), metrics, decision, history)
    report = finish_run(task, run, files, task.chosen)
    metrics = run.read_json(names.METRICS)
    return Run(run.path, task, metrics, task.chosen, report, list(profile.notes))
