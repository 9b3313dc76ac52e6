"""What recommendation adds to the ``layerwise`` command: its ``train`` options, its demo and
the lines printed after training. Read at the command's start-up: nothing heavy at the top
(see core.cli_spec)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from layerwise.core.cli_spec import CommandLine, Demo, TrainOption
from layerwise.tasks.recommendation.movielens_files import MOVIELENS_FILES


def looks_like_movielens(data: Any) -> bool:
    """True for a MovieLens log file (u.data, ratings.dat), read with its own format."""
    return isinstance(data, (str, os.PathLike)) and Path(data).name.lower() in MOVIELENS_FILES


COMMAND_LINE = CommandLine(
    recognises=looks_like_movielens,
    panel="Recommendation",
    train_options=(
        TrainOption("--time-column", "time_column", str,
                    "Forecasting, recommendation: the column of times [detected]."),
        TrainOption("--user-column", "user_column", str,
                    "Recommendation: the column of user ids [detected]."),
        TrainOption("--item-column", "item_column", str,
                    "Recommendation: the column of item ids [detected]."),
        TrainOption("--rating-column", "rating_column", str,
                    "Recommendation: explicit ratings [detected; else implicit]."),
        TrainOption("--rating-scale", "rating_scale", str,
                    "Recommendation: the ratings' scale, e.g. 1-5 (checked)."),
        # --format movielens, given alone, picks this task (detection's formats pick detection)
        TrainOption("--format", "format", str,
                    "Recommendation: movielens for u.data / ratings.dat [auto].",
                    selects_task=("movielens",)),
    ),
)  # fmt: skip


def ratings_log(folder: Path) -> Demo:
    """The demo: generated movie ratings with tastes, series and drift, as MovieLens u.data."""
    from layerwise.tasks.recommendation.sources import latent_log, write_movielens

    users, items = 600, 1000
    frame = latent_log(n_users=users, n_items=items, mean_per_user=60, seed=0)
    path = write_movielens(frame, folder / "ratings" / "u.data")
    return Demo(path, None,
                f"movie ratings ({len(frame):,} generated ratings of {items:,} items by {users} "
                "users with tastes, series and drifting interests, in MovieLens u.data format)")  # fmt: skip


def training_summary(run: Any, data_hint: str = "users.csv") -> list[Any]:
    """The candidates table, the served model's test figures and the next commands."""
    from layerwise.runs.summary import candidates_table

    test = run.metrics.get("test", {})
    shown = ", ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float))
    lines: list[Any] = [candidates_table(run.metrics),
                        f"Chosen: [bold]{run.chosen}[/bold]; test {shown}",
                        f"Run folder: {run.path}"]  # fmt: skip
    if run.report:
        lines.append(f"Report: {run.report}")
    task = run.task
    return [*lines, "Next:",
            f"  layerwise predict {run.path} --user {task.user_ids[0]} --top 10",
            f"  layerwise predict {run.path} --similar-to {task.item_ids[0]}",
            f"  layerwise predict {run.path} {data_hint} -o recommendations.csv"]  # fmt: skip
