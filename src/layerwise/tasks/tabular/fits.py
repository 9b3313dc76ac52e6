"""How a table's candidates are built and fitted, in one process or in a world of several.

In a world of several processes (``torchrun``, ``layerwise train --devices N``) rank 0 leads:
it alone runs the bake-off (:mod:`.bakeoff`), the ``--tune`` search (:mod:`.tuning`) and the
final fits, trains the classical candidates, and decides everything that depends on its clock
or its scores (a time-limit share, a probe that skips a slow deep model, a fold cut short, a
candidate skipped). Every deep fit it makes (a fold, a tuning trial's fold, a final refit) it
first sends to the other ranks as an order: the candidate, its parameters resolved on rank 0
(a time limit included), and the rows it trains on. The others (:func:`follow`) only carry out
those orders, so they train the same deep models, on the same rows, the same number of times,
and meet rank 0 at every collective of the engine's
:class:`~layerwise.engine.trainer.Trainer` (which then trains them data-parallel, stops them
all together, and lets rank 0 alone write checkpoints). No rank decides anything for itself,
so none can wait for the others at a collective they never reach. :func:`release` ends the
orders; the other ranks then return from ``fit`` with None.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from layerwise.core.candidate import Candidate
from layerwise.tasks.tabular.candidates import CANDIDATES

# The training data of a fit: the encoded table, its targets and its row weights (or None).
Data = tuple[Any, np.ndarray, "np.ndarray | None"]


def candidate_params(task: Any, name: str, **extra: Any) -> dict[str, Any]:
    """Candidate ``name``'s parameters: the user's, the task's defaults for it (its device,
    the plan's metric, a share of what is left of the time limit) and ``extra``. Built on rank 0
    and sent as they are to the other ranks, so a time limit read from the clock is rank 0's.
    ``least_seconds`` (in ``extra``): the share's floor (what a final fit needs)."""
    params = dict(task.option("candidate_params").get(name, {}))
    if name == "mlp":
        params.setdefault("device", task.option("device"))
    least = extra.pop("least_seconds", 0.0)
    candidate = CANDIDATES.get(name)
    if getattr(candidate, "takes_metric", False) and task._plan_metric:
        params.setdefault("metric", task._plan_metric)
    if getattr(candidate, "time_capped", False) and task._deadline is not None:
        # a share of what is left of the time limit, and no less than a final fit needs
        share = (task._deadline - time.perf_counter()) / 3
        params.setdefault("time_limit", max(1.0, share, least))
    params.update(extra)
    return params


def fit_candidate(
    task: Any, name: str, data: Data, rows: np.ndarray | None = None, **extra: Any
) -> Candidate:
    """Candidate ``name`` fitted on ``rows`` of ``data`` (None: all of them). A deep one is
    first ordered on the other ranks of a world of several, which fit it alongside."""
    params = candidate_params(task, name, **extra)
    if CANDIDATES.get(name).family == "deep":
        from layerwise.engine.distributed import order

        order({"candidate": name, "params": params, "rows": rows})
    model = task._candidate(name, params)
    _fit(task, model, data, rows)
    return model


def follow(task: Any, data: Data) -> None:
    """A rank other than 0: fit every deep model rank 0 orders, until it releases them
    (``engine.distributed.release``)."""
    from layerwise.engine.distributed import orders

    for order in orders():
        _fit(task, task._candidate(order["candidate"], order["params"]), data, order["rows"])


def release() -> None:
    """Rank 0, its deep fits done: the other ranks' :func:`follow` returns."""
    from layerwise.engine.distributed import release as release_all

    release_all()


def _fit(task: Any, model: Candidate, data: Data, rows: np.ndarray | None) -> None:
    table, y, weights = data
    if rows is None:
        model.fit(table, task.encoder, y, weights)
        return
    weights = None if weights is None else weights[rows]
    model.fit(table.rows(rows), task.encoder, y[rows], weights)
