"""Running a policy in environments: the training stepper over a vector of environments (with
the episode log the report draws), and whole evaluation episodes on separate, seeded copies
(deterministic for a seed), including the random-policy baseline and recorded frames for play.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Act = Callable[[np.ndarray], np.ndarray]  # observations [k, obs_size] -> actions [k] or [k, d]
EVAL_SEED_OFFSET = 1_000_003  # evaluation episodes never reuse a training episode's seed


@dataclass
class EpisodeLog:
    """Finished training episodes: the environment steps when each ended, its return, length."""

    steps: list[int] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def add(self, step: int, ret: float, length: int) -> None:
        self.steps.append(int(step))
        self.returns.append(float(ret))
        self.lengths.append(int(length))

    def summary(self, start: int) -> dict[str, float]:
        """Mean and spread of the episodes from index ``start`` on (NaN when none ended)."""
        r, n = np.asarray(self.returns[start:]), np.asarray(self.lengths[start:])
        if len(r) == 0:
            nan = float("nan")
            return {"episodes": 0, "return": nan, "return_std": nan, "length": nan}
        return {"episodes": len(r), "return": float(r.mean()), "return_std": float(r.std()),
                "length": float(n.mean())}  # fmt: skip

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame({"episode": np.arange(1, len(self.steps) + 1), "env_steps": self.steps,
                             "return": self.returns, "length": self.lengths})  # fmt: skip


class VectorStepper:
    """Steps a gymnasium vector environment (same-step autoreset), counting environment steps,
    logging finished episodes, and giving each step's true next observation (the final one
    of an episode that just ended, for bootstrapping a value when it was cut by a time limit)."""

    def __init__(self, envs: Any, seed: int):
        self.envs = envs
        self.n = envs.num_envs
        self.obs, _ = envs.reset(seed=seed)
        self.obs = np.asarray(self.obs, np.float32)
        self.steps = 0
        self.log = EpisodeLog()
        self._return = np.zeros(self.n)
        self._length = np.zeros(self.n, np.int64)
        self.started = time.perf_counter()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """(next observations as stepped from, rewards, terminated, truncated); ``self.obs``
        becomes the observations to act on next (reset ones where an episode ended)."""
        obs, rewards, terminated, truncated, info = self.envs.step(actions)
        obs = np.asarray(obs, np.float32)
        following = obs.copy()
        if "_final_obs" in info:
            for i in np.flatnonzero(info["_final_obs"]):
                following[i] = np.asarray(info["final_obs"][i], np.float32)
        rewards = np.asarray(rewards, np.float64)
        self.steps += self.n
        self._return += rewards
        self._length += 1
        for i in np.flatnonzero(np.logical_or(terminated, truncated)):
            self.log.add(self.steps, self._return[i], self._length[i])
            self._return[i], self._length[i] = 0.0, 0
        self.obs = obs
        return following, rewards, np.asarray(terminated), np.asarray(truncated)

    def close(self) -> None:
        self.envs.close()


@dataclass
class Episodes:
    """The returns and lengths of evaluation episodes, and recorded frames when asked."""

    returns: np.ndarray
    lengths: np.ndarray
    frames: list[np.ndarray] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return {"mean_return": float(self.returns.mean()), "std_return": float(self.returns.std()),
                "episodes": len(self.returns), "mean_length": float(self.lengths.mean())}  # fmt: skip


def run_episodes(source: Any, act: Act, episodes: int, seed: int, parallel: int = 16,
                 record: bool = False) -> Episodes:  # fmt: skip
    """``episodes`` whole episodes on fresh copies of the environment, ``parallel`` at a time
    with one batched call of ``act`` per step. Each copy plays a fixed share of the episodes
    (so short episodes are not over-represented), episode ``i`` reset with seed
    ``seed + EVAL_SEED_OFFSET + i``. ``record``: one copy, rgb frames of the first episode."""
    k = 1 if record else max(1, min(parallel, episodes))
    envs = [source.make(render_mode="rgb_array" if record else None) for _ in range(k)]
    quota = [episodes // k + (i < episodes % k) for i in range(k)]
    next_index = list(range(k))  # the episode number each copy plays next
    base = seed + EVAL_SEED_OFFSET
    obs = [np.asarray(env.reset(seed=base + i)[0], np.float32) for i, env in enumerate(envs)]
    played = [0] * k
    ret, length = np.zeros(k), np.zeros(k, np.int64)
    returns, lengths, frames = [], [], []
    if record:
        frames.append(_frame(envs[0]))
    active = [i for i in range(k) if quota[i] > 0]
    while active:
        actions = act(np.stack([obs[i] for i in active]))
        for j, i in enumerate(active):
            o, r, terminated, truncated, _ = envs[i].step(_one(actions[j]))
            obs[i] = np.asarray(o, np.float32)
            ret[i] += float(r)
            length[i] += 1
            if record and not returns:
                frames.append(_frame(envs[i]))
            if terminated or truncated:
                returns.append(ret[i])
                lengths.append(length[i])
                played[i] += 1
                ret[i], length[i] = 0.0, 0
                next_index[i] += k
                if played[i] < quota[i]:
                    obs[i] = np.asarray(envs[i].reset(seed=base + next_index[i])[0], np.float32)
        active = [i for i in active if played[i] < quota[i]]
    for env in envs:
        env.close()
    return Episodes(np.asarray(returns, np.float64), np.asarray(lengths, np.int64),
                    [f for f in frames if f is not None])  # fmt: skip


def _one(action: Any) -> Any:
    array = np.asarray(action)
    return int(array) if array.ndim == 0 and array.dtype.kind in "iu" else array


def _frame(env: Any) -> np.ndarray | None:
    try:
        frame = env.render()
    except Exception:  # rendering needs extras (pygame); play without frames rather than fail
        return None
    return None if frame is None else np.asarray(frame, np.uint8)


def random_policy(info: Any, seed: int) -> Act:
    """Uniformly random actions within the action space, from a seeded generator."""
    rng = np.random.default_rng(seed)
    if info.discrete:
        return lambda obs: rng.integers(0, info.n_actions, size=len(obs))
    low, high = np.asarray(info.action_low), np.asarray(info.action_high)
    low, high = np.where(np.isfinite(low), low, -1.0), np.where(np.isfinite(high), high, 1.0)
    return lambda obs: rng.uniform(low, high, size=(len(obs), len(low))).astype(np.float32)
