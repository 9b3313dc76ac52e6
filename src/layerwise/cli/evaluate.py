"""layerwise evaluate RUN DATA (an agent: layerwise evaluate RUN [ENV] --episodes N)"""

from __future__ import annotations

from typing import Optional

import typer


def evaluate(
    run_dir: str = typer.Argument(..., help="A run folder written by `layerwise train`."),
    data: Optional[str] = typer.Argument(
        None, help="Labelled table with the target column; agents: an environment [its own]."
    ),
    episodes: Optional[int] = typer.Option(
        None, "--episodes", help="Reinforcement learning: episodes to play [the run's, 100]."
    ),
    seed: Optional[int] = typer.Option(
        None, "--seed", help="Reinforcement learning: seed of the episodes [the run's test seed]."
    ),
    backtest: Optional[int] = typer.Option(
        None, "--backtest", help="Forecasting: rolling-origin backtest over this many horizons [5]."
    ),
) -> None:
    """Score a trained run on labelled data and print its metrics as JSON."""
    import json

    from layerwise.api import load
    from layerwise.cli.common import err, out
    from layerwise.errors import ConfigError

    task = load(run_dir)
    if (episodes is not None or seed is not None) and task.name != "reinforcement-learning":
        raise ConfigError(f"--episodes and --seed are for agents; this run is {task.name}.",
                          "Leave them out.")  # fmt: skip
    if task.name == "reinforcement-learning":
        metrics = task.evaluate(data, episodes=episodes, seed=seed)
        out.print_json(json.dumps(metrics))
        return
    if data is None:
        raise ConfigError("No data given to evaluate on.", "Usage: layerwise evaluate RUN DATA.")
    if backtest is not None:
        if task.name != "forecasting":
            raise ConfigError(
                f"--backtest is for forecasting runs; this run is {task.name}.",
                "Leave out --backtest.",
            )
        metrics = task.evaluate(data, backtest=backtest)
    else:
        metrics = task.evaluate(data)
    for note in metrics.pop("notes", []):  # one line each; the data's text is no markup
        err.print(f"note: {note}", soft_wrap=True, markup=False)
    out.print_json(json.dumps(metrics))
