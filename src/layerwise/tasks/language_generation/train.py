"""How the GPT of language-generation is trained by the one engine, against the clock.

Batches are random windows of the training tokens, drawn fresh for every step (an "epoch"
is ``steps_per_epoch`` of them, after which validation is estimated on fixed windows). The
learning rate warms up linearly, then follows a cosine to ``min_lr_ratio`` of its peak over
the run; the run's length is whichever comes first of the step budget and the time limit, so
``LMTrainer`` sets the rate each step from the share of either already used (a schedule fixed
in steps would stop mid-decay when the clock runs out).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from layerwise.engine import Trainer

EVAL_BATCHES = 20  # validation estimate per epoch (nanoGPT's CPU setting); the final loss uses
# the whole validation split


class WindowBatches:
    """``steps`` random (input, next-token target) windows of ``block`` tokens per epoch.

    ``deadline`` (a ``time.perf_counter()`` value): the epoch ends early once it has passed,
    so a time limit is kept to the step rather than to the end of an epoch.
    """

    def __init__(self, ids: torch.Tensor, block: int, batch: int, steps: int, seed: int,
                 deadline: float | None = None):  # fmt: skip
        self.ids, self.block, self.batch, self.steps = ids, block, batch, steps
        self.generator = torch.Generator().manual_seed(seed)
        self.deadline = deadline

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from layerwise.tasks.language_generation.corpus import random_windows

        for _ in range(self.steps):
            if self.deadline is not None and time.perf_counter() >= self.deadline:
                return
            yield random_windows(self.ids, self.block, self.batch, self.generator)


class LMTrainer(Trainer):
    """The engine with a clock-aware warmup + cosine learning rate, set in ``train_step``."""

    # not yet under DDP: its learning rate follows each process's own clock
    data_parallel = False

    def __init__(self, model: torch.nn.Module, config: Any, total_steps: int, warmup: int,
                 min_lr_ratio: float = 0.1):  # fmt: skip
        from layerwise.models.gpt import lm_loss

        super().__init__(model, lm_loss, config)
        self.total_steps, self.warmup, self.min_lr_ratio = total_steps, warmup, min_lr_ratio
        self.step_count = 0
        self.began: float | None = None

    def progress(self) -> float:
        """The share of the run used: of its steps, or of its time limit if that is nearer."""
        share = self.step_count / max(self.total_steps, 1)
        limit = self.config.time_limit
        if limit and self.began is not None:
            share = max(share, (time.perf_counter() - self.began) / limit)
        return min(share, 1.0)

    def lr_now(self) -> float:
        peak = self.config.lr
        if self.step_count < self.warmup:
            return peak * (self.step_count + 1) / self.warmup
        cosine = 0.5 * (1 + math.cos(math.pi * self.progress()))
        return peak * (self.min_lr_ratio + (1 - self.min_lr_ratio) * cosine)

    def train_step(self, batch: tuple[Any, ...]) -> dict[str, Any]:
        if self.began is None:
            self.began = time.perf_counter()
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
