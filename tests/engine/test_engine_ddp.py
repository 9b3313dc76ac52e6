"""The engine under DistributedDataParallel on this CPU (gloo): two processes of batch b train
the same weights as one process of batch 2b; metrics and stops agree across ranks; only rank 0
writes checkpoints; a killed two-process run resumes to the weights of an uninterrupted one."""

from __future__ import annotations

import json

import pytest
import torch

from layerwise.engine import Trainer, TrainerConfig
from layerwise.engine.checkpoint import has_checkpoint
from layerwise.engine.distributed import World, current_world, run_local, shard
from layerwise.errors import ConfigError

N, BATCH = 160, 8  # 160 examples: 10 steps an epoch of 16 in one process, of 8 on each of two


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N, 6, generator=g)
    return x, (x @ torch.randn(6, 1, generator=g)).tanh() + 0.1 * torch.randn(N, 1, generator=g)


def model() -> torch.nn.Module:
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


class StopAfter:
    """Stops the run after ``epoch`` epochs, as a kill between epochs would (its checkpoint is
    the one that epoch wrote)."""

    def __init__(self, epoch: int | None):
        self.epoch = epoch

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        if record["epoch"] == self.epoch:
            trainer.stop_training = True


def train(batch: int, epochs: int = 2, folder: str | None = None, resume: bool = False,
          stop_after: int | None = None) -> Trainer:  # fmt: skip
    x, y = data()
    config = TrainerConfig(epochs=epochs, batch_size=batch, lr=1e-2, weight_decay=0.01,
                           progress=False, patience=None, seed=5, checkpoint_dir=folder,
                           resume=resume, device="cpu")  # fmt: skip
    trainer = Trainer(model(), torch.nn.functional.mse_loss, config,
                      callbacks=[StopAfter(stop_after)])  # fmt: skip
    trainer.fit((x, y), val=(x[:40], y[:40]))
    return trainer


def worker(out: str, epochs: int, folder: str | None, resume: bool,
           stop_after: int | None = None) -> None:  # fmt: skip
    """One rank: trains steps of 2 x BATCH, BATCH of them here; rank 0 writes its weights and
    history to ``out``."""
    trainer = train(2 * BATCH, epochs, folder, resume, stop_after)
    assert trainer.rank_batch == BATCH
    world = current_world()
    if world.main:
        state = {k: v.tolist() for k, v in trainer.model.state_dict().items()}
        records = trainer.history.records
        with open(out, "w") as f:
            json.dump({"state": state, "history": records, "size": world.size}, f)
    else:  # the other rank's history is rank 0's: every decision is taken alike
        with open(out + ".rank1", "w") as f:
            json.dump({"history": trainer.history.records}, f)


def test_a_shard_is_every_nth_of_the_padded_order():
    order = torch.tensor([4, 2, 0, 3, 1])
    parts = [shard(order, World(rank, 2)).tolist() for rank in range(2)]
    assert parts == [[4, 0, 1], [2, 3, 4]]  # padded with the first: 3 steps on each rank
    assert shard(order, World()).tolist() == order.tolist()


def test_the_environment_describes_the_world():
    assert current_world({"RANK": "0", "WORLD_SIZE": "4", "LOCAL_RANK": "0"}).size == 4
    with pytest.raises(ConfigError, match="RANK=5"):
        current_world({"RANK": "5", "WORLD_SIZE": "2"})


def test_two_processes_of_b_train_the_weights_of_one_process_of_2b(tmp_path):
    out = str(tmp_path / "ddp.json")
    run_local(2, worker, out, 2, None, False)
    both = json.loads(open(out).read())
    assert both["size"] == 2
    one = train(2 * BATCH).model.state_dict()
    for key, value in one.items():  # 20 steps of AdamW, a cosine schedule
        torch.testing.assert_close(torch.tensor(both["state"][key]), value, atol=1e-5, rtol=0)
    other = json.loads(open(out + ".rank1").read())["history"]
    assert [r["val_loss"] for r in other] == [r["val_loss"] for r in both["history"]]
    assert [r["train_loss"] for r in other] == [r["train_loss"] for r in both["history"]]


@pytest.mark.slow  # three two-process runs, about 15 s
def test_a_killed_two_process_run_resumes_to_the_same_weights(tmp_path):
    whole, first = str(tmp_path / "whole.json"), str(tmp_path / "first.json")
    run_local(2, worker, whole, 4, str(tmp_path / "a"), False)
    # the same run stopped after 2 of its 4 epochs (as a kill between epochs leaves it), resumed
    folder = str(tmp_path / "b")
    run_local(2, worker, first, 4, folder, False, 2)
    assert has_checkpoint(folder) and len(json.loads(open(first).read())["history"]) == 2
    resumed = str(tmp_path / "resumed.json")
    run_local(2, worker, resumed, 4, folder, True)
    a, b = json.loads(open(whole).read()), json.loads(open(resumed).read())
    assert len(b["history"]) == 4
    for key, value in a["state"].items():
        torch.testing.assert_close(torch.tensor(b["state"][key]), torch.tensor(value),
                                   atol=1e-6, rtol=0)  # fmt: skip


def test_a_custom_loop_that_is_not_data_parallel_is_refused(monkeypatch):
    class OwnLoop(Trainer):
        data_parallel = False

    monkeypatch.setattr("layerwise.engine.trainer.setup", lambda device: (World(0, 2), device))
    with pytest.raises(ConfigError, match="OwnLoop"):
        OwnLoop(model(), torch.nn.functional.mse_loss, TrainerConfig(epochs=1))


def nan_worker(out: str) -> None:
    """One rank whose share of the data holds a NaN: both ranks must stop with the error."""
    from layerwise.errors import TrainingError

    x, y = data()
    world = current_world()
    if world.rank == 1:  # this rank's own loss turns NaN; rank 0's loss stays finite at first
        x = x.clone()
        x[1::2] = float("nan")
    config = TrainerConfig(epochs=3, batch_size=2 * BATCH, progress=False, patience=None,
                           device="cpu", shuffle=False)  # fmt: skip
    try:
        Trainer(model(), torch.nn.functional.mse_loss, config).fit((x, y))
    except TrainingError as error:
        with open(f"{out}.{world.rank}", "w") as f:
            f.write(str(error))


def test_a_nan_on_one_rank_stops_every_rank_with_the_error(tmp_path):
    out = str(tmp_path / "nan")
    run_local(2, nan_worker, out)
    said = [open(f"{out}.{rank}").read() for rank in range(2)]
    assert all("NaN" in text or "nan" in text for text in said)


class PartsTrainer(Trainer):
    """A step that calls the model itself, not the DDP wrapper (as a GAN steps its two
    networks in turn): its gradients are averaged by hand (``averages_gradients``)."""

    averages_gradients = True

    def train_step(self, batch: tuple) -> dict:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.model(x), y)
        self.backward_step(loss)
        return {"loss": loss.detach()}


def train_parts(batch: int) -> Trainer:
    x, y = data()
    config = TrainerConfig(epochs=2, batch_size=batch, lr=1e-2, weight_decay=0.01,
                           progress=False, patience=None, seed=5, device="cpu")  # fmt: skip
    torch.manual_seed(11 + current_world().rank)  # each rank's own start: rank 0's must win
    trainer = PartsTrainer(torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(),
                                               torch.nn.Linear(16, 1)),
                           torch.nn.functional.mse_loss, config)  # fmt: skip
    trainer.fit((x, y))
    return trainer


def parts_worker(out: str) -> None:
    trainer = train_parts(2 * BATCH)
    if current_world().main:
        with open(out, "w") as f:
            json.dump({k: v.tolist() for k, v in trainer.model.state_dict().items()}, f)
    # a model trained by this process alone (alone=True) in the same world: no collective,
    # so rank 1 training nothing does not leave rank 0 waiting
    if current_world().main:
        x, y = data()
        alone = Trainer(model(), torch.nn.functional.mse_loss,
                        TrainerConfig(epochs=2, batch_size=16, progress=False, device="cpu",
                                      alone=True))  # fmt: skip
        alone.fit((x, y), val=(x[:40], y[:40]))
        assert not alone.world.distributed and len(alone.history) == 2


def test_gradients_averaged_by_hand_train_the_weights_of_one_process(tmp_path):
    out = str(tmp_path / "parts.json")
    run_local(2, parts_worker, out, timeout=120)
    two = json.loads(open(out).read())
    torch.manual_seed(11)
    one = train_parts(2 * BATCH).model.state_dict()
    for key, value in one.items():  # rank 0's start, 20 steps of AdamW on averaged gradients
        torch.testing.assert_close(torch.tensor(two[key]), value, atol=1e-5, rtol=0)
