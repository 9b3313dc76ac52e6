"""DQN on the one engine: double DQN with a target network, a replay buffer of tensors and a
linearly decaying epsilon-greedy policy.

The engine's data is an :class:`ExperienceStream`: each epoch it steps the environments for
``steps_per_epoch`` steps, storing transitions, and after ``learning_starts`` yields a
minibatch from the buffer every ``train_every`` steps. :class:`DQNTrainer` overrides
``train_step`` (the double-DQN Huber loss, then the target update) and ``evaluate`` (greedy
episodes on separate environments), so checkpoints, the progress bar, best-epoch restore and
the history are the engine's.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from layerwise.engine.trainer import Trainer
from layerwise.models.q_network import QNetwork, QNetworkConfig
from layerwise.tasks.reinforcement_learning.trainer_config import engine_config


@dataclass
class DQNConfig:
    """DQN's options. The defaults are RL Baselines3 Zoo's tuned CartPole-v1 setting (bursts of
    128 gradient steps after every 256 environment steps, the target copied before each burst),
    with a 64x64 network: as good as 256x256 on CartPole here and 1.5x faster."""

    lr: float = 2.3e-3
    batch_size: int = 64
    gamma: float = 0.99
    buffer_size: int = 100_000
    learning_starts: int = 1_000
    train_every: int = 256  # environment steps between bursts of gradient steps ...
    gradient_steps: int = 128  # ... and how many in a burst
    target_update: int = 128  # gradient steps between copies into the target network
    exploration_fraction: float = 0.16  # of the step budget over which epsilon decays
    epsilon_start: float = 1.0
    epsilon_end: float = 0.04
    n_envs: int = 1
    hidden: tuple[int, ...] = (64, 64)
    clip_grad_norm: float = 10.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hidden": list(self.hidden)}


class DQNAgent(nn.Module):
    """The online Q-network (``forward``) and its target copy, saved together in checkpoints."""

    def __init__(self, config: QNetworkConfig):
        super().__init__()
        self.online = QNetwork(config)
        self.target = QNetwork(config)
        self.target.load_state_dict(self.online.state_dict())
        self.target.requires_grad_(False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.online(obs)


class ReplayBuffer:
    """A ring buffer of transitions in preallocated tensors; ``sample`` draws uniformly."""

    def __init__(self, capacity: int, obs_size: int, action_shape: tuple[int, ...], discrete: bool):
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.obs = torch.zeros(capacity, obs_size)
        self.next_obs = torch.zeros(capacity, obs_size)
        dtype = torch.int64 if discrete else torch.float32
        self.actions = torch.zeros((capacity, *action_shape), dtype=dtype)
        self.rewards = torch.zeros(capacity)
        self.dones = torch.zeros(capacity)

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
            next_obs: np.ndarray, dones: np.ndarray) -> None:  # fmt: skip
        for i in range(len(obs)):
            p = self.pos
            self.obs[p] = torch.from_numpy(obs[i])
            self.next_obs[p] = torch.from_numpy(next_obs[i])
            self.actions[p] = torch.as_tensor(actions[i])
            self.rewards[p] = float(rewards[i])
            self.dones[p] = float(dones[i])
            self.pos = (p + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        index = torch.randint(0, self.size, (n,), generator=generator)
        return (self.obs[index], self.actions[index], self.rewards[index],
                self.next_obs[index], self.dones[index])  # fmt: skip


class ExperienceStream:
    """One epoch of acting and learning: steps the environments epsilon-greedily, stores the
    transitions, and yields replay minibatches; stops at the step budget or ``deadline``."""

    def __init__(self, stepper: Any, agent: DQNAgent, config: DQNConfig, total_steps: int,
                 steps_per_epoch: int, seed: int):  # fmt: skip
        self.stepper, self.agent, self.config = stepper, agent, config
        self.total, self.per_epoch = total_steps, steps_per_epoch
        info_size = agent.online.config.obs_size
        self.buffer = ReplayBuffer(min(config.buffer_size, total_steps), info_size, (), True)
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.deadline: float | None = None
        self.boundary = 0

    def __len__(self) -> int:
        c = self.config
        return max(1, self.per_epoch * c.gradient_steps // c.train_every)

    def epsilon(self) -> float:
        c = self.config
        span = max(1.0, c.exploration_fraction * self.total)
        fraction = min(1.0, self.stepper.steps / span)
        return c.epsilon_start + fraction * (c.epsilon_end - c.epsilon_start)

    def _act(self, obs: np.ndarray) -> np.ndarray:
        n_actions = self.agent.online.config.n_actions
        explore = self.rng.random(len(obs)) < self.epsilon()
        actions = self.rng.integers(0, n_actions, size=len(obs))
        if not explore.all():
            with torch.no_grad():
                device = next(self.agent.parameters()).device
                greedy = self.agent.online(torch.from_numpy(obs).to(device)).argmax(-1).cpu()
                greedy = greedy.numpy()
            actions = np.where(explore, actions, greedy)
        return actions

    def __iter__(self):
        c, stepper = self.config, self.stepper
        self.boundary = min(self.total, self.boundary + self.per_epoch)
        yielded = False
        while stepper.steps < self.total and (stepper.steps < self.boundary or not yielded):
            if self.deadline is not None and time.perf_counter() > self.deadline:
                return
            obs = stepper.obs
            actions = self._act(obs)
            following, rewards, terminated, _ = stepper.step(actions)
            self.buffer.add(obs, actions, rewards, following, terminated)
            if stepper.steps >= c.learning_starts and stepper.steps % c.train_every < stepper.n:
                for _ in range(c.gradient_steps):
                    yielded = True
                    yield self.buffer.sample(c.batch_size, self.generator)


class DQNTrainer(Trainer):
    """The engine with DQN's step: the Huber loss of the online Q-value against
    ``r + gamma * Q_target(s', argmax_a Q_online(s', a))``, and a hard target copy every
    ``target_update`` gradient steps."""

    # not yet under DDP: an environment loop: the replay buffer is this process's own
    data_parallel = False

    def __init__(
        self, agent: DQNAgent, dqn: DQNConfig, evaluator: Any, stream: Any, **options: Any
    ):
        super().__init__(
            agent, nn.functional.smooth_l1_loss, engine_config(dqn, options, "constant")
        )
        self.dqn = dqn
        self.evaluator, self.stream = evaluator, stream
        self.updates = 0
        self.progress_keys = ("train_return", "env_steps", "steps_per_s")

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.online.parameters(), lr=self.config.lr, foreach=True)

    def train_step(self, batch: tuple[torch.Tensor, ...]) -> dict[str, Any]:
        obs, actions, rewards, next_obs, dones = batch
        agent = self.model
        q = agent.online(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            best = agent.online(next_obs).argmax(1, keepdim=True)
            next_q = agent.target(next_obs).gather(1, best).squeeze(1)
            target = rewards + self.dqn.gamma * (1.0 - dones) * next_q
        loss = self.loss_fn(q, target)
        self.backward_step(loss)
        self.updates += 1
        if self.updates % self.dqn.target_update == 0:
            agent.target.load_state_dict(agent.online.state_dict())
        return {"loss": loss.detach(), "q": q.detach().mean()}

    def evaluate(self, data: Any) -> dict[str, float]:
        return self.evaluator(self, {"train_epsilon": self.stream.epsilon()})


def greedy_actions(agent: nn.Module) -> Any:
    """The deterministic policy of a Q-network: the action of the largest Q-value."""

    def act(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            device = next(agent.parameters()).device
            return agent(torch.from_numpy(obs).to(device)).argmax(-1).cpu().numpy()

    return act
