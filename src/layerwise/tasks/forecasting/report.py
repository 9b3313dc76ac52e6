"""Report sections for forecasting runs: history + forecast + intervals on the last test window
of a few series, and the test error at each horizon step for every candidate."""

from __future__ import annotations

import html
import json

from layerwise.runs import plots
from layerwise.runs.folder import RunFolder
from layerwise.tasks.forecasting.outputs import BY_STEP, EXAMPLES  # the names it writes


def forecast_plots(run: RunFolder) -> str | None:
    if not run.exists(EXAMPLES):
        return None
    import pandas as pd

    data = json.loads(run.read_text(EXAMPLES))
    examples = data.get("examples", [])
    if not examples:
        return None
    fig, axes = plots._figure(9.5, 2.6 * len(examples))
    fig.clear()
    for i, ex in enumerate(examples):
        ax = fig.add_subplot(len(examples), 1, i + 1)
        ax.grid(True, alpha=0.3, linewidth=0.6)
        past, future = pd.to_datetime(ex["history_time"]), pd.to_datetime(ex["time"])
        ax.plot(past, ex["history"], color=plots.GREY, linewidth=1, label="history")
        ax.plot(future, ex["truth"], color="black", linewidth=1.2, label="what happened")
        ax.plot(future, ex["forecast"], color=plots.BLUE, linewidth=1.6, label="forecast")
        shades = {"0.95": plots.BLUE_LIGHT, "0.8": "#7fb2dd"}
        for level, half in sorted(ex["half_widths"].items(), key=lambda kv: -float(kv[0])):
            lower = [f - h for f, h in zip(ex["forecast"], half, strict=True)]
            upper = [f + h for f, h in zip(ex["forecast"], half, strict=True)]
            ax.fill_between(
                future, lower, upper, color=shades.get(level, plots.BLUE_LIGHT), alpha=0.5,
                linewidth=0, label=f"{float(level):.0%} interval",
            )  # fmt: skip
        ax.set_title(f"{ex['series']} · {ex['column']}", fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=7, loc="upper left", ncol=5)
    note = (
        f'<p class="note">The last test window of each series, forecast by {html.escape(str(data.get("model")))} '
        "from the history before it; shaded: the conformal intervals calibrated on validation errors.</p>"
    )
    return note + plots.img_tag(plots._encode(fig), "history, forecast and intervals")


def error_by_step(run: RunFolder) -> str | None:
    if not run.exists(BY_STEP):
        return None
    data = json.loads(run.read_text(BY_STEP))
    if not data:
        return None
    fig, (ax,) = plots._figure(7.5, 3.2)
    for i, (name, values) in enumerate(data.items()):
        steps = range(1, len(values) + 1)
        ax.plot(steps, values, color=plots.CYCLE[i % len(plots.CYCLE)], linewidth=1.3, label=name)
    ax.set_xlabel("steps ahead", fontsize=8)
    ax.set_ylabel("test MSE (scaled, log scale)", fontsize=8)
    ax.set_yscale("log")
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, ncol=2)
    return (
        '<p class="note">Error grows with the distance from the last known value.</p>'
        + plots.img_tag(plots._encode(fig), "test MSE at each horizon step")
    )


# The sections this application adds to report.html, in page order (Task.report_sections).
SECTIONS = [
    ("Forecasts on the test windows", forecast_plots),
    ("Error by horizon step", error_by_step),
]
