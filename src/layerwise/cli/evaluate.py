"""layerwise evaluate RUN DATA"""

from __future__ import annotations

from typing import Optional

import typer


def evaluate(
    run_dir: str = typer.Argument(..., help="A run folder written by `layerwise train`."),
    data: str = typer.Argument(..., help="Labelled table with the target column."),
    backtest: Optional[int] = typer.Option(
        None, "--backtest", help="Forecasting: rolling-origin backtest over this many horizons [5]."
    ),
) -> None:
    """Score a trained run on labelled data and print its metrics as JSON."""
    import json

    from layerwise.api import load
    from layerwise.cli.common import err, out

    task = load(run_dir)
    if backtest is not None:
        if task.name != "forecasting":
            from layerwise.errors import ConfigError

            raise ConfigError(
                f"--backtest is for forecasting runs; this run is {task.name}.",
                "Leave out --backtest.",
            )
        metrics = task.evaluate(data, backtest=backtest)
    else:
        metrics = task.evaluate(data)
    for note in metrics.pop("notes", []):
        err.print(f"note: {note}")
    out.print_json(json.dumps(metrics))
