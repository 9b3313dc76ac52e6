"""layerwise play RUN [--episodes N] [-o play.gif] [--seed S]: record the agent playing."""

from __future__ import annotations

from typing import Optional

import typer


def play(
    run_dir: str = typer.Argument(..., help="A reinforcement-learning run folder."),
    episodes: int = typer.Option(1, "--episodes", help="Episodes to record, one after another."),
    output: str = typer.Option("play.gif", "--output", "-o", help="The animated GIF to write."),
    seed: int = typer.Option(0, "--seed", help="The same seed plays the same episodes."),
    env: Optional[str] = typer.Option(
        None, "--env", help="Play in this environment [the one the agent trained on]."
    ),
) -> None:
    """Play episodes with the trained agent and write them as an animated GIF."""
    from layerwise.api import load
    from layerwise.cli.common import err, tasks_that
    from layerwise.core.capabilities import Plays
    from layerwise.errors import ConfigError

    task = load(run_dir)
    if not isinstance(task, Plays):
        raise ConfigError(f"play is for {tasks_that(lambda cls: issubclass(cls, Plays))} runs; "
                          f"this run is {task.name}.", "Use predict or generate.")  # fmt: skip
    result = task.play(output, episodes=episodes, seed=seed, env=env)
    returns = ", ".join(f"{r:.1f}" for r in result["returns"])
    err.print(f"Wrote {output}: {episodes} episode(s), return {returns}, {result['frames']} frames "
              f"(1 in {result['every']} kept), {result['bytes'] / 1e3:.0f} kB")  # fmt: skip
