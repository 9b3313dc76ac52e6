"""What reinforcement learning adds to the ``layerwise`` command: its ``train`` options, its
demo and the lines printed after training. Read at the command's start-up: nothing heavy at the
top (see core.cli_spec)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from layerwise.core.cli_spec import CommandLine, Demo, TrainOption

ENV_ID = re.compile(r"^([\w.-]+/)?[A-Za-z][\w.-]*-v\d+$")  # Gymnasium ids: CartPole-v1, ALE/Pong-v5
ENV_CLASS = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")  # module:Class


def looks_like_environment(data: Any) -> bool:
    """True for a Gymnasium id or ``module:Class`` that is not a file, or a gymnasium Env
    (instance or class)."""
    if isinstance(data, str):
        return not Path(data).exists() and bool(ENV_ID.match(data) or ENV_CLASS.match(data))
    kind = data if isinstance(data, type) else type(data)
    return any(c.__module__.startswith("gymnasium") and c.__name__ == "Env" for c in kind.__mro__)


COMMAND_LINE = CommandLine(
    recognises=looks_like_environment,
    panel="Reinforcement learning",
    train_options=(
        TrainOption("--algo", "algo", str, "Reinforcement learning: ppo or dqn [ppo]."),
        TrainOption("--steps", "steps", int,
                    "Reinforcement learning: environment steps to train for [100000]."),
    ),
)  # fmt: skip


def cartpole(folder: Path) -> Demo:
    """The demo: Gymnasium's CartPole (nothing to write; PPO balances it within ~20k steps)."""
    return Demo("CartPole-v1", None, "CartPole-v1 (Gymnasium): balance a pole on a moving cart",
                options={"steps": 50_000})  # fmt: skip


def training_summary(run: Any) -> list[Any]:
    """The agent's and a random policy's mean return, solved or not, then the next commands."""
    metrics = run.metrics
    test, chance = metrics["test"], metrics["candidates"]["random"]["test"]
    agent = metrics["candidates"][metrics["chosen"]]
    lines: list[Any] = [
        f"Mean return over {test['episodes']} fresh episodes of {metrics['env']}:",
        f"  {metrics['chosen'] + ' *':<8} {test['mean_return']:.1f} ± {test['std_return']:.1f} "
        f"({agent['env_steps']:,} steps, {agent['fit_seconds']:.0f} s)",
        f"  {'random':<8} {chance['mean_return']:.1f} ± {chance['std_return']:.1f}",
    ]
    if metrics.get("reward_threshold") is not None:
        verdict = "solved" if test["solved"] else "not solved"
        threshold = metrics["reward_threshold"]
        lines.append(f"  {verdict} (the environment's threshold is {threshold:g})")
    lines += [f"Run folder: {run.path}", "Next:",
              f"  layerwise play {run.path} --episodes 3 -o play.gif",
              f"  layerwise evaluate {run.path} --episodes 100"]  # fmt: skip
    if run.report is not None:
        lines.append(f"  open {run.report}")
    return lines
