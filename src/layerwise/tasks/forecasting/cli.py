"""What forecasting adds to the ``layerwise`` command: its ``train`` options and its demo.
Read at the command's start-up: nothing heavy at the top (see core.cli_spec)."""

from __future__ import annotations

from pathlib import Path

from layerwise.core.cli_spec import CommandLine, Demo, TrainOption

TIME_COLUMN = TrainOption("--time-column", "time_column", str,
                          "Forecasting, recommendation: the column of times [detected].")  # fmt: skip

COMMAND_LINE = CommandLine(
    panel="Forecasting",
    train_options=(
        TIME_COLUMN,
        TrainOption("--id-column", "id_column", str,
                    "Forecasting: the column naming each series (long tables)."),
        TrainOption("--horizon", "horizon", int, "Forecasting: steps to forecast [one season]."),
        TrainOption("--lookback", "lookback", int,
                    "Forecasting: history steps the models read [chosen]."),
        TrainOption("--fill", "fill", str,
                    "Forecasting: gaps and NaN: auto (interpolate), ffill or error."),
    ),
)  # fmt: skip


def co2(folder: Path) -> Demo:
    """The demo: weekly CO2 at Mauna Loa (bundled with statsmodels)."""
    from layerwise.io import atomic_write
    from layerwise.tasks.forecasting.sources import statsmodels_series

    frame = statsmodels_series("co2").to_frame()
    path = folder / "co2.csv"
    atomic_write(path, lambda p: frame.to_csv(p, index=False))
    return Demo(path, None,
                "weekly CO2 at Mauna Loa 1958-2001 (statsmodels), forecast one year ahead")  # fmt: skip
