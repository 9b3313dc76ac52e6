"""layerwise report RUN: (re)build report.html and print its path."""

from __future__ import annotations

import typer


def report(
    run_dir: str = typer.Argument(..., help="A run folder written by `layerwise train`."),
) -> None:
    """Rebuild a run's report.html from the files in its folder."""
    from layerwise.cli.common import out
    from layerwise.runs.folder import REPORT, RunFolder
    from layerwise.runs.report import build_report

    run = RunFolder.open(run_dir, skip=(REPORT,))  # the report is what we rebuild
    path = build_report(run)
    run.finalize({})
    out.print(str(path))
