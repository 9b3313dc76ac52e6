"""How many epochs the CenterNet trains: those asked for, else as many as fit its time limit
(``CPU_BUDGET_S`` on a CPU when none is given), from a timed probe of training steps on a copy
of the model.

In a world of several processes (``--devices N``, torchrun) rank 0 probes and plans and sends
the plan to the others: every rank must take the same epochs, and their probes would each time
their own (a rank with more epochs would wait for the others at a collective they never reach).

Example:
    >>> from types import SimpleNamespace
    >>> asked = SimpleNamespace(params={"epochs": 4})
    >>> planned_epochs(asked, None, None, 100, 7, 10)
    4
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any

import numpy as np
import torch

from layerwise.engine.config import resolve_device
from layerwise.engine.distributed import current_world, from_main
from layerwise.tasks.object_detection.centernet_targets import centernet_loss

MAX_EPOCHS = 200  # automatic epochs never exceed this (a GPU with no time limit gets them all)
CPU_BUDGET_S = 300.0  # training seconds on a CPU when neither epochs nor time_limit is given


def planned_epochs(detector: Any, model: Any, make_batch: Any, n_train: int, steps: int,
                   n_val: int) -> int:  # fmt: skip
    """The epochs of ``detector`` (its ``params``, ``seed``, ``notes``): asked, or planned from
    a probe of ``make_batch(indices, rng)`` batches; ``steps`` per epoch, ``n_val`` validation
    images. Rank 0's in a world of several."""
    if detector.params.get("epochs") is not None:
        return int(detector.params["epochs"])
    world = current_world()

    def plan() -> int:
        return _epochs(detector, _probe(detector, model, make_batch, n_train), steps, n_val)

    if world.distributed:
        return int(from_main(plan() if world.main else None, world))
    return plan()


def _batch_size(detector: Any) -> int:
    return int(detector._batch_size())


def _epochs(detector: Any, step_seconds: float, steps: int, n_val: int) -> int:
    params = detector.params
    limit = params.get("time_limit")
    if limit is None and resolve_device(params.get("device", "auto")).type == "cpu":
        limit = CPU_BUDGET_S
    if limit is None:
        return MAX_EPOCHS
    # A validation batch (twice the images, forward only) costs ~2/3 of a training step.
    val_steps = math.ceil(n_val / (2 * _batch_size(detector))) * 2 / 3
    # 15% spare: a busy machine's slower epochs still end the cosine before the limit.
    per_epoch = 1.15 * step_seconds * (steps + val_steps)
    epochs = int(np.clip(float(limit) // max(per_epoch, 1e-6), 1, MAX_EPOCHS))
    detector.notes.append(
        f"centernet: {epochs} epochs of ~{per_epoch:.1f} s to fit {float(limit):.0f} s "
        "of training; give epochs or time_limit to change it."
    )
    return epochs


def _probe(detector: Any, model: Any, make_batch: Any, n: int) -> float:
    """Seconds of one training step (views, targets, forward, backward) on a model copy."""
    trial = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(trial.parameters(), lr=1e-5)
    times = []
    threads = torch.get_num_threads()
    asked = detector.params.get("cpu_threads")
    if asked is not None:  # timed as the Trainer will run it
        torch.set_num_threads(int(asked))
    for step in range(3):
        t0 = time.perf_counter()
        rng = np.random.default_rng([detector.seed, 10**6, step])  # not the training draws
        images, targets = make_batch(list(range(min(n, _batch_size(detector)))), rng)
        optimizer.zero_grad()
        centernet_loss(trial(images), targets).backward()
        optimizer.step()
        times.append(time.perf_counter() - t0)
    torch.set_num_threads(threads)
    return float(np.median(times[1:]))
