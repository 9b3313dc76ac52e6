"""What text classification adds to the ``layerwise`` command: its ``train`` options and its
demo. Read at the command's start-up: nothing heavy at the top (see core.cli_spec)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from layerwise.core.cli_spec import CUT_OPTIONS, CommandLine, Demo, TrainOption


def read_class_files(given: list[str] | None, data: str | None) -> tuple[Any, str | None]:
    """``--class-files pos=a.txt neg=b.txt`` as {class: absolute path}. The option takes one
    value a flag, so the second pair arrives as DATA: a DATA of CLASS=FILE that is no path
    joins them."""
    items = list(given or [])
    if data is not None and "=" in data and not Path(data).exists():
        items.append(data)
        data = None
    if not items:
        return None, data
    from layerwise.data.text import read_class_files_arg

    return {k: str(Path(v).resolve()) for k, v in read_class_files_arg(items).items()}, data


COMMAND_LINE = CommandLine(
    panel="Text classification",
    train_options=(
        *CUT_OPTIONS,
        TrainOption("--text-column", "text_column", str,
                    "Texts in a table: the column holding the text."),
        TrainOption("--class-files", "class_files", list[str],
                    "One file per class, one example a line: pos=a.txt neg=b.txt",
                    selects_task=True, replaces_data=True, read=read_class_files),
    ),
)  # fmt: skip


def reviews(folder: Path) -> Demo:
    """The demo: generated review sentences, some negated, as a table."""
    import pandas as pd

    from layerwise.io import atomic_write
    from layerwise.tasks.text_classification.sources import reviews as generated

    data = generated(3000, seed=0)
    frame = pd.DataFrame(
        {"review": data.texts, "sentiment": [data.classes[i] for i in data.labels]}
    )
    path = folder / "reviews.csv"
    atomic_write(path, lambda p: frame.to_csv(p, index=False))
    return Demo(path, "sentiment", "review sentiment (3,000 generated sentences, some negated)",
                options={"text_column": "review"}, hint='"the plot was not dull"')  # fmt: skip
