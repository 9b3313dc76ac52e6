"""The one training loop for every gradient-trained model in layerwise.

Options, not subclasses: epochs or time limit, early stopping with best-weights restore,
mixed precision on CUDA, gradient clipping, learning-rate schedules, checkpoint/resume,
progress bar and per-epoch history. Custom training (GAN, RL) overrides :meth:`Trainer.train_step`.
Started by torchrun (or ``--devices N``) it trains data-parallel: see :mod:`.distributed`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from layerwise.engine.batching import Batching, Data
from layerwise.engine.callbacks import EarlyStopping, History, StepLog, lr_lambda
from layerwise.engine.checkpoint import has_checkpoint
from layerwise.engine.checkpointing import Checkpointing
from layerwise.engine.config import TrainerConfig, resolve_device
from layerwise.engine.distributed import (
    World,
    any_across,
    average_gradients,
    broadcast_state,
    from_main,
    mean_across,
    rank_seed,
    setup,
)
from layerwise.engine.progress import TrainingProgress
from layerwise.errors import ConfigError, TrainingError

Metric = Callable[[torch.Tensor, torch.Tensor], float]


def _to_cpu(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        out = out.detach().to("cpu")
        return out.float() if out.dtype in (torch.float16, torch.bfloat16) else out
    if isinstance(out, Mapping):
        return {k: _to_cpu(v) for k, v in out.items()}
    if isinstance(out, tuple | list):
        return type(out)(_to_cpu(v) for v in out)
    return out


def _concat(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    if isinstance(first, Mapping):
        return {k: _concat([p[k] for p in parts]) for k in first}
    return type(first)(_concat(list(group)) for group in zip(*parts, strict=True))


class Trainer(Batching, Checkpointing):
    """Trains ``model`` with ``loss_fn(outputs, target)`` on tuples ``(*inputs, target)``.

    The model is called as ``model(*inputs)``. Data is a tuple of equally long tensors
    (batched here with a seeded permutation) or a DataLoader yielding such tuples.

    Example:
        >>> import torch
        >>> x, y = torch.randn(64, 3), torch.randn(64, 1)
        >>> trainer = Trainer(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss,
        ...                   TrainerConfig(epochs=2, progress=False))
        >>> history = trainer.fit((x, y), val=(x, y))
        >>> len(history), trainer.stopped_reason
        (2, 'max epochs')
        >>> trainer.predict((x,)).shape
        torch.Size([64, 1])
    """

    def __init__(
        self,
        model: torch.nn.Module,
        loss_fn: Callable[[Any, torch.Tensor], torch.Tensor],
        config: TrainerConfig | None = None,
        metrics: Mapping[str, Metric] | None = None,
        callbacks: Iterable[Any] | None = None,
        batch_transform: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None,
    ):
        self.config = config or TrainerConfig()
        # Applied to every training batch (on the device) before train_step: augmentation
        # on tensors, e.g. random crops and flips of image batches. Evaluation batches are untouched.
        self.batch_transform = batch_transform
        # Objects with optional on_train_begin(trainer), on_epoch_end(trainer, record) and
        # on_train_end(trainer); on_epoch_end may set ``trainer.stop_training = True`` or call
        # :meth:`set_lr`.
        self.callbacks = list(callbacks or [])
        self.stop_training = False
        self.world, self.device = setup(resolve_device(self.config.device))
        if self.config.alone:  # this process's own model in a world of several: no collective
            self.world = World()
        if self.world.distributed and not self.data_parallel:
            raise ConfigError(f"{type(self).__name__} trains with a loop of its own that does not "
                              "run data-parallel.", "Train it in one process (without --devices "
                              "or torchrun).")  # fmt: skip
        self.model = model.to(self.device)
        if self.config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if self.config.compile:
            self.model.compile()  # in place: state_dict keys and checkpoints stay the same
        # What training steps call: the model itself, or its DDP wrapper in a world of several
        # processes (which averages the gradients across them). ``model`` stays the bare module,
        # so state_dict keys, checkpoints and the tasks' own use of it are the same either way.
        # The wrapper is made in fit: making it is a collective every rank must join, and a
        # trainer that only evaluates or predicts (on rank 0 alone) must not wait for the others.
        self.parallel_model: torch.nn.Module = self.model
        self.loss_fn = loss_fn
        self.metrics = dict(metrics or {})
        self.amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LambdaLR | None = None
        self.history = History(monitor=self.config.monitor, mode=self.config.mode)
        self.best_epoch = 0
        self.stopped_reason = ""
        self._generator = torch.Generator().manual_seed(self.config.seed)
        self._best_state: dict[str, torch.Tensor] | None = None
        self._checkpoint_set: Path | None = None
        self._last_lr = self.config.lr
        # Record keys the progress bar shows besides the losses (e.g. an agent's mean return).
        self.progress_keys: tuple[str, ...] = ()

    # A subclass whose train_step calls self.model rather than self.parallel_model would train
    # each rank on its own gradients: it says it is safe to run data-parallel by setting this.
    data_parallel: bool = True
    # A subclass whose step trains the parts of its model in turn (a GAN's two networks), which
    # one DDP wrapper cannot follow, sets this instead: the world's ranks start from rank 0's
    # weights, every backward_step averages the gradients it made across them, and each step
    # ends with rank 0's buffers (BatchNorm statistics) on every rank.
    averages_gradients: bool = False

    def _data_parallel(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.world.distributed or not any(p.requires_grad for p in model.parameters()):
            return model
        if self.averages_gradients:
            broadcast_state(model, self.world)
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def _amp_dtype(self) -> torch.dtype | None:
        mode = self.config.mixed_precision
        if self.device.type != "cuda" or mode == "off":
            return None
        if mode == "auto":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if mode == "bf16" else torch.float16

    def autocast(self) -> contextlib.AbstractContextManager:
        """The mixed-precision context for forward passes (a no-op off CUDA)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    # ---- the step ---------------------------------------------------------------------------

    def train_step(self, batch: tuple[Any, ...]) -> dict[str, float | torch.Tensor]:
        """One optimisation step on one batch; returns ``{"loss": ...}`` (and any extra values).

        Values may be floats or 0-dim tensors; tensors avoid a device sync per step. Each key
        ``k`` is averaged over the epoch and recorded as ``train_k``. Override for custom training.
        """
        *inputs, target = batch
        with self.autocast():
            loss = self.loss_fn(self.parallel_model(*inputs), target)
        self.backward_step(loss)
        return {"loss": loss.detach()}

    def backward_step(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer | None = None,
        inputs: list[torch.Tensor] | None = None,
    ) -> None:
        """Zero the gradients, backpropagate ``loss`` (scaled for fp16), clip, and step.

        ``inputs``: only these parameters receive gradients (the others keep none, so the
        optimizer leaves them as they are), e.g. a GAN's generator step, whose loss flows
        through the discriminator without training it.
        """
        optimizer = optimizer or self.optimizer
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward(inputs=inputs)
            if self.averages_gradients:
                average_gradients(optimizer, self.world)
            if self.config.clip_grad_norm is not None:
                self.scaler.unscale_(optimizer)
                self._clip(optimizer)
            self.scaler.step(optimizer)
            self.scaler.update()
            return
        loss.backward(inputs=inputs)
        if self.averages_gradients:
            average_gradients(optimizer, self.world)
        if self.config.clip_grad_norm is not None:
            self._clip(optimizer)
        optimizer.step()

    def _clip(self, optimizer: torch.optim.Optimizer) -> None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, self.config.clip_grad_norm)

    # ---- fit --------------------------------------------------------------------------------

    def make_optimizer(self) -> torch.optim.Optimizer | None:
        """The optimizer of the model's trainable parameters (from the config's ``optimizer``,
        ``lr`` and ``weight_decay``). Override for parameter groups (e.g. a GAN's two networks
        with their own rates in one optimizer, which the checkpoints then save whole)."""
        cfg = self.config
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            return None
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        return kind(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def _make_scheduler(
        self, steps_per_epoch: int | None
    ) -> torch.optim.lr_scheduler.LambdaLR | None:
        cfg = self.config
        if self.optimizer is None:
            return None
        if steps_per_epoch is None and cfg.schedule != "constant":
            raise ConfigError(
                f"schedule={cfg.schedule!r} needs the number of steps per epoch, but the training data has no len().",
                "Use schedule='constant', or give data with a length.",
            )
        total = (steps_per_epoch or 1) * cfg.epochs
        return torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(cfg.schedule, total, cfg.warmup_steps)
        )

    def fit(self, train: Data, val: Data | None = None) -> History:
        """Train until ``epochs``, early stopping or ``time_limit``; return the :class:`History`.

        Raises:
            TrainingError: if the loss becomes NaN or infinite (the checkpoint on disk is left
                as it was after the last good epoch).
        """
        cfg = self.config
        # torch's global stream (dropout, augmentation, noise, sampled negatives): each rank of a
        # world its own, rank 0 one process's; the shuffle's generator is the same on every rank
        torch.manual_seed(rank_seed(cfg.seed, self.world.rank))
        self._generator.manual_seed(cfg.seed)
        if self.parallel_model is self.model:
            self.parallel_model = self._data_parallel(self.model)
        train = self._prepare(train, "train")
        val = None if val is None else self._prepare(val, "val")
        steps = self._steps_per_epoch(train)
        self.optimizer = self.make_optimizer()
        self.scheduler = self._make_scheduler(steps)
        monitor, mode = cfg.monitor, cfg.mode
        if val is None and cfg.monitor.startswith("val_"):  # nothing to validate: watch the loss
            monitor, mode = "train_loss", "min"
        self.history = History(monitor=monitor, mode=mode)
        self._stopper = EarlyStopping(monitor, mode, cfg.patience, cfg.min_delta)
        self._best_state = None
        self._checkpoint_set = None  # the set last written or resumed from (its best carries over)
        start = self._resume() if cfg.resume and has_checkpoint(cfg.checkpoint_dir) else 0
        self.stop_training = False
        self._callback("on_train_begin")
        try:
            with self._cpu_threads():
                self._loop(train, val, start, steps)
        except TrainingError:
            self._restore_best()
            self._callback("on_train_end")
            raise
        self.best_epoch = self._stopper.best_epoch
        self._restore_best()
        self._callback("on_train_end")
        return self.history

    def _callback(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(self, *args)

    def set_lr(self, lr: float) -> None:
        """Set the learning rate of every parameter group (and the schedule's base) to ``lr``."""
        if self.optimizer is None:
            return
        ratio = lr / max(self.optimizer.param_groups[0]["lr"], 1e-300)
        for group in self.optimizer.param_groups:
            group["lr"] = group["lr"] * ratio
        if self.scheduler is not None:
            self.scheduler.base_lrs = [base * ratio for base in self.scheduler.base_lrs]
        self._last_lr = self.optimizer.param_groups[0]["lr"]

    def _loop(self, train: Data, val: Data | None, start: int, steps: int | None) -> None:
        cfg = self.config
        began = time.perf_counter()
        self.stopped_reason = "max epochs"
        check_every = 1 if self.device.type == "cpu" else 64
        if self.world.distributed:  # checked at the epoch's end, by every rank together (below)
            check_every = 1 << 62
        world = self.world
        with TrainingProgress(
            cfg.epochs, steps, self.history.monitor, cfg.progress and world.main, start,
            self.progress_keys,
        ) as bar:  # fmt: skip
            for epoch in range(start + 1, cfg.epochs + 1):
                t0 = time.perf_counter()
                self.model.train()
                bar.start_epoch(epoch)
                log = StepLog(epoch, check_every)
                step = 0
                for step, batch in enumerate(self._batches(train, train=True), 1):
                    if self.optimizer is not None:
                        self._last_lr = self.optimizer.param_groups[0]["lr"]
                    if self.batch_transform is not None:
                        batch = self.batch_transform(batch)
                    out = self.train_step(batch)
                    if self.averages_gradients:
                        broadcast_state(self.model, self.world, buffers_only=True)
                    log.add(out, len(batch[0]) if isinstance(batch[0], torch.Tensor) else 1)
                    if self.scheduler is not None:
                        self.scheduler.step()
                    bar.step(step)
                if step == 0 and epoch > start + 1:  # batch sources that stop at a deadline
                    self.stopped_reason = "time limit" if cfg.time_limit else "no more batches"
                    break
                record: dict[str, Any] = {
                    "epoch": epoch, **mean_across(self._epoch_means(log), sum(log.sizes), world)
                }  # fmt: skip
                if val is not None:  # rank 0's: every rank then decides alike
                    record.update(from_main(self.evaluate(val) if world.main else None, world))
                record["lr"] = self._last_lr
                record["seconds"] = time.perf_counter() - t0
                self.history.append(record)
                improved = self._stopper.update(record)
                if improved:
                    self._best_state = {
                        k: v.detach().to("cpu", copy=True)
                        for k, v in self.model.state_dict().items()
                    }
                if cfg.checkpoint_dir is not None:
                    self._save(epoch, improved)
                bar.end_epoch(epoch, record)
                self._callback("on_epoch_end", record)
                if world.distributed:
                    self.stop_training = any_across(self.stop_training, world)
                if self.stop_training and epoch < cfg.epochs:
                    self.stopped_reason = "callback"
                    break
                if self._stopper.should_stop and epoch < cfg.epochs:
                    self.stopped_reason = "early stopping"
                    break
                if (
                    cfg.time_limit is not None
                    and epoch < cfg.epochs
                    and any_across(time.perf_counter() - began >= cfg.time_limit, world)
                ):
                    self.stopped_reason = "time limit"
                    break

    def _epoch_means(self, log: StepLog) -> dict[str, float]:
        """The epoch's mean losses; a NaN or infinite one raises TrainingError on every rank of
        a world at once (a rank that stopped alone would leave the others waiting for it)."""
        try:
            means, failure = log.means(), None
        except TrainingError as error:
            means, failure = {}, error
        if self.world.distributed and any_across(failure is not None, self.world):
            raise failure or TrainingError(
                f"The training loss became NaN or infinite on another process at epoch {log.epoch}.",
                "Lower the learning rate (lr), set clip_grad_norm (e.g. 1.0), or check the inputs "
                "for NaN or infinite values.",
            )
        if failure is not None:
            raise failure
        return means

    def _restore_best(self) -> None:
        if self.config.restore_best and self._best_state is not None:
            self.model.load_state_dict(self._best_state)

    # ---- evaluation and prediction ----------------------------------------------------------

    def evaluate(self, data: Data) -> dict[str, float]:
        """``val_loss`` and ``val_<name>`` for each metric, on the whole of ``data``.

        Metrics get the concatenated outputs and targets of all batches, on the CPU.
        """
        data = self._prepare(data, "val")
        was_training = self.model.training
        self.model.eval()
        total = torch.zeros((), device=self.device, dtype=torch.float64)
        count = 0
        outputs, targets = [], []
        with torch.no_grad(), self.autocast():
            for *inputs, target in self._batches(data, train=False):
                out = self.model(*inputs)
                total += self.loss_fn(out, target).detach().double() * len(target)
                count += len(target)
                if self.metrics:
                    outputs.append(_to_cpu(out))
                    targets.append(_to_cpu(target))
        self.model.train(was_training)
        result = {"val_loss": total.item() / max(count, 1)}
        if self.metrics:
            joined, target = _concat(outputs), torch.cat(targets)
            for name, fn in self.metrics.items():
                result[f"val_{name}"] = float(fn(joined, target))
        return result

    @contextlib.contextmanager
    def _cpu_threads(self) -> Iterator[None]:
        """Run with ``cpu_threads`` intra-op threads on the CPU, then restore torch's setting."""
        threads = self.config.cpu_threads
        if self.device.type != "cpu" or threads is None:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def predict(self, inputs: tuple[torch.Tensor, ...] | torch.Tensor) -> Any:
        """The model outputs for ``inputs`` (no target), batched, in eval mode, on the CPU."""
        if isinstance(inputs, torch.Tensor):
            inputs = (inputs,)
        was_training = self.model.training
        self.model.eval()
        parts = []
        with torch.no_grad(), self.autocast():
            for batch in self._batches(
                tuple(inputs) if isinstance(inputs, list) else inputs, train=False
            ):
                parts.append(_to_cpu(self.model(*batch)))
        self.model.train(was_training)
        return _concat(parts)
