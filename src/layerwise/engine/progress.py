"""A rich progress bar over epochs (and over steps when an epoch is long), and one over any
list of items (files being read)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

STEP_BAR_MIN_STEPS = 50


class TrainingProgress:
    """Shows epochs done, steps within the epoch and the latest metrics; silent when disabled.

    Disabled when ``enabled`` is False or the console is neither a terminal nor a notebook,
    so logs and captured output stay clean.

    Example:
        >>> with TrainingProgress(epochs=2, steps_per_epoch=10, enabled=False) as bar:
        ...     bar.end_epoch(1, {"train_loss": 0.5})
    """

    def __init__(
        self,
        epochs: int,
        steps_per_epoch: int | None,
        monitor: str = "val_loss",
        enabled: bool = True,
        start_epoch: int = 0,
        extra_keys: tuple[str, ...] = (),
    ):
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.monitor = monitor
        self.first_epoch = start_epoch
        self.extra_keys = tuple(extra_keys)
        self._progress: Any = None
        self._epoch_task: Any = None
        self._step_task: Any = None
        self._every = 1
        if enabled:
            self._create()

    def _create(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        console = Console()
        if not (console.is_terminal or console.is_jupyter):
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=console,
            transient=False,
        )
        self._epoch_task = self._progress.add_task(
            "epochs", total=self.epochs, completed=self.first_epoch, metrics=""
        )
        steps = self.steps_per_epoch or 0
        if steps >= STEP_BAR_MIN_STEPS:
            self._step_task = self._progress.add_task("steps", total=steps, metrics="")
            self._every = max(
                1, steps // 100
            )  # refreshing on every step would cost more than the step

    def __enter__(self) -> TrainingProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start_epoch(self, epoch: int) -> None:
        if self._step_task is not None:
            self._progress.reset(self._step_task, total=self.steps_per_epoch, metrics="")

    def step(self, step: int) -> None:
        """Report that ``step`` (1-based) of the current epoch finished."""
        if self._step_task is not None and step % self._every == 0:
            self._progress.update(self._step_task, completed=step)

    def end_epoch(self, epoch: int, record: dict[str, Any]) -> None:
        if self._progress is None:
            return
        keys = (
            ["train_loss", "val_loss"]
            + ([self.monitor] if self.monitor not in ("train_loss", "val_loss") else [])
            + [k for k in self.extra_keys if k not in ("train_loss", "val_loss", self.monitor)]
        )
        text = "  ".join(
            f"{k}={record[k]:.4g}" for k in keys if isinstance(record.get(k), int | float)
        )
        self._progress.update(self._epoch_task, completed=epoch, metrics=text)
        if self._step_task is not None:
            self._progress.update(self._step_task, completed=self.steps_per_epoch)


def track(items: Any, description: str, enabled: bool = True) -> Iterator[Any]:
    """Yield ``items`` with a transient progress bar on stderr (when ``enabled``).

    >>> list(track([1, 2], "counting", enabled=False))
    [1, 2]
    """
    if not enabled:
        yield from items
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=len(items))
        for item in items:
            yield item
            bar.advance(task)
