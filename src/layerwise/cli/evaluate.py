"""layerwise evaluate RUN DATA"""

from __future__ import annotations

import typer


def evaluate(
    run_dir: str = typer.Argument(..., help="A run folder written by `layerwise train`."),
    data: str = typer.Argument(..., help="Labelled table with the target column."),
) -> None:
    """Score a trained run on labelled data and print its metrics as JSON."""
    import json

    from layerwise.api import load
    from layerwise.cli.common import err, out

    metrics = load(run_dir).evaluate(data)
    for note in metrics.pop("notes", []):
        err.print(f"note: {note}")
    out.print_json(json.dumps(metrics))
