"""Gymnasium environments for reinforcement learning: resolve what a user names (an id, a
``module:Class``, an Env class or instance, a function that makes one), describe its spaces,
make seeded copies for training and evaluation, and run a policy for whole episodes.

Errors a user can fix are ConfigErrors: an unknown id names the closest registered ones, a
missing extra (Box2D, MuJoCo, Atari) names the pip command, and spaces layerwise cannot learn
(tuples, dicts, images) say so.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from layerwise.errors import ConfigError, DataError

MAX_OBSERVATION_SIZE = 4096  # flat observations only: an MLP on a 64x64 image is not the tool
DEFAULT_MAX_EPISODE_STEPS = 1000  # for environments without a registered time limit
EXTRAS = {"box2d": 'pip install swig "gymnasium[box2d]"', "mujoco": 'pip install "gymnasium[mujoco]"',
          "atari": 'pip install "gymnasium[atari]"', "pygame": 'pip install "layerwise[rl]"'}  # fmt: skip


def gymnasium() -> Any:
    # Frames are drawn off-screen (render_mode="rgb_array"): no window, no audio device.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import gymnasium as gym
    except ImportError as error:
        raise ConfigError(
            "Reinforcement learning needs gymnasium, which is not installed.",
            'Run: pip install "layerwise[rl]".',
        ) from error
    return gym


@dataclass
class EnvInfo:
    """What the agent needs to know about an environment: its name, flat observation size and
    bounds, action space (``n`` actions, or ``shape`` with ``low``/``high`` bounds), time limit
    and the return at which it counts as solved (from its spec; None when it has none)."""

    name: str
    obs_size: int
    obs_low: list[float]
    obs_high: list[float]
    discrete: bool
    n_actions: int  # discrete: how many actions; continuous: the action vector's length
    action_low: list[float]
    action_high: list[float]
    max_episode_steps: int
    reward_threshold: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnvInfo:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})

    def describe(self) -> str:
        actions = (f"{self.n_actions} discrete actions" if self.discrete
                   else f"continuous actions of size {self.n_actions}")  # fmt: skip
        solved = "" if self.reward_threshold is None else f", solved at {self.reward_threshold:g}"
        return (f"{self.name}: observations of {self.obs_size} values, {actions}, "
                f"episodes up to {self.max_episode_steps} steps{solved}")  # fmt: skip


class EnvSource:
    """Makes fresh, seeded copies of one environment (for vectorised training, evaluation and
    play), each flattened to a 1-D float observation and with a time limit.

    >>> source = EnvSource("CartPole-v1")  # doctest: +SKIP
    >>> source.info.n_actions, source.info.reward_threshold  # doctest: +SKIP
    (2, 475.0)
    """

    def __init__(self, spec: Any, max_episode_steps: int | None = None):
        self.spec = spec
        self.name, self._factory = _factory(spec)
        self._max_steps = max_episode_steps
        probe = self.make()
        self.info = _describe(self.name, probe, max_episode_steps)
        self.render_fps = (getattr(probe, "metadata", None) or {}).get("render_fps")
        probe.close()

    def make(self, render_mode: str | None = None) -> Any:
        """A new environment, observations flattened, with its time limit."""
        gym = gymnasium()
        env = _call(self._factory, self.name, render_mode)
        if not isinstance(env, gym.Env):
            raise ConfigError(f"{self.name} made a {type(env).__name__}, not a gymnasium.Env.",
                              "Pass an environment id, a gymnasium.Env subclass or a function "
                              "returning one.")  # fmt: skip
        _check_spaces(self.name, env)
        if not _is_flat_box(env.observation_space):
            env = gym.wrappers.FlattenObservation(env)
        limit = self._max_steps or _time_limit(env)
        if limit is None or self._max_steps is not None:
            env = gym.wrappers.TimeLimit(env, self._max_steps or DEFAULT_MAX_EPISODE_STEPS)
        return env

    def vector(self, n: int, seed: int) -> Any:
        """``n`` copies stepped together by gymnasium's vector API; a finished copy is reset in
        the same step (its last observation is in ``info["final_obs"]``)."""
        gym = gymnasium()
        envs = gym.vector.SyncVectorEnv(
            [self.make for _ in range(n)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
        )
        envs.action_space.seed(seed)
        return envs

    def spec_string(self) -> str | None:
        """How to make it again from a run folder (an id or ``module:Class``), or None for an
        object that only the user's program can make (a lambda, an instance of a local class)."""
        return self.name if _remakeable(self.spec, self.name) else None


def _factory(spec: Any) -> tuple[str, Callable[..., Any]]:
    gym = gymnasium()
    # "module:Class" imports the class; "module:Id-v0" is gymnasium's own form (it imports the
    # module, which registers the id), so it goes to gym.make like a plain id.
    if isinstance(spec, str) and ":" in spec and not re.search(r"-v\d+$", spec):
        module, _, attr = spec.partition(":")
        try:
            target = importlib.import_module(module)
            for part in attr.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError, ValueError) as error:
            raise ConfigError(f"Cannot import environment '{spec}': {error}.",
                              "Give module:Class of an importable gymnasium.Env subclass.") from error  # fmt: skip
        # Only an Env class is called: a name cannot make layerwise call any other function.
        if not (isinstance(target, type) and issubclass(target, gym.Env)):
            raise ConfigError(f"'{spec}' is not a gymnasium.Env subclass.",
                              "Give module:Class of a gymnasium.Env subclass.")  # fmt: skip
        return spec, target
    if isinstance(spec, str):
        return spec, lambda render_mode=None: _make_registered(gym, spec, render_mode)
    if isinstance(spec, gym.Env):
        registered = getattr(getattr(spec, "spec", None), "id", None)
        if registered:
            return registered, lambda render_mode=None: _make_registered(
                gym, registered, render_mode
            )
        kind = type(spec.unwrapped)
        return f"{kind.__module__}:{kind.__qualname__}", kind
    if callable(spec):
        name = getattr(spec, "__qualname__", type(spec).__name__)
        return f"{getattr(spec, '__module__', '')}:{name}", spec
    raise ConfigError(f"Cannot make an environment from a {type(spec).__name__}.",
                      "Give a Gymnasium id such as 'CartPole-v1', 'module:Class', a "
                      "gymnasium.Env subclass or a function returning an Env.")  # fmt: skip


def registered_id(spec: Any) -> bool:
    """Whether ``spec`` is a plain id in Gymnasium's registry (making it imports nothing new;
    ``module:Id-v0`` would import ``module`` first, so it is not one)."""
    return isinstance(spec, str) and ":" not in spec and spec in gymnasium().registry


def _call(factory: Callable[..., Any], name: str, render_mode: str | None) -> Any:
    try:
        return factory(render_mode=render_mode)
    except TypeError:
        if render_mode is None:
            return factory()
        env = factory()  # a class or function without render_mode: set it when it allows
        if render_mode in (getattr(env, "metadata", {}) or {}).get("render_modes", []):
            env.render_mode = render_mode
        return env


def _make_registered(gym: Any, env_id: str, render_mode: str | None) -> Any:
    try:
        return gym.make(env_id, render_mode=render_mode)
    except gym.error.DependencyNotInstalled as error:
        raise ConfigError(f"{env_id} needs a package that is not installed ({error}).",
                          f"Run: {_extra_for(str(error))}") from error  # fmt: skip
    except gym.error.Error as error:
        raise unknown_env(env_id) from error
    except ModuleNotFoundError as error:  # a registered env whose entry point cannot import
        raise ConfigError(f"{env_id} needs the module '{error.name}', which is not installed.",
                          f"Run: pip install {error.name}") from error  # fmt: skip


def _extra_for(message: str) -> str:
    low = message.lower()
    for key, command in EXTRAS.items():
        if key in low:
            return command
    return "the pip command in the message above."


def unknown_env(env_id: str) -> ConfigError:
    """An unknown id: the closest registered ids, and the other ways to name an environment."""
    import difflib

    ids = list(gymnasium().registry)
    close = difflib.get_close_matches(env_id, ids, n=3, cutoff=0.5)
    if not close:
        base = env_id.split("-v")[0].lower()
        close = [i for i in ids if i.split("-v")[0].lower() == base][:3]
    hint = (f"Did you mean {', '.join(repr(c) for c in close)}? " if close else "") + (
        "Give a registered id (e.g. 'CartPole-v1', 'Acrobot-v1', 'Pendulum-v1') or "
        "'module:Class' of your own gymnasium.Env.")  # fmt: skip
    return ConfigError(f"Unknown environment '{env_id}'.", hint)


def _is_flat_box(space: Any) -> bool:
    gym = gymnasium()
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 1


def _check_spaces(name: str, env: Any) -> None:
    gym = gymnasium()
    spaces = gym.spaces
    action = env.action_space
    if not isinstance(action, spaces.Discrete) and not (
        isinstance(action, spaces.Box) and len(action.shape) == 1
    ):
        raise ConfigError(f"{name} has a {type(action).__name__} action space.",
                          "layerwise's agents take Discrete actions (DQN, PPO) or a 1-D Box "
                          "of continuous actions (PPO).")  # fmt: skip
    try:
        size = spaces.flatdim(env.observation_space)
    except (ValueError, NotImplementedError) as error:
        raise ConfigError(f"{name}'s observation space {env.observation_space} cannot be "
                          "flattened.", "Give an environment with Box or Discrete "
                          "observations.") from error  # fmt: skip
    if size > MAX_OBSERVATION_SIZE:
        raise ConfigError(f"{name} observes {size} values at a time (images?).",
                          f"layerwise's agents are MLPs on up to {MAX_OBSERVATION_SIZE} values; "
                          "wrap the environment to give features.")  # fmt: skip


def _time_limit(env: Any) -> int | None:
    spec = getattr(env, "spec", None)
    return getattr(spec, "max_episode_steps", None) if spec is not None else None


def _describe(name: str, env: Any, max_steps: int | None) -> EnvInfo:
    obs, action = env.observation_space, env.action_space
    discrete = not hasattr(action, "low")
    spec = getattr(env, "spec", None)
    threshold = getattr(spec, "reward_threshold", None)
    return EnvInfo(
        name=name, obs_size=int(obs.shape[0]),
        obs_low=np.asarray(obs.low, np.float64).tolist(), obs_high=np.asarray(obs.high, np.float64).tolist(),
        discrete=discrete, n_actions=int(action.n) if discrete else int(action.shape[0]),
        action_low=[] if discrete else np.asarray(action.low, np.float64).tolist(),
        action_high=[] if discrete else np.asarray(action.high, np.float64).tolist(),
        max_episode_steps=int(max_steps or _time_limit(env) or DEFAULT_MAX_EPISODE_STEPS),
        reward_threshold=None if threshold is None else float(threshold),
    )  # fmt: skip


def _remakeable(spec: Any, name: str) -> bool:
    if isinstance(spec, str):
        return True
    module, _, attr = name.partition(":")
    if not attr or "<" in attr or module in ("__main__", ""):
        return False
    try:
        target = importlib.import_module(module)
        for part in attr.split("."):
            target = getattr(target, part)
        return True
    except (ImportError, AttributeError):
        return False


def parse_observations(inputs: Any, info: EnvInfo) -> np.ndarray:
    """Observations as float32 ``[n, obs_size]`` from one observation (a list, an array or its
    text like "[0.1, 0.2, 0.0, 0.1]"), several (a 2-D array or list of lists) or a table
    whose numeric columns are the observation's values; a DataError names a wrong size."""
    import json

    import pandas as pd

    if isinstance(inputs, str):
        try:
            inputs = json.loads(inputs)
        except json.JSONDecodeError as error:
            raise DataError(f"Cannot read the observation {inputs[:60]!r} as a list of numbers.",
                            'Write it as JSON, e.g. "[0.01, 0.2, -0.03, 0.1]".') from error  # fmt: skip
    if isinstance(inputs, pd.DataFrame):
        inputs = inputs.select_dtypes("number").to_numpy()
    try:
        array = np.asarray(inputs, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise DataError("The observation is not a list of numbers.",
                        f"Give {info.obs_size} numbers per observation.") from error  # fmt: skip
    if array.ndim <= 1:
        array = array.reshape(1, -1)
    array = array.reshape(len(array), -1)
    if array.shape[1] != info.obs_size:
        raise DataError(f"An observation of {array.shape[1]} values was given; {info.name} "
                        f"observes {info.obs_size}.", f"Give {info.obs_size} numbers per "
                        "observation.")  # fmt: skip
    if not np.isfinite(array).all():
        raise DataError("The observation holds NaN or infinite values.", "Give finite numbers.")
    return array
