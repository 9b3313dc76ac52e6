"""What the two-process tests share: one run in two gloo processes on this CPU
(``engine.distributed.run_local``), with a deadline, and the same run in this one process.

A rank that skipped a deep fit the other made would leave that one waiting at a collective: the
two-process run has a deadline, so such a bug fails the test instead of hanging it. ``data``:
a path, or a picklable callable that makes the data set (alike in every process, from its seed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import layerwise
from layerwise.engine.distributed import current_world

Data = str | Callable[[], Any]


def fit_rank(data: Data, options: dict[str, Any], runs: str, out: str) -> None:
    """One rank's fit; rank 0 (the one that returns a run) writes what it chose."""
    run = layerwise.fit(data() if callable(data) else data, output_dir=runs, **options)
    if current_world().main:
        Path(out).write_text(json.dumps({"chosen": run.chosen, "metrics": run.metrics}))
    else:
        assert run is None


def two_processes(data: Data, options: dict[str, Any], runs: Path, seconds: float = 300) -> dict:
    """``fit_rank`` in two processes, failed after ``seconds`` rather than waiting on a rank
    that waits for the other; rank 0's chosen model and metrics. One run folder is written."""
    from layerwise.engine.distributed import run_local

    out = runs.parent / f"{runs.name}.json"
    try:
        run_local(2, fit_rank, data, options, str(runs), str(out), timeout=seconds)
    except TimeoutError:
        pytest.fail(f"still training after {seconds:.0f} s: a rank waits for the other")
    # rank 0's folder only (beside the --stream cache)
    assert len([p for p in runs.iterdir() if p.name != ".cache"]) == 1
    return json.loads(out.read_text())


def one_process(data: Data, options: dict[str, Any], runs: Path) -> dict:
    """The same run in this process, on one thread as each of the two had (two threads on two
    busy cores spin-wait); its chosen model and metrics."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = layerwise.fit(data() if callable(data) else data, output_dir=str(runs), **options)
    finally:
        torch.set_num_threads(threads)
    return {"chosen": run.chosen, "metrics": run.metrics}


def one_and_two(data: Data, options: dict[str, Any], tmp_path: Path) -> tuple[dict, dict]:
    """The run's chosen model and metrics in two processes, then in this one."""
    return two_processes(data, options, tmp_path / "two"), one_process(data, options,
                                                                        tmp_path / "one")  # fmt: skip
