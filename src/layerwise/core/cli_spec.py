"""What an application adds to the ``layerwise`` command, declared where importing is free.

The command reads these at start-up (``layerwise --help`` included), before it knows which
task will run, so they live in each application's light ``tasks/<app>/cli.py`` (this module
and the standard library only at its top; pandas and torch wait for the task's own module).
The application's registry line names them: ``TASKS.register(name, target, text, cli=...)``.
What needs a fitted task (the lines printed after training, which options predict takes) is
on the :class:`~layerwise.core.task.Task` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainOption:
    """One ``layerwise train`` option of an application.

    ``flags``: as Typer takes them ("--horizon", or "--flip/--no-flip"); ``name``: the task
    option it sets (the keyword ``fit`` receives); ``type``: str, int, float, bool or
    list[str]. A value equal to ``default`` is not passed on, so the task's own default (or a
    ``--config`` file's value) stands. ``selects_task``: given without ``--task``, the run is of
    the application that declares it (True), or only when given one of the values it names (a
    tuple: ``--format`` is shared, ``movielens`` picks recommendation, ``coco`` detection).
    ``replaces_data``: given, DATA may be left out. ``read(value, data) -> (value, data)``:
    turns what was typed into the option's value, called even when the option is not given (it
    may take its value from DATA).
    """

    flags: str
    name: str
    type: Any = str
    help: str = ""
    default: Any = None
    selects_task: bool | tuple[str, ...] = False
    replaces_data: bool = False
    read: Callable[[Any, str | None], tuple[Any, str | None]] | None = None


@dataclass(frozen=True)
class CommandLine:
    """An application's part of the command: its ``layerwise train`` options, shown under
    ``panel`` in ``layerwise train --help``, any ``layerwise data`` subcommands (name, Typer
    command function), and how it recognises its data when no task is named."""

    panel: str
    train_options: tuple[TrainOption, ...] = ()
    data_commands: tuple[tuple[str, Callable[..., Any]], ...] = ()
    # Given DATA and no --task (CLI) or task= (API): is it this application's by its form alone
    # (a folder of images, a WAV, an environment id)? Asked in registry order, before a table
    # is read; tables are the fallback.
    recognises: Callable[[Any], bool] | None = None


@dataclass(frozen=True)
class Demo:
    """The bundled data ``layerwise demo`` trains on: ``data`` (a path, or what the task
    reads), its ``target``, a ``title`` for the banner and the ``options`` of the demo's fit.
    ``hint``: what the printed next commands predict on [data]; ``next``: more next
    commands, ``{run}`` standing for the run folder."""

    data: str | Path
    target: str | None
    title: str
    options: dict[str, Any] = field(default_factory=dict)
    hint: str | None = None
    next: tuple[str, ...] = ()


# The two-class cut's options (core/operating_point.py), shared by the classifiers that use the
# holdout machinery: images, texts and speech.
CUT_OPTIONS = (
    TrainOption("--threshold", "threshold", str,
                "Two classes: what the cut serves: auto (macro-F1 if imbalanced, else "
                "accuracy), accuracy, macro-f1, balanced-accuracy, recall@precision=0.9, "
                "precision@recall=0.95, cost, or a probability."),
    TrainOption("--cost-fp", "cost_fp", float,
                "With --threshold cost: the cost of a false positive [1] (anomaly-detection: "
                "of a false alarm)."),
    TrainOption("--cost-fn", "cost_fn", float,
                "With --threshold cost: the cost of a false negative [1] (anomaly-detection: "
                "of a missed anomaly)."),
    TrainOption("--prior", "prior", float,
                "Two classes: the share of the second class where the model will be used; "
                "probabilities and the cut are adjusted to it."),
)  # fmt: skip
