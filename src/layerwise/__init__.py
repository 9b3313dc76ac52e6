"""layerwise: deep learning on your own data, and an honest word on when classical ML does as well.

>>> import layerwise
>>> "tabular-classification" in layerwise.tasks()
True
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = _metadata.version("layerwise")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from layerwise.api import Run
    from layerwise.core.task import Task

__all__ = ["__version__", "advise", "fit", "load", "tasks"]


def fit(
    data: Any = None,
    task: str | None = None,
    target: str | None = None,
    env: Any = None,
    **options: Any,
) -> Run:
    """Train on ``data`` (or an agent on ``env``) and return the finished
    :class:`~layerwise.api.Run`. See :func:`layerwise.api.fit`."""
    from layerwise.api import fit as _fit

    return _fit(data, task=task, target=target, env=env, **options)


def load(run_dir: Any) -> Task:
    """Load a run folder; the result has ``predict`` and ``evaluate``. See :func:`layerwise.api.load`."""
    from layerwise.api import load as _load

    return _load(run_dir)


def advise(data: Any, target: str | None = None, **options: Any) -> Any:
    """Profile ``data`` and recommend classical ML or deep learning, without training."""
    from layerwise.api import advise as _advise

    return _advise(data, target=target, **options)


def tasks() -> dict[str, str]:
    """Registered task names with one-line descriptions."""
    from layerwise.core.registry import TASKS

    return TASKS.describe()
