"""reinforcement-learning: agents learn (above a random policy), round-trip through the run
folder, play, evaluate reproducibly, and bad input gets one clear error."""

from __future__ import annotations

import json
from typing import ClassVar

import gymnasium as gym
import numpy as np
import pytest

import layerwise
from layerwise.errors import ConfigError, DataError
from layerwise.runs.folder import RunFolder

pytestmark = pytest.mark.usefixtures("one_torch_thread")
QUIET = {"verbose": False, "report": False}


class Corridor(gym.Env):
    """Walk right along a corridor of 6 cells to the goal (+1); each step costs 0.01. The
    observation is the cell (a Discrete space, flattened to one-hot for the network)."""

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode=None, size: int = 6):
        self.size, self.render_mode = size, render_mode
        self.observation_space = gym.spaces.Discrete(size)
        self.action_space = gym.spaces.Discrete(2)
        self.cell = 0

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.cell = 0
        return self.cell, {}

    def step(self, action):
        self.cell = max(0, min(self.size - 1, self.cell + (1 if action == 1 else -1)))
        done = self.cell == self.size - 1
        return self.cell, (1.0 if done else -0.01), done, False, {}

    def render(self):
        frame = np.zeros((8, 8 * self.size, 3), np.uint8)
        frame[:, 8 * self.cell : 8 * self.cell + 8] = 255
        return frame


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return layerwise.fit(env="CartPole-v1", steps=4096, eval_every=2048, eval_episodes=5,
                         test_episodes=20, output_dir=str(out), verbose=False)  # fmt: skip


def test_ppo_learns_cartpole_far_above_random(cartpole_run):
    m = cartpole_run.metrics
    assert m["chosen"] == "ppo"
    chance = m["candidates"]["random"]["test"]["mean_return"]
    assert chance < 40
    assert m["test"]["mean_return"] > max(100, 4 * chance)
    assert m["reward_threshold"] == 475
    folder = RunFolder.open(cartpole_run.path)
    for name in ("history.csv", "episodes.csv", "play.gif", "play.json", "report.html"):
        assert folder.exists(name), name
    assert "How the agent learned" in folder.read_text("report.html")


def test_run_round_trip_and_evaluate_reproduces_the_test(cartpole_run):
    loaded = layerwise.load(cartpole_run.path)
    obs = [[0.0, 0.1, 0.02, -0.1], [0.1, -0.2, 0.0, 0.3]]
    before, after = cartpole_run.predict(obs), loaded.predict(obs)
    assert before.equals(after)
    assert set(after.columns) == {"action", "probability_0", "probability_1"}
    assert np.allclose(after[["probability_0", "probability_1"]].sum(axis=1), 1.0)
    again = loaded.evaluate()  # the run's test seeds: the same figure
    assert again["mean_return"] == pytest.approx(cartpole_run.metrics["test"]["mean_return"])
    assert loaded.evaluate(episodes=3, seed=7) == loaded.evaluate(episodes=3, seed=7)


def test_predict_rejects_wrong_observations(cartpole_run):
    with pytest.raises(DataError, match="3 values.*observes 4"):
        cartpole_run.predict([0.1, 0.2, 0.3])
    with pytest.raises(DataError, match="JSON"):
        cartpole_run.predict("[0.1, 0.2,")
    with pytest.raises(DataError, match="NaN"):
        cartpole_run.predict([0.1, float("nan"), 0.0, 0.0])
    assert len(cartpole_run.predict("[0.01, 0.2, -0.03, 0.1]")) == 1


def test_play_writes_a_gif(cartpole_run, tmp_path):
    from PIL import Image

    # CartPole cut to 30 steps an episode: the trained agent would balance for 500 (1,000
    # frames to draw); the run's own CartPole is played by the fit and by the CLI test below
    def short(render_mode=None):
        return gym.make("CartPole-v1", render_mode=render_mode, max_episode_steps=30)

    result = cartpole_run.task.play(str(tmp_path / "play.gif"), episodes=2, seed=3, env=short)
    assert len(result["returns"]) == 2
    with Image.open(tmp_path / "play.gif") as gif:
        assert gif.n_frames == result["frames"] > 10
    with pytest.raises(ConfigError, match="gif"):
        cartpole_run.task.play(str(tmp_path / "play.mp4"))


def make_corridor(render_mode=None):
    return Corridor(render_mode)


def test_dqn_learns_a_custom_env_with_discrete_observations(tmp_path):
    only_here = lambda render_mode=None: Corridor(render_mode)  # noqa: E731
    run = layerwise.fit(env=only_here, algo="dqn", steps=3000, eval_every=1000, eval_episodes=3,
                        test_episodes=5, output_dir=str(tmp_path), candidate_params={"dqn": {
                            "learning_starts": 300, "train_every": 50, "gradient_steps": 25,
                            "target_update": 25}}, **QUIET)  # fmt: skip
    m = run.metrics
    assert m["chosen"] == "dqn" and m["reward_threshold"] is None
    assert m["test"]["mean_length"] == 5  # straight to the goal
    assert m["test"]["mean_return"] > m["candidates"]["random"]["test"]["mean_return"] + 0.2
    assert run.predict([[1, 0, 0, 0, 0, 0]])["action"].tolist() == [1]
    assert {"q_0", "q_1"} <= set(run.predict([[0, 1, 0, 0, 0, 0]]).columns)
    # a lambda cannot be made again from the run folder: evaluate asks for the environment
    loaded = layerwise.load(run.path)
    with pytest.raises(ConfigError, match="only your program"):
        loaded.evaluate()
    assert loaded.evaluate(Corridor, episodes=2)["mean_length"] == 5


def test_ppo_continuous_actions_round_trip(tmp_path):
    run = layerwise.fit(env="Pendulum-v1", steps=1024, eval_every=512, eval_episodes=1,
                        test_episodes=2, output_dir=str(tmp_path), play=False,
                        candidate_params={"ppo": {"n_envs": 2, "n_steps": 128}}, **QUIET)  # fmt: skip
    assert run.metrics["reward_threshold"] is None and run.metrics["test"]["solved"] is None
    obs = np.random.default_rng(0).uniform(-1, 1, (50, 3))
    actions = run.predict(obs)
    assert list(actions.columns) == ["action_0"]
    assert actions["action_0"].between(-2, 2).all()
    assert layerwise.load(run.path).predict(obs).equals(actions)
    schema = json.loads((run.path / "schema.json").read_text())
    assert schema["output"]["discrete"] is False


def test_module_class_spec_gets_a_time_limit():
    from layerwise.tasks.reinforcement_learning.env import DEFAULT_MAX_EPISODE_STEPS, EnvSource

    source = EnvSource("gymnasium.envs.classic_control.cartpole:CartPoleEnv")
    assert source.info.max_episode_steps == DEFAULT_MAX_EPISODE_STEPS
    assert source.spec_string() == "gymnasium.envs.classic_control.cartpole:CartPoleEnv"
    assert EnvSource(lambda: Corridor()).spec_string() is None
    assert EnvSource(make_corridor).info.obs_size == 6  # a function making one; one-hot cells


def test_bad_environments_get_clear_errors(monkeypatch, tmp_path):
    from layerwise.tasks.reinforcement_learning.env import EnvSource

    with pytest.raises(ConfigError, match="Did you mean 'CartPole-v1'"):
        EnvSource("CartPol-v1")
    with pytest.raises(ConfigError, match="Cannot import"):
        EnvSource("no_such_module:Env")

    def needs_box2d(*args, **kwargs):
        raise gym.error.DependencyNotInstalled("Box2D is not installed, run pip install swig")

    monkeypatch.setattr(gym, "make", needs_box2d)
    with pytest.raises(ConfigError, match=r"gymnasium\[box2d\]"):
        EnvSource("LunarLander-v3")


@pytest.mark.parametrize(("options", "message"), [
    ({"steps": 0}, "--steps 0"), ({"algo": "dqm"}, "Did you mean 'dqn'"),
    ({"eval_episodes": -1}, "--eval-episodes"),
])  # fmt: skip
def test_bad_options_leave_no_run_folder(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        layerwise.fit(env="CartPole-v1", output_dir=str(tmp_path / "runs"), **QUIET, **options)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    with pytest.raises(ConfigError, match="continuous"):
        layerwise.fit(env="Pendulum-v1", algo="dqn", output_dir=str(tmp_path), **QUIET)


def test_the_cli_trains_predicts_plays_and_explains_bad_input(tmp_path, capsys):
    from layerwise.cli.main import main

    main(["train", "CartPole-v1", "--steps", "1024", "--no-report", "-o", str(tmp_path)])
    run = next(tmp_path.glob("*reinforcement-learning"))
    capsys.readouterr()
    main(["predict", str(run), "--observation", "[0.01, 0.2, -0.03, 0.1]"])
    assert "probability_0" in capsys.readouterr().out
    main(["evaluate", str(run), "--episodes", "2"])
    assert json.loads(capsys.readouterr().out)["episodes"] == 2
    main(["play", str(run), "-o", str(tmp_path / "p.gif")])
    assert (tmp_path / "p.gif").stat().st_size > 1000
    assert "Wrote" in capsys.readouterr().err
    for argv, message in ((["train", "CartPol-v1"], "Did you mean 'CartPole-v1'"),
                          (["train", "CartPole-v1", "--steps", "0"], "--steps 0 is not valid"),
                          (["predict", str(run), "--observation", "[1, 2]"], "observes 4")):  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]


def test_the_policy_exports_to_onnx(cartpole_run, tmp_path):
    from layerwise.export.onnx import export_run

    path = export_run(cartpole_run.path, output=tmp_path / "policy.onnx")
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["outputs"][0]["name"] == "logits"
    assert sidecar["verification"]["max_abs_diff"] < 1e-4
