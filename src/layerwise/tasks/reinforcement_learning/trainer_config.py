"""The engine's options for an agent, shared by DQN's and PPO's trainers (each builds its own
from its algorithm's settings and the run's options)."""

from __future__ import annotations

from typing import Any

from layerwise.engine.config import TrainerConfig


def engine_config(algo: Any, options: dict[str, Any], schedule: str) -> TrainerConfig:
    """The engine's options for an agent: watch the evaluation return, keep the best epoch,
    no early stopping; ``schedule``: PPO's learning rate decays over the budget ("cosine"),
    DQN's stays "constant"."""
    return TrainerConfig(
        epochs=int(options["epochs"]), lr=algo.lr, optimizer="adam",
        schedule=schedule,
        clip_grad_norm=algo.clip_grad_norm, patience=None, monitor="val_return", mode="max",
        device=options.get("device", "cpu"), seed=int(options.get("seed", 0)),
        checkpoint_dir=options.get("checkpoint_dir"), progress=bool(options.get("progress", True)),
        time_limit=options.get("time_limit"),
    )  # fmt: skip
