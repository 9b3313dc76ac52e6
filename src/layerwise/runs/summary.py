"""The table of a bake-off's candidates as the terminal shows it, for the commands and the
applications that print a run's summary."""

from __future__ import annotations

from typing import Any


def candidates_table(metrics: dict[str, Any]) -> Any:
    """A rich Table of every candidate: validation and test score, fit time, latency, size."""
    from rich.table import Table

    metric = metrics.get("metric", "score")
    table = Table(title=f"Classical ML vs deep learning, by {metric}")
    table.caption = f"* chosen; validation: {metrics.get('validation_protocol', '')}"
    for column in ("candidate", "family", "validation", "test", "fit s", "µs/row", "size"):
        table.add_column(column, justify="left" if column in ("candidate", "family") else "right")
    for name, entry in metrics.get("candidates", {}).items():
        label = f"[bold green]{name} *[/bold green]" if name == metrics.get("chosen") else name
        if "skipped" in entry:
            table.add_row(label, entry.get("family", ""), "skipped", "", "", "", "")
            continue
        validation = entry.get("validation", {})
        test = entry.get("test", {}).get(metric)
        shown = validation.get(metric)
        table.add_row(
            label,
            entry.get("family", ""),
            _with_std(shown, validation.get(metric + "_std")),
            "-" if test is None else f"{test:.4f}",
            f"{entry.get('fit_seconds') or 0:.2f}",
            f"{1000 * (entry.get('predict_ms_per_row') or 0):.1f}",
            "-" if entry.get("size_bytes") is None else f"{entry['size_bytes'] / 1024:.1f} KB",
        )
    return table


def _with_std(value: float | None, std: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if std is None else f"{value:.4f}±{std:.3f}"
