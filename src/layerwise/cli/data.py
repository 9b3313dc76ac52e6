"""layerwise data synth-speech --words yes,no --per-word 200 --out synth/

The subcommands are the applications' (``data_commands`` in tasks/<app>/cli.py)."""

from __future__ import annotations

import typer

from layerwise.core.registry import TASKS

app = typer.Typer(help="Make or prepare data.", no_args_is_help=True)


def _add_application_commands() -> None:
    added: set[str] = set()
    for task in TASKS.names():
        line = TASKS.cli(task)
        for name, command in line.data_commands if line is not None else ():
            if name not in added:  # the tasks of one application share its commands
                added.add(name)
                app.command(name)(command)


_add_application_commands()
