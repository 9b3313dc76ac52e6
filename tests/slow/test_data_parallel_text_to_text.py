"""A text-to-text run in two gloo processes on this CPU (engine.distributed) chooses what one
process chooses and writes one run folder: the Transformer trained by both ranks together (DDP),
each on its share of every step's pairs, with rank 0's tokenizer and plan; the translation
memory, the decoding, the beam, the scores and the choice rank 0's (the memory's figures are
exactly one process's). With a time limit and no epochs, rank 0's probe sizes the model and
plans its steps for both (each rank's own probe would plan its own, and the rank with more steps
would wait for the other at a collective: the deadline of ``two_processes`` fails such a run
instead of hanging). In tests/slow: two processes on two cores, a gloo all-reduce every step."""

from __future__ import annotations

from pathlib import Path

import pytest
from two_ranks import one_and_two, two_processes

pytestmark = pytest.mark.slow

QUIET = {"task": "text-to-text", "verbose": False, "report": False, "seed": 0}
SMALL = {"dim": 64, "layers": 1, "cpu_threads": 1, "dropout": 0.1}
RUNS = {
    "epochs": {**QUIET, "candidate_params": {"transformer": {**SMALL, "epochs": 12}}},
    "planned": {**QUIET, "candidates": ["transformer"],
                "candidate_params": {"transformer": {"cpu_threads": 1, "time_limit": 20}}},
}  # fmt: skip


def pairs(path: Path, n: int) -> str:
    """Generated date pairs ("the 3rd of January 1961" -> "1961-01-03") as a tab-separated
    file: their targets have several tokens, so BLEU tells the models apart."""
    from layerwise.tasks.text_to_text.generated import generated_pairs

    made = generated_pairs(n, kind="dates", seed=0)
    path.write_text("".join(f"{s}\t{t}\n" for s, t in zip(made.sources, made.targets,
                                                           strict=True)), encoding="utf-8")  # fmt: skip
    return str(path)


def test_pairs_in_two_processes_choose_what_one_chooses(tmp_path):
    two, one = one_and_two(pairs(tmp_path / "dates.txt", 1000), RUNS["epochs"], tmp_path)
    both = [run["metrics"]["candidates"] for run in (two, one)]
    validation = {n: [b[n]["validation"]["bleu"] for b in both] for n in both[0]}
    # the Transformer 94.8 / 92.3 validation BLEU, the memory 40.0 both: a clear choice
    assert two["chosen"] == one["chosen"], validation
    memory = [b["translation-memory"]["test"] for b in both]
    assert memory[0] == memory[1]  # rank 0's alone
    bleu = [b["transformer"]["test"]["bleu"] for b in both]
    assert min(bleu) > 80 and abs(bleu[0] - bleu[1]) < 10, bleu


def test_the_transformers_plan_is_made_once_for_both_processes(tmp_path):
    run = two_processes(pairs(tmp_path / "dates.txt", 400), RUNS["planned"], tmp_path / "two")
    notes = " ".join(run["metrics"].get("notes", []))
    assert "steps of ~" in notes, notes  # rank 0's plan, which the other rank followed
