"""Tests of the training loop, on tiny synthetic data (CPU)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from layerwise.engine import History, Trainer, TrainerConfig, load_weights
from layerwise.errors import ConfigError, TrainingError


def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    return (outputs.argmax(1) == targets).float().mean().item()


def make_data(n: int = 400, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, y


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))


def config(**options) -> TrainerConfig:
    options.setdefault("progress", False)
    options.setdefault("batch_size", 32)
    return TrainerConfig(**options)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def split():
    x, y = make_data()
    return (x[:300], y[:300]), (x[300:], y[300:])


def test_mlp_learns_separable_problem(split):
    train, val = split
    trainer = Trainer(
        make_model(),
        nn.functional.cross_entropy,
        config(epochs=15, lr=1e-2),
        {"accuracy": accuracy},
    )
    history = trainer.fit(train, val)
    assert history.best["val_accuracy"] > 0.9
    assert trainer.evaluate(val)["val_accuracy"] > 0.9
    assert set(history[0]) == {"epoch", "train_loss", "val_loss", "val_accuracy", "lr", "seconds"}
    assert [r["epoch"] for r in history] == list(range(1, 16))
    assert trainer.stopped_reason == "max epochs"
    out = trainer.predict((val[0],))
    assert out.shape == (100, 2) and out.device.type == "cpu"


def test_early_stopping_restores_best(split):
    train, val = split
    # lr=0 with SGD: the loss never improves after epoch 1, a perfect plateau.
    cfg = config(epochs=20, lr=0.0, optimizer="sgd", schedule="constant", patience=3)
    trainer = Trainer(make_model(), nn.functional.cross_entropy, cfg)
    history = trainer.fit(train, val)
    assert trainer.stopped_reason == "early stopping"
    assert len(history) == 4 and trainer.best_epoch == 1

    # A noisy run (high lr) that stops early: the final weights are the best epoch's.
    cfg = config(epochs=30, lr=0.5, optimizer="sgd", schedule="constant", patience=2)
    trainer = Trainer(make_model(), nn.functional.cross_entropy, cfg)
    history = trainer.fit(train, val)
    assert trainer.best_epoch == history.best["epoch"]
    assert trainer.evaluate(val)["val_loss"] == history.best["val_loss"]
    if trainer.stopped_reason == "early stopping":
        assert history.last["val_loss"] > history.best["val_loss"]


def test_same_seed_same_weights(split):
    train, val = split
    states = []
    for _ in range(2):
        trainer = Trainer(make_model(), nn.functional.cross_entropy, config(epochs=3, seed=7))
        trainer.fit(train, val)
        states.append(trainer.model.state_dict())
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key])
    other = Trainer(make_model(), nn.functional.cross_entropy, config(epochs=3, seed=8))
    other.fit(train, val)
    assert not torch.equal(other.model.state_dict()["0.weight"], states[0]["0.weight"])


def test_nan_loss_raises_and_keeps_checkpoint(split, tmp_path):
    train, val = split
    calls = {"n": 0}
    steps_per_epoch = math.ceil(300 / 32)

    def loss_fn(out, target):
        calls["n"] += 1
        loss = nn.functional.cross_entropy(out, target)
        # Training calls come first in each epoch, then the validation batches.
        return loss * float("nan") if calls["n"] > steps_per_epoch + 1 + 1 else loss

    trainer = Trainer(make_model(), loss_fn, config(epochs=5, checkpoint_dir=tmp_path))
    with pytest.raises(TrainingError, match=r"epoch 2, step 2.*learning rate"):
        trainer.fit(train, val)
    (kept,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]  # one complete set
    state = json.loads((kept / "state.json").read_text())
    assert state["epoch"] == 1
    weights = load_weights(kept / "last.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())
    model = make_model()
    model.load_state_dict(weights)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())  # best weights restored


def test_nan_inputs_raise(split):
    (x, y), val = split
    x = x.clone()
    x[5, 0] = float("nan")
    trainer = Trainer(make_model(), nn.functional.cross_entropy, config(epochs=2, shuffle=False))
    with pytest.raises(TrainingError, match="epoch 1, step 1"):
        trainer.fit((x, y), val)


def test_resume_continues(split, tmp_path):
    train, val = split
    first = Trainer(
        make_model(), nn.functional.cross_entropy, config(epochs=3, checkpoint_dir=tmp_path)
    )
    first.fit(train, val)
    assert [p.name for p in tmp_path.iterdir()] == ["set-000003"]  # older sets are dropped
    assert {p.name for p in (tmp_path / "set-000003").iterdir()} == {
        "last.safetensors",
        "best.safetensors",
        "optimizer.safetensors",
        "state.json",
    }
    second = Trainer(
        make_model(seed=1),
        nn.functional.cross_entropy,
        config(epochs=5, checkpoint_dir=tmp_path, resume=True),
    )
    history = second.fit(train, val)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5]
    assert history[:3] == first.history.records


def test_resume_matches_uninterrupted_run(split, tmp_path):
    train, val = split
    cfg = {"epochs": 4, "schedule": "constant", "patience": None, "restore_best": False}
    straight = Trainer(make_model(), nn.functional.cross_entropy, config(**cfg))
    straight.fit(train, val)
    part = Trainer(
        make_model(),
        nn.functional.cross_entropy,
        config(**{**cfg, "epochs": 2}, checkpoint_dir=tmp_path),
    )
    part.fit(train, val)
    rest = Trainer(
        make_model(seed=3),
        nn.functional.cross_entropy,
        config(**cfg, checkpoint_dir=tmp_path, resume=True),
    )
    rest.fit(train, val)
    for key, value in straight.model.state_dict().items():
        assert torch.allclose(value, rest.model.state_dict()[key], atol=1e-6)


def test_time_limit_stops(split):
    train, val = split
    trainer = Trainer(make_model(), nn.functional.cross_entropy, config(epochs=50, time_limit=0))
    history = trainer.fit(train, val)
    assert trainer.stopped_reason == "time limit" and len(history) == 1


def test_history_csv_round_trip(split, tmp_path):
    train, val = split
    trainer = Trainer(
        make_model(), nn.functional.cross_entropy, config(epochs=3), {"accuracy": accuracy}
    )
    history = trainer.fit(train, val)
    path = history.write_csv(tmp_path / "history.csv")
    back = History.read_csv(path)
    assert back.records == history.records
    frame = history.to_frame()
    assert list(frame.columns) == [
        "epoch",
        "train_loss",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
    ]
    assert len(frame) == 3


def test_no_validation_monitors_train_loss(split):
    train, _ = split
    trainer = Trainer(make_model(), nn.functional.cross_entropy, config(epochs=2))
    history = trainer.fit(train)
    assert history.monitor == "train_loss" and "val_loss" not in history[0]
    assert trainer.best_epoch in (1, 2)


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "constant"])
@pytest.mark.parametrize("optimizer", ["adamw", "adam", "sgd"])
def test_options_run(split, schedule, optimizer):
    train, val = split
    cfg = config(
        epochs=2, schedule=schedule, optimizer=optimizer, warmup_steps=3, clip_grad_norm=1.0
    )
    history = Trainer(make_model(), nn.functional.cross_entropy, cfg).fit(train, val)
    assert all(math.isfinite(r["train_loss"]) for r in history)


def test_dataloader_input(split):
    train, val = split
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*train), batch_size=64)
    history = Trainer(make_model(), nn.functional.cross_entropy, config(epochs=2)).fit(loader, val)
    assert len(history) == 2


def test_progress_bar_does_not_crash(split, capsys):
    train, val = split
    Trainer(make_model(), nn.functional.cross_entropy, config(epochs=2, progress=True)).fit(
        train, val
    )
    capsys.readouterr()
    Trainer(make_model(), nn.functional.cross_entropy, config(epochs=2, progress=False)).fit(
        train, val
    )
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_custom_train_step(split):
    train, val = split

    class Custom(Trainer):
        def train_step(self, batch):
            x, y = batch
            loss = nn.functional.cross_entropy(self.model(x), y)
            self.backward_step(loss)
            return {"loss": loss.item(), "extra": 1.0}

    history = Custom(make_model(), nn.functional.cross_entropy, config(epochs=1)).fit(train, val)
    assert history[0]["train_extra"] == 1.0


def test_invalid_options():
    with pytest.raises(ConfigError, match="'adamw', 'adam', 'sgd'"):
        TrainerConfig(optimizer="lamb")
    with pytest.raises(ConfigError):
        TrainerConfig(schedule="step")
    with pytest.raises(ConfigError):
        TrainerConfig(mixed_precision="fp8")


def test_cpu_threads_apply_during_fit_and_are_restored(split):
    train, val = split
    seen = []

    class Recording(Trainer):
        def train_step(self, batch):
            seen.append(torch.get_num_threads())
            return super().train_step(batch)

    torch.set_num_threads(2)
    Recording(make_model(), nn.functional.cross_entropy, config(epochs=1, cpu_threads=1)).fit(
        train, val
    )
    assert set(seen) == {1}
    assert torch.get_num_threads() == 2
    seen.clear()
    Recording(make_model(), nn.functional.cross_entropy, config(epochs=1)).fit(train, val)
    assert set(seen) == {2}  # None leaves torch's setting alone


def test_batch_transform_applies_to_training_batches_only(split):
    train, val = split
    seen = {"train": 0}

    def transform(batch):
        x, y = batch
        seen["train"] += len(x)
        return x * 0.0, y  # the model sees only zeros while training

    trainer = Trainer(
        make_model(), nn.functional.cross_entropy, config(epochs=2), batch_transform=transform
    )
    trainer.fit(train, val)
    assert seen["train"] == 2 * len(train[0])  # every training sample, each epoch
    trainer.evaluate(val)
    trainer.predict((val[0],))
    assert seen["train"] == 2 * len(train[0])  # evaluation and prediction are untouched


def test_a_max_mode_monitor_without_validation_falls_back_to_the_lowest_training_loss():
    # e.g. a recommender monitored by val NDCG@10 (mode max), retrained without validation:
    # the best epoch must be the one with the lowest training loss, not the highest
    torch.manual_seed(0)
    x = torch.randn(128, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    config = TrainerConfig(epochs=6, batch_size=32, lr=0.05, monitor="val_ndcg", mode="max",
                           patience=None, progress=False)  # fmt: skip
    trainer = Trainer(torch.nn.Linear(4, 1), torch.nn.functional.mse_loss, config)
    history = trainer.fit((x, y))
    losses = [r["train_loss"] for r in history.records]
    assert history.monitor == "train_loss" and history.mode == "min"
    assert history.best["train_loss"] == min(losses) and losses[-1] < losses[0]


def test_an_epoch_without_batches_ends_training():
    """Batch sources that stop at a deadline (the LM's and GAN's) end training there, without
    recording an empty epoch."""
    x, y = torch.randn(12, 3), torch.randn(12, 1)

    class FiveBatches:  # two per epoch until five have been given
        given = 0

        def __len__(self):
            return 2

        def __iter__(self):
            for _ in range(2):
                if self.given == 5:
                    return
                self.given += 1
                yield x[:4], y[:4]

    trainer = Trainer(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss,
                      TrainerConfig(epochs=10, schedule="constant", progress=False))  # fmt: skip
    history = trainer.fit(FiveBatches())
    assert len(history) == 3 and trainer.stopped_reason == "no more batches"


def test_gains_below_min_delta_do_not_hold_off_early_stopping():
    from layerwise.engine.callbacks import EarlyStopping

    crumbs = [1.0, 0.5, 0.49999, 0.49998, 0.49997, 0.49996]  # still improving, by 1e-5
    plain, coarse = EarlyStopping(patience=3), EarlyStopping(patience=3, min_delta=1e-3)
    for epoch, loss in enumerate(crumbs, 1):
        plain.update({"epoch": epoch, "val_loss": loss})
        coarse.update({"epoch": epoch, "val_loss": loss})
    assert not plain.should_stop and coarse.should_stop  # 3 epochs since the last real gain
    assert coarse.best == plain.best == 0.49996  # the best epoch is still the one restored
    assert coarse.best_epoch == 6
    resumed = EarlyStopping(patience=3, min_delta=1e-3)
    resumed.load_state({"best": 0.5, "best_epoch": 2, "epoch": 4})  # a checkpoint without marks
    assert resumed.mark == 0.5 and resumed.mark_epoch == 2
