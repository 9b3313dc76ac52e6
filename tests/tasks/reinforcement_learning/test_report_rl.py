import numpy as np
import pandas as pd
import pytest

from layerwise.runs.animation import save_gif
from layerwise.runs.folder import RunFolder
from layerwise.runs.report import build_report
from layerwise.tasks.reinforcement_learning import report as report_rl

TITLES = (
    "How the agent learned",
    "Evaluation against a random policy",
    "The agent playing",
    "Training losses",
)
PPO = ("train_policy_loss", "train_value_loss", "train_entropy", "train_approx_kl",
       "train_clip_fraction")  # fmt: skip


def _metrics(threshold=475.0, steps_to_threshold=45056):
    test = {"mean_return": 500.0, "std_return": 0.0, "episodes": 100, "mean_length": 500.0}
    return {
        "task": "reinforcement-learning", "chosen": "ppo", "metric": "mean_return",
        "greater_is_better": True, "env": "CartPole-v1", "reward_threshold": threshold,
        "test": {**test, "solved": threshold is not None},
        "candidates": {
            "ppo": {"family": "deep", "test": test, "env_steps": 100352, "fit_seconds": 61.2,
                    "steps_to_threshold": steps_to_threshold, "best_epoch": 12, "epochs": 20},
            "random": {"family": "baseline", "test": {"mean_return": 22.1, "std_return": 11.9,
                                                      "episodes": 100, "mean_length": 22.1}},
        },
        "seconds": 70.3,
    }  # fmt: skip


def _history(epochs=20, losses=PPO):
    rng = np.random.default_rng(0)
    steps = np.arange(1, epochs + 1) * 5000
    val = np.linspace(20, 500, epochs)
    frame = pd.DataFrame({
        "epoch": np.arange(1, epochs + 1), "env_steps": steps, "episodes": np.arange(epochs) * 10,
        "train_return": val * 0.9, "train_return_std": 10.0, "train_length": val * 0.9,
        "val_return": val, "val_return_std": rng.uniform(0, 30, epochs), "val_length": val,
        "steps_per_s": 1500.0, "lr": 3e-4, "seconds": 3.0,
    })  # fmt: skip
    for i, column in enumerate(losses):
        frame[column] = rng.normal(i, 0.1, epochs)
    frame.loc[0, "train_return"] = np.nan  # no episode finished in the first epoch
    return frame


def _episodes(n=300):
    rng = np.random.default_rng(1)
    returns = np.linspace(20, 500, n) + rng.normal(0, 20, n)
    return pd.DataFrame({"episode": np.arange(1, n + 1), "env_steps": np.arange(1, n + 1) * 330,
                         "return": returns.round(), "length": returns.round()})  # fmt: skip


def _run(tmp_path, metrics=True, history=True, episodes=True, gif=True):
    run = RunFolder.create(tmp_path, "reinforcement-learning")
    if metrics:
        run.write_json("metrics.json", _metrics() if metrics is True else metrics)
    if history is not False:
        frame = _history() if history is True else history
        run.write_text("history.csv", frame.to_csv(index=False))
    if episodes:
        run.write_text("episodes.csv", _episodes().to_csv(index=False))
    if gif:
        frames = [np.full((40, 60, 3), 10 * t, dtype=np.uint8) for t in range(12)]
        info = save_gif(frames, run.file("play.gif"), every=4)
        run.write_json("play.json", {"file": "play.gif", "return": 500.0, "length": 500,
                                     "frames": info["frames"], "every": info["every"]})  # fmt: skip
    return run


def test_report_has_rl_sections(tmp_path):
    run = _run(tmp_path)
    page = build_report(run).read_text(encoding="utf-8")
    for title in TITLES:
        assert f"<h2>{title}</h2>" in page
    assert "<h2>Learning curves</h2>" not in page  # drawn against env steps instead
    assert "could not be drawn" not in page
    # candidates chart, returns and lengths, losses; the GIF
    assert page.count('src="data:image/png;base64,') == 3
    assert page.count('src="data:image/gif;base64,') == 1
    table = report_rl.evaluation_table(run)
    for text in ("22.1", "500.0", "+477.9", "45,056", "100,352", "CartPole-v1"):
        assert text in table
    assert table.index("random") < table.index("ppo")
    assert "every 4th frame shown" in report_rl.play(run)


def test_sections_absent_without_their_files(tmp_path):
    run = _run(tmp_path, metrics=False, history=False, episodes=False, gif=False)
    for section in (report_rl.return_curves, report_rl.losses, report_rl.evaluation_table,
                    report_rl.play):  # fmt: skip
        assert section(run) is None
    page = build_report(run).read_text(encoding="utf-8")
    assert not any(f"<h2>{t}</h2>" in page for t in TITLES)


def test_other_tasks_untouched(tmp_path):
    run = RunFolder.create(tmp_path, "tabular-classification")
    run.write_json("metrics.json", {"task": "tabular-classification", "chosen": "linear",
                                    "candidates": {"linear": {"test": {"accuracy": 0.9}}}})  # fmt: skip
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    run.write_text("history.csv", history.to_csv(index=False))
    for section in (report_rl.return_curves, report_rl.losses, report_rl.evaluation_table,
                    report_rl.play):  # fmt: skip
        assert section(run) is None


def test_dqn_history_without_episodes(tmp_path):
    history = _history(epochs=3, losses=("train_loss", "train_q", "train_epsilon"))
    history.loc[:, "train_q"] = np.nan  # an all-empty column is left out
    run = _run(tmp_path, history=history, episodes=False, gif=False)
    assert "<img" in report_rl.return_curves(run)
    assert "<img" in report_rl.losses(run)


@pytest.mark.parametrize("threshold", [None, 475.0])
def test_table_without_threshold_or_unsolved(tmp_path, threshold):
    metrics = _metrics(threshold=threshold, steps_to_threshold=None)
    metrics["test"]["solved"] = False
    table = report_rl.evaluation_table(_run(tmp_path, metrics, False, False, False))
    if threshold is None:
        assert "n/a" in table and "solve" not in table.split("</table>")[1]
    else:
        assert "does not solve" in table and "<td class=num>no</td>" in table


def test_random_chosen_reports_the_agent_beside_it(tmp_path):
    metrics = _metrics()
    metrics["chosen"] = "random"
    metrics["test"] = metrics["candidates"]["random"]["test"]
    table = report_rl.evaluation_table(_run(tmp_path, metrics, False, False, False))
    assert "500.0 against 22.1" in table
