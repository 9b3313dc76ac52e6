"""Applications under several processes (engine.distributed): a task that does not train
data-parallel (reinforcement learning: an environment loop) is refused with one line before any
process starts; every other application is let through (their runs in two processes, against
one, are in tests/slow/test_data_parallel_*.py)."""

from __future__ import annotations

import pytest

from layerwise.api import check_data_parallel


def test_devices_on_a_task_that_does_not_train_data_parallel_is_one_line(tmp_path, cli):
    table = tmp_path / "t.csv"
    table.write_text("a,b,y\n1,2,0\n2,3,1\n3,4,0\n4,5,1\n5,6,0\n6,7,1\n")
    # an environment loop, not a data set: it stays in one process (README)
    code, _, err = cli("train", table, "--task", "reinforcement-learning", "--devices", "2")
    assert code == 2 and "data-parallel" in err and "Traceback" not in err
    code, _, err = cli("train", table, "-t", "y", "--devices", "4096")
    assert code == 2 and "--devices 4096" in err


@pytest.mark.parametrize(
    "task",
    [
        "tabular-classification",
        "tabular-regression",
        "text-classification",
        "language-generation",
        "speech-recognition",
        "forecasting",
        "anomaly-detection",
        "segmentation",
        "object-detection",
        "text-to-text",
        "molecular-property",
        "image-generation",
        "recommendation",
    ],
)
def test_the_data_parallel_applications_are_let_through(task):
    check_data_parallel(task, devices=2)  # no refusal


def test_the_refusal_names_the_task():
    from layerwise.errors import ConfigError

    with pytest.raises(ConfigError, match="reinforcement-learning .*data-parallel"):
        check_data_parallel("reinforcement-learning", devices=2)
