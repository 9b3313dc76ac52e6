"""Write a reinforcement-learning run folder, load it back, and record the agent playing.

Files: ``model.safetensors`` (the policy network, with its observation statistics),
``preprocess.json`` (the environment, its spaces, the algorithm and architecture),
``history.csv`` (per evaluation: steps, returns, losses), ``episodes.csv`` (every training
episode's return and length), ``play.gif`` and ``play.json`` (one test episode), metrics,
decision and report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from layerwise.core.bakeoff import bakeoff_metrics, decision_page
from layerwise.core.task import Run
from layerwise.errors import ConfigError
from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.runs.writer import StandardFiles, finish_run, task_schema

EPISODES = "episodes.csv"
PLAY_JSON = "play.json"
PLAY_GIF = "play.gif"
KEPT_OPTIONS = ("seed", "max_episode_steps", "test_episodes")


def open_rl_run(task: Any) -> RunFolder:
    from layerwise.core.task import track_run

    run = RunFolder.create(task.option("output_dir"), task.name)
    track_run(task, run.path, created=True, resumable=False)  # its environments cannot resume
    data = task.env_spec or f"<your program's {task.info.name}>"
    options = {k: v for k, v in task.options.items() if k not in ("resume",)}
    run.write_yaml(names.CONFIG, {"task": task.name, "data": data, "target": None,
                                  "options": options})  # fmt: skip
    return run


def record_play(task: Any, source: Any, output: str, episodes: int, seed: int) -> dict[str, Any]:
    """Play ``episodes`` deterministic episodes with frames and write them as one GIF."""
    from layerwise.runs.animation import save_gif
    from layerwise.tasks.reinforcement_learning.rollout import run_episodes

    if Path(output).suffix.lower() != ".gif":
        raise ConfigError(f"-o {output} is not a .gif file.", "Name the output like play.gif.")
    if not isinstance(episodes, int) or episodes < 1:
        raise ConfigError(f"--episodes {episodes!r} is not valid.", "Play 1 episode or more.")
    frames, returns, lengths = [], [], []
    for i in range(episodes):
        played = run_episodes(source, task.act(), 1, seed + i, record=True)
        frames += played.frames
        returns.append(float(played.returns[0]))
        lengths.append(int(played.lengths[0]))
    if not frames:
        raise ConfigError(f"{source.name} does not render frames (render_mode='rgb_array').",
                          "Play needs an environment that renders images.")  # fmt: skip
    fps = float(source.render_fps or 30)
    every = max(1, round(fps / 25))  # a GIF shows at most 50 frames/s; fewer keep it small
    written = save_gif(frames, output, fps=fps / every, every=every)
    return {"file": Path(output).name, "episodes": episodes, "returns": returns,
            "return": returns[0], "length": lengths[0], "lengths": lengths, **written}  # fmt: skip


def write_rl_run(task: Any, run: RunFolder, chance: Any, trained: dict, tested: Any,
                 play: dict | None, started: float) -> Run:  # fmt: skip
    from layerwise.engine.checkpoint import save_weights

    save_weights(run.file("model.safetensors"), task.policy.state_dict())
    preprocess = {
        "algo": task.algo, "env": task.env_spec, "info": task.info.to_dict(),
        "architecture": trained["architecture"], "algo_config": trained["algo_config"],
        "test_seed": task.test_seed,  # set by fit_agent; restore reads it back
        "options": {k: task.option(k) for k in KEPT_OPTIONS}}  # fmt: skip
    run.write_with(EPISODES, lambda p: trained["episodes"].to_frame().to_csv(p, index=False))
    if play is not None:
        run.write_json(PLAY_JSON, play)
    metrics = _metrics(task, chance, trained, tested, time.perf_counter() - started)
    files = StandardFiles(preprocess, task_schema(task), metrics,
                          _decision(task, metrics, trained), trained["history"])  # fmt: skip
    report = finish_run(task, run, files, task.algo)
    return Run(run.path, task, run.read_json(names.METRICS), task.algo, report, [])


def _metrics(task: Any, chance: Any, trained: dict, tested: Any, seconds: float) -> dict:
    threshold = task.info.reward_threshold
    test = tested.summary()
    test["solved"] = None if threshold is None else test["mean_return"] >= threshold
    best = trained["history"].best or {}
    parameters = sum(p.numel() for p in task.policy.parameters())
    agent = {"family": "deep", "test": test,
             "validation": {"mean_return": best.get("val_return")},
             **{k: trained[k] for k in ("env_steps", "fit_seconds", "steps_to_threshold",
                                        "best_epoch", "epochs", "stopped")},
             "parameters": parameters}  # fmt: skip
    return bakeoff_metrics(
        task.name, metric="mean_return", greater_is_better=True,
        protocol=f"{int(task.option('eval_episodes'))} deterministic episodes "
        "after each twentieth of training (the best one's weights are kept); test: "
        f"{test['episodes']} fresh episodes on seeds training never used",
        chosen=task.algo, test=test,
        candidates={"random": {"family": "baseline", "test": chance.summary()}, task.algo: agent},
        env=task.info.name, reward_threshold=threshold, seconds=seconds,
    )  # fmt: skip


def _decision(task: Any, metrics: dict, trained: dict) -> str:
    agent, chance = metrics["candidates"][task.algo], metrics["candidates"]["random"]["test"]
    test, threshold = metrics["test"], metrics["reward_threshold"]
    algo = task.algo.upper()
    choice = (f"**Served: {algo}**'s deterministic policy. Over {test['episodes']} fresh episodes "
              f"it scores a mean return of {test['mean_return']:.1f} (± {test['std_return']:.1f}); "
              f"random actions score {chance['mean_return']:.1f} on the same seeds "
              f"({test['mean_return'] - chance['mean_return']:+.1f}).")  # fmt: skip
    lines = []
    if threshold is None:
        lines.append(f"{task.info.name} declares no return at which it is solved.")
    else:
        verdict = "**solved**" if test["solved"] else "**not solved**"
        lines.append(f"{task.info.name} counts as solved at a mean return of {threshold:g} "
                     f"(its own spec): {verdict}.")  # fmt: skip
        if agent["steps_to_threshold"] is not None:
            lines.append(f"An evaluation during training first reached it after "
                         f"{agent['steps_to_threshold']:,} environment steps.")  # fmt: skip
    why = ("PPO is the default: it learns discrete and continuous actions, and in the "
           "benchmark (benchmarks/rl.py) it solved CartPole in fewer steps and less time than "
           "DQN." if task.algo == "ppo" else "DQN was asked for (--algo dqn).")  # fmt: skip
    trained_for = (f"It trained for {agent['env_steps']:,} environment steps in "
                   f"{agent['fit_seconds']:.1f} s ({agent['epochs']} evaluations of "
                   f"{int(task.option('eval_episodes'))} episodes; stopped by {agent['stopped']}). "
                   f"The weights served are from evaluation {agent['best_epoch']}, the best; a "
                   f"policy network of {agent['parameters']:,} parameters.")  # fmt: skip
    return decision_page("Why this agent", choice, [lines, [why], [trained_for]])


def restore(cls: Any, run: RunFolder) -> Any:

    from layerwise.runs.weights import config_from, restore_module
    from layerwise.tasks.reinforcement_learning.env import EnvInfo

    stored = run.read_json(names.PREPROCESS)
    task = cls(verbose=False, **stored.get("options", {}))
    task.algo, task.env_spec = stored["algo"], stored["env"]
    task.info = EnvInfo.from_dict(stored["info"])
    task.test_seed = stored.get("test_seed", 0)
    arch = dict(stored["architecture"])
    if arch.pop("kind", None) == "q_network":
        from layerwise.models.q_network import QNetwork as network
        from layerwise.models.q_network import QNetworkConfig as config_class
    else:
        from layerwise.models.actor_critic import ActorCritic as network
        from layerwise.models.actor_critic import ActorCriticConfig as config_class
    config = config_from(config_class, arch, run)
    task.policy = restore_module(run, "model.safetensors", lambda: network(config)).eval()
    return task
