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
    from layerwise.cli.common import err, out, tasks_that
    from layerwise.errors import ConfigError

    task = load(run_dir)
    # Each option is for the tasks whose evaluate takes it (Task.evaluate_options).
    given = {"episodes": episodes, "seed": seed, "backtest": backtest}
    given = {name: value for name, value in given.items() if value is not None}
    for name in given:
        if name not in task.evaluate_options:
            flag = f"--{name}"
            owners = tasks_that(lambda cls, name=name: name in cls.evaluate_options)
            raise ConfigError(f"{flag} is for {owners} runs; this run is {task.name}.",
                              f"Leave out {flag}.")  # fmt: skip
    if data is None and "evaluate" not in task.data_optional:
        raise ConfigError("No data given to evaluate on.", "Usage: layerwise evaluate RUN DATA.")
    metrics = task.evaluate(data, **given)
    for note in metrics.pop("notes", []):  # one line each; the data's text is no markup
        err.print(f"note: {note}", soft_wrap=True, markup=False)
    out.print_json(json.dumps(metrics))
