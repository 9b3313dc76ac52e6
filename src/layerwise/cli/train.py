"""layerwise train DATA [--target COL] [--task NAME] [--time-limit S] [--config FILE] ...

DATA is a table (tables, or time series with --task forecasting), or images: a folder per class, an NPZ, IDX files, or a CSV of image
paths with --image-column.

The options of one application are its own: each declares them in ``tasks/<app>/cli.py``
(named by its registry line, read without importing the task), and they join this command's
signature at import, under a help panel per application."""

from __future__ import annotations

import inspect
from functools import cache
from pathlib import Path
from typing import Any, Optional

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
        help="Comma-separated subset to compare (tables: lightgbm,linear,catboost,mlp; images: "
        "pixel-logistic,cnn).",
    ),
    no_report: bool = typer.Option(False, "--no-report", help="Skip report.html."),
    device: Optional[str] = typer.Option(
        None, "--device", help="auto, cpu or cuda[:N] for the deep model [auto]."
    ),
    devices: Optional[int] = typer.Option(
        None,
        "--devices",
        help="Train the deep models data-parallel in N processes on this "
        "machine, one per GPU (or CPU core) [1]; several machines: torchrun.",
    ),
    **declared: Any,  # the applications' own options, by option name: see declared_options
) -> None:
    """Train and compare classical and deep models; write a run folder."""
    from layerwise.api import fit
    from layerwise.cli.common import print_training_summary
    from layerwise.core.task import check_time_limit, interruption_line
    from layerwise.errors import ConfigError, RunFolderError, RunInterrupted

    check_time_limit(time_limit, "--time-limit")  # before any data is read
    if devices is not None and devices > 1:
        _launch(devices, data, task, target, device)
        return
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
    given: dict[str, Any] = {}  # the applications' options given (a config's values stand)
    for _, _, option in declared_options():
        value = declared.get(option.name, option.default)
        if option.read is not None:  # e.g. `--class-files pos=a neg=b`: the second pair is DATA
            value, data = option.read(value, data)
        if value is None or value == option.default:
            continue
        given[option.name] = value
        task = task or task_chosen_by(option.flags, value)
    in_place_of_data = [o.name for _, _, o in declared_options() if o.replaces_data]
    if data is None and not any(given.get(k) or options.get(k) for k in in_place_of_data):
        raise ConfigError("No data given.", "Usage: layerwise train DATA --target COLUMN.")
    common = {"seed": seed, "output_dir": output_dir, "device": device}
    options.update(
        {k: v for k, v in common.items() if v is not None}
    )  # a config's values stand unless overridden
    if time_limit is not None:
        options["time_limit"] = time_limit
    if test_data is not None:
        options["test_data"] = test_data
    if candidates:
        options["candidates"] = [name.strip() for name in candidates.split(",") if name.strip()]
    if no_report:
        options["report"] = False
    options.update(given)
    try:
        run = fit(data, task=task, target=target, **options)
    except KeyboardInterrupt as interrupt:
        # Typer would turn the KeyboardInterrupt into a bare exit code; this carries the line
        # that names the folder to resume (the task's fit left it resumable).
        raise RunInterrupted(interruption_line(interrupt)) from None
    if run is None:  # a process of several other than the first: rank 0 wrote and says it
        return
    print_training_summary(run, data_hint=str(data) if data is not None else '"a new text"')


def _launch(devices: int, data: Any, task: str | None, target: str | None,
            device: str | None) -> None:  # fmt: skip
    """This command again in ``devices`` processes (torch's elastic launcher), once the machine
    has the devices and the task trains data-parallel: a refusal is one line here, not one
    traceback per process."""
    from layerwise.api import check_data_parallel, resolve_task
    from layerwise.cli.common import ARGV
    from layerwise.engine.distributed import check_devices, current_world, launch
    from layerwise.errors import ConfigError, TrainingError

    if current_world().distributed:
        raise ConfigError("--devices was given inside a world torchrun started already.",
                          "Leave --devices out: torchrun's --nproc-per-node says how many.")  # fmt: skip
    check_devices(devices, device or "auto")
    if data is not None:
        check_data_parallel(resolve_task(data, task, target)[0], devices)
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    try:
        launch(devices, ARGV)
    except ChildFailedError as error:
        raise TrainingError("A training process failed; its own message is above.",
                            "Fix what it names and train again.") from error  # fmt: skip


def task_chosen_by(flags: str, value: Any) -> str | None:
    """The application an option given without ``--task`` picks: the first that declares
    ``flags`` with ``selects_task`` True, or naming ``value`` (``--format movielens`` picks
    recommendation, ``--format coco`` object detection); None: the option picks none."""
    from layerwise.core.registry import TASKS

    for name in TASKS.names():
        line = TASKS.cli(name)
        for option in line.train_options if line is not None else ():
            picks = option.selects_task
            if option.flags != flags or not picks:
                continue
            if picks is True or str(value).strip().lower() in picks:
                return name
    return None


@cache
def declared_options() -> tuple[tuple[str, str, Any], ...]:
    """(task, help panel, TrainOption) of every application's ``train`` option, in registry
    order. A flag two applications take (--time-column, --image-size) is one option, under the
    first one's panel; declared unlike that first one, it is a bug, raised here."""
    from layerwise.core.registry import TASKS

    found: dict[str, tuple[str, str, Any]] = {}
    for name in TASKS.names():
        line = TASKS.cli(name)
        for option in line.train_options if line is not None else ():
            owner, _, first = found.setdefault(option.flags, (name, line.panel, option))
            if first != option and (first.name, first.type) != (option.name, option.type):
                raise TypeError(f"{name} declares {option.flags} unlike {owner} does.")
    return tuple(found.values())


def _with_declared_options(command: Any) -> Any:
    """``command`` with the applications' options added to the signature Typer reads, as
    keyword-only parameters named after the task option each sets."""
    signature = inspect.signature(command)
    parameters = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    taken = {p.name for p in parameters}
    for owner, panel, option in declared_options():
        if option.name in taken:
            raise TypeError(f"{owner}'s {option.flags} sets '{option.name}', taken already.")
        taken.add(option.name)
        default = typer.Option(
            option.default, *option.flags.split(), help=option.help, rich_help_panel=panel
        )
        kind = option.type if option.default is not None else Optional[option.type]
        keyword = inspect.Parameter.KEYWORD_ONLY
        parameters.append(inspect.Parameter(option.name, keyword, default=default, annotation=kind))
    command.__signature__ = signature.replace(parameters=parameters)
    return command


_with_declared_options(train)


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
