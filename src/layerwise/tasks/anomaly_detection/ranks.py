"""anomaly-detection in a world of several processes (``--devices N``, torchrun).

Rank 0 leads: it alone fits the classical detectors (isolation forest, kNN, Mahalanobis) and
the boosted fraud models, scores, chooses, sets the threshold and writes the run folder. Every
deep fit it makes (the autoencoder, Deep SVDD, the focal-loss MLP's folds and final fit) it
first sends to the other ranks as an order (:func:`order`): the model, its parameters as rank 0
resolved them (its checkpoint folder, in rank 0's run folder, and its time limit) and, for a
fraud model, its inputs (the detectors' scores among them, which only rank 0 has), labels and
folds. The other ranks (:func:`follow`) carry out those orders and nothing else, so they meet
rank 0 at every collective of the engine's Trainer (which trains the model data-parallel, stops
every rank together, and lets rank 0 alone write checkpoints) the same number of times, in the
same order. ``engine.distributed.release`` ends the orders; the other ranks then return None
from ``fit``.

A deep detector trains on the rows ``x`` each rank made itself from the same table with the
same fitted features (deterministic: no draw, no clock), so no table is sent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from layerwise.engine.distributed import order as order_all
from layerwise.engine.distributed import orders


def order(kind: str, **payload: Any) -> None:
    """Rank 0 of a world of several: tell the others to make the same deep fit now (nothing in
    one process). ``kind``: "detector" or "fraud" (see :func:`follow`)."""
    order_all({"kind": kind, **payload})


def follow(x: np.ndarray) -> None:
    """A rank other than 0: make every deep fit rank 0 orders, until it releases them. What
    is fitted here is thrown away: rank 0's copy (the same weights) is the one served."""
    from layerwise.tasks.anomaly_detection.model import DETECTORS
    from layerwise.tasks.anomaly_detection.supervised import fit_fraud_model

    for task in orders():
        if task["kind"] == "detector":
            DETECTORS.get(task["name"])(seed=task["seed"], **task["params"]).fit(x)
        else:
            fit_fraud_model(task["name"], task["seed"], task["params"], task["data"])
