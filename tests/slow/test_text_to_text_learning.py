"""The text-to-text Transformer learns a mapping the translation memory cannot look up: written
dates to ISO dates (about 45 s on 2 cores, so in tests/slow; the default suite trains the task
end to end on a smaller budget in tests/tasks/text_to_text)."""

from __future__ import annotations

import pytest

import layerwise
from layerwise.tasks.text_to_text.generated import generated_pairs

pytestmark = pytest.mark.slow


def test_the_transformer_learns_dates_and_beats_the_memory(tmp_path):
    # written dates -> ISO dates: the nearest training source's date is almost never the one
    # asked, a sequence model that learnt the mapping writes it (30 epochs: about 30 s)
    pairs = generated_pairs(1000, kind="dates", seed=1)
    run = layerwise.fit(pairs, task="text-to-text", output_dir=str(tmp_path), verbose=False,
                        report=False, candidate_params={"transformer": {
                            "epochs": 30, "dim": 64, "layers": 2}})  # fmt: skip
    cand = run.metrics["candidates"]
    deep, memory = cand["transformer"]["test"], cand["translation-memory"]["test"]
    assert deep["chrf"] > memory["chrf"] + 25 and deep["exact_match"] > 0.6, (deep, memory)
    assert run.chosen == "transformer"
