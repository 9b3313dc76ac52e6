"""Applications under several processes (engine.distributed): a task that does not train
data-parallel is refused with one line before any process starts (the image run in two
processes is in tests/slow/test_data_parallel_images.py)."""

from __future__ import annotations


def test_devices_on_a_task_that_does_not_train_data_parallel_is_one_line(tmp_path, cli):
    table = tmp_path / "t.csv"
    table.write_text("a,b,y\n1,2,0\n2,3,1\n3,4,0\n4,5,1\n5,6,0\n6,7,1\n")
    code, _, err = cli("train", table, "-t", "y", "--devices", "2")
    assert code == 2 and "data-parallel" in err and "Traceback" not in err
    code, _, err = cli("train", table, "-t", "y", "--devices", "4096")
    assert code == 2 and "--devices 4096" in err
