"""How big a Transformer text-to-text trains, and for how many steps, within its time budget.

With ``epochs`` given, the size comes from the data alone
(:func:`~layerwise.models.seq2seq.seq2seq_config_for`) and the steps from the epochs. Against
the clock (``time_limit``, or ``CPU_BUDGET_S`` on a CPU), the size is the largest of ``LADDER``
(no larger than the data's) that still makes ``MIN_PASSES`` passes over the training pairs in
the budget: a few training steps of each size are timed on a fresh model, and the steps planned
are those that fit, less the validations' time, with 8% spare so the cosine ends inside the
budget. On English-French Tatoeba (121k training pairs, 2 CPU cores, equal compute) a model of
dim 256 and 3+3 layers made 1.3 passes and reached test BLEU 25.4 (beam 4), one of dim 128 and
2+2 layers 3.6 passes and 27.4: too big a model for the budget loses to a smaller one that sees
the data more often. A model that sees each pair only a few times does not overfit, so its
dropout is at most ``LOW_DROPOUT`` below ``MANY_PASSES`` passes.

The plan (steps and the architecture's fields) is written beside the checkpoints
(``PLAN_FILE``); a resumed run rebuilds the same model and keeps its schedule.

Example:
    >>> [dim for dim, _ in LADDER]
    [512, 384, 256, 192, 128, 64]
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from layerwise.engine.config import resolve_device
from layerwise.errors import ConfigError
from layerwise.models.seq2seq import Seq2Seq, Seq2SeqConfig, seq2seq_config_for

LADDER = ((512, 6), (384, 4), (256, 3), (192, 2), (128, 2), (64, 2))  # (dim, layers a side)
MIN_PASSES, MANY_PASSES, LOW_DROPOUT = 3.0, 10.0, 0.1
CPU_BUDGET_S = 600.0  # training seconds on a CPU when neither epochs nor time_limit is given
MAX_STEPS = 200_000
UNTIMED_PASSES = 20  # a GPU with no time limit: this many passes
PLAN_FILE = "transformer_plan.json"
# A floor under the plan: a probe timed while the machine was busy (OpenMP threads that wait
# for each other on oversubscribed cores run 50 times slower) planned 1 step of the demo; the
# time limit still ends the run, only the cosine is then cut short
MIN_STEPS = 500
PROBE_STEPS = 8  # timed steps per size; the first three (one-time costs) are left out
MIN_EPOCHS, MAX_EPOCHS = 10, 40  # an epoch is a pass, cut so that the run has 10 to 40
# The plan's spare: the steps are timed warm, yet a busy machine runs slower than the probe
SPARE = 1.08


@dataclass
class Plan:
    """The architecture and the number of optimisation steps; ``note`` says why."""

    config: Seq2SeqConfig
    steps: int
    note: str = ""


def heads_for(dim: int) -> int:
    """Attention heads of about 32 to 64 dimensions each, 4 to 8 of them."""
    return max(4, min(8, dim // 64))


def _fixed(params: dict[str, Any], n_pairs: int, vocab: int, on_cpu: bool,
           lengths: dict[str, int]) -> Seq2SeqConfig:  # fmt: skip
    """The data's config with the user's ``dim``, ``layers``, ``heads``, ``dropout``."""
    fields = {k: params[k] for k in ("dim", "heads", "dropout") if params.get(k) is not None}
    if params.get("layers") is not None:
        fields["encoder_layers"] = fields["decoder_layers"] = int(params["layers"])
    if "dim" in fields and "heads" not in fields:
        fields["heads"] = heads_for(int(fields["dim"]))
    return seq2seq_config_for(n_pairs, vocab, on_cpu, **lengths, **fields)


def step_seconds(model: Seq2Seq, batches: Any, loss: Any, device: torch.device,
                 threads: int | None) -> float:  # fmt: skip
    """Seconds per training step of ``model`` (a copy is trained, the model is left as is)."""
    trial = copy.deepcopy(model).to(device).train()
    optimizer = torch.optim.AdamW(trial.parameters(), lr=1e-6)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    times = []
    try:
        for step in range(PROBE_STEPS):
            source, target_in, target_out = (t.to(device) for t in batches.batch(step))
            started = time.perf_counter()
            optimizer.zero_grad()
            loss(trial(source, target_in), target_out).backward()
            optimizer.step()
            times.append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(before)
    return float(np.median(times[3:]))


def epochs_for(steps: int, per_pass: int) -> tuple[int, int]:
    """(epochs, steps per epoch) for ``steps``: an epoch is a pass, cut to between a tenth and
    a fortieth of the run (``MIN_EPOCHS`` to ``MAX_EPOCHS`` points on the learning curves)."""
    per_epoch = int(np.clip(per_pass, math.ceil(steps / MAX_EPOCHS), math.ceil(steps / MIN_EPOCHS)))
    per_epoch = max(per_epoch, 1)
    return max(1, math.ceil(steps / per_epoch)), per_epoch


def fitting_steps(seconds: float, step_s: float, validation_s: float, per_pass: int) -> int:
    """The steps that, with a validation after each epoch, fit in ``seconds``.

    Example:
        >>> fitting_steps(100.0, 0.1, 1.0, 1000)  # 900 steps and 10 validations of 1 s
        900
    """
    steps = int(seconds / max(step_s, 1e-6))
    for _ in range(3):  # the validations' number depends on the steps: settle it
        epochs, _ = epochs_for(max(steps, 1), per_pass)
        steps = int((seconds - epochs * validation_s) / max(step_s, 1e-6))
    return int(np.clip(steps, 1, MAX_STEPS))


def agreed_plan(params: dict[str, Any], *args: Any) -> Plan:
    """:func:`plan_training`, the same on every rank of a world of several processes: rank 0
    plans (its probes, its resumed plan file) and sends the plan to the others, since each
    rank's probe would size and time its own and a rank with more steps would wait for the
    others at a collective they never reach."""
    from layerwise.engine.distributed import current_world, from_main

    world = current_world()
    if not world.distributed:
        return plan_training(params, *args)
    plan = plan_training(params, *args) if world.main else None
    sent = from_main(None if plan is None else {"config": plan.config.to_dict(),
                                                "steps": plan.steps, "note": plan.note},
                     world)  # fmt: skip
    return plan or Plan(Seq2SeqConfig.from_dict(sent["config"]), int(sent["steps"]), sent["note"])


def plan_training(params: dict[str, Any], n_pairs: int, vocab: int, batches: Any, loss: Any,
                  validation_s: Any, lengths: dict[str, int]) -> Plan:  # fmt: skip
    """The model and steps for these pairs (see the module doc). ``validation_s(model)``:
    seconds of one validation of a model; ``lengths``: the configs' max lengths."""
    device = resolve_device(params.get("device", "auto"))
    on_cpu = device.type == "cpu"
    fixed = _fixed(params, n_pairs, vocab, on_cpu, lengths)
    if params.get("epochs") is not None:
        per = int(params.get("steps_per_epoch") or batches.per_pass)
        return Plan(fixed, int(params["epochs"]) * per)
    resumed = _planned(params, vocab, lengths)
    if resumed is not None:
        return resumed
    limit = params.get("time_limit")
    if limit is None and on_cpu:
        limit = CPU_BUDGET_S
    if limit is None:
        return Plan(fixed, min(MAX_STEPS, UNTIMED_PASSES * batches.per_pass))
    chosen = _sized(params, fixed, n_pairs, vocab, on_cpu, lengths, batches, loss, validation_s,
                    float(limit), device)  # fmt: skip
    _save(params, chosen)
    return chosen


def _sized(params: dict[str, Any], fixed: Seq2SeqConfig, n_pairs: int, vocab: int,
           on_cpu: bool, lengths: dict[str, int], batches: Any, loss: Any, validation_s: Any,
           limit: float, device: torch.device) -> Plan:  # fmt: skip
    user_sized = params.get("dim") is not None or params.get("layers") is not None
    sizes = [fixed] if user_sized else [
        seq2seq_config_for(n_pairs, vocab, on_cpu, dim=dim, heads=heads_for(dim),
                           encoder_layers=layers, decoder_layers=layers, **lengths)
        for dim, layers in LADDER
        if dim <= fixed.dim and layers <= fixed.encoder_layers
    ] or [fixed]  # fmt: skip
    for k, config in enumerate(sizes):
        torch.manual_seed(0)
        model = Seq2Seq(config)
        seconds = step_seconds(model, batches, loss, device, params.get("cpu_threads"))
        steps = fitting_steps(limit / SPARE, seconds, validation_s(model), batches.per_pass)
        passes = steps / max(batches.per_pass, 1)
        if passes >= MIN_PASSES or k == len(sizes) - 1:
            break
    steps = max(steps, min(MIN_STEPS, 3 * batches.per_pass))
    if passes < MANY_PASSES and params.get("dropout") is None:
        config.dropout = min(config.dropout, LOW_DROPOUT)
    note = (f"transformer: dim {config.dim}, {config.encoder_layers}+{config.decoder_layers} "
            f"layers, {steps} steps of ~{seconds * 1000:.0f} ms ({passes:.1f} passes over the "
            f"training pairs) to fit {limit:.0f} s of training; give epochs or time_limit to "
            "change it")  # fmt: skip
    return Plan(config, steps, note)


def _save(params: dict[str, Any], plan: Plan) -> None:
    if not params.get("checkpoint_dir"):
        return
    from layerwise.io import atomic_write

    text = json.dumps({"steps": plan.steps, "config": plan.config.to_dict()})
    atomic_write(Path(params["checkpoint_dir"]) / PLAN_FILE, lambda p: p.write_text(text))


def _planned(params: dict[str, Any], vocab: int, lengths: dict[str, int]) -> Plan | None:
    """The plan a resumed run began with (its ``PLAN_FILE``), if it is valid."""
    folder = params.get("checkpoint_dir")
    if not (params.get("resume") and folder and (Path(folder) / PLAN_FILE).is_file()):
        return None
    try:
        stored = json.loads((Path(folder) / PLAN_FILE).read_text()[:10_000])
        steps, config = stored["steps"], Seq2SeqConfig.from_dict(stored["config"])
    except (ValueError, KeyError, TypeError, AttributeError, ConfigError):
        return None
    if not (isinstance(steps, int) and 1 <= steps <= MAX_STEPS and config.vocab_size == vocab
            and config.max_source_len == lengths["max_source_len"]):  # fmt: skip
        return None
    return Plan(config, steps, "transformer: resumed with the plan it began with")
