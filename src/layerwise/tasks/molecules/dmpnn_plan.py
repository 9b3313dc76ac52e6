"""The D-MPNN ensemble's plan: how many members train, for how many epochs, within the time
limit; a resumed run keeps the plan it began with (``PLAN_FILE`` beside its checkpoints).

Those given (``ensemble``, ``epochs``) are kept; else a few training steps and a validation
pass are timed on a fresh network (:func:`probe`) and as many members of chemprop's 50 epochs
as the budget holds are planned (1 to ``MAX_MEMBERS``; ``DEFAULT_MEMBERS`` when no time limit
was given), longer ones (up to ``MAX_EPOCHS``) when all of them fit. In a world of several
processes :mod:`.dmpnn_train` has rank 0 plan and sends the plan to the others.

Example:
    >>> from types import SimpleNamespace
    >>> model = SimpleNamespace(params={"ensemble": 3, "epochs": 7}, notes=[], _epoch_s=0.0)
    >>> plan_members(model, None, None, None, None, 0.0, None)
    (3, 7)
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from layerwise.errors import ConfigError
from layerwise.models.dmpnn import DMPNN, DMPNNConfig
from layerwise.tasks.molecules.graph_batches import GraphBatches, masked_loss

PLAN_FILE = "dmpnn_plan.json"  # beside the checkpoints: the plan a resumed run keeps
# A member's full length is chemprop's 50 epochs; when the budget holds MAX_MEMBERS of those, the
# members train longer, up to MAX_EPOCHS (ESOL, random splits 0 and 1, five members: test RMSE
# 0.598 and 0.631 at 50 epochs, 0.590 and 0.604 at 100).
EPOCHS, MAX_EPOCHS, MAX_MEMBERS, MAX_STORED_MEMBERS = 50, 100, 5, 32
# No time_limit given: chemprop's 50 epochs for each of two members (the fewest whose spread is
# an uncertainty), within the CPU budget. On a CPU the members of a wave train side by side, one
# thread each, as many as there are cores: on ESOL two members of 10 epochs took 6.2 s side by
# side, 12.3 s one after the other with one thread and 8.3 s with two threads.
DEFAULT_MEMBERS = 2


def plan_members(model: Any, config: DMPNNConfig, train: GraphBatches,
                 held: GraphBatches | None, limit: float | None, started: float,
                 device: torch.device, budgeted: bool = True) -> tuple[int, int]:  # fmt: skip
    """(members, epochs): those given, else what fits ``limit`` (see the module doc); with
    no time limit given (``budgeted`` False) ``DEFAULT_MEMBERS`` of 50 epochs at most."""
    given_members, given_epochs = model.params.get("ensemble"), model.params.get("epochs")
    planned = planned_before(model)
    if planned is not None:
        return planned
    model._epoch_s = 0.0
    if limit is None or (given_members is not None and given_epochs is not None):
        members, epochs = int(given_members or MAX_MEMBERS), int(given_epochs or MAX_EPOCHS)
    else:
        model._epoch_s = per_epoch = probe(model, config, train, held, device)
        budget = max(limit - (time.perf_counter() - started), 0.0)
        full = per_epoch * int(given_epochs or EPOCHS)
        fits = model.workers * int(budget // max(full, 1e-9))  # members a side at a time
        members = int(given_members or (np.clip(fits, 1, MAX_MEMBERS) if budgeted
                                        else DEFAULT_MEMBERS))  # fmt: skip
        waves = math.ceil(members / model.workers)
        most = MAX_EPOCHS if budgeted else EPOCHS
        epochs = int(given_epochs or np.clip(budget / waves // per_epoch, 1, most))
        model.notes.append(f"dmpnn: {members} member(s) x {epochs} epochs of ~{per_epoch:.2f} "
                           f"s planned to fit {budget:.0f} s; give epochs and ensemble to "
                           "change it")  # fmt: skip
    if members < 1 or epochs < 1:
        raise ConfigError(f"dmpnn: ensemble={members} and epochs={epochs} are not valid.",
                          "Use whole numbers >= 1.")  # fmt: skip
    folder = model.params.get("checkpoint_dir")
    if folder:
        from layerwise.io import atomic_write

        Path(folder).mkdir(parents=True, exist_ok=True)
        text = json.dumps({"members": members, "epochs": epochs})
        atomic_write(Path(folder) / PLAN_FILE, lambda p: p.write_text(text))
    return members, epochs


def planned_before(model: Any) -> tuple[int, int] | None:
    """The (members, epochs) a resumed run planned when it began, else None."""
    folder = model.params.get("checkpoint_dir")
    if not (model.params.get("resume") and folder and (Path(folder) / PLAN_FILE).is_file()):
        return None
    try:
        plan = json.loads((Path(folder) / PLAN_FILE).read_text()[:1000])
        members, epochs = plan["members"], plan["epochs"]
    except (ValueError, KeyError, TypeError):
        return None
    ok = all(isinstance(v, int) and 1 <= v <= top
             for v, top in ((members, MAX_STORED_MEMBERS), (epochs, 10_000)))  # fmt: skip
    return (members, epochs) if ok else None


def probe(model: Any, config: DMPNNConfig, train: GraphBatches, held: GraphBatches | None,
          device: torch.device) -> float:  # fmt: skip
    """Seconds per epoch (training batches and a validation pass), 15% spare, timed warm."""
    torch.manual_seed(model.seed)
    trial = DMPNN(copy.deepcopy(config)).to(device).train()
    optimizer = torch.optim.Adam(trial.parameters(), lr=1e-6)
    loss_fn, threads = masked_loss(model.kind), torch.get_num_threads()
    if model.params.get("cpu_threads") is not None and device.type == "cpu":
        torch.set_num_threads(int(model.params["cpu_threads"]))
    order = np.random.default_rng([model.seed, 10**6]).permutation(len(train.graphs))
    times = []
    try:
        for step in range(6):  # the first steps pay one-time costs: left out below
            s = (step * train.batch_size) % len(order)
            t0 = time.perf_counter()
            *inputs, target = (t.to(device) if isinstance(t, torch.Tensor) else t
                               for t in train.batch(order[s : s + train.batch_size]))  # fmt: skip
            optimizer.zero_grad()
            loss_fn(trial(*inputs), target).backward()
            optimizer.step()
            times.append(time.perf_counter() - t0)
        validation = 0.0
        if held is not None:
            trial.eval()
            with torch.no_grad():
                for _ in range(2):  # the second pass, as every epoch after the first
                    t0 = time.perf_counter()
                    for *inputs, _t in held:
                        trial(*(t.to(device) if isinstance(t, torch.Tensor) else t
                                for t in inputs))  # fmt: skip
                    validation = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    return 1.15 * (float(np.median(times[2:])) * len(train) + validation)
