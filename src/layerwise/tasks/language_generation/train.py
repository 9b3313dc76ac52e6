"""How the GPT of language-generation is trained by the one engine, against the clock.

Batches are random windows of the training tokens, drawn fresh for every step (an "epoch"
is ``steps_per_epoch`` of them, after which validation is estimated on fixed windows). The
learning rate warms up linearly, then follows a cosine to ``min_lr_ratio`` of its peak over
the run; the run's length is whichever comes first of the step budget and the time limit, so
``LMTrainer`` sets the rate each step from the share of either already used (a schedule fixed
in steps would stop mid-decay when the clock runs out).

In a world of several processes (``--devices N``, torchrun) every rank draws its own windows
(:func:`window_seed`) for its share of the step's batch (``Trainer.rank_batch``), DDP averages
the gradients, and the clock that ends the run and sets the rate is rank 0's
(:class:`RunClock`), so every rank takes the same steps at the same rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from layerwise.engine import Trainer
from layerwise.engine.distributed import World, rank_seed

EVAL_BATCHES = 20  # validation estimate per epoch (nanoGPT's CPU setting); the final loss uses
# the whole validation split


def window_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s training windows: rank 0's is ``seed`` (so one process draws
    what it always drew), the others' far from it and from the validation windows' ``seed + 1``,
    so the ranks of a world train on different windows, not N copies of the same batch.

    >>> window_seed(7, 0), window_seed(7, 1)
    (7, 1000010)
    """
    return rank_seed(seed, rank)


class RunClock:
    """The seconds a run has used of its time ``limit``, read once a step and the same on
    every rank.

    Each rank's own clock would end its run at its own moment (a rank a step short of the others
    leaves them waiting at the gradients' all-reduce) and give it its own learning rate (the
    ranks' weights would drift apart). So rank 0 reads its clock and sends the reading to the
    others: one broadcast of one number a step (:meth:`read`, called by :class:`WindowBatches`
    before it draws the step's batch). In one process it is the process's own clock.
    ``device``: where the world's collectives run (the trainer's device: a GPU under NCCL).
    """

    def __init__(self, limit: float | None, world: World | None = None,
                 device: torch.device | None = None):  # fmt: skip
        self.limit = limit
        self.world = world or World()
        self.device = device or torch.device("cpu")
        self.began = time.perf_counter()
        self.elapsed = 0.0  # the last reading

    def start(self) -> None:
        self.began, self.elapsed = time.perf_counter(), 0.0

    def read(self) -> float:
        """Seconds since :meth:`start` by rank 0's clock (a collective: every rank calls it)."""
        elapsed = time.perf_counter() - self.began
        if self.world.distributed:
            box = torch.tensor([elapsed], dtype=torch.float64, device=self.device)
            dist.broadcast(box, src=0)
            elapsed = float(box.item())
        self.elapsed = elapsed
        return elapsed

    @property
    def expired(self) -> bool:
        """Whether the last reading reached the limit."""
        return self.limit is not None and self.elapsed >= self.limit


class WindowBatches:
    """``steps`` random (input, next-token target) windows of ``block`` tokens per epoch, from
    ``ids`` in memory (a tensor) or on disk (a :class:`~.token_stream.TokenSpan`).

    ``clock``: with a time limit, read before every step; the epoch ends early once the limit is
    reached, so a time limit is kept to the step rather than to the end of an epoch (and, the
    reading being rank 0's, at the same step on every rank).
    """

    def __init__(self, ids: torch.Tensor, block: int, batch: int, steps: int, seed: int,
                 clock: RunClock | None = None):  # fmt: skip
        self.ids, self.block, self.batch, self.steps = ids, block, batch, steps
        self.generator = torch.Generator().manual_seed(seed)
        self.clock = clock

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from layerwise.tasks.language_generation.token_stream import draw_windows

        timed = self.clock is not None and self.clock.limit is not None
        for _ in range(self.steps):
            if timed:
                self.clock.read()
                if self.clock.expired:
                    return
            yield draw_windows(self.ids, self.block, self.batch, self.generator)


class LMTrainer(Trainer):
    """The engine with a clock-aware warmup + cosine learning rate, set in ``train_step``.

    Its time is :attr:`clock` (started by :meth:`fit`, read each step by the
    :class:`WindowBatches` given it): rank 0's in a world of several processes, so the rate
    and the stop are the same on every rank, and it trains data-parallel.
    """

    data_parallel = True

    def __init__(self, model: torch.nn.Module, config: Any, total_steps: int, warmup: int,
                 min_lr_ratio: float = 0.1):  # fmt: skip
        from layerwise.models.gpt import lm_loss

        super().__init__(model, lm_loss, config)
        self.total_steps, self.warmup, self.min_lr_ratio = total_steps, warmup, min_lr_ratio
        self.step_count = 0
        self.clock = RunClock(config.time_limit, self.world, self.device)

    def fit(self, train: Any, val: Any = None) -> Any:
        self.clock.start()
        return super().fit(train, val)

    def progress(self) -> float:
        """The share of the run used: of its steps, or of its time limit if that is nearer
        (by the clock's last reading, the same on every rank)."""
        share = self.step_count / max(self.total_steps, 1)
        if self.clock.limit:
            share = max(share, self.clock.elapsed / self.clock.limit)
        return min(share, 1.0)

    def lr_now(self) -> float:
        peak = self.config.lr
        if self.step_count < self.warmup:
            return peak * (self.step_count + 1) / self.warmup
        cosine = 0.5 * (1 + math.cos(math.pi * self.progress()))
        return peak * (self.min_lr_ratio + (1 - self.min_lr_ratio) * cosine)

    def train_step(self, batch: tuple[Any, ...]) -> dict[str, Any]:
        lr = self.lr_now()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        out = super().train_step(batch)
        self.step_count += 1
        return {**out, "lr_used": lr}


def gpt_config(params: dict[str, Any], seed: int) -> Any:
    """The engine's options for the GPT (AdamW, clipping at 1, no engine schedule)."""
    from layerwise.engine import TrainerConfig

    keys = ("batch_size", "lr", "weight_decay", "time_limit", "device", "checkpoint_dir",
            "resume", "progress", "cpu_threads", "mixed_precision", "compile")  # fmt: skip
    options = {k: params[k] for k in keys if k in params}
    options.setdefault("lr", 6e-3)
    options.setdefault("weight_decay", 0.1)
    return TrainerConfig(epochs=int(params.get("epochs", 10_000)), schedule="constant",
                         clip_grad_norm=1.0, patience=params.get("patience"), seed=seed,
                         **options)  # fmt: skip


def window_loss(model: torch.nn.Module, windows: tuple[torch.Tensor, torch.Tensor],
                batch: int = 64) -> float:  # fmt: skip
    """Mean nats per token of ``model`` on the (input, target) windows, in eval mode."""
    from layerwise.models.gpt import lm_loss
    from layerwise.tasks.language_generation.corpus import IGNORE_INDEX

    x, y = windows
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), batch):
            xb, yb = x[start : start + batch].to(device), y[start : start + batch].to(device)
            scored = int((yb != IGNORE_INDEX).sum())  # the last window may repeat targets
            if scored:
                total += float(lm_loss(model(xb), yb)) * scored
                count += scored
    model.train(was_training)
    return total / max(count, 1)


def sample_text(model: torch.nn.Module, tokenizer: Any, prompt_ids: np.ndarray, tokens: int,
                seed: int, temperature: float = 0.8, top_k: int | None = 40) -> str:  # fmt: skip
    """A continuation of ``prompt_ids`` (decoded with the prompt), deterministic for a seed."""
    device = next(model.parameters()).device
    idx = torch.as_tensor(np.asarray(prompt_ids, dtype=np.int64), device=device)[None, :]
    generator = torch.Generator(device=device).manual_seed(seed)
    out = model.generate(idx, tokens, temperature=temperature, top_k=top_k, generator=generator)
    return tokenizer.decode(out[0].tolist())
