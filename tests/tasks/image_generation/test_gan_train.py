"""GAN training by the one engine: the two steps, the EMA copy, sampling and validation."""

from __future__ import annotations

import pytest
import torch

from layerwise.models.dcgan import DCGANConfig
from layerwise.tasks.image_generation.gan_train import (
    GANPair,
    GANTrainer,
    RandomBatches,
    diff_augment,
    gan_config,
    sample_images,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_pair(n_classes: int = 3) -> GANPair:
    torch.manual_seed(0)
    return GANPair(DCGANConfig(channels=1, side=8, n_classes=n_classes, z_dim=8, width=8))


def tiny_data(n: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 8, 8, generator=g) * 2 - 1, torch.randint(0, 3, (n,), generator=g)


def trainer(pair: GANPair, **options) -> GANTrainer:
    params = {"epochs": 2, "batch_size": 8, "progress": False, "device": "cpu"}
    return GANTrainer(pair, gan_config(params, seed=0), **options)


def test_fit_runs_steps_with_finite_losses_and_calls_quality():
    pair, (images, labels) = tiny_pair(), tiny_data()
    calls = []

    def quality(generator):
        calls.append(generator)
        return {"val_fd": float(10 - len(calls)), "val_class_accuracy": 0.5}

    fitter = trainer(pair, quality=quality, augment=True)
    history = fitter.fit(RandomBatches(images, labels, 8, 3, seed=0), val=(torch.zeros(1),))
    assert len(history.records) == 2 and fitter.steps_done == 6
    assert calls == [pair.generator_ema, pair.generator_ema]
    for record in history.records:
        for key in ("train_loss", "train_d_loss", "train_d_real", "train_d_fake", "val_fd"):
            assert torch.isfinite(torch.tensor(record[key])), key
    assert fitter.best_epoch == 2  # val_fd went down: the engine keeps the lower one


def test_evaluate_without_quality_is_empty():
    fitter = trainer(tiny_pair())
    assert fitter.evaluate((torch.zeros(1),)) == {}


def test_one_optimizer_with_a_group_per_network():
    pair = tiny_pair()
    fitter = GANTrainer(pair, gan_config({"lr": 1e-3, "device": "cpu"}, 0), lr_d=4e-3)
    opt = fitter.make_optimizer()
    assert isinstance(opt, torch.optim.Adam) and len(opt.param_groups) == 2
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 4e-3]
    grouped = [p for g in opt.param_groups for p in g["params"]]
    ema = set(map(id, pair.generator_ema.parameters()))
    assert len(grouped) == len(list(pair.generator.parameters())) + len(
        list(pair.discriminator.parameters())
    )
    assert not ema & set(map(id, grouped))


def test_generator_step_leaves_the_discriminator_alone():
    pair, (images, labels) = tiny_pair(), tiny_data(8)
    fitter = trainer(pair)
    fitter.optimizer = fitter.make_optimizer()
    d_before = {k: v.clone() for k, v in pair.discriminator.state_dict().items()}
    g_before = {k: v.clone() for k, v in pair.generator.state_dict().items()}
    steps = []
    original = fitter.backward_step

    def record(loss, optimizer=None, inputs=None):
        ids = set(map(id, inputs))
        who = "d" if ids == set(map(id, pair.discriminator.parameters())) else "g"
        assert ids in (
            set(map(id, pair.discriminator.parameters())),
            set(map(id, pair.generator.parameters())),
        )
        d_now = [p.detach().clone() for p in pair.discriminator.parameters()]
        original(loss, optimizer, inputs)
        if who == "g":  # the G step changes no discriminator weight
            for p, before in zip(pair.discriminator.parameters(), d_now, strict=True):
                assert p.grad is None and torch.equal(p.detach(), before)
        steps.append(who)

    fitter.backward_step = record
    out = fitter.train_step((images, labels))
    assert steps == ["d", "g"]
    assert set(out) == {"loss", "d_loss", "d_real", "d_fake"}
    changed = lambda before, module: any(  # noqa: E731
        not torch.equal(before[k], v) for k, v in module.state_dict().items()
    )
    assert changed(d_before, pair.discriminator) and changed(g_before, pair.generator)


def test_ema_follows_the_generator_without_gradients():
    pair, (images, labels) = tiny_pair(), tiny_data()
    start = {k: v.clone() for k, v in pair.generator_ema.named_parameters()}
    fitter = trainer(pair, ema_decay=0.9)
    fitter.fit(RandomBatches(images, labels, 8, 4, seed=0))
    online = dict(pair.generator.named_parameters())
    ema = dict(pair.generator_ema.named_parameters())
    assert all(not p.requires_grad for p in ema.values())
    assert any(not torch.allclose(ema[k], online[k]) for k in online)
    assert any(not torch.allclose(ema[k], start[k]) for k in online)  # it follows
    assert not pair.generator_ema.training and pair.generator.training
    assert any(k.startswith("generator_ema.") for k in pair.state_dict())


def test_training_is_deterministic_on_cpu():
    images, labels = tiny_data()
    runs = []
    for _ in range(2):
        pair = tiny_pair()
        trainer(pair).fit(RandomBatches(images, labels, 8, 2, seed=0))
        runs.append(pair.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_unconditional_pair_trains():
    pair, (images, labels) = tiny_pair(n_classes=0), tiny_data()
    history = trainer(pair).fit(RandomBatches(images, labels, 8, 2, seed=0))
    assert torch.isfinite(torch.tensor(history.records[-1]["train_loss"]))


def test_update_ema_averages_weights_and_copies_batchnorm_statistics():
    pair = tiny_pair()
    with torch.no_grad():
        for p in pair.generator.parameters():
            p.add_(1.0)
        for b in pair.generator.buffers():
            b.add_(3)
    before = {k: v.clone() for k, v in pair.generator_ema.named_parameters()}
    pair.update_ema(0.75)
    for name, p in pair.generator.named_parameters():
        expected = 0.75 * before[name] + 0.25 * p
        assert torch.allclose(dict(pair.generator_ema.named_parameters())[name], expected)
    for ema, online in zip(pair.generator_ema.buffers(), pair.generator.buffers(), strict=True):
        assert torch.equal(ema, online)


def test_sample_images_is_seeded_and_restores_the_mode():
    pair = tiny_pair()
    g = pair.generator.train()
    labels = torch.arange(5) % 3
    a = sample_images(g, 5, labels, seed=1, batch=2)
    b = sample_images(g, 5, labels, seed=1, batch=2)
    c = sample_images(g, 5, labels, seed=2, batch=2)
    assert a.shape == (5, 1, 8, 8) and a.abs().max() <= 1
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.allclose(a, sample_images(g, 5, labels, seed=1), atol=1e-5)  # one batch
    assert g.training


def test_random_batches_are_seeded_and_cover_the_data():
    images, labels = torch.arange(10.0)[:, None], torch.arange(10)
    first = [b[1] for b in RandomBatches(images, labels, 5, 2, seed=0)]
    again = [b[1] for b in RandomBatches(images, labels, 5, 2, seed=0)]
    assert len(RandomBatches(images, labels, 5, 7, seed=0)) == 7
    assert all(torch.equal(x, y) for x, y in zip(first, again, strict=True))
    assert sorted(torch.cat(first).tolist()) == list(range(10))  # one pass without repeats
    with pytest.raises(ValueError):
        RandomBatches(images, labels[:3], 5, 2, seed=0)


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x`` [C, H, W] moved by (dy, dx) pixels with zeros shifted in."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def test_diff_augment_translates_by_up_to_an_eighth():
    torch.manual_seed(0)
    x = torch.rand(32, 1, 16, 16) + 0.5  # no zeros of its own
    out = diff_augment(x, cutout=False)
    moves = []
    for image, moved in zip(x, out, strict=True):
        found = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(shifted(image, dy, dx), moved)
        ]
        assert len(found) == 1
        moves.append(found[0])
    assert len(set(moves)) > 5  # a random shift per image


def test_diff_augment_cutout_is_differentiable():
    torch.manual_seed(0)
    x = torch.ones(64, 1, 16, 16, requires_grad=True)
    out = diff_augment(x)
    zeros = (out == 0).flatten(1).float().mean(1)
    assert zeros.min() > 0 and 0.15 < zeros.mean() < 0.45  # a hole of up to 8x8, plus borders
    out.sum().backward()
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0}  # each kept pixel comes from one source
    assert x.grad.sum() == (out != 0).sum()


def test_gan_config_defaults_and_pass_through():
    config = gan_config({"time_limit": 30, "cpu_threads": 1, "progress": False}, seed=3)
    assert (config.monitor, config.mode, config.patience) == ("val_fd", "min", None)
    assert (config.batch_size, config.time_limit, config.cpu_threads, config.seed) == (64, 30, 1, 3)
    assert config.epochs >= 1000
