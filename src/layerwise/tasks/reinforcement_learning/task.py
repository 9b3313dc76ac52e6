"""reinforcement-learning: an agent that plays a Gymnasium environment, beside a random policy.

The environment is a registered id ("CartPole-v1"), ``module:Class`` of the user's own
``gymnasium.Env``, an Env class or instance, or a function returning one. PPO (clipped
objective, GAE, vectorised environments, observation normalisation; a categorical or a
Gaussian policy) learns discrete and continuous actions; DQN (double, target network, replay
of tensors, epsilon-greedy) learns discrete ones. Both train by the one engine with their
``train_step`` overridden; after each chunk of the step budget the deterministic policy plays
evaluation episodes on separate environments and the best chunk's weights are kept. The test
figure is the mean return over fresh episodes with seeds training never saw, beside a random
policy's on the same seeds, and "solved" uses the environment's own threshold when it has one.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.core.task import RUN_DEFAULTS, Run, Task
from layerwise.errors import ConfigError, DataError
from layerwise.runs.folder import RunFolder

DEFAULTS: dict[str, Any] = {
    **RUN_DEFAULTS,  # time_limit: stop training early (None: the step budget decides)
    "algo": None,  # "ppo" or "dqn"; None: PPO (the only one for continuous actions)
    "steps": 100_000,  # environment steps to train for
    "eval_every": None,  # environment steps between evaluations; None: a twentieth of steps
    "eval_episodes": 20,  # episodes per evaluation during training
    "test_episodes": 100,  # fresh episodes for the test figure and the random baseline
    "max_episode_steps": None,  # None: the environment's own limit (1000 when it has none)
    "play": True,  # record one test episode as play.gif
}
ALGOS = ("ppo", "dqn")


class ReinforcementLearning(Task):
    """Train an agent on a Gymnasium environment and serve its deterministic policy.

    >>> ReinforcementLearning(algo="dqn", steps=50_000).option("steps")
    50000
    """

    name: ClassVar[str] = "reinforcement-learning"
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    description: ClassVar[str] = "Play games and control systems; PPO and DQN vs a random policy"
    request_kind: ClassVar[str | None] = "observations"  # served: see layerwise.serve.requests
    joinable_requests: ClassVar[bool] = True

    # layerwise predict --observation (one observation, in DATA's place); layerwise evaluate
    # --episodes and --seed, DATA (an environment) left out for the one it trained on
    predict_options: ClassVar[tuple[str, ...]] = ("observation",)
    evaluate_options: ClassVar[tuple[str, ...]] = ("episodes", "seed")
    data_optional: ClassVar[tuple[str, ...]] = ("evaluate",)

    def command_line_input(self, data: str) -> Any:
        """A CSV/Parquet of observations when DATA is a file, else the observation's text."""
        from pathlib import Path

        if Path(data).is_file():
            from layerwise.data.tabular import read_table

            return read_table(data)
        return data

    def training_summary(self, run: Run) -> list[Any]:
        from layerwise.tasks.reinforcement_learning.cli import training_summary

        return training_summary(run)

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.reinforcement_learning.cli import cartpole

        return cartpole(folder)

    def __init__(self, **options: Any):
        self.check_option_names(options)
        super().__init__(**options)
        self.policy: Any = None  # the served network: a QNetwork (DQN) or an ActorCritic (PPO)
        self.algo: str | None = None
        self.info: Any = None  # the EnvInfo of the environment
        self.env_spec: str | None = None  # how to make the environment again, if it can be
        self.source: Any = None  # an EnvSource, made when an environment is needed
        self.target = None  # config.yaml's field
        self.test_seed: int | None = None  # the seed of the run's test episodes

    @property
    def chosen(self) -> str | None:
        return self.algo

    def fit(self, data: Any, target: str | None = None, **options: Any) -> Run:
        """Train on the environment ``data`` names; write the run folder."""
        from layerwise.tasks.reinforcement_learning.fit import fit_agent

        self.check_option_names(options)
        self.options = {**self.options, **options}
        return fit_agent(self, data, time.perf_counter())

    def choose_algo(self, info: Any) -> str:
        """The ``algo`` option, checked against the action space, or PPO."""
        asked = self.option("algo")
        if asked is None:
            return "ppo"
        algo = str(asked).lower()
        if algo not in ALGOS:
            from layerwise.errors import closest

            hint = closest(algo, ALGOS)
            raise ConfigError(f"--algo {asked!r} is not known.",
                              (f"Did you mean {hint!r}? " if hint else "") + "Use ppo or dqn.")  # fmt: skip
        if algo == "dqn" and not info.discrete:
            raise ConfigError(f"DQN needs discrete actions; {info.name} has continuous ones.",
                              "Use --algo ppo (the default).")  # fmt: skip
        return algo

    # ---- acting ------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.policy is None:
            raise DataError("This agent is not trained.", "Call fit() or load a run folder.")

    def act(self) -> Any:
        """The deterministic policy as a function of observations ``[n, obs_size]``."""
        from layerwise.tasks.reinforcement_learning.dqn_train import greedy_actions
        from layerwise.tasks.reinforcement_learning.ppo_train import deterministic_actions

        self._require_fitted()
        if self.algo == "dqn":
            return greedy_actions(self.policy)
        low, high = (np.asarray(self.info.action_low, np.float32),
                     np.asarray(self.info.action_high, np.float32))  # fmt: skip
        return deterministic_actions(self.policy, low, high)

    def predict(self, inputs: Any) -> pd.DataFrame:
        """The action for each observation: one observation (a list or its JSON text), several
        (a 2-D array) or a table of numeric columns. Discrete actions come with each action's
        probability (PPO) or Q-value (DQN); continuous ones as ``action_<i>`` columns."""
        import torch

        from layerwise.tasks.reinforcement_learning.env import parse_observations

        self._require_fitted()
        obs = parse_observations(inputs, self.info)
        with torch.no_grad():
            out = self.policy(torch.from_numpy(obs))
        if not self.info.discrete:
            low, high = np.asarray(self.info.action_low), np.asarray(self.info.action_high)
            actions = np.clip(out.numpy(), low, high)
            return pd.DataFrame({f"action_{i}": actions[:, i] for i in range(actions.shape[1])})
        frame = pd.DataFrame({"action": out.argmax(-1).numpy()})
        values = torch.softmax(out, -1) if self.algo == "ppo" else out
        prefix = "probability" if self.algo == "ppo" else "q"
        for i in range(self.info.n_actions):
            frame[f"{prefix}_{i}"] = values[:, i].numpy()
        return frame

    def prediction_rows(self, inputs: Any) -> int:
        from layerwise.tasks.reinforcement_learning.env import parse_observations

        return len(parse_observations(inputs, self.info))

    def environment(self, env: Any = None) -> Any:
        """The EnvSource to play in: ``env`` when given, else the one the agent trained on.

        The stored name of the training environment comes from the run folder, which may have
        been sent by anyone: it is made again only when it is a registered Gymnasium id. A
        ``module:Class`` is imported only when the user names it (``env``) themselves."""
        from layerwise.tasks.reinforcement_learning.env import EnvSource, registered_id

        if env is None and self.source is not None:
            return self.source
        if env is None:
            if self.env_spec is None:
                raise ConfigError(f"This agent trained on {self.info.name}, which only your "
                                  "program can make.", "Pass the environment: "
                                  "task.evaluate(env=...).")  # fmt: skip
            if not registered_id(self.env_spec):
                raise ConfigError(
                    f"This agent trained on '{self.env_spec}', which is not a registered "
                    "Gymnasium id: layerwise does not import code that a run folder names.",
                    f"If you trust that module, name it yourself: layerwise evaluate <run> "
                    f"{self.env_spec} (or play --env {self.env_spec}).",
                )
            self.source = EnvSource(self.env_spec, self.option("max_episode_steps"))
            return self.source
        source = EnvSource(env, self.option("max_episode_steps"))
        if (
            source.info.obs_size != self.info.obs_size
            or source.info.n_actions != self.info.n_actions
        ):
            raise DataError(f"{source.name} observes {source.info.obs_size} values and has "
                            f"{source.info.n_actions} actions; this agent was trained on "
                            f"{self.info.describe()}.", "Evaluate on the environment it "
                            "trained on.")  # fmt: skip
        if isinstance(env, str) and env == self.env_spec:
            self.source = source  # the user confirmed the stored one: keep it for later calls
        return source

    def evaluate(self, data: Any = None, episodes: int | None = None,
                 seed: int | None = None) -> dict[str, Any]:  # fmt: skip
        """Mean and spread of the return over ``episodes`` deterministic episodes (default: the
        run's test_episodes) of ``data`` (an environment; default: the one it trained on), and
        a random policy's on the same seeds (default: the run's test seeds, so the run's test
        figure is reproduced)."""
        from layerwise.tasks.reinforcement_learning.rollout import random_policy, run_episodes

        self._require_fitted()
        n = int(episodes or self.option("test_episodes"))
        if n < 1:
            raise ConfigError(f"--episodes {n} is not valid.", "Play 1 episode or more.")
        source = self.environment(data)
        seed = int(self.test_seed or 0) if seed is None else int(seed)
        played = run_episodes(source, self.act(), n, seed).summary()
        chance = run_episodes(source, random_policy(self.info, seed), n, seed).summary()
        threshold = self.info.reward_threshold
        return {**played, "rows": n, "random_mean_return": chance["mean_return"],
                "above_random": played["mean_return"] - chance["mean_return"],
                "reward_threshold": threshold,
                "solved": None if threshold is None else played["mean_return"] >= threshold}  # fmt: skip

    def evaluation_rows(self, data: Any) -> int:
        return int(self.option("test_episodes"))

    def play(
        self, output: str, episodes: int = 1, seed: int = 0, env: Any = None
    ) -> dict[str, Any]:
        """Record ``episodes`` deterministic episodes as one animated GIF at ``output``."""
        from layerwise.tasks.reinforcement_learning.outputs import record_play

        self._require_fitted()
        return record_play(self, self.environment(env), output, episodes, seed)

    def onnx_module(self) -> tuple[Any, tuple, list[str], list[str]]:
        """For ``layerwise export``: the policy network on raw observations (normalisation
        inside the graph), giving logits (PPO), Q-values (DQN) or the Gaussian's mean."""
        import torch

        self._require_fitted()
        example = (torch.zeros(4, self.info.obs_size),)
        return self.policy.eval(), example, ["observation"], [self._onnx_output()]

    def _onnx_output(self) -> str:
        if not self.info.discrete:
            return "action_mean"
        return "logits" if self.algo == "ppo" else "q_values"

    def onnx_description(self) -> tuple[list[dict], dict, str]:
        info, name = self.info, self._onnx_output()
        inputs = [{"name": "observation", "dtype": "float32", "shape": ["batch", info.obs_size],
                   "encoding": f"the raw observation of {info.name}, flattened"}]  # fmt: skip
        meaning = {"logits": "the policy's action logits: act with argmax",
                   "q_values": "one Q-value per action: act with argmax",
                   "action_mean": "the deterministic action: clip it to "
                   f"[{info.action_low}, {info.action_high}]"}[name]  # fmt: skip
        size = info.n_actions
        return inputs, {"name": name, "dtype": "float32", "shape": ["batch", size],
                        "meaning": meaning}, self.algo  # fmt: skip

    # ---- schema, load, contract ------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        info = self.info
        return {"kind": "observation", "size": info.obs_size, "low": info.obs_low,
                "high": info.obs_high, "environment": info.name}  # fmt: skip

    def output_schema(self) -> dict[str, Any]:
        info = self.info
        if not info.discrete:
            fields = {f"action_{i}": f"float in [{lo:g}, {hi:g}]"
                      for i, (lo, hi) in enumerate(zip(info.action_low, info.action_high, strict=True))}  # fmt: skip
            return {"kind": "action", "discrete": False, "fields": fields}
        return {"kind": "action", "discrete": True, "n_actions": info.n_actions,
                "fields": {"action": f"int in 0..{info.n_actions - 1}"}}  # fmt: skip

    @classmethod
    def load(cls, run: RunFolder) -> ReinforcementLearning:
        from layerwise.tasks.reinforcement_learning.outputs import restore

        return restore(cls, run)

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.tasks.reinforcement_learning.report import SECTIONS

        return SECTIONS

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        options = {"steps": 512, "eval_every": 256, "eval_episodes": 2, "test_episodes": 3,
                   "play": False, "candidate_params": {"ppo": {"n_envs": 2, "n_steps": 64}}}  # fmt: skip
        return "CartPole-v1", options, [[0.0, 0.1, 0.02, -0.1], [0.1, -0.2, 0.0, 0.3]]
