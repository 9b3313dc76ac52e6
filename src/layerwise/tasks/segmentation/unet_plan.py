"""How many epochs the U-Net trains: those asked for, else as many as fit its time limit, planned
once from a timed probe and kept on resume.

A training step and a validation pass are timed on a copy of the model, so the cosine schedule
ends inside the budget rather than being cut short. A resumed run keeps the plan it began with
(``PLAN_FILE`` beside its checkpoints): a new probe on a busy machine would change the schedule
halfway. In a world of several processes rank 0 probes and plans, and sends the plan to the
others: every rank must take the same epochs, and their probes would each time their own.

Example:
    >>> class Asked:
    ...     params = {"epochs": 3}
    >>> planned_epochs(Asked(), None, None, None, 8, 4, None)
    3
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from layerwise.engine.config import resolve_device
from layerwise.engine.distributed import current_world, from_main

PLAN_FILE = "unet_plan.json"  # beside the checkpoints: the epochs planned, kept on resume
MAX_EPOCHS = 300  # automatic epochs never exceed this (a GPU with no time limit gets them all)
CPU_BUDGET_S = 300.0  # training seconds on a CPU when neither epochs nor time_limit is given


def planned_epochs(segmenter: Any, model: Any, make_batch: Any, loss: Any, batch_size: int,
                   steps: int, score: Any) -> int:  # fmt: skip
    """The epochs of ``segmenter`` (its ``params`` and ``seed``): asked, resumed, or probed
    (``make_batch(index, rng)`` draws a batch, ``loss(logits, target)`` scores it, ``score``
    validates a model or is None; ``steps`` per epoch). Rank 0's in a world of several."""
    params = segmenter.params
    if params.get("epochs") is not None:
        return int(params["epochs"])
    world = current_world()
    if world.distributed:
        return int(from_main(_plan(segmenter, model, make_batch, loss, batch_size, steps, score)
                             if world.main else None, world))  # fmt: skip
    return _plan(segmenter, model, make_batch, loss, batch_size, steps, score)


def _plan(segmenter: Any, model: Any, make_batch: Any, loss: Any, batch_size: int, steps: int,
          score: Any) -> int:  # fmt: skip
    params = segmenter.params
    limit = params.get("time_limit")
    if limit is None and resolve_device(params.get("device", "auto")).type == "cpu":
        limit = CPU_BUDGET_S
    if limit is None:
        return MAX_EPOCHS
    planned = planned_before(params)
    if planned is not None:  # resumed: the schedule it began with, not a new one
        return planned
    trial = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(trial.parameters(), lr=1e-6)
    threads = torch.get_num_threads()
    if params.get("cpu_threads") is not None:  # timed as the Trainer will run it
        torch.set_num_threads(int(params["cpu_threads"]))
    times = []
    for step in range(6):  # the first steps pay one-time costs: timed, left out below
        started = time.perf_counter()
        x, y = make_batch(
            list(range(batch_size)), np.random.default_rng([segmenter.seed, 10**6, step])
        )
        optimizer.zero_grad()
        loss(trial(x), y).backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    validation = 0.0
    if score is not None:
        with torch.no_grad():
            for _ in range(2):  # the second pass, as every epoch after the first runs it
                started = time.perf_counter()
                score(trial.eval())
                validation = time.perf_counter() - started
    torch.set_num_threads(threads)
    # 15% spare: a busy machine's slower epochs still end the cosine before the limit. With
    # three timed steps (the median of the last two) and one cold validation, membrane's
    # 900 s plan of 119 epochs trained in 720 s: the probe now runs warm
    per_epoch = 1.15 * (float(np.median(times[2:])) * steps + validation)
    epochs = int(np.clip(float(limit) // max(per_epoch, 1e-6), 1, MAX_EPOCHS))
    segmenter.notes.append(f"unet: {epochs} epochs of ~{per_epoch:.1f} s to fit "
                           f"{float(limit):.0f} s of training; give epochs or time_limit to "
                           "change it")  # fmt: skip
    if params.get("checkpoint_dir"):
        from layerwise.io import atomic_write

        atomic_write(Path(params["checkpoint_dir"]) / PLAN_FILE,
                     lambda p: p.write_text(json.dumps({"epochs": epochs})))  # fmt: skip
    return epochs


def planned_before(params: dict[str, Any]) -> int | None:
    """The epochs a resumed run planned when it began (its ``PLAN_FILE``), else None: a plan
    outside [1, ``MAX_EPOCHS``] or unreadable is not believed."""
    folder = params.get("checkpoint_dir")
    if not (params.get("resume") and folder and (Path(folder) / PLAN_FILE).is_file()):
        return None
    try:
        epochs = json.loads((Path(folder) / PLAN_FILE).read_text()[:1000])["epochs"]
    except (ValueError, KeyError, TypeError):
        return None
    return epochs if isinstance(epochs, int) and 1 <= epochs <= MAX_EPOCHS else None
