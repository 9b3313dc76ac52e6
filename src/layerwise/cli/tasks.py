"""layerwise tasks: the registered tasks with one-line descriptions."""

from __future__ import annotations


def tasks() -> None:
    """List the tasks layerwise can train."""
    from layerwise.cli.common import out
    from layerwise.core.registry import TASKS

    for name, description in TASKS.describe().items():
        out.print(f"[bold]{name:<24}[/bold] {description}")
