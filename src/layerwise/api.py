"""The Python API: ``fit``, ``load`` and ``advise``.

>>> import layerwise
>>> from sklearn.datasets import load_wine
>>> run = layerwise.fit(load_wine(as_frame=True).frame, target="target", verbose=False)  # doctest: +SKIP
>>> layerwise.load(run.path).predict(load_wine(as_frame=True).data.head())  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerwise.core.registry import TASKS
from layerwise.core.task import Run, Task
from layerwise.errors import no_target

TABULAR = {"classification": "tabular-classification", "regression": "tabular-regression"}


def _read_with_source(data: Any) -> Any:
    from layerwise.data.tabular import read_table

    frame = read_table(data)
    if isinstance(data, (str, os.PathLike)):
        frame.attrs["source"] = str(Path(data).resolve())
    return frame


def resolve_task(
    data: Any, task: str | None, target: str | None, stream: bool | None = None
) -> tuple[str, Any]:
    """The task name to use, and the data (read once when the task had to be inferred; a table
    that streams, ``stream`` or too big to hold, has its target column alone read)."""
    if task is not None:
        TASKS.get(task)  # unknown names raise a ConfigError listing the valid ones
        return task, data
    for name in TASKS.names():  # an application that recognises the data by its form
        declared = TASKS.cli(name)
        if declared is not None and declared.recognises is not None and declared.recognises(data):
            return name, data
    from layerwise.data.table_batches import streamed_kind

    kind = streamed_kind(data, target, stream)
    if kind is not None:
        return TABULAR[kind], data
    from layerwise.data.tabular import prepare_target

    frame = _read_with_source(data)
    if not target:
        raise no_target(frame.columns)
    _, kind, _ = prepare_target(frame, target, None)
    return TABULAR[kind], frame


def fit(data: Any = None, task: str | None = None, target: str | None = None, env: Any = None,
        **options: Any) -> Run:  # fmt: skip
    """Train on ``data`` (a path or a DataFrame) and return the finished Run.

    ``task`` is inferred from the target column for tables; ``options`` are the task's
    options (``time_limit``, ``interpretable``, ``output_dir``, ``seed``, ``verbose``, ...).
    ``env``: a Gymnasium environment (an id, ``module:Class``, an Env class, instance or a
    function making one) to train an agent on (task ``reinforcement-learning``).
    Started by torchrun (several processes), only rank 0 returns the Run; the others, having
    trained their share, return None (see :mod:`layerwise.engine.distributed`).
    """
    if env is not None:
        data, task = env, task or "reinforcement-learning"
    name, data = resolve_task(data, task, target, options.get("stream"))
    check_data_parallel(name)
    return TASKS.get(name)(**options).fit(data, target=target)


def check_data_parallel(name: str, devices: int | None = None) -> None:
    """A ConfigError when task ``name`` is asked to train in several processes (``devices``, or
    the torchrun environment this process was started in) and does not train data-parallel."""
    from layerwise.engine.distributed import current_world
    from layerwise.errors import ConfigError

    several = (devices or 1) > 1 or current_world().distributed
    if several and not TASKS.get(name).data_parallel:
        raise ConfigError(f"The {name} task does not train data-parallel yet.",
                          "Train it in one process: without --devices and torchrun.")  # fmt: skip


def load(run_dir: str | os.PathLike) -> Task:
    """Load a run folder (verifying every file's sha256) as a fitted task with ``predict``/``evaluate``."""
    from layerwise.runs.folder import RunFolder

    run = RunFolder.open(run_dir)
    task_class = TASKS.get(run.manifest.get("task", "?"))
    try:
        return task_class.load(run)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as error:
        # A folder can pass its manifest's checks and still hold JSON of another shape than
        # layerwise writes (crafted by hand, or cut by a tool): one line, not a traceback.
        from layerwise.errors import RunFolderError
        from layerwise.runs.verify import short_reason

        raise RunFolderError(
            f"Run folder '{run.path}' does not hold a {task_class.name} run as layerwise writes "
            f"it ({type(error).__name__}: {short_reason(error)}).",
            "Use the run folder as `layerwise train` wrote it, or train again.",
        ) from error


@dataclass
class Advice:
    """The advisor's answer without training: the data profile and the plan."""

    profile: Any
    plan: Any

    def lines(self) -> list[str]:
        out = list(self.profile.summary_lines())
        out += [f"rule '{r.name}': {r.says}" for r in self.plan.fired()]
        out.append(f"Recommendation: {self.plan.recommendation}")
        out.append(f"Validation: {self.plan.protocol}, chosen by {self.plan.metric}.")
        return out


def advise(
    data: Any,
    target: str | None = None,
    interpretable: bool = False,
    time_limit: float | None = None,
    task: str | None = None,
    **options: Any,
) -> Advice:
    """Profile the data and say which models should compete and why, without training.

    ``task`` names the application where it cannot be inferred (``"forecasting"``, ...);
    ``options`` are that task's options (``horizon``, ``time_column``, ``text_column``, ...).
    """
    from layerwise.core.task import check_time_limit

    check_time_limit(time_limit)
    name, frame = resolve_task(data, task, target)
    options = {**options, "time_limit": time_limit, "verbose": False}
    task_class = TASKS.get(name)
    if "interpretable" in task_class.DEFAULTS:
        options["interpretable"] = interpretable
    elif interpretable:
        from layerwise.errors import ConfigError

        raise ConfigError(
            f"--interpretable applies to tables; {name} has no such option.",
            "Leave out --interpretable.",
        )
    _, profile, plan = task_class(**options).profile_and_plan(frame, target)
    return Advice(profile, plan)
