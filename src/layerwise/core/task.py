"""The task contract: what every application implements, and what a fitted run returns.

A task is scikit-learn style: ``__init__`` only stores options, ``fit`` trains and writes a
run folder, ``predict`` and ``evaluate`` work on a fitted or loaded task. The models a task
compares in its bake-off are :class:`layerwise.core.candidate.Candidate`.
"""

from __future__ import annotations

import functools
import numbers
import shlex
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from layerwise.core.cli_spec import Demo
from layerwise.runs.folder import CONFIG, MANIFEST, RunFolder

# The options every task takes; each task adds its own.
RUN_DEFAULTS: dict[str, Any] = {
    "output_dir": "runs",
    "time_limit": None,
    "seed": 0,
    "candidates": None,
    "candidate_params": {},
    "report": True,
    "verbose": True,
    "device": "auto",
    "resume": None,
}


@dataclass
class Run:
    """A finished training run: its folder, the fitted task and its test metrics.

    ``run.predict(data)`` and ``run.evaluate(data)`` use the chosen model.
    """

    path: Path
    task: Task
    metrics: dict[str, Any]
    chosen: str
    report: Path | None = None
    notes: list[str] = field(default_factory=list)

    def predict(self, inputs: Any) -> Any:
        return self.task.predict(inputs)

    def evaluate(self, data: Any) -> dict[str, Any]:
        return self.task.evaluate(data)


def check_time_limit(value: Any, flag: str | None = None) -> None:
    """A ConfigError unless ``value`` is None or a positive, finite number of seconds (a zero or
    negative budget would train nothing but the first candidate). ``flag``: the CLI's name.

    >>> check_time_limit(60)
    >>> check_time_limit(0)
    Traceback (most recent call last):
    ...
    layerwise.errors.ConfigError: time_limit=0 is not a valid time limit. Use seconds > 0, e.g. 60, or leave it out for the task's default budget.
    """
    from layerwise.errors import ConfigError

    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if value is None or (number and 0 < value < float("inf")):
        return
    shown = f"{flag} {value:g}" if flag and number else f"time_limit={value!r}"
    raise ConfigError(
        f"{shown} is not a valid time limit.",
        "Use seconds > 0, e.g. 60, or leave it out for the task's default budget.",
    )


@dataclass
class OpenRun:
    """The run folder a fit is writing, as :func:`track_run` recorded it.

    ``created``: this fit made it (False: a folder being resumed, the user's to keep).
    ``resumable``: ``layerwise train --resume`` can continue it if training stops.
    """

    path: Path
    created: bool
    resumable: bool = True


def track_run(task: Task, path: str | Path, created: bool, resumable: bool = True) -> None:
    """Record the run folder ``task.fit`` writes, so that a fit that stops early is settled:
    see :func:`settle_stopped_fit`. Call it as soon as the folder exists."""
    task.__dict__["_open_run"] = OpenRun(Path(path), created, resumable)


def settle_stopped_fit(task: Task, exc: BaseException) -> None:
    """What a fit that raised leaves behind.

    Interrupted (Ctrl-C, or any BaseException that is not an Exception): the folder stays as it
    is, config and the last complete checkpoints, so ``--resume`` continues it; the exception
    carries an ``OpenRun`` as ``layerwise_run`` for the CLI's one line. A task that cannot
    resume has its new folder removed.

    Failed (any Exception, a LayerwiseError or a bug): a folder this fit created is removed.
    Removed rather than marked failed: such a folder holds no usable model (or one never
    tested), and once it is gone no reader (predict, load, serve, report, a listing of runs/)
    can take it for a run, without each of them learning to check a "failed" marker; the
    reason is the error itself, printed as one line. A resumed folder is left alone: it was the
    user's interrupted run before this attempt, and its checkpoints still resume.
    """
    opened: OpenRun | None = task.__dict__.pop("_open_run", None)
    interrupted = not isinstance(exc, Exception)
    if interrupted:
        exc.layerwise_run = opened  # type: ignore[attr-defined]
        exc.layerwise_task = task.name  # type: ignore[attr-defined]
    if opened is None or not opened.created:
        return
    nothing_to_resume = not (opened.path / CONFIG).exists()
    if interrupted and opened.resumable and not nothing_to_resume:
        return
    shutil.rmtree(opened.path, ignore_errors=True)
    if interrupted and nothing_to_resume:
        exc.layerwise_run = None  # type: ignore[attr-defined]
    elif not interrupted and hasattr(exc, "add_note"):  # under a bug's traceback (Python 3.11+)
        exc.add_note(f"layerwise: the unfinished run folder {opened.path} was removed.")


def interruption_line(exc: BaseException) -> str:
    """The one line the CLI prints for a training stopped by Ctrl-C."""
    opened: OpenRun | None = getattr(exc, "layerwise_run", None)
    if opened is None:
        return "interrupted; nothing was saved to resume: train again."
    if not opened.resumable:
        task = getattr(exc, "layerwise_task", "these")
        return f"interrupted; {task} runs cannot resume: train again."
    if (opened.path / MANIFEST).exists():
        return f"interrupted; the run in {opened.path} had already finished."
    return f"interrupted; resume with: layerwise train --resume {shlex.quote(str(opened.path))}"


def _settled(fit: Callable[..., Run]) -> Callable[..., Run]:
    """``fit`` with the time limit checked first and a stopped run settled after."""

    @functools.wraps(fit)
    def fit_and_settle(self: Task, *args: Any, **kwargs: Any) -> Run:
        if self.__dict__.get("_fitting"):  # a subclass's fit calling super().fit
            return fit(self, *args, **kwargs)
        check_time_limit(kwargs.get("time_limit", self.options.get("time_limit")))
        self.__dict__.update(_fitting=True, _open_run=None)
        try:
            return fit(self, *args, **kwargs)
        except BaseException as exc:
            settle_stopped_fit(self, exc)
            raise
        finally:
            self.__dict__["_fitting"] = False

    fit_and_settle._settles = True  # type: ignore[attr-defined]
    return fit_and_settle


class Task(ABC):
    """Base class of every application (``tasks/<name>.py``)."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    DEFAULTS: ClassVar[dict[str, Any]] = {}  # every option the task takes, with its default
    # Serving (layerwise.serve.requests): the shape of an HTTP request's body, one of "rows",
    # "series", "images", "texts", "observations", "prompts", "count", "users", "audio"
    # (None: not served over HTTP); and whether predictions are one row per input with no
    # options, so that concurrent requests may be joined into one predict call.
    request_kind: ClassVar[str | None] = None
    joinable_requests: ClassVar[bool] = False
    # Trains its deep candidates data-parallel when started by torchrun or --devices N
    # (layerwise.engine.distributed); a task that does not is refused there with one line.
    data_parallel: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every task's fit gets the same run lifecycle without each one repeating it: the
        # time_limit check, and a folder left behind by a failure removed (settle_stopped_fit).
        super().__init_subclass__(**kwargs)
        fit = cls.__dict__.get("fit")
        if fit is not None and not getattr(fit, "_settles", False):
            cls.fit = _settled(fit)  # type: ignore[method-assign]

    def __init__(self, **options: Any):
        self.options = options

    def option(self, name: str) -> Any:
        return self.options.get(name, self.DEFAULTS[name])

    def check_option_names(self, options: dict[str, Any]) -> None:
        """A ConfigError for the first option this task does not take, naming the closest."""
        from layerwise.errors import ConfigError, closest

        unknown = [k for k in options if k not in self.DEFAULTS]
        if unknown:
            hint = closest(unknown[0], self.DEFAULTS)
            raise ConfigError(
                f"Unknown option '{unknown[0]}' for {self.name}.",
                (f"Did you mean '{hint}'? " if hint else "")
                + f"Options: {', '.join(self.DEFAULTS)}.",
            )

    def candidate_names(self, known: tuple[str, ...]) -> list[str]:
        """The candidates of ``known`` to train: those the ``candidates`` option names (all
        of them when it names none); a ConfigError when it names none of ``known``."""
        from layerwise.errors import ConfigError

        asked = self.option("candidates")
        names = [n for n in known if not asked or n in asked]
        if not names:
            raise ConfigError(f"No candidate among {asked}.", f"Name one of {', '.join(known)}.")
        return names

    def candidate_options(self, name: str) -> dict[str, Any]:
        """The options the user gave candidate ``name`` (``candidate_params``), a copy."""
        return dict((self.option("candidate_params") or {}).get(name, {}))

    def time_budget(self, cpu_seconds: float, gpu_seconds: float) -> float:
        """The ``time_limit`` option, or the default budget of the device it trains on."""
        from layerwise.engine.config import resolve_device

        if self.option("time_limit") is not None:
            return float(self.option("time_limit"))
        on_cpu = resolve_device(self.option("device")).type == "cpu"
        return cpu_seconds if on_cpu else gpu_seconds

    def say(self, message: str) -> None:
        """One progress line on stderr, unless the task was made with ``verbose=False`` or this
        is not the first of several processes (their lines would repeat rank 0's)."""
        from layerwise.engine.distributed import current_world

        if self.options.get("verbose", self.DEFAULTS.get("verbose", True)) and current_world().main:
            from rich.console import Console

            Console(stderr=True, highlight=False).print(message)

    def profile_and_plan(self, data: Any, target: str | None = None) -> tuple[Any, Any, Any]:
        """(the prepared data, its profile, the plan): what ``advise`` shows without training.
        An application whose choice needs no profile (a corpus, an environment) keeps this."""
        from layerwise.errors import ConfigError

        raise ConfigError(
            f"advise has no profile for {self.name}: its candidates do not depend on the data.",
            f"Train it directly: layerwise train <data> --task {self.name}.",
        )

    @abstractmethod
    def fit(self, data: Any, **kwargs: Any) -> Run:
        """Train on ``data``, write a run folder and return the :class:`Run`."""

    @abstractmethod
    def predict(self, inputs: Any) -> Any:
        """Predictions in the shape ``output_schema`` describes."""

    @abstractmethod
    def evaluate(self, data: Any) -> dict[str, Any]:
        """Metrics of the fitted model on labelled ``data``."""

    @classmethod
    @abstractmethod
    def load(cls, run: RunFolder) -> Task:
        """Rebuild a fitted task from a verified run folder."""

    @abstractmethod
    def input_schema(self) -> dict[str, Any]:
        """What one input looks like (columns and kinds, image size, ...)."""

    @abstractmethod
    def output_schema(self) -> dict[str, Any]:
        """What one prediction looks like (label + probabilities, a value, boxes, ...)."""

    def prediction_rows(self, inputs: Any) -> int:
        """How many rows ``predict(inputs)`` gives: one per input unless a task says otherwise
        (a forecast gives horizon x columns rows per series)."""
        return len(inputs)

    def evaluation_rows(self, data: Any) -> int:
        """How many examples ``evaluate(data)`` scores: the rows of ``data`` unless a task says
        otherwise (an agent plays its test episodes)."""
        return len(data)

    @classmethod
    def report_sections(cls) -> list[tuple[str, Callable[[RunFolder], str | None]]]:
        """The sections this application adds to report.html, in page order: (title, render)
        where ``render(run)`` gives HTML, or None when the run has nothing for it. They come
        after the predictions and before feature importance and the files."""
        return []

    # The command line (layerwise.cli; its train options are in tasks/<app>/cli.py, read
    # before any task is imported). predict_options / evaluate_options: the keywords of
    # predict / evaluate that `layerwise predict` / `evaluate` pass on when given (their flag:
    # --alert-budget for "alert_budget"); data_optional: the commands ("predict", "evaluate")
    # whose DATA may be left out; batch_predicts: `predict --batch-size` may stream a table
    # file through predict in chunks (one prediction row per input row).
    predict_options: ClassVar[tuple[str, ...]] = ()
    evaluate_options: ClassVar[tuple[str, ...]] = ()
    data_optional: ClassVar[tuple[str, ...]] = ()
    batch_predicts: ClassVar[bool] = False

    def command_line_input(self, data: str) -> Any:
        """What ``layerwise predict RUN DATA`` hands ``predict`` for DATA (a path or a text):
        DATA itself unless the task reads it otherwise."""
        return data

    def training_summary(self, run: Run) -> list[Any] | None:
        """What ``layerwise train`` (and ``demo``) print after training, a line (a rich markup
        string or Text) or a rich renderable each; None: the table of candidates and the next
        commands."""
        return None

    @classmethod
    def demo_data(cls, folder: Path) -> Demo | None:
        """The bundled data ``layerwise demo NAME`` trains on, written into ``folder``
        (no files and no network needed); None: the task has no demo."""
        return None

    @classmethod
    @abstractmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        """Tiny generated data for the contract test: (training data, fit options, predict inputs)."""
