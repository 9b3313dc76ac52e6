"""What every application's bake-off writes the same way: the skeleton of metrics.json (task,
metric, chosen, test, candidates, then the application's own facts) and the decision page
(a title, the choice, then blocks of markdown), so each application passes only its parts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def bakeoff_metrics(
    task: str,
    *,
    metric: str,
    greater_is_better: bool,
    protocol: Any,
    chosen: str,
    test: dict[str, Any],
    candidates: dict[str, dict[str, Any]],
    **facts: Any,
) -> dict[str, Any]:
    """metrics.json: the keys every run has, in this order, then ``facts`` (seconds, notes and
    whatever the application measures beside the bake-off)."""
    return {
        "task": task,
        "metric": metric,
        "greater_is_better": greater_is_better,
        "validation_protocol": protocol,
        "chosen": chosen,
        "test": test,
        "candidates": candidates,
        **facts,
    }


def candidate_entries(
    rows: list[dict[str, Any]],
    entry_of: Callable[[dict[str, Any]], dict[str, Any]],
    families: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{candidate: entry}`` for metrics.json: each entry starts with the family (from
    ``families``, else the row's own), then a skipped row's reason or ``entry_of(row)``."""
    entries = {}
    for row in rows:
        name = row["candidate"]
        entry: dict[str, Any] = {"family": families[name] if families else row["family"]}
        if "skipped" in row:
            entry["skipped"] = row["skipped"]
        else:
            entry.update(entry_of(row))
        if "paired" in row:  # its paired difference with the best (core/selection.py)
            entry["paired_with_best"] = row["paired"]
        entries[name] = entry
    return entries


def markdown_table(head: list[str], rows: Iterable[list[str] | str]) -> list[str]:
    """A markdown table's lines: the head, its rule, and each row (cells, or a line as is)."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append(row if isinstance(row, str) else "| " + " | ".join(row) + " |")
    return lines


def decision_page(title: str, choice: str, blocks: Iterable[list[str] | None]) -> str:
    """decision.md: ``# title``, the choice, then each block (a list of lines; None or empty
    ones are left out), one blank line between them."""
    lines = [f"# {title}", "", choice]
    for block in blocks:
        if block:
            lines += ["", *block]
    return "\n".join(lines) + "\n"
