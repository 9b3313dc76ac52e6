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
        help="Write predictions to this CSV, or JSON records when it ends in .json (given a "
        "folder: predictions.csv inside it).",
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
        help="Stream a large CSV/Parquet (or an image folder) in chunks of this many rows "
        "(files) into -o (a .csv or .parquet).",
    ),
    observation: Optional[str] = typer.Option(
        None, "--observation", help='reinforcement-learning: one observation, e.g. "[0.1, 0.2]".'
    ),
    score_threshold: Optional[float] = typer.Option(
        None, "--score-threshold", help="object-detection: drop boxes scoring less [the run's]."
    ),
    draw: Optional[str] = typer.Option(
        None,
        "--draw",
        help="object-detection: the image with its boxes drawn, as this PNG "
        "(a folder for several images).",
    ),
    overlay: bool = typer.Option(
        False, "--overlay", help="segmentation: also write each mask laid over its image (with -o)."
    ),
    beam: Optional[int] = typer.Option(
        None, "--beam", help="text-to-text: beam width, 1 is greedy [the run's]."
    ),
    max_tokens: Optional[int] = typer.Option(
        None, "--max-tokens", help="text-to-text: the longest output in tokens [by the input]."
    ),
) -> None:
    """Predict with a trained run; print the predictions or write them to a CSV."""
    from pathlib import Path

    from layerwise.api import load
    from layerwise.cli.common import err, out, output_file, tasks_that
    from layerwise.errors import ConfigError
    from layerwise.io import atomic_write

    if output:
        output = str(output_file(output, "predictions.csv"))
    task = load(run_dir)
    # Each option is for the tasks whose predict takes it (Task.predict_options).
    given = {"alert_budget": alert_budget, "transcribe": transcribe or None, "user": user,
             "similar_to": similar_to, "top": top, "observation": observation,
             "score_threshold": score_threshold, "draw": draw, "overlay": overlay or None,
             "beam": beam, "max_tokens": max_tokens}  # fmt: skip
    given = {name: value for name, value in given.items() if value is not None}
    for name in given:
        if name not in task.predict_options:
            flag = "--" + name.replace("_", "-")
            owners = tasks_that(lambda cls, name=name: name in cls.predict_options)
            raise ConfigError(
                f"{flag} applies to {owners} runs; this run is {task.name}.", f"Leave out {flag}."
            )
    if batch_size is not None:
        from layerwise.serve.batch import predict_file

        if not task.batch_predicts or data is None or not output:
            raise ConfigError("--batch-size streams a table file (table, text runs) or an image "
                              "folder (image runs) into -o.",
                              "Usage: layerwise predict RUN big.csv -o out.csv --batch-size 10000.")  # fmt: skip
        done = predict_file(task, data, output, batch_size)
        for note in done["notes"]:
            err.print(f"note: {note}", soft_wrap=True, markup=False)
        err.print(f"Wrote {done['rows']:,} predictions to {output} ({done['chunks']} chunks, "
                  f"{done['seconds']:.1f} s)")  # fmt: skip
        return
    if "observation" in given:  # one observation, in DATA's place
        data = given.pop("observation")
    if data is None and "predict" not in task.data_optional:
        raise ConfigError("No data given to predict on.", "Usage: layerwise predict RUN DATA.")
    inputs = None if data is None else task.command_line_input(data)
    if "masks_to" in task.predict_options:  # segmentation: the masks go beside the CSV
        if overlay and not output:
            raise ConfigError("--overlay writes files.", "Give a folder: -o masks/ --overlay.")
        given["masks_to"] = str(Path(output).parent) if output else None
    predictions = task.predict(inputs, **given)
    for note in predictions.attrs.get("notes", []):  # one line each; the data's text is no markup
        err.print(f"note: {note}", soft_wrap=True, markup=False)
    if output:
        if output.lower().endswith(".txt"):  # text runs: one output a line, as the inputs came
            if "output" not in predictions.columns:
                raise ConfigError(f"A .txt output holds one output text a line; a {task.name} "
                                  "run writes tables.", "Use -o predictions.csv.")  # fmt: skip
            text = "".join(str(v).replace("\n", " ") + "\n" for v in predictions["output"])
            atomic_write(output, lambda p: Path(p).write_text(text, encoding="utf-8"))
        elif output.lower().endswith(".json"):
            atomic_write(output, lambda p: predictions.to_json(p, orient="records", indent=1))
        else:
            atomic_write(output, lambda p: predictions.to_csv(p, index=False))
        err.print(f"Wrote {len(predictions)} predictions to {output}")
    else:
        shown = predictions.copy()
        pngs = [c for c in shown.columns if str(c).endswith("_png")]
        for column in pngs:  # a base64 PNG is for programs; on a terminal its size says it is there
            shown[column] = [f"<PNG, {len(v) * 3 // 4:,} bytes>" for v in shown[column]]
        if pngs:
            err.print("note: -o FILE.json keeps the PNGs (base64)", soft_wrap=True, markup=False)
        out.print(shown.to_string(max_rows=50))
