"""The GPT's clock and windows under several processes (tasks/language_generation/train.py): the
run stops and the learning rate decays by the clock's readings (rank 0's in a world, sent to
all), never by a rank's own time, and each rank draws windows of its own. The runs in two
processes are in tests/slow/test_data_parallel_language.py."""

from __future__ import annotations

import math

import pytest
import torch

from layerwise.engine import TrainerConfig
from layerwise.tasks.language_generation.train import (
    LMTrainer,
    RunClock,
    WindowBatches,
    window_seed,
)


class Readings(RunClock):
    """A clock whose readings are given: what rank 0 would have sent."""

    def __init__(self, readings: list[float], limit: float | None):
        super().__init__(limit)
        self.readings = iter(readings)
        self.reads = 0

    def read(self) -> float:
        self.elapsed = next(self.readings)
        self.reads += 1
        return self.elapsed


def test_the_windows_stop_at_the_step_the_clock_reads_the_limit():
    clock = Readings([0.0, 1.0, 4.9, 5.0, 6.0], limit=5.0)
    batches = WindowBatches(torch.arange(100), 8, 4, steps=10, seed=0, clock=clock)
    assert len(list(batches)) == 3 and clock.reads == 4  # read once a step, then stopped
    untimed = Readings([], limit=None)  # no limit: no reading, so no collective a step
    assert len(list(WindowBatches(torch.arange(100), 8, 4, 10, 0, clock=untimed))) == 10


def test_the_learning_rate_follows_the_clock_reading_not_the_local_time():
    config = TrainerConfig(time_limit=10.0, lr=1.0, progress=False, device="cpu")
    trainer = LMTrainer(torch.nn.Linear(2, 2), config, total_steps=100, warmup=0)
    trainer.clock.elapsed, trainer.step_count = 5.0, 10  # half the time, a tenth of the steps
    assert trainer.progress() == 0.5
    assert trainer.lr_now() == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))
    trainer.clock.elapsed = 0.0  # the steps then lead
    assert trainer.progress() == 0.1


def test_each_rank_draws_its_own_windows_and_rank_0_those_of_one_process():
    assert window_seed(3, 0) == 3
    ids = torch.arange(1000)
    first = [next(iter(WindowBatches(ids, 8, 4, 1, window_seed(3, r))))[0] for r in range(3)]
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[1], first[2])
