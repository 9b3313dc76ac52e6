"""layerwise predict RUN DATA [-o predictions.csv]"""

from __future__ import annotations

from typing import Optional

import typer


def predict(
    run_dir: str = typer.Argument(..., help="A run folder written by `layerwise train`."),
    data: Optional[str] = typer.Argument(
        None,
        help="Table of new rows (the training columns; the target is not needed); for "
        "recommendation a table of users (or use --user / --similar-to).",
    ),
    output: Optional[str] = typer.Option(
        None,
        "--output",
        "-o",
        help="Write predictions to this CSV (given a folder: predictions.csv inside it).",
    ),
    alert_budget: Optional[str] = typer.Option(
        None, "--alert-budget", help="anomaly-detection: flag the top share, e.g. 0.5%."
    ),
    transcribe: bool = typer.Option(
        False, "--transcribe", help="speech-recognition: write out the words of each recording."
    ),
    user: Optional[str] = typer.Option(
        None, "--user", help="recommendation: the items to recommend to this user."
    ),
    similar_to: Optional[str] = typer.Option(
        None, "--similar-to", help="recommendation: the items most similar to this item."
    ),
    top: Optional[int] = typer.Option(
        None, "--top", help="recommendation: how many items per user [the run's, 10]."
    ),
    batch_size: Optional[int] = typer.Option(
        None,
        "--batch-size",
        help="Stream a large CSV/Parquet in chunks of this many rows (needs -o).",
    ),
    observation: Optional[str] = typer.Option(
        None, "--observation", help='reinforcement-learning: one observation, e.g. "[0.1, 0.2]".'
    ),
) -> None:
    """Predict with a trained run; print the predictions or write them to a CSV."""
    from layerwise.api import load
    from layerwise.cli.common import err, out, output_file
    from layerwise.runs.folder import atomic_write

    if output:
        output = str(output_file(output, "predictions.csv"))
    task = load(run_dir)
    for flag, given, owner in (
        ("--alert-budget", alert_budget is not None, "anomaly-detection"),
        ("--transcribe", transcribe, "speech-recognition"),
        ("--user", user is not None, "recommendation"),
        ("--similar-to", similar_to is not None, "recommendation"),
        ("--top", top is not None, "recommendation"),
        ("--observation", observation is not None, "reinforcement-learning"),
    ):
        if given and task.name != owner:
            from layerwise.errors import ConfigError

            raise ConfigError(
                f"{flag} applies to {owner} runs; this run is {task.name}.", f"Leave out {flag}."
            )
    if batch_size is not None:
        from layerwise.errors import ConfigError
        from layerwise.serve.batch import predict_file

        streamable = ("tabular-classification", "tabular-regression", "anomaly-detection",
                      "text-classification")  # fmt: skip
        if task.name not in streamable or data is None or not output:
            raise ConfigError("--batch-size streams a table file of a table or text run into -o.",
                              "Usage: layerwise predict RUN big.csv -o out.csv --batch-size 10000.")  # fmt: skip
        done = predict_file(task, data, output, batch_size)
        for note in done["notes"]:
            err.print(f"note: {note}", soft_wrap=True, markup=False)
        err.print(f"Wrote {done['rows']:,} predictions to {output} ({done['chunks']} chunks, "
                  f"{done['seconds']:.1f} s)")  # fmt: skip
        return
    if observation is not None:
        data = observation
    if data is None and task.name != "recommendation":
        from layerwise.errors import ConfigError

        raise ConfigError("No data given to predict on.", "Usage: layerwise predict RUN DATA.")
    if task.name == "recommendation":
        predictions = task.predict(data, user=user, similar_to=similar_to, top=top)
    elif alert_budget is not None:
        predictions = task.predict(data, alert_budget=alert_budget)
    elif task.name == "reinforcement-learning":
        predictions = task.predict(_observations(data))
    elif transcribe:
        predictions = task.predict(data, transcribe=True)
    else:
        predictions = task.predict(data)
    for note in predictions.attrs.get("notes", []):  # one line each; the data's text is no markup
        err.print(f"note: {note}", soft_wrap=True, markup=False)
    if output:
        atomic_write(output, lambda p: predictions.to_csv(p, index=False))
        err.print(f"Wrote {len(predictions)} predictions to {output}")
    else:
        out.print(predictions.to_string(max_rows=50))


def _observations(data: str) -> object:
    """A CSV/Parquet of observations when ``data`` is a file, else the observation's text."""
    from pathlib import Path

    if Path(data).is_file():
        from layerwise.data.tabular import read_table

        return read_table(data)
    return data
