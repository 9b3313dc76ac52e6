"""PPO on the one engine: the clipped surrogate objective with generalised advantage
estimation, over gymnasium vector environments, with running observation normalisation,
reward scaling by the running spread of discounted returns, an entropy bonus, and a
categorical (discrete) or diagonal Gaussian (continuous) policy.

The engine's data is a :class:`RolloutStream` that yields one rollout (``n_steps`` steps of
``n_envs`` environments, advantages computed) at a time; :class:`PPOTrainer` overrides
``train_step`` with ``update_epochs`` passes of minibatch updates over it, and ``evaluate``
with deterministic episodes on separate environments.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from layerwise.engine.trainer import Trainer
from layerwise.models.actor_critic import ActorCritic
from layerwise.models.running_norm import merge_moments
from layerwise.tasks.reinforcement_learning.trainer_config import engine_config


@dataclass
class PPOConfig:
    """PPO's options; the defaults are tuned on CartPole-v1, Acrobot-v1 and Pendulum-v1
    together (benchmarks/rl.py), not per environment."""

    lr: float = 1e-3  # decays to 0 over the step budget (cosine)
    n_envs: int = 8
    n_steps: int = 64  # steps per environment in one rollout
    minibatch_size: int = 128
    update_epochs: int = 10
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    entropy_coef: float = 0.0
    value_coef: float = 0.5
    clip_grad_norm: float = 0.5
    target_kl: float | None = None  # stop a rollout's update early past this KL
    normalize_observations: bool = True
    scale_rewards: bool = True
    hidden: tuple[int, ...] = (64, 64)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hidden": list(self.hidden)}


class RewardScaler:
    """Divides rewards by the running standard deviation of the discounted return (as
    Stable-Baselines3's VecNormalize does), so one learning rate suits rewards of any size."""

    def __init__(self, n_envs: int, gamma: float, enabled: bool):
        self.enabled, self.gamma = enabled, gamma
        self.running = np.zeros(n_envs)
        self.count, self.mean, self.var = 1e-4, 0.0, 1.0

    def __call__(self, rewards: np.ndarray, done: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return rewards
        self.running = self.running * self.gamma + rewards
        n = len(rewards)
        self.mean, self.var = merge_moments(self.count, self.mean, self.var, n,
                                            self.running.mean(), self.running.var())  # fmt: skip
        self.count += n
        self.running[done] = 0.0
        return np.clip(rewards / np.sqrt(self.var + 1e-8), -10.0, 10.0)


class RolloutStream:
    """One epoch of rollouts: each item is a rollout's flat tensors (observations, actions,
    their log-probabilities, advantages, returns, values); stops at the step budget or the
    ``deadline``."""

    def __init__(self, stepper: Any, model: ActorCritic, config: PPOConfig, total_steps: int,
                 rollouts_per_epoch: int):  # fmt: skip
        self.stepper, self.model, self.config = stepper, model, config
        self.total, self.per_epoch = total_steps, rollouts_per_epoch
        self.scaler = RewardScaler(stepper.n, config.gamma, config.scale_rewards)
        self.deadline: float | None = None
        self.bounds: tuple[np.ndarray, np.ndarray] | None = None  # continuous: clip to these

    def __len__(self) -> int:
        return self.per_epoch

    def set_bounds(self, low: list[float], high: list[float]) -> None:
        self.bounds = (np.asarray(low, np.float32), np.asarray(high, np.float32))

    def __iter__(self):
        for _ in range(self.per_epoch):
            if self.stepper.steps >= self.total:
                return
            if self.deadline is not None and time.perf_counter() > self.deadline:
                return
            yield self.collect()

    @torch.no_grad()
    def collect(self) -> tuple[torch.Tensor, ...]:
        c, stepper, model = self.config, self.stepper, self.model
        t, n = c.n_steps, stepper.n
        obs_buf = torch.zeros(t, n, stepper.obs.shape[1])
        values, logps = torch.zeros(t, n), torch.zeros(t, n)
        rewards, dones = torch.zeros(t, n), torch.zeros(t, n)
        actions = []
        device = next(model.parameters()).device  # acting on a GPU works, but rarely pays
        for step in range(t):
            obs = torch.from_numpy(stepper.obs)
            dist, value = model.policy(obs.to(device))
            action = dist.sample()
            obs_buf[step], values[step] = obs, value.cpu()
            logps[step] = dist.log_prob(action).cpu()
            action = action.cpu()
            actions.append(action)
            following, reward, terminated, truncated = stepper.step(self._env_actions(action))
            done = np.logical_or(terminated, truncated)
            reward = self.scaler(reward, done)
            cut = np.flatnonzero(truncated & ~terminated)
            if len(cut):  # a time limit is not the end of the task: bootstrap from the value
                reward = reward.copy()
                ends = torch.from_numpy(following[cut]).to(device)
                reward[cut] += c.gamma * model.value(ends).cpu().numpy()
            rewards[step] = torch.from_numpy(reward.astype(np.float32))
            dones[step] = torch.from_numpy(done.astype(np.float32))
        last = model.value(torch.from_numpy(stepper.obs).to(device)).cpu()
        advantages = gae(rewards, values, dones, last, c.gamma, c.gae_lambda)
        returns = advantages + values
        # after the rollout, so the log-probabilities it stored stay true
        model.norm.update(obs_buf.reshape(t * n, -1).to(device))
        flat = torch.stack(actions).reshape(t * n, *actions[0].shape[1:])
        return (obs_buf.reshape(t * n, -1), flat, logps.reshape(-1), advantages.reshape(-1),
                returns.reshape(-1), values.reshape(-1))  # fmt: skip

    def _env_actions(self, action: torch.Tensor) -> np.ndarray:
        array = action.numpy()
        if self.bounds is None:
            return array
        return np.clip(array, *self.bounds)


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, last: torch.Tensor,
        gamma: float, lam: float) -> torch.Tensor:  # fmt: skip
    """Generalised advantage estimates ``[T, N]``; ``dones[t]`` ends the episode after step t.

    >>> gae(torch.ones(2, 1), torch.zeros(2, 1), torch.zeros(2, 1), torch.zeros(1), 1.0, 1.0)
    tensor([[2.],
            [1.]])
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last)
    following = last
    for t in reversed(range(len(rewards))):
        alive = 1.0 - dones[t]
        delta = rewards[t] + gamma * following * alive - values[t]
        running = delta + gamma * lam * alive * running
        advantages[t] = running
        following = values[t]
    return advantages


class PPOTrainer(Trainer):
    """The engine with PPO's step: ``update_epochs`` shuffled passes of minibatch updates of the
    clipped surrogate, the value loss and the entropy bonus over each rollout."""

    # not yet under DDP: an environment loop: the rollouts are this process's own
    data_parallel = False

    def __init__(self, model: ActorCritic, ppo: PPOConfig, evaluator: Any, **options: Any):
        super().__init__(model, nn.functional.mse_loss, engine_config(ppo, options, "cosine"))
        self.ppo = ppo
        self.evaluator = evaluator
        self.progress_keys = ("train_return", "env_steps", "steps_per_s")

    def train_step(self, batch: tuple[torch.Tensor, ...]) -> dict[str, Any]:
        obs, actions, old_logp, advantages, returns, old_values = batch
        c, n = self.ppo, len(obs)
        sums = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "approx_kl": 0.0,
                "clip_fraction": 0.0}  # fmt: skip
        updates = 0
        for _ in range(c.update_epochs):
            order = torch.randperm(n, generator=self._generator)
            for start in range(0, n, c.minibatch_size):
                i = order[start : start + c.minibatch_size]
                stats = self._update(obs[i], actions[i], old_logp[i], advantages[i], returns[i])
                for k, v in stats.items():
                    sums[k] += v
                updates += 1
            if c.target_kl is not None and sums["approx_kl"] / updates > c.target_kl:
                break
        out = {k: v / updates for k, v in sums.items()}
        explained = 1.0 - float((returns - old_values).var() / returns.var().clamp_min(1e-8))
        return {"loss": out["policy_loss"] + c.value_coef * out["value_loss"], **out,
                "explained_variance": explained}  # fmt: skip

    def _update(self, obs, actions, old_logp, advantages, returns) -> dict[str, float]:
        c = self.ppo
        dist, value = self.model.policy(obs)
        logp = dist.log_prob(actions)
        ratio = (logp - old_logp).exp()
        adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - c.clip, 1 + c.clip) * adv).mean()
        value_loss = 0.5 * (value - returns).pow(2).mean()
        entropy = dist.entropy().mean()
        loss = policy_loss + c.value_coef * value_loss - c.entropy_coef * entropy
        self.backward_step(loss)
        with torch.no_grad():
            log_ratio = logp - old_logp
            kl = ((ratio - 1) - log_ratio).mean().item()
            clipped = ((ratio - 1).abs() > c.clip).float().mean().item()
        return {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
                "entropy": entropy.item(), "approx_kl": kl, "clip_fraction": clipped}  # fmt: skip

    def evaluate(self, data: Any) -> dict[str, float]:
        return self.evaluator(self, {})


def deterministic_actions(model: ActorCritic, low: Any = None, high: Any = None) -> Any:
    """The served policy: the most likely action, or the Gaussian's mean clipped to bounds."""

    def act(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = model(torch.from_numpy(obs).to(next(model.parameters()).device)).cpu()
        if model.config.discrete:
            return out.argmax(-1).numpy()
        return np.clip(out.numpy(), low, high)

    return act
