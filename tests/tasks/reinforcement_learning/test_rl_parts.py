"""The pieces of the agents: observation statistics, replay, the vector stepper's bookkeeping,
evaluation episodes, advantages and reward scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerwise.models.running_norm import RunningNorm
from layerwise.tasks.reinforcement_learning.dqn_train import ReplayBuffer
from layerwise.tasks.reinforcement_learning.env import EnvSource, parse_observations
from layerwise.tasks.reinforcement_learning.ppo_train import RewardScaler, gae
from layerwise.tasks.reinforcement_learning.rollout import (
    VectorStepper,
    random_policy,
    run_episodes,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_running_norm_merges_batches_to_the_whole_data_statistics():
    data = torch.randn(1000, 3) * torch.tensor([1.0, 10.0, 0.1]) + torch.tensor([5.0, -3.0, 0.0])
    norm = RunningNorm(3)
    for chunk in data.split(137):
        norm.update(chunk)
    assert torch.allclose(norm.mean.float(), data.mean(0), atol=1e-4)
    assert torch.allclose(norm.var.float(), data.var(0, unbiased=False), rtol=1e-4)
    scaled = norm(data)
    assert torch.allclose(scaled.mean(0), torch.zeros(3), atol=1e-3)
    assert RunningNorm(3, enabled=False)(data).equal(data)


def test_replay_buffer_wraps_around_and_samples_what_was_stored():
    buffer = ReplayBuffer(5, 2, (), True)
    for i in range(8):
        obs = np.full((1, 2), i, np.float32)
        buffer.add(obs, np.array([i % 2]), np.array([float(i)]), obs + 1, np.array([False]))
    assert buffer.size == 5
    assert sorted(buffer.rewards.tolist()) == [3.0, 4.0, 5.0, 6.0, 7.0]
    obs, actions, rewards, following, dones = buffer.sample(64, torch.Generator().manual_seed(0))
    assert torch.equal(obs[:, 0], rewards) and torch.equal(following[:, 0], rewards + 1)
    assert torch.equal(actions, rewards.long() % 2) and dones.sum() == 0


def test_vector_stepper_logs_episodes_and_gives_final_observations():
    source = EnvSource("CartPole-v1")
    stepper = VectorStepper(source.vector(3, seed=0), seed=0)
    ended_seen = 0
    for _ in range(200):
        before = stepper.obs.copy()
        following, rewards, terminated, truncated = stepper.step(np.zeros(3, np.int64))
        ended = np.flatnonzero(terminated | truncated)
        for i in ended:  # the episode's last observation, not the reset one
            assert not np.allclose(following[i], stepper.obs[i])
            ended_seen += 1
        assert rewards.shape == (3,) and before.shape == (3, 4)
    stepper.close()
    assert stepper.steps == 600 and len(stepper.log.returns) == ended_seen > 0
    assert stepper.log.returns == [float(n) for n in stepper.log.lengths]  # +1 a step
    assert stepper.log.summary(0)["episodes"] == ended_seen


def test_evaluation_plays_each_episode_once_with_fixed_seeds():
    source = EnvSource("CartPole-v1")
    act = random_policy(source.info, 0)
    played = run_episodes(source, act, 10, seed=3, parallel=4)
    assert len(played.returns) == 10 and (played.returns == played.lengths).all()
    again = run_episodes(source, random_policy(source.info, 0), 10, seed=3, parallel=4)
    assert sorted(played.returns) == sorted(again.returns)
    recorded = run_episodes(source, act, 1, seed=0, record=True)
    assert len(recorded.frames) == recorded.lengths[0] + 1  # the start and every step
    assert recorded.frames[0].dtype == np.uint8 and recorded.frames[0].ndim == 3


def test_random_policy_stays_in_bounds():
    source = EnvSource("Pendulum-v1")
    actions = random_policy(source.info, 0)(np.zeros((500, 3), np.float32))
    assert actions.shape == (500, 1) and actions.min() >= -2 and actions.max() <= 2
    assert abs(actions.mean()) < 0.3


def test_gae_stops_at_episode_ends_and_bootstraps_the_last_value():
    rewards = torch.ones(3, 1)
    dones = torch.tensor([[0.0], [1.0], [0.0]])
    advantages = gae(rewards, torch.zeros(3, 1), dones, torch.tensor([10.0]), 0.5, 1.0)
    assert advantages[:, 0].tolist() == [1.5, 1.0, 6.0]


def test_reward_scaler_brings_large_rewards_to_unit_scale():
    scaler = RewardScaler(4, 0.99, enabled=True)
    rng = np.random.default_rng(0)
    scaled = [scaler(rng.normal(-500, 100, 4), np.zeros(4, bool)) for _ in range(300)]
    assert np.abs(np.concatenate(scaled[-50:])).max() < 10
    assert RewardScaler(4, 0.99, enabled=False)(np.full(4, 7.0), np.zeros(4, bool))[0] == 7.0


def test_parse_observations_takes_text_lists_arrays_and_tables():
    import pandas as pd

    info = EnvSource("CartPole-v1").info
    assert parse_observations("[1, 2, 3, 4]", info).shape == (1, 4)
    assert parse_observations(np.zeros((5, 4)), info).shape == (5, 4)
    table = pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0], "d": [4.0], "note": ["x"]})
    assert parse_observations(table, info).tolist() == [[1.0, 2.0, 3.0, 4.0]]
