"""recommendation in a world of several processes (``--devices N``, torchrun).

Every rank reads the log and splits it alike (a seeded split). Rank 0 leads: it alone fits the
classical rankers and raters, scores, chooses and writes the run folder. Every deep fit it makes
(a ranker of the bake-off, a rating model, the refit of the chosen one on every interaction) it
first orders on the other ranks (:func:`fit_ordered`: the model's name, seed and parameters as
rank 0 made them, its checkpoint folder and time share among them, and which data it fits), and
they carry out those orders and nothing else (:func:`follow`), so every rank meets the others at
every collective of the engine the same number of times. The deep rankers' losses call the
model's parts (embeddings) rather than one forward, so their trainer averages the gradients
itself (``RankingTrainer.averages_gradients``); each rank trains on its shard of the
interactions and samples its own negatives.
"""

from __future__ import annotations

from typing import Any

from layerwise.engine.distributed import order, orders
from layerwise.errors import TrainingError
from layerwise.tasks.recommendation.base import RANKERS, RATERS, RatingModel

WHICH = ("rank", "rate", "all")


def fit_ordered(model: Any, which: str, split: Any, log: Any) -> None:
    """``model.fit`` on the data ``which`` names (:func:`fit_data`); a deep model is first
    ordered on the other ranks of a world, which fit it alongside."""
    if model.family == "deep":
        kind = "rater" if isinstance(model, RatingModel) else "ranker"
        order({"kind": kind, "name": model.name, "seed": model.seed,
               "params": dict(model.params), "which": which})  # fmt: skip
    model.fit(*fit_data(which, split, log))


def fit_data(which: str, split: Any, log: Any) -> tuple[Any, Any]:
    """``(train, val)`` of a fit: "rank" the training log with the validation users' held-out
    items, "rate" the training ratings with the validation ratings, "all" every interaction."""
    if which == "rank":
        return split.train, (split.val_users, split.val_held)
    if which == "rate":
        return split.train, log.interactions.select(split.val_mask)
    return log.interactions, None


def follow(split: Any, log: Any) -> None:
    """A rank other than 0: make every deep fit rank 0 orders, until it releases them. A fit
    that fails (a NaN) fails on every rank at once; like rank 0, the rank goes on to the next."""
    for task in orders():
        registry = RATERS if task["kind"] == "rater" else RANKERS
        model = registry.get(task["name"])(seed=task["seed"], **task["params"])
        try:
            model.fit(*fit_data(task["which"], split, log))
        except TrainingError:
            continue
