"""layerwise explain RUN IMAGE [-o DIR]: what each layer of the CNN responds to, as PNGs."""

from __future__ import annotations

from typing import Optional

import typer


def explain(
    run_dir: str = typer.Argument(..., help="A run folder written by `layerwise train`."),
    data: str = typer.Argument(..., help="The input to explain (an image file for images)."),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", help="Folder for the PNGs [explain-<input name>]."
    ),
) -> None:
    """Write the layer views of one input: Grad-CAM, activations per stage, first-layer filters."""
    from pathlib import Path

    from layerwise.api import load
    from layerwise.cli.common import err, out
    from layerwise.core.capabilities import Explains
    from layerwise.errors import ConfigError

    task = load(run_dir)
    if not isinstance(task, Explains):
        raise ConfigError(
            f"`layerwise explain` does not apply to {task.name} runs.",
            f"See importance.json and report.html in {run_dir} for what drives its predictions.",
        )
    folder = Path(output or f"explain-{Path(data).stem}")
    paths = task.explain(data, folder)
    for path in paths:
        out.print(str(path), soft_wrap=True)
    err.print(f"Wrote {len(paths)} layer views to {folder}")
