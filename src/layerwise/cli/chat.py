"""layerwise chat RUN: type a text, read the run's answer (a translation or a reply), until an
empty line, end of input or Ctrl-C."""

from __future__ import annotations

from typing import Optional

import typer


def chat(
    run_dir: str = typer.Argument(..., help="A run folder whose model answers texts."),
    beam: Optional[int] = typer.Option(
        None, "--beam", help="Beam width for a Transformer [the run's]; 1 is greedy."
    ),
) -> None:
    """Talk to a run: each line you type gets the model's output."""
    import sys

    from layerwise.api import load
    from layerwise.cli.common import err, tasks_that
    from layerwise.core.capabilities import Replies
    from layerwise.errors import ConfigError, DataError

    task = load(run_dir)
    if not isinstance(task, Replies):
        raise ConfigError(f"chat works on {tasks_that(lambda c: issubclass(c, Replies))} runs; "
                          f"this run is {task.name}.", "Use `layerwise predict` for it.")  # fmt: skip
    interactive = sys.stdin.isatty()
    if interactive:
        err.print(f"{task.name} run, serving {getattr(task, 'chosen', '?')}: type a text and "
                  "press Enter; an empty line or Ctrl-D ends.")  # fmt: skip
    while True:
        if interactive:
            sys.stdout.write("> ")
            sys.stdout.flush()
        line = sys.stdin.readline()
        if not line or not line.strip():
            return
        try:
            answer = task.reply(line.strip(), beam=beam)
        except DataError as error:  # one bad line ends nothing
            err.print(f"error: {error}")
            continue
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
