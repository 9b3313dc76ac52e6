"""A language-generation run in two gloo processes on this CPU (engine.distributed) against one:
the GPT trained by both ranks together (DDP), each drawing its own windows for half the step's
batch, on rank 0's clock; the tokenizer, the n-gram model, the samples and the run folder rank
0's. Each rank records its steps, the learning rates it used, its first batch and its final
weights, so the test sees that the ranks took the same steps at the same rates and ended with
the same weights from different data. A rank a step short of the other would leave that one
waiting at a collective: each two-process run has a deadline, so such a bug fails here instead
of hanging. In tests/slow: two processes on two cores, a gloo all-reduce every step, 15 to 30 s
a test (twice that on a busy machine)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import layerwise
from layerwise.engine.distributed import current_world

pytestmark = pytest.mark.slow

QUIET = {"task": "language-generation", "verbose": False, "report": False, "seed": 0}
# a batch of 64 short windows at a moderate rate: the loss after 60 steps varies by 0.01 with
# the windows drawn (batches of 16 at 6e-3 varied by 0.3, too much to compare two runs)
GPT = {"block_size": 16, "batch_size": 64, "lr": 3e-3, "warmup": 5, "cpu_threads": 1}
RUNS = {
    # a step budget the clock does not reach: the learning rate follows the steps, so one
    # process and two take the same 60 steps at the same rates
    "steps": {**QUIET, "time_limit": 120,
              "candidate_params": {"gpt": {**GPT, "epochs": 3, "steps_per_epoch": 20,
                                           "max_steps": 60}}},
    # a run the clock ends mid-epoch: both ranks must stop at rank 0's step (the clock starts
    # with the fit: its first DDP wrap and optimizer take 1 to 3 s of imports)
    # the steps run on a text tokenised once to disk (--stream): rank 0 writes the cache, rank 1
    # waits for it, and each reads its own windows from the file
    "streamed": {**QUIET, "time_limit": 120, "stream": True,
                 "candidate_params": {"gpt": {**GPT, "epochs": 3, "steps_per_epoch": 20,
                                              "max_steps": 60}}},
    "clock": {**QUIET, "candidates": ["gpt"], "time_limit": 8,
              "candidate_params": {"gpt": {**GPT, "steps_per_epoch": 7}}},
}  # fmt: skip


def text(lines: int = 400) -> str:
    """Sentences of words from a list of ten: an n-gram model learns it well, the GPT soon."""
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far"]
    return "\n".join(" ".join(rng.choice(words, 6)) + "." for _ in range(lines))


def record_ranks(out: str) -> None:
    """Make this process's LMTrainer write what its rank did to ``<out>.rank<r>``."""
    from layerwise.tasks.language_generation import train

    step, fit = train.LMTrainer.train_step, train.LMTrainer.fit

    def train_step(self, batch):
        result = step(self, batch)
        self.__dict__.setdefault("seen", []).append(
            {"lr": float(result["lr_used"]), "rows": len(batch[0]), "first": batch[0][0].tolist()}
        )
        return result

    def recorded_fit(self, *args, **kwargs):
        history = fit(self, *args, **kwargs)
        weights = sum(float(p.detach().double().sum()) for p in self.model.parameters())
        seen = self.__dict__.get("seen", [])
        Path(f"{out}.rank{self.world.rank}").write_text(json.dumps({
            "steps": self.step_count, "lrs": [s["lr"] for s in seen],
            "rows": sorted({s["rows"] for s in seen}), "first": seen[0]["first"] if seen else None,
            "weights": weights, "stopped": self.stopped_reason}))  # fmt: skip
        return history

    train.LMTrainer.train_step, train.LMTrainer.fit = train_step, recorded_fit


def fit_rank(data: str, kind: str, runs: str, out: str) -> None:
    """One rank's fit; rank 0 (the one that returns a run) writes what it chose."""
    record_ranks(out)
    run = layerwise.fit(data, output_dir=runs, **RUNS[kind])
    if current_world().main:
        Path(out).write_text(json.dumps({"chosen": run.chosen, "metrics": run.metrics}))
    else:
        assert run is None


def two_processes(data: Path, kind: str, runs: Path, seconds: float = 300) -> tuple[dict, list]:
    """``fit_rank`` in two processes (as ``run_local`` starts them), failed after ``seconds``
    rather than waiting on a rank that waits for the other: rank 0's chosen model and metrics,
    and what each rank's trainer did."""
    from layerwise.engine.distributed import run_local

    out = runs.parent / f"{runs.name}.json"
    try:
        run_local(2, fit_rank, str(data), kind, str(runs), str(out), timeout=seconds)
    except TimeoutError:
        pytest.fail(f"still training after {seconds:.0f} s: a rank waits for the other")
    assert len([p for p in runs.iterdir() if p.name != ".cache"]) == 1  # rank 0's folder only
    trainers = [json.loads(Path(f"{out}.rank{r}").read_text()) for r in range(2)]
    return json.loads(out.read_text()), trainers


def assert_ranks_agree(trainers: list[dict]) -> None:
    first, second = trainers
    assert first["steps"] == second["steps"] > 0
    assert first["lrs"] == second["lrs"]  # rank 0's clock and steps on both
    assert first["rows"] == second["rows"] == [GPT["batch_size"] // 2]  # each half the batch
    assert first["first"] != second["first"]  # each its own windows
    assert first["weights"] == pytest.approx(second["weights"], rel=1e-9, abs=1e-9)  # DDP's
    assert first["stopped"] == second["stopped"]


def test_the_gpt_in_two_processes_learns_what_one_learns(tmp_path):
    data = tmp_path / "words.txt"
    data.write_text(text())
    two, trainers = two_processes(data, "steps", tmp_path / "two")
    assert_ranks_agree(trainers)
    assert trainers[0]["steps"] == 60 and trainers[0]["stopped"] == "max epochs"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each of the two has: two threads on two busy cores spin-wait
    try:
        run = layerwise.fit(str(data), output_dir=str(tmp_path / "one"), **RUNS["steps"])
    finally:
        torch.set_num_threads(threads)
    one = {"chosen": run.chosen, "metrics": run.metrics}
    assert two["chosen"] == one["chosen"]
    gpt = [r["metrics"]["candidates"]["gpt"] for r in (two, one)]
    assert gpt[0]["steps"] == gpt[1]["steps"] == 60
    losses = [g["validation"]["loss"] for g in gpt]
    # one process's loss varied from 0.777 to 0.794 over four draws of windows (std 0.007)
    assert max(losses) < 0.5 * np.log(17) and abs(losses[0] - losses[1]) < 0.05
    ngram = [r["metrics"]["candidates"]["ngram"]["validation"] for r in (two, one)]
    assert ngram[0] == ngram[1]  # trained once, on rank 0, as in one process


def test_the_clock_stops_both_ranks_at_the_same_step(tmp_path):
    data = tmp_path / "words.txt"
    data.write_text(text())
    run, trainers = two_processes(data, "clock", tmp_path / "runs")
    assert_ranks_agree(trainers)
    assert trainers[0]["stopped"] == "time limit"
    assert run["chosen"] == "gpt" and run["metrics"]["candidates"]["gpt"]["stopped"] == "time limit"
    lrs = trainers[0]["lrs"]
    assert lrs[-1] < max(lrs)  # the cosine followed rank 0's clock down


def test_a_streamed_text_is_tokenised_once_and_read_by_both_ranks(tmp_path):
    data = tmp_path / "words.txt"
    data.write_text(text())
    run, trainers = two_processes(data, "streamed", tmp_path / "runs")
    assert_ranks_agree(trainers)
    assert trainers[0]["steps"] == 60
    assert len(list((tmp_path / "runs" / ".cache").glob("tokens-*.bin"))) == 1
    assert any("tokenised once" in n for n in run["metrics"]["notes"])
    assert run["metrics"]["candidates"]["gpt"]["validation"]["loss"] < 0.5 * np.log(17)
