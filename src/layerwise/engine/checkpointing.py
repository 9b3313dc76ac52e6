"""How the engine checkpoints a training run and resumes it: :class:`Checkpointing`, a base
of :class:`~layerwise.engine.trainer.Trainer`.

After every epoch the trainer saves its model, optimizer, scheduler, random streams, history
and early-stopping state (:func:`~layerwise.engine.checkpoint.save_checkpoint`: a complete set
or none, rank 0 alone in a world of several, the others waiting for it); a run started again
with ``resume`` continues from the newest complete set (:meth:`Checkpointing._resume`), so a
killed run ends where an uninterrupted one would. It reads the trainer's ``config``, ``model``,
``optimizer``, ``scheduler``, ``history``, ``world``, ``device``, ``_generator``,
``_stopper``, ``_best_state`` and ``_checkpoint_set``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from layerwise.engine.checkpoint import (
    BEST,
    capture_rng,
    load_checkpoint,
    load_weights,
    restore_rng,
    save_checkpoint,
    scheduler_state,
)
from layerwise.engine.distributed import barrier
from layerwise.errors import TrainingError


class Checkpointing:
    """Checkpoints for the trainer (see the module doc); a base of ``Trainer``."""

    config: Any
    model: Any
    optimizer: Any
    scheduler: Any
    history: Any
    world: Any
    device: Any
    _generator: Any
    _stopper: Any
    _best_state: Any
    _checkpoint_set: Path | None

    def _save(self, epoch: int, improved: bool) -> None:
        rng = capture_rng(self._generator, self.device)
        scheduler = None
        if self.scheduler is not None:
            scheduler = {k: v for k, v in self.scheduler.state_dict().items() if k != "lr_lambdas"}
        state = {
            "epoch": epoch,
            "monitor": self.history.monitor,
            "mode": self.history.mode,
            "best_metric": self._stopper.best,
            "best_epoch": self._stopper.best_epoch,
            "history": self.history.records,
            "scheduler": scheduler,
            "rng": rng,
            "config": self.config.to_dict(),
        }
        best = self._best_state if improved else None
        folder, previous = self.config.checkpoint_dir, self._checkpoint_set
        if self.world.main:  # the ranks' weights are the same: one writes them
            self._checkpoint_set = save_checkpoint(
                folder, self.model, self.optimizer, state, best, previous=previous
            )
        barrier(self.world)

    def _resume(self) -> int:
        """Continue from the newest complete checkpoint; 0 (from the start) when there is none.
        load_checkpoint has checked state.json field by field, so what is read here is sound."""
        state = load_checkpoint(self.config.checkpoint_dir, self.model, self.optimizer, self.device)
        if state is None:
            return 0
        folder = Path(state["folder"])
        self.history.records = list(state.get("history", []))
        self._stopper.load_state(
            {
                "best": state.get("best_metric"),
                "best_epoch": state.get("best_epoch", 0),
                "epoch": state["epoch"],
            }
        )
        try:
            if self.scheduler is not None and state.get("scheduler"):
                saved = scheduler_state(state["scheduler"], self.scheduler, folder)
                self.scheduler.load_state_dict(saved)
            restore_rng(state.get("rng", {}), self._generator, self.device)
        except (RuntimeError, ValueError, TypeError) as error:  # e.g. a CUDA state of another size
            raise TrainingError(
                f"The checkpoint in {folder} cannot be restored: {error}.",
                f"Delete {self.config.checkpoint_dir} to train this model again from the first "
                "epoch.",
            ) from error
        if (folder / BEST).is_file():
            self._best_state = load_weights(folder / BEST, "cpu")
        self._checkpoint_set = folder
        return int(state["epoch"])
