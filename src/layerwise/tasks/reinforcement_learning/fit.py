"""The reinforcement-learning run: check the options, resolve the environment, measure a random
policy, train the agent, test it on fresh seeded episodes, record it playing, write the run."""

from __future__ import annotations

from typing import Any

from layerwise.core.task import Run
from layerwise.errors import ConfigError
from layerwise.runs import folder as names

TEST_SEED_OFFSET = 500_000  # test episodes' seeds lie beyond every evaluation seed of training


def test_seed(task: Any) -> int:
    return int(task.option("seed")) + TEST_SEED_OFFSET


def check_options(task: Any) -> None:
    """ConfigErrors for step and episode counts that cannot work, before anything runs."""
    for name, least in (("steps", 1), ("eval_episodes", 1), ("test_episodes", 1)):
        value = task.option(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} {value!r} is not valid.",
                              f"Use a whole number >= {least}, e.g. {flag} "
                              f"{task.DEFAULTS[name]}.")  # fmt: skip
    every = task.option("eval_every")
    if every is not None and (not isinstance(every, int) or every < 1):
        raise ConfigError(f"--eval-every {every!r} is not valid.", "Use environment steps >= 1.")
    if task.option("resume"):
        raise ConfigError("Reinforcement-learning runs cannot resume: the environments' state "
                          "and the replay buffer are not saved.", "Train again.")  # fmt: skip


def fit_agent(task: Any, data: Any, started: float) -> Run:
    from layerwise.tasks.reinforcement_learning.env import EnvSource
    from layerwise.tasks.reinforcement_learning.outputs import (
        PLAY_GIF,
        open_rl_run,
        record_play,
        write_rl_run,
    )
    from layerwise.tasks.reinforcement_learning.rollout import random_policy, run_episodes
    from layerwise.tasks.reinforcement_learning.train import train_agent

    check_options(task)
    if data is None:
        raise ConfigError("No environment given.", "Name one, e.g. `layerwise train CartPole-v1`.")
    source = EnvSource(data, task.option("max_episode_steps"))
    task.info, task.env_spec, task.source = source.info, source.spec_string(), source
    task.algo = task.choose_algo(source.info)
    task.test_seed = test_seed(task)
    run = open_rl_run(task)  # after the checks: bad input leaves no folder behind
    episodes, seed = int(task.option("test_episodes")), test_seed(task)
    task.say(source.info.describe())
    chance = run_episodes(source, random_policy(source.info, seed), episodes, seed)
    task.say(f"  random policy: mean return {chance.summary()['mean_return']:.1f} over "
             f"{episodes} episodes")  # fmt: skip
    task.say(f"  training {task.algo.upper()} for {int(task.option('steps')):,} steps")
    trained = train_agent(task, source, task.algo, str(run.file(names.CHECKPOINTS) / task.algo))
    task.policy = trained["policy"]
    tested = run_episodes(source, task.act(), episodes, seed)
    task.say(f"  {task.algo}: mean return {tested.summary()['mean_return']:.1f} over {episodes} "
             f"fresh episodes ({trained['env_steps']:,} steps, {trained['fit_seconds']:.1f} s)")  # fmt: skip
    play = None
    if task.option("play"):
        play = record_play(task, source, str(run.file(PLAY_GIF)), 1, seed)
    return write_rl_run(task, run, chance, trained, tested, play, started)
