"""layerwise train DATA [--target COL] [--task NAME] [--time-limit S] [--config FILE] ...

DATA is a table (tables, or time series with --task forecasting), or images: a folder per class, an NPZ, IDX files, or a CSV of image
paths with --image-column."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def train(
    data: Optional[str] = typer.Argument(
        None,
        help="Table (CSV, TSV, Parquet, JSON Lines), or images: folder per class, NPZ, IDX; "
        "or a Gymnasium environment id (CartPole-v1) or module:Class.",
    ),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Column to predict."),
    task: Optional[str] = typer.Option(
        None, "--task", help="Task name (see `layerwise tasks`); inferred for tables."
    ),
    time_limit: Optional[float] = typer.Option(
        None, "--time-limit", help="Seconds for the bake-off."
    ),
    interpretable: bool = typer.Option(
        False, "--interpretable", help="Only models whose reasoning can be read."
    ),
    output_dir: Optional[str] = typer.Option(
        None, "--output-dir", "-o", help="Where run folders go [runs]."
    ),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed [0]."),
    config: Optional[Path] = typer.Option(
        None, "--config", help="A run's config.yaml: reproduce that run."
    ),
    resume: Optional[Path] = typer.Option(
        None, "--resume", help="An interrupted run folder: continue it."
    ),
    test_data: Optional[str] = typer.Option(
        None, "--test-data", help="Labelled table for test metrics."
    ),
    candidates: Optional[str] = typer.Option(
        None,
        "--candidates",
        help="Comma-separated subset to compare (tables: lightgbm,linear,mlp; images: "
        "pixel-logistic,cnn).",
    ),
    model: Optional[str] = typer.Option(
        None, "--model", help="A YAML model file: your network competes in the MLP's place."
    ),
    no_report: bool = typer.Option(False, "--no-report", help="Skip report.html."),
    image_column: Optional[str] = typer.Option(
        None, "--image-column", help="Images listed in a CSV: the column of file paths."
    ),
    image_size: Optional[int] = typer.Option(
        None, "--image-size", help="Resize images to this many pixels a side [native, <= 128]."
    ),
    text_column: Optional[str] = typer.Option(
        None, "--text-column", help="Texts in a table: the column holding the text."
    ),
    class_files: Optional[list[str]] = typer.Option(
        None, "--class-files", help="One file per class, one example a line: pos=a.txt neg=b.txt"
    ),
    flip: Optional[bool] = typer.Option(
        None, "--flip/--no-flip", help="Mirror images in augmentation [on for RGB, off for gray]."
    ),
    time_column: Optional[str] = typer.Option(
        None, "--time-column", help="Forecasting, recommendation: the column of times [detected]."
    ),
    id_column: Optional[str] = typer.Option(
        None, "--id-column", help="Forecasting: the column naming each series (long tables)."
    ),
    horizon: Optional[int] = typer.Option(
        None, "--horizon", help="Forecasting: steps to forecast [one season]."
    ),
    lookback: Optional[int] = typer.Option(
        None, "--lookback", help="Forecasting: history steps the models read [chosen]."
    ),
    fill: Optional[str] = typer.Option(
        None, "--fill", help="Forecasting: gaps and NaN: auto (interpolate), ffill or error."
    ),
    alert_budget: Optional[str] = typer.Option(
        None, "--alert-budget", help="anomaly-detection: flag this share of rows, e.g. 0.5% [1%]."
    ),
    cost_fp: Optional[float] = typer.Option(
        None, "--cost-fp", help="anomaly-detection: the cost of a false alarm (with --cost-fn)."
    ),
    cost_fn: Optional[float] = typer.Option(
        None, "--cost-fn", help="anomaly-detection: the cost of a missed anomaly."
    ),
    target_precision: Optional[float] = typer.Option(
        None, "--target-precision", help="anomaly-detection: flag at this precision (labels)."
    ),
    target_recall: Optional[float] = typer.Option(
        None, "--target-recall", help="anomaly-detection: flag to reach this recall (labels)."
    ),
    label_pattern: Optional[str] = typer.Option(
        None,
        "--label-pattern",
        help="Speech: read the word from flat file names, e.g. '{label}_{speaker}_{take}.wav'.",
    ),
    synthetic_per_word: Optional[int] = typer.Option(
        None, "--synthetic-per-word", help="Speech: espeak-ng clips per word added to training."
    ),
    transcriber: Optional[bool] = typer.Option(
        None, "--transcriber/--no-transcriber", help="Speech: also train the transcriber [on]."
    ),
    split_by: Optional[str] = typer.Option(
        None, "--split-by", help="Speech: speaker or random test split [speaker if >= 10 known]."
    ),
    user_column: Optional[str] = typer.Option(
        None, "--user-column", help="Recommendation: the column of user ids [detected]."
    ),
    item_column: Optional[str] = typer.Option(
        None, "--item-column", help="Recommendation: the column of item ids [detected]."
    ),
    rating_column: Optional[str] = typer.Option(
        None, "--rating-column", help="Recommendation: explicit ratings [detected; else implicit]."
    ),
    rating_scale: Optional[str] = typer.Option(
        None, "--rating-scale", help="Recommendation: the ratings' scale, e.g. 1-5 (checked)."
    ),
    log_format: Optional[str] = typer.Option(
        None, "--format", help="Recommendation: movielens for u.data / ratings.dat [auto]."
    ),
    tokenizer: Optional[str] = typer.Option(
        None, "--tokenizer", help="Language generation: char or bpe [char]."
    ),
    size: Optional[str] = typer.Option(
        None, "--size", help="Language generation: the GPT's size, tiny, small or base [tiny]."
    ),
    conditional: Optional[bool] = typer.Option(
        None,
        "--conditional/--no-conditional",
        help="Image generation: generate a requested class [when the images have classes].",
    ),
    algo: Optional[str] = typer.Option(
        None, "--algo", help="Reinforcement learning: ppo or dqn [ppo]."
    ),
    steps: Optional[int] = typer.Option(
        None, "--steps", help="Reinforcement learning: environment steps to train for [100000]."
    ),
    device: Optional[str] = typer.Option(
        None, "--device", help="auto, cpu or cuda[:N] for the deep model [auto]."
    ),
) -> None:
    """Train and compare classical and deep models; write a run folder."""
    from layerwise.api import fit
    from layerwise.cli.common import print_run_summary
    from layerwise.core.task import check_time_limit, interruption_line
    from layerwise.errors import ConfigError, RunFolderError, RunInterrupted

    check_time_limit(time_limit, "--time-limit")  # before any data is read
    options: dict = {}
    if resume is not None:
        if not (resume / "config.yaml").is_file():
            raise RunFolderError(
                f"Cannot resume '{resume}': it has no config.yaml, so it is not a run folder.",
                "Pass the folder that `layerwise train` printed, or train again without --resume.",
            )
        config = resume / "config.yaml"
        options["resume"] = str(resume)
    if config is not None:
        stored = _read_config(config)
        data = data or stored.get("data")
        target = target or stored.get("target")
        task = task or stored.get("task")
        options = {**(stored.get("options") or {}), **options}
    items = list(class_files or [])
    if data is not None and "=" in data and not Path(data).exists():
        items.append(data)  # `--class-files pos=a neg=b`: the second pair arrives as DATA
        data = None
    if items:
        from layerwise.data.text import read_class_files_arg

        given = read_class_files_arg(items)
        options["class_files"] = {k: str(Path(v).resolve()) for k, v in given.items()}
        task = task or "text-classification"
    if data is None and not items and not options.get("class_files"):
        raise ConfigError("No data given.", "Usage: layerwise train DATA --target COLUMN.")
    given = {"seed": seed, "output_dir": output_dir, "device": device}
    options.update(
        {k: v for k, v in given.items() if v is not None}
    )  # a config's values stand unless overridden
    if time_limit is not None:
        options["time_limit"] = time_limit
    if interpretable:
        options["interpretable"] = True
    if test_data is not None:
        options["test_data"] = test_data
    if candidates:
        options["candidates"] = [name.strip() for name in candidates.split(",") if name.strip()]
    if model:
        options["model_file"] = model
    if no_report:
        options["report"] = False
    task_options = {
        "image_column": image_column,
        "image_size": image_size,
        "flip": flip,
        "text_column": text_column,
        "time_column": time_column,
        "id_column": id_column,
        "horizon": horizon,
        "lookback": lookback,
        "fill": fill,
        "alert_budget": alert_budget,
        "cost_fp": cost_fp,
        "cost_fn": cost_fn,
        "target_precision": target_precision,
        "target_recall": target_recall,
        "label_pattern": label_pattern,
        "synthetic_per_word": synthetic_per_word,
        "transcriber": transcriber,
        "split_by": split_by,
        "user_column": user_column,
        "item_column": item_column,
        "rating_column": rating_column,
        "rating_scale": rating_scale,
        "format": log_format,
        "tokenizer": tokenizer,
        "size": size,
        "conditional": conditional,
        "algo": algo,
        "steps": steps,
    }
    options.update({k: v for k, v in task_options.items() if v is not None})
    if log_format is not None and task is None:
        task = "recommendation"  # only interaction logs have a --format
    try:
        run = fit(data, task=task, target=target, **options)
    except KeyboardInterrupt as interrupt:
        # Typer would turn the KeyboardInterrupt into a bare exit code; this carries the line
        # that names the folder to resume (the task's fit left it resumable).
        raise RunInterrupted(interruption_line(interrupt)) from None
    if run.task.name == "language-generation":
        from layerwise.cli.common import print_generation_summary

        print_generation_summary(run)
        return
    if run.task.name == "recommendation":
        from layerwise.cli.common import print_recommend_summary

        print_recommend_summary(run)
        return
    if run.task.name == "reinforcement-learning":
        from layerwise.cli.common import print_agent_summary

        print_agent_summary(run)
        return
    if run.task.name == "image-generation":
        from layerwise.cli.common import print_image_generation_summary

        print_image_generation_summary(run)
        return
    print_run_summary(run, data_hint=str(data) if data is not None else '"a new text"')


def _read_config(path: Path) -> dict:
    """A config.yaml as {task, data, target, options}: read capped and through the safe loader,
    since configs are shared like run folders; anything else is one line."""
    from layerwise.errors import ConfigError
    from layerwise.runs.verify import MAX_YAML_BYTES, parse_yaml

    if not path.is_file():
        raise ConfigError(
            f"Config file '{path}' does not exist.", "Pass a run folder's config.yaml."
        )
    with open(path, "rb") as handle:
        raw = handle.read(MAX_YAML_BYTES + 1)
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"Config file '{path}' is over {MAX_YAML_BYTES:,} bytes.",
                          "Pass a run folder's config.yaml (options only).")  # fmt: skip
    stored = parse_yaml(raw, f"Config file '{path}'") or {}
    kinds = {"task": (str,), "data": (str,), "target": (str, int)}  # a frame's column may be 0
    fields_ok = isinstance(stored, dict) and all(
        stored.get(k) is None or isinstance(stored[k], kind) for k, kind in kinds.items()
    )
    if not fields_ok or not isinstance(stored.get("options") or {}, dict):
        raise ConfigError(f"Config file '{path}' is not a layerwise config (task, data, target "
                          "and options).", "Pass a run folder's config.yaml.")  # fmt: skip
    return stored
