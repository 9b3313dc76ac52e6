"""layerwise explain RUN INPUT [-o DIR | -o FILE.png]: what drives a prediction, as PNGs (the
CNN's layer views of an image, the atoms of a molecule)."""

from __future__ import annotations

from typing import Optional

import typer


def explain(
    run_dir: str = typer.Argument(..., help="A run folder written by `layerwise train`."),
    data: str = typer.Argument(..., help="The input to explain (an image file for images)."),
    output: Optional[str] = typer.Option(
        None,
        "--output",
        "-o",
        help="Folder for the PNGs [explain-<input name>], or a .png file when one view is drawn.",
    ),
) -> None:
    """Write what drives one prediction: an image's Grad-CAM, activations per stage and
    first-layer filters; a molecule's atom contributions."""
    import re
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
    single = output is not None and output.lower().endswith(".png")
    name = Path(data).stem if Path(data).exists() else re.sub(r"[^A-Za-z0-9]+", "_", data)[:40]
    folder = Path(output).parent if single else Path(output or f"explain-{name}")
    paths = task.explain(data, folder, f"{Path(output).stem}-" if single else "")
    if single and len(paths) == 1:  # one view asked for by its file name: it gets that name
        paths = [paths[0].replace(Path(output))]
    for path in paths:
        out.print(str(path), soft_wrap=True)
    err.print(f"Wrote {len(paths)} {'view' if len(paths) == 1 else 'views'} to {folder}")
