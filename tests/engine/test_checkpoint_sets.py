"""Checkpoints as numbered sets: a kill at any step of a write leaves a run that resumes, a
damaged set falls back to the one before it with a note, and state.json is untrusted input."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from torch import nn

from layerwise.engine import Trainer, TrainerConfig, checkpoint, load_weights, save_weights
from layerwise.errors import LayerwiseWarning, TrainingError

CFG = {"patience": None, "restore_best": False, "progress": False, "batch_size": 32}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def split():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(160, 4, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return (x[:120], y[:120]), (x[120:], y[120:])


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


class EpochCount:
    def __init__(self):
        self.epochs = 0

    def on_epoch_end(self, trainer, record):
        self.epochs += 1


def train(split, folder=None, epochs=3, resume=False, seed=0, **options) -> Trainer:
    config = TrainerConfig(epochs=epochs, checkpoint_dir=folder, resume=resume, **CFG, **options)
    trainer = Trainer(
        make_model(seed), nn.functional.cross_entropy, config, callbacks=[EpochCount()]
    )
    trainer.fit(*split)
    return trainer


def last_complete_epoch(folder) -> int:
    done = [json.loads((p / "state.json").read_text())["epoch"] for p in folder.glob("set-*")]
    return max(done, default=0)


class Killed(Exception):
    """Stands for a kill: raised before one step of a checkpoint write, nothing cleans up."""


def kill_at(monkeypatch, k: int) -> dict:
    """Raise Killed at the k-th file write, set publish or prune (0: count them only)."""
    calls = {"n": 0}

    def wrap(step):
        def run(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == k:
                raise Killed(f"killed at step {k}")
            return step(*args, **kwargs)

        return run

    for name in ("atomic_write", "_publish", "_prune"):
        monkeypatch.setattr(checkpoint, name, wrap(getattr(checkpoint, name)))
    return calls


def sets(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_kill_at_any_step_of_any_checkpoint_write_still_resumes_to_the_same_weights(
    split, tmp_path, monkeypatch
):
    straight = train(split, epochs=2).model.state_dict()
    with monkeypatch.context() as patch:
        steps = kill_at(patch, 0)
        train(split, tmp_path / "count", epochs=2)
    assert steps["n"] >= 8  # two epochs of files, publish and prune

    for k in range(1, steps["n"] + 1):
        folder = tmp_path / f"kill-{k}"
        with monkeypatch.context() as patch, pytest.raises(Killed):
            kill_at(patch, k)
            train(split, folder, epochs=2)
        interrupted = any(p.name.endswith(".tmp") for p in folder.iterdir())
        done = last_complete_epoch(folder)
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always")
            resumed = train(split, folder, epochs=2, resume=True)
        assert resumed.callbacks[0].epochs == 2 - done, k  # only the epochs not checkpointed
        said = [str(n.message) for n in notes if issubclass(n.category, LayerwiseWarning)]
        if interrupted:  # the write in progress was thrown away, and the note says so
            assert len(said) == 1 and "unfinished checkpoint write was discarded" in said[0]
            fell_back = f"fell back to the last complete checkpoint (epoch {done})"
            assert (fell_back if done else "trains again from the first epoch") in said[0], k
        else:
            assert said == []
        for key, value in straight.items():
            assert torch.allclose(value, resumed.model.state_dict()[key], atol=1e-6), k
        assert len(sets(folder)) == 1 and sets(folder)[0] >= "set-000002", k
        assert not any(p.name.startswith(".") for p in folder.iterdir())


def test_a_damaged_newest_set_falls_back_to_the_one_before_with_a_note(
    split, tmp_path, monkeypatch
):
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "_prune", lambda directory, keep: None)  # keep both sets
        train(split, tmp_path, epochs=2)
    assert sets(tmp_path) == ["set-000001", "set-000002"]
    state = tmp_path / "set-000002" / "state.json"
    state.write_text(state.read_text()[:40])  # truncated
    with pytest.warns(LayerwiseWarning, match=r"set-000002 was skipped \(state.json is not valid"
                      r" JSON.*fell back to the last complete checkpoint \(epoch 1\)"):  # fmt: skip
        resumed = train(split, tmp_path, epochs=3, resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert sets(tmp_path) == ["set-000003"]


def make_one_set(split, folder):
    train(split, folder, epochs=1)
    (found,) = folder.iterdir()
    return found


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: "{" + json.dumps(s)[:30], "not valid JSON"),
        (lambda s: [], "not a JSON object"),
        (lambda s: {**s, "epoch": "1"}, "epoch '1'"),
        (lambda s: {**s, "epoch": -4}, "epoch -4"),
        (lambda s: {**s, "format_version": 99}, "newer layerwise"),
        (lambda s: {**s, "best_epoch": 7}, "best_epoch 7"),
        (lambda s: {**s, "history": [{"epoch": 1, "loss": {"nested": 1}}]}, "history"),
        (lambda s: {**s, "rng": {"torch": "AAAA"}}, "random number generator"),
        (lambda s: {**s, "optimizer": {"param_groups": "x"}}, "optimizer settings"),
        (lambda s: {**s, "token": "another write"}, "last.safetensors is not from epoch 1"),
    ],
)
def test_a_crafted_or_truncated_state_json_is_one_clear_training_error(
    split, tmp_path, change, message
):
    found = make_one_set(split, tmp_path)
    state = json.loads((found / "state.json").read_text())
    changed = change(state)
    text = changed if isinstance(changed, str) else json.dumps(changed)
    (found / "state.json").write_text(text)
    with pytest.raises(TrainingError, match=message) as caught:
        train(split, tmp_path, resume=True)
    line = str(caught.value)
    assert "\n" not in line and f"Delete {tmp_path} to train this model again" in line


def test_crafted_tensors_that_do_not_fit_are_refused_before_training(split, tmp_path):
    found = make_one_set(split, tmp_path)
    token = json.loads((found / "state.json").read_text())["token"]
    wrong = {"state/0/exp_avg": torch.zeros(3, 3), "state/0/step": torch.tensor(1.0)}
    (found / "optimizer.safetensors").unlink()
    save_weights(found / "optimizer.safetensors", wrong, {"token": token})
    with pytest.raises(TrainingError, match=r"does not fit this optimizer: state/0/exp_avg has"):
        train(split, tmp_path, resume=True)

    other = tmp_path / "other"
    make_one_set(split, other)
    config = TrainerConfig(epochs=2, checkpoint_dir=other, resume=True, **CFG)
    wider = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    with pytest.raises(TrainingError, match="does not fit this model"):
        Trainer(wider, nn.functional.cross_entropy, config).fit(*split)


def test_a_crafted_scheduler_state_sets_no_foreign_attribute(split, tmp_path):
    found = make_one_set(split, tmp_path)
    state = json.loads((found / "state.json").read_text())
    state["scheduler"]["optimizer"] = 5  # LambdaLR.load_state_dict would set it as an attribute
    (found / "state.json").write_text(json.dumps(state))
    resumed = train(split, tmp_path, resume=True)
    assert resumed.scheduler.optimizer is resumed.optimizer

    state["scheduler"]["base_lrs"] = "fast"
    found = next(tmp_path.glob("set-*"))
    state["token"] = json.loads((found / "state.json").read_text())["token"]
    (found / "state.json").write_text(json.dumps(state))
    with pytest.raises(TrainingError, match="learning-rate schedule: base_lrs is 'fast'"):
        train(split, tmp_path, epochs=4, resume=True)


def test_the_layout_before_sets_still_resumes_and_is_replaced(split, tmp_path):
    straight = train(split, schedule="constant").model.state_dict()
    train(split, tmp_path, epochs=1, schedule="constant")
    (found,) = tmp_path.iterdir()
    for path in found.iterdir():  # what save_checkpoint wrote before sets: files at the top level
        path.rename(tmp_path / path.name)
    found.rmdir()
    resumed = train(split, tmp_path, resume=True, schedule="constant")
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    for key, value in straight.items():
        assert torch.allclose(value, resumed.model.state_dict()[key], atol=1e-6)
    assert sets(tmp_path) == ["set-000002"]  # the top-level files went once a set replaced them


def test_an_interrupted_write_in_the_old_layout_trains_again_from_the_first_epoch(split, tmp_path):
    found = make_one_set(split, tmp_path)
    for path in found.iterdir():
        path.rename(tmp_path / path.name)
    found.rmdir()
    # A kill between two files: last.safetensors from the next epoch, state.json from this one.
    save_weights(tmp_path / "last.safetensors", make_model().state_dict(), {"token": "newer"})
    with pytest.warns(LayerwiseWarning, match="trains again from the first epoch"):
        resumed = train(split, tmp_path, epochs=2, resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2]


def test_unchanged_best_weights_carry_over_to_the_next_set(tmp_path):
    model = nn.Linear(2, 1)
    best = {k: v.clone() for k, v in model.state_dict().items()}
    first = checkpoint.save_checkpoint(tmp_path, model, None, {"epoch": 1}, best)
    with torch.no_grad():
        model.weight.add_(1.0)
    second = checkpoint.save_checkpoint(tmp_path, model, None, {"epoch": 2}, None, first)
    assert not first.exists() and second.name == "set-000002"
    assert torch.equal(load_weights(second / "best.safetensors")["weight"], best["weight"])
    third = checkpoint.save_checkpoint(tmp_path, model, None, {"epoch": 3})  # no previous: none
    assert not (third / "best.safetensors").exists()
