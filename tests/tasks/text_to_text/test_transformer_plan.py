"""The Transformer's plan: epochs give steps; against the clock the model shrinks until it sees
the pairs often enough; a resumed run gets the plan it began with; bad plan files are ignored."""

from __future__ import annotations

import json

import numpy as np

from layerwise.tasks.text_to_text import transformer_plan as tp
from layerwise.tasks.text_to_text.batches import PairBatches
from layerwise.tasks.text_to_text.transformer_train import LENGTHS, smoothed_loss

PAIRS = [np.arange(3, 3 + n % 7) for n in range(400)]


def _loss(logits, target):
    return smoothed_loss(logits, target, 0.1)


def _batches():
    return PairBatches(PAIRS, PAIRS, max_tokens=256, seed=0)


def test_epochs_give_the_steps_and_the_data_gives_the_size():
    plan = tp.plan_training({"epochs": 3}, 400, 64, _batches(), _loss, lambda m: 0.0, LENGTHS)
    assert plan.steps == 3 * _batches().per_pass and plan.config.dim == 128


def test_a_tight_budget_shrinks_the_model_and_a_resume_keeps_the_plan(tmp_path, monkeypatch):
    seconds = {256: 4.0, 192: 2.0, 128: 0.5, 64: 0.1}  # a step's cost by width, made up
    monkeypatch.setattr(tp, "step_seconds", lambda model, *a: seconds[model.config.dim])
    params = {"time_limit": 60.0, "checkpoint_dir": str(tmp_path), "device": "cpu"}
    plan = tp.plan_training(params, 60_000, 64, _batches(), _loss, lambda m: 0.0, LENGTHS)
    per_pass = _batches().per_pass
    # the data allows dim 256; the budget gives it too few passes, so a smaller one trains
    passes = {d: tp.fitting_steps(60 / tp.SPARE, s, 0.0, per_pass) / per_pass
              for d, s in seconds.items()}  # fmt: skip
    expected = max(d for d, p in passes.items() if p >= tp.MIN_PASSES)
    assert plan.config.dim == expected and "passes" in plan.note
    assert plan.config.dropout <= tp.LOW_DROPOUT or passes[expected] >= tp.MANY_PASSES
    resumed = tp.plan_training({**params, "resume": True}, 60_000, 64, _batches(), _loss,
                               lambda m: 0.0, LENGTHS)  # fmt: skip
    assert resumed.config == plan.config and resumed.steps == plan.steps
    (tmp_path / tp.PLAN_FILE).write_text(json.dumps({"steps": -1, "config": {}}))
    again = tp.plan_training({**params, "resume": True}, 60_000, 64, _batches(), _loss,
                             lambda m: 0.0, LENGTHS)  # fmt: skip
    assert again.steps > 0 and again.config.dim == expected  # a bad plan file: planned anew
    assert expected < 256  # the made-up costs leave dim 256 short of its passes


def test_every_step_of_every_pass_has_a_batch():
    rng = np.random.default_rng(0)
    pairs = [np.arange(3, 3 + rng.integers(1, 30)) for _ in range(10_000)]  # three windows
    batches = PairBatches(pairs, pairs[::-1], max_tokens=300, seed=0)
    counts = {len(batches._batches(p)) for p in range(6)}
    assert len(counts) > 1  # the passes differ, and still:
    for step in range(0, 6 * batches.per_pass, 7):
        source, target_in, _ = batches.batch(step)
        assert source.numel() + target_in.numel() <= 300
