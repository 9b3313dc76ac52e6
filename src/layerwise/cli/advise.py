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
    task: Optional[str] = typer.Option(
        None, "--task", help="Task name where it cannot be inferred (e.g. forecasting)."
    ),
    time_column: Optional[str] = typer.Option(None, "--time-column", help="Forecasting."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Forecasting."),
    horizon: Optional[int] = typer.Option(None, "--horizon", help="Forecasting."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Texts in a table."),
    label_pattern: Optional[str] = typer.Option(
        None,
        "--label-pattern",
        help="Speech: the word in flat file names, e.g. '{label}_{take}.wav'.",
    ),
    user_column: Optional[str] = typer.Option(None, "--user-column", help="Recommendation."),
    item_column: Optional[str] = typer.Option(None, "--item-column", help="Recommendation."),
    rating_column: Optional[str] = typer.Option(None, "--rating-column", help="Recommendation."),
    log_format: Optional[str] = typer.Option(None, "--format", help="Recommendation: movielens."),
) -> None:
    """Say whether classical ML or deep learning fits this data, and why (no training)."""
    from layerwise.api import advise as run_advise
    from layerwise.cli.common import out
    from layerwise.cli.train import declared_options, task_chosen_by

    given = {"time_column": time_column, "id_column": id_column, "horizon": horizon,
             "text_column": text_column, "label_pattern": label_pattern,
             "user_column": user_column, "item_column": item_column,
             "rating_column": rating_column, "format": log_format}  # fmt: skip
    options = {k: v for k, v in given.items() if v is not None}
    for _, _, option in declared_options():  # --format movielens picks recommendation
        if option.name in options:
            task = task or task_chosen_by(option.flags, options[option.name])
    advice = run_advise(
        data,
        target=target,
        interpretable=interpretable,
        time_limit=time_limit,
        task=task,
        **options,
    )
    for line in advice.lines():
        out.print(line)
    flags = "".join(f" --{k.replace('_', '-')} '{v}'" for k, v in options.items())
    out.print(
        f"Next: layerwise train {data}"
        + (f" --task {task}" if task else "")
        + (f" --target {target}" if target else "")
        + flags
    )
