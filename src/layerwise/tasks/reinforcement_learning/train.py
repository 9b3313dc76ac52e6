"""Training an agent by the one engine: build the algorithm's network, stream and trainer,
evaluate the deterministic policy on separate environments after each epoch (a chunk of the
step budget), keep the best epoch's weights, and return what the run folder records."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from layerwise.errors import ConfigError, dataclass_from_dict
from layerwise.tasks.reinforcement_learning.rollout import VectorStepper, run_episodes

EPOCHS_PER_RUN = 20  # evaluations over the step budget (unless eval_every is given)


class Evaluator:
    """The engine's per-epoch check: ``episodes`` deterministic episodes (the same seeds each
    time, so epochs compare fairly), and the training episodes that ended in the epoch."""

    def __init__(self, source: Any, policy: Any, episodes: int, seed: int, stepper: Any):
        self.source, self.policy, self.episodes, self.seed = source, policy, episodes, seed
        self.stepper = stepper
        self._seen, self._steps, self._time = 0, 0, time.perf_counter()

    def __call__(self, trainer: Any, extra: dict[str, float]) -> dict[str, float]:
        log = self.stepper.log
        train = log.summary(self._seen)
        self._seen = len(log.returns)
        now, steps = time.perf_counter(), self.stepper.steps
        speed = (steps - self._steps) / max(now - self._time, 1e-9)
        was = trainer.model.training
        trainer.model.eval()
        played = run_episodes(self.source, self.policy(trainer.model), self.episodes, self.seed)
        trainer.model.train(was)
        self._steps, self._time = steps, time.perf_counter()
        extra = {**extra, "eval_seconds": self._time - now}
        result = played.summary()
        return {"env_steps": steps, "episodes": train["episodes"], "train_return": train["return"],
                "train_return_std": train["return_std"], "train_length": train["length"],
                "val_return": result["mean_return"], "val_return_std": result["std_return"],
                "val_length": result["mean_length"], "steps_per_s": speed, **extra}  # fmt: skip


def train_agent(task: Any, source: Any, algo: str, checkpoint_dir: str | None) -> dict[str, Any]:
    """Train ``algo`` ("dqn" or "ppo") on ``source`` for the task's step budget; returns the
    served policy network and what the run records (history, episodes, architecture...)."""
    info, seed = source.info, int(task.option("seed"))
    params = task.candidate_options(algo)
    steps = int(task.option("steps"))
    torch.manual_seed(seed)
    build = _build_dqn if algo == "dqn" else _build_ppo
    options = {"seed": seed, "device": _device(task.option("device")),
               "checkpoint_dir": checkpoint_dir, "progress": bool(task.option("verbose")),
               "time_limit": task.option("time_limit")}  # fmt: skip
    trainer, stream, config, arch = build(task, source, params, steps, options)
    if trainer.config.time_limit:
        stream.deadline = time.perf_counter() + float(trainer.config.time_limit)
    start = time.perf_counter()
    try:
        history = trainer.fit(stream, val=(torch.zeros(1),))  # evaluate() plays episodes
    finally:
        stream.stepper.close()
    policy = trainer.model.online if algo == "dqn" else trainer.model
    threshold = info.reward_threshold
    reached = [r["env_steps"] for r in history if threshold is not None
               and r.get("val_return", -math.inf) >= threshold]  # fmt: skip
    return {"policy": policy.to("cpu").eval(), "history": history, "episodes": stream.stepper.log,
            "algo_config": config.to_dict(), "architecture": arch, "best_epoch": trainer.best_epoch,
            "epochs": len(history), "stopped": trainer.stopped_reason,
            "env_steps": int(stream.stepper.steps), "fit_seconds": time.perf_counter() - start,
            "steps_to_threshold": reached[0] if reached else None}  # fmt: skip


def _device(asked: str) -> str:
    # A small MLP policy acts one step at a time: on a GPU every step pays a transfer, so
    # "auto" trains on the CPU (as Stable-Baselines3 advises for MLP policies).
    return "cpu" if asked in (None, "auto") else asked


def _epoch_steps(task: Any, steps: int, chunk: int) -> int:
    every = task.option("eval_every")
    every = int(every) if every else steps / EPOCHS_PER_RUN
    return max(1, round(every / chunk))


def _build_dqn(task: Any, source: Any, params: dict, steps: int, options: dict) -> tuple:
    from layerwise.models.q_network import QNetworkConfig
    from layerwise.tasks.reinforcement_learning.dqn_train import (
        DQNAgent,
        DQNConfig,
        DQNTrainer,
        ExperienceStream,
        greedy_actions,
    )

    info = source.info
    if not info.discrete:
        raise ConfigError(f"DQN needs discrete actions; {info.name} has continuous ones.",
                          "Use --algo ppo (the default for continuous actions).")  # fmt: skip
    config = dataclass_from_dict(DQNConfig, params, "DQN option")
    config.hidden = tuple(config.hidden)
    arch = QNetworkConfig(info.obs_size, info.n_actions, config.hidden)
    agent = DQNAgent(arch)
    stepper = VectorStepper(source.vector(config.n_envs, options["seed"]), options["seed"])
    per_epoch = _epoch_steps(task, steps, 1)
    stream = ExperienceStream(stepper, agent, config, steps, per_epoch, options["seed"])
    evaluator = Evaluator(source, greedy_actions, int(task.option("eval_episodes")),
                          options["seed"], stepper)  # fmt: skip
    trainer = DQNTrainer(
        agent, config, evaluator, stream, epochs=math.ceil(steps / per_epoch), **options
    )
    return trainer, stream, config, {"kind": "q_network", **arch.to_dict()}


def _build_ppo(task: Any, source: Any, params: dict, steps: int, options: dict) -> tuple:
    from layerwise.models.actor_critic import ActorCritic, ActorCriticConfig
    from layerwise.tasks.reinforcement_learning.ppo_train import (
        PPOConfig,
        PPOTrainer,
        RolloutStream,
        deterministic_actions,
    )

    info = source.info
    config = dataclass_from_dict(PPOConfig, params, "PPO option")
    config.hidden = tuple(config.hidden)
    arch = ActorCriticConfig(info.obs_size, info.n_actions, info.discrete, config.hidden,
                             config.normalize_observations)  # fmt: skip
    model = ActorCritic(arch)
    stepper = VectorStepper(source.vector(config.n_envs, options["seed"]), options["seed"])
    rollout = config.n_envs * config.n_steps
    per_epoch = _epoch_steps(task, steps, rollout)
    stream = RolloutStream(stepper, model, config, steps, per_epoch)
    low = np.asarray(info.action_low, np.float32) if not info.discrete else None
    high = np.asarray(info.action_high, np.float32) if not info.discrete else None
    if not info.discrete:
        stream.set_bounds(info.action_low, info.action_high)
    evaluator = Evaluator(source, lambda m: deterministic_actions(m, low, high),
                          int(task.option("eval_episodes")), options["seed"], stepper)  # fmt: skip
    epochs = math.ceil(steps / (per_epoch * rollout))
    trainer = PPOTrainer(model, config, evaluator, epochs=epochs, **options)
    return trainer, stream, config, {"kind": "actor_critic", **arch.to_dict()}
