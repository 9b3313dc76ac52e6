"""Shared fixtures: small tables written to disk, and the CLI run in-process."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _quiet_and_isolated(monkeypatch, tmp_path):
    """Every test runs in its own folder so stray runs/ folders never collect in the repo."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "160")
    # Global random streams start alike for every test: a test's result must not depend on
    # what ran before it in its process (the suite runs its files in two workers, in an order
    # that depends on timing)
    import random

    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def contract_run(tmp_path_factory):
    """``contract_run(name)`` -> (run, data, inputs): the task's contract example fitted once
    per session, shared by the contract test and the serving test of every task."""
    from layerwise.core.registry import TASKS

    fitted: dict = {}

    def fit(name: str):
        if name not in fitted:
            task_class = TASKS.get(name)
            data, options, inputs = task_class.contract_example(seed=0)
            target = options.pop("target", None)
            out = tmp_path_factory.mktemp(f"contract-{name}") / "runs"
            task = task_class(output_dir=str(out), verbose=False, **options)
            fitted[name] = (task.fit(data, target=target), data, inputs)
        return fitted[name]

    return fit


@pytest.fixture(scope="session")
def penguins_csv(tmp_path_factory) -> Path:
    palmerpenguins = pytest.importorskip("palmerpenguins")
    frame = palmerpenguins.load_penguins()
    path = tmp_path_factory.mktemp("penguins") / "penguins.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def cli(capsys):
    """Run `layerwise ARGS...` in-process; returns (exit code, stdout, stderr)."""
    from layerwise.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def write_csv(frame: pd.DataFrame, path: os.PathLike) -> Path:
    frame.to_csv(path, index=False)
    return Path(path)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module's tests (tiny networks train faster, and same-seed
    checks hold); torch's setting is put back after. Use with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_PEAK_WRAPPER = """
import resource, subprocess, sys
limit = int(sys.argv[1])
def cap():
    if limit:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
done = subprocess.run(sys.argv[2:], preexec_fn=cap)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write(f"\\nPEAK_RSS_KIB={peak_kib}\\n")
sys.exit(done.returncode)
"""


@pytest.fixture
def peak_rss():
    """``peak_rss(args, cap_bytes=6 GiB, **run_kwargs)`` -> (exit code, stdout, stderr, peak RSS
    in bytes) of a command run in a fresh process. Its private memory is capped at ``cap_bytes``
    (RLIMIT_DATA), so a regression fails the test instead of exhausting the machine."""
    import re
    import subprocess
    import sys

    def run(args, cap_bytes: int = 6 << 30, **kwargs):
        done = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, str(int(cap_bytes)),
                               *map(str, args)], capture_output=True, text=True, **kwargs)  # fmt: skip
        found = re.search(r"PEAK_RSS_KIB=(\d+)\s*$", done.stderr)
        peak = int(found.group(1)) * 1024 if found else 0
        stderr = done.stderr[: found.start()] if found else done.stderr
        return done.returncode, done.stdout, stderr, peak

    return run


_COMMANDS = """
import json, os, resource, sys
from layerwise.cli.main import main
peaks = []
for argv in json.loads(sys.argv[1]):
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    peaks.append([code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024])
sys.stderr.write("\\nPEAKS=" + json.dumps(peaks) + "\\n")
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)  # all is measured: skip the interpreter's teardown (torch's takes ~1 s)
"""


@pytest.fixture
def command_peaks():
    """``command_peaks(commands, cap_bytes=6 GiB)`` -> (stdout, stderr, [(exit code, peak RSS
    in bytes after it), ...]): ``layerwise`` commands run one after another in one fresh process
    under a memory cap. A later command's peak minus an earlier one's is the memory it added
    beyond the earlier (say, a plain predict), without paying for a second start-up."""
    import json
    import re
    import subprocess
    import sys

    def run(commands, cap_bytes: int = 6 << 30):
        args = [sys.executable, "-c", _PEAK_WRAPPER, str(int(cap_bytes)), sys.executable, "-c",
                _COMMANDS, json.dumps([[str(a) for a in c] for c in commands])]  # fmt: skip
        done = subprocess.run(args, capture_output=True, text=True)
        found = re.search(r"PEAKS=(\[.*\])\s*", done.stderr)
        assert found, done.stderr[-3000:]
        return (
            done.stdout,
            done.stderr[: found.start()],
            [tuple(p) for p in json.loads(found.group(1))],
        )

    return run
