"""What the commands share: consoles and the printed ML-vs-DL table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Console

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


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


def print_recommend_summary(run: Any, data_hint: str = "users.csv") -> None:
    """The candidates table, the served model's test figures and the next commands."""
    out.print(candidates_table(run.metrics))
    test = run.metrics.get("test", {})
    shown = ", ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float))
    out.print(f"Chosen: [bold]{run.chosen}[/bold]; test {shown}")
    out.print(f"Run folder: {run.path}", soft_wrap=True)
    if run.report:
        out.print(f"Report: {run.report}", soft_wrap=True)
    task = run.task
    out.print("Next:")
    out.print(f"  layerwise predict {run.path} --user {task.user_ids[0]} --top 10", soft_wrap=True)
    out.print(f"  layerwise predict {run.path} --similar-to {task.item_ids[0]}", soft_wrap=True)
    out.print(f"  layerwise predict {run.path} {data_hint} -o recommendations.csv", soft_wrap=True)


def print_generation_summary(run: Any) -> None:
    """Both models' validation loss, a sample from the served one, and the next command."""
    metrics = run.metrics
    for name, entry in metrics["candidates"].items():
        v = entry["validation"]
        mark = " *" if name == metrics["chosen"] else ""
        out.print(f"{name + mark:<8} validation loss {v['loss']:.4f} nats/token, "
                  f"perplexity {v['perplexity']:.2f} (fit {entry['fit_seconds']:.0f} s)")  # fmt: skip
    prompt = run.task.option("prompt")
    out.print(f"Sample (prompt {prompt!r}, 300 tokens, seed 0):")
    out.print(run.task.generate(prompt, max_tokens=300, seed=0), markup=False, highlight=False)
    out.print(f"Run folder: {run.path}", soft_wrap=True)
    out.print("Next:")
    out.print(
        f"  layerwise generate {run.path} --prompt {prompt!r} --max-tokens 500", soft_wrap=True
    )


def print_image_generation_summary(run: Any) -> None:
    """Each model's distance to the test images (and class accuracy), then the next commands."""
    metrics = run.metrics
    out.print(f"Fréchet distance to real test images on the judge's features (lower is better; "
              f"real images score {metrics['floor']['test']:.2f}):")  # fmt: skip
    for name, entry in metrics["candidates"].items():
        test = entry["test"]
        mark = " *" if name == metrics["chosen"] else ""
        accuracy = test.get("class_accuracy")
        shown = "" if accuracy is None else f", {accuracy:.1%} judged as the asked class"
        out.print(
            f"  {name + mark:<6} FD {test['fd']:.2f}{shown} (fit {entry['fit_seconds']:.0f} s)"
        )
    out.print(f"Run folder: {run.path}", soft_wrap=True)
    out.print("Next:")
    label = f" --label {run.task.classes[0]}" if run.task.classes else ""
    out.print(f"  layerwise generate {run.path} --n 64{label} -o samples.png", soft_wrap=True)
    if run.report is not None:
        out.print(f"  open {run.report}", soft_wrap=True)


def print_agent_summary(run: Any) -> None:
    """The agent's and a random policy's mean return, solved or not, then the next commands."""
    metrics = run.metrics
    test, chance = metrics["test"], metrics["candidates"]["random"]["test"]
    agent = metrics["candidates"][metrics["chosen"]]
    out.print(f"Mean return over {test['episodes']} fresh episodes of {metrics['env']}:")
    out.print(f"  {metrics['chosen'] + ' *':<8} {test['mean_return']:.1f} ± {test['std_return']:.1f} "
              f"({agent['env_steps']:,} steps, {agent['fit_seconds']:.0f} s)")  # fmt: skip
    out.print(f"  {'random':<8} {chance['mean_return']:.1f} ± {chance['std_return']:.1f}")
    if metrics.get("reward_threshold") is not None:
        verdict = "solved" if test["solved"] else "not solved"
        out.print(f"  {verdict} (the environment's threshold is {metrics['reward_threshold']:g})")
    out.print(f"Run folder: {run.path}", soft_wrap=True)
    out.print("Next:")
    out.print(f"  layerwise play {run.path} --episodes 3 -o play.gif", soft_wrap=True)
    out.print(f"  layerwise evaluate {run.path} --episodes 100", soft_wrap=True)
    if run.report is not None:
        out.print(f"  open {run.report}", soft_wrap=True)
