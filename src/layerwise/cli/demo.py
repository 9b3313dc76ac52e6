"""layerwise demo [TASK]: the main job on bundled data, no files and no network needed.

Each task brings its own demo (``Task.demo_data``); this command only runs it."""

from __future__ import annotations

from pathlib import Path

import typer

from layerwise.core.registry import TASKS


def demo(
    task: str = typer.Argument(TASKS.names()[0], help="Which application to demonstrate."),
    output_dir: str = typer.Option("runs", "--output-dir", "-o"),
) -> None:
    """Train on bundled data (breast cancer for tables), print the ML-vs-DL table and the report."""
    from layerwise.api import fit
    from layerwise.cli.common import out, print_training_summary, tasks_with
    from layerwise.core.task import Task
    from layerwise.errors import ConfigError

    def has_demo(cls: type[Task]) -> bool:  # it overrides Task.demo_data
        return cls.demo_data.__func__ is not Task.demo_data.__func__  # type: ignore[attr-defined]

    if task not in TASKS or not has_demo(TASKS.get(task)):
        raise ConfigError(f"No demo for '{task}'.", f"Demos: {', '.join(tasks_with(has_demo))}.")
    bundled = TASKS.get(task).demo_data(Path(output_dir) / "demo-data")
    out.rule(f"layerwise demo: {bundled.title}")
    target = bundled.target
    out.print(f"Data: {bundled.data}" + (f" (target '{target}')" if target else ""))
    run = fit(str(bundled.data), task=task, target=target, output_dir=output_dir,
              **bundled.options)  # fmt: skip
    data = str(bundled.data)
    print_training_summary(run, data_hint=bundled.hint or data, labelled_hint=data)
    for line in bundled.next:
        out.print(line.replace("{run}", str(run.path)), soft_wrap=True)
