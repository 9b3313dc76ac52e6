"""What the commands share: consoles and the printed ML-vs-DL table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Console

from layerwise.runs.summary import candidates_table

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


# the command's arguments as given: main sets them, and train --devices runs them again
ARGV: list[str] = []


def output_file(path: str, default_name: str) -> Path:
    """Where ``-o PATH`` writes: PATH itself, or ``default_name`` inside it when PATH is a
    folder (one that exists, or one written with a trailing slash), as ``cp`` does.

    Example:
        >>> output_file("out.csv", "predictions.csv").name
        'out.csv'
    """
    target = Path(path)
    if target.is_dir() or path.endswith(("/", os.sep)):
        return target / default_name
    return target


def print_run_summary(
    run: Any, data_hint: str = "new.csv", labelled_hint: str | None = None
) -> None:
    out.print(candidates_table(run.metrics))
    test = run.metrics.get("test", {})
    shown = ", ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float))
    out.print(
        f"Chosen: [bold]{run.chosen}[/bold]; test {shown}"
        if shown
        else f"Chosen: [bold]{run.chosen}[/bold]"
    )
    threshold = run.metrics.get("threshold")
    if isinstance(threshold, dict) and "rule" in threshold:
        expected = ""
        if "precision" in threshold:
            expected = f"; precision {threshold['precision']:.2f}, recall {threshold['recall']:.2f} on labelled rows"
        out.print(f"Flags: {threshold['rule']} (score >= {threshold['threshold']:.2f}){expected}")
    out.print(f"Run folder: {run.path}", soft_wrap=True)
    if run.report:
        out.print(f"Report: {run.report}", soft_wrap=True)
    out.print("Next:")
    out.print(f"  layerwise predict {run.path} {data_hint} -o predictions.csv", soft_wrap=True)
    out.print(f"  layerwise evaluate {run.path} {labelled_hint or data_hint}", soft_wrap=True)


def print_training_summary(
    run: Any, data_hint: str = "new.csv", labelled_hint: str | None = None
) -> None:
    """What ``train`` and ``demo`` print after training: the task's own summary
    (``Task.training_summary``), else the table of candidates and the next commands."""
    lines = run.task.training_summary(run)
    if lines is None:
        print_run_summary(run, data_hint=data_hint, labelled_hint=labelled_hint)
        return
    from rich.text import Text

    for line in lines:  # one line each (a markup string or a Text), or a rich renderable
        out.print(line, soft_wrap=isinstance(line, (str, Text)))


def tasks_with(test: Any) -> list[str]:
    """The registered tasks whose class passes ``test``: who an option or a command is for, in
    its error message. Imports every task, so only on the way to an error."""
    from layerwise.core.registry import TASKS

    return [name for name in TASKS.names() if test(TASKS.get(name))]


def tasks_that(test: Any, word: str = "or") -> str:
    """:func:`tasks_with` as "a, b or c" (``word``: "or" or "and")."""
    names = tasks_with(test)
    if len(names) < 2:
        return "".join(names) or "no"
    return f"{', '.join(names[:-1])} {word} {names[-1]}"
