"""Reinforcement-learning benchmark: layerwise's PPO and DQN with their defaults on Gymnasium's
classic control, a random policy's return beside each.

CartPole-v1, 5 seeds each: the environment steps (and training seconds, evaluations excluded)
until the mean return of an evaluation over 100 deterministic episodes first reaches 475,
evaluating every 5,000 steps of a 100,000-step budget, then the served policy's mean return over
100 fresh episodes. Published: Stable-Baselines3's tuned PPO reaches 500 in 100k steps (tuned
DQN in 50k); CleanRL's default PPO reaches 490 at 500k. Target: solved within 100k steps for at
least 4 of 5 seeds. Then Acrobot-v1 (target >= -100), Pendulum-v1 with PPO (target >= -250) and,
when Box2D is installed, LunarLander-v3 (stretch: >= 200).

    python benchmarks/rl.py            # everything, 2 runs at a time: results/rl.md
    python benchmarks/rl.py --quick    # CartPole, seed 0, PPO and DQN
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, progress, write_result

PACKAGES = ("layerwise", "torch", "numpy", "gymnasium")
TARGETS = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "Pendulum-v1": -250.0,
           "LunarLander-v3": 200.0}  # fmt: skip


def run_job(
    env: str, algo: str, seed: int, steps: int, eval_every: int, eval_episodes: int
) -> dict:
    import torch

    import layerwise

    torch.set_num_threads(1)  # two runs share the two cores
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        run = layerwise.fit(env=env, algo=algo, seed=seed, steps=steps, eval_every=eval_every,
                            eval_episodes=eval_episodes, test_episodes=100, play=False,
                            report=False, verbose=False, output_dir=tmp)  # fmt: skip
        wall = time.perf_counter() - started
        history = run.task and _history(run.path)
    target = TARGETS[env]
    reached, train_s = None, 0.0
    for record in history:
        train_s += record["seconds"] - record.get("eval_seconds", 0.0)
        if record["val_return"] >= target:
            reached = (int(record["env_steps"]), train_s)
            break
    m = run.metrics
    agent = m["candidates"][algo]
    return {"env": env, "algo": algo, "seed": seed, "reached": reached, "test": m["test"],
            "random": m["candidates"]["random"]["test"]["mean_return"],
            "best_val": max(r["val_return"] for r in history), "steps": agent["env_steps"],
            "fit_s": agent["fit_seconds"], "wall": wall, "target": target}  # fmt: skip


def _history(path) -> list[dict]:
    import pandas as pd

    return pd.read_csv(os.path.join(path, "history.csv")).to_dict("records")


def jobs(quick: bool) -> list[tuple]:
    cartpole = [("CartPole-v1", algo, seed, 100_000, 5_000, 100)
                for algo in ("ppo", "dqn") for seed in ([0] if quick else range(5))]  # fmt: skip
    if quick:
        return cartpole
    more = [("Acrobot-v1", "ppo", 0, 100_000, 5_000, 100), ("Acrobot-v1", "dqn", 0, 100_000, 5_000, 100),
            ("Pendulum-v1", "ppo", 0, 200_000, 10_000, 100)]  # fmt: skip
    try:
        import Box2D  # noqa: F401

        more.append(("LunarLander-v3", "ppo", 0, 1_000_000, 50_000, 20))
    except ImportError:
        progress(
            "LunarLander-v3 skipped: Box2D is not installed (pip install swig 'gymnasium[box2d]')"
        )
    return more[-1:] + cartpole + more[:-1] if len(more) == 4 else cartpole + more


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CartPole seed 0 only")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    results = []
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run_job, *job) for job in jobs(args.quick)]
        for future in futures:
            results.append(future.result())
            r = results[-1]
            progress(f"{r['env']} {r['algo']} seed {r['seed']}: reached {r['reached']}, test "
                     f"{r['test']['mean_return']:.1f}, {r['wall']:.0f} s")  # fmt: skip
    rows = []
    for r in results:
        steps, secs = r["reached"] or (None, None)
        rows.append([r["env"], r["algo"], r["seed"], f"{r['random']:.1f}", f"{r['best_val']:.1f}",
                     "not reached" if steps is None else f"{steps:,}",
                     "—" if secs is None else f"{secs:.0f}", f"{r['test']['mean_return']:.1f} ± "
                     f"{r['test']['std_return']:.1f}", f"{r['steps']:,}", f"{r['fit_s']:.0f}",
                     "met" if r["test"]["mean_return"] >= r["target"] else "not met"])  # fmt: skip
    summary = []
    for algo in ("ppo", "dqn"):
        cart = [r for r in results if r["env"] == "CartPole-v1" and r["algo"] == algo]
        if cart:
            solved = [r for r in cart if r["reached"] is not None]
            steps = sorted(r["reached"][0] for r in solved)
            median = steps[len(steps) // 2] if steps else math.nan
            summary.append(f"- CartPole-v1 {algo.upper()}: {len(solved)}/{len(cart)} seeds reached "
                           f"475 over 100 evaluation episodes within 100k steps (median "
                           f"{median:,} steps); target >= 4/5: "
                           f"{'met' if len(solved) >= min(4, len(cart)) else 'not met'}.")  # fmt: skip
    head = ["env", "algo", "seed", "random return", "best eval return", "steps to target",
            "train s to target", "test return (100 fresh episodes)", "steps trained", "fit s",
            "test target"]  # fmt: skip
    text = "\n".join([
        header("Reinforcement learning: Gymnasium classic control, defaults", PACKAGES),
        "Each run: `layerwise.fit(env=..., algo=..., seed=...)` with defaults, evaluated every "
        "5,000 steps (Pendulum 10,000; LunarLander 50,000 on 20 episodes) on 100 deterministic "
        "episodes with fixed seeds; the served weights are the best evaluation's; the test is 100 "
        "fresh episodes on other seeds. Targets: CartPole 475, Acrobot -100, Pendulum -250, "
        "LunarLander 200. Train seconds exclude evaluation; two runs shared the two cores.",
        "", markdown_table(head, rows), "", *summary,
    ])  # fmt: skip
    path = write_result("rl", text, args.quick)
    print(text)
    progress(f"wrote {path}")


if __name__ == "__main__":
    main()
