"""layerwise advise DATA --target COL: profile and recommendation, no training."""

from __future__ import annotations

from typing import Optional

import typer


def advise(
    data: str = typer.Argument(
        ..., help="Table (CSV, TSV, Parquet, JSON Lines) or images (folder per class, NPZ, IDX)."
    ),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Column to predict."),
    interpretable: bool = typer.Option(False, "--interpretable"),
    time_limit: Optional[float] = typer.Option(None, "--time-limit"),
) -> None:
    """Say whether classical ML or deep learning fits this data, and why (no training)."""
    from layerwise.api import advise as run_advise
    from layerwise.cli.common import out

    advice = run_advise(data, target=target, interpretable=interpretable, time_limit=time_limit)
    for line in advice.lines():
        out.print(line)
    out.print(f"Next: layerwise train {data}" + (f" --target {target}" if target else ""))
