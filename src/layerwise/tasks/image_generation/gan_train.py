"""How the DCGAN of image-generation is trained by the one engine.

``GANTrainer`` overrides ``train_step`` (one hinge-loss discriminator step, then one generator
step whose gradients reach only the generator, then an EMA update of the generator copy that
is sampled from), ``make_optimizer`` (one Adam with a parameter group per network, so the
engine's checkpoints save it whole) and ``evaluate`` (sample quality of the EMA generator,
e.g. a Frechet distance, so the engine keeps the best epoch). Real and fake images both go
through DiffAugment-style translation and cutout before the discriminator (Zhao et al., 2020),
which keeps a discriminator from memorising a small training set on long runs; it is off by
default because it slowed short CPU runs down (below).

Measured on a 2-core CPU, one thread, sharing it with another run: conditional, 16x16 digits
(1,527 training images), batch 64, hinge loss; "acc" is a judge MLP's (97.4% on real held-out
digits) accuracy on 1,000 samples of the EMA generator (100 per class), "min" the worst class,
FD the Frechet distance of the judge's hidden features to the held-out digits:

    lr     betas       width  augment       EMA   steps  steps/s  acc    min   FD
    2e-4   (0, .9)     32     trans+cutout  .999  200    2.6      66.7%  0%    63
    1e-3   (0, .9)     32     trans+cutout  .999  200    2.5      99.8%  98%   28
    1e-3   (0, .9)     64     trans+cutout  .999  100    0.8      51.8%  0%    143
    1e-3   (.5, .999)  32     trans+cutout  .999  200    1.9      69.3%  0%    116
    1e-3   (0, .9)     32     trans+cutout  off   200    1.7      100%   100%  47
    1e-3   (0, .9)     32     off           .999  200    2.2      99.6%  98%   17
    1e-3   (0, .9)     32     trans+cutout  .999  400/600  3.0    100%   100%  22/34
    1e-3   (0, .9)     32     translation   .999  400/800  3.8    100%   100%  22/28
    1e-3   (0, .9)     32     off           .999  400/800  3.3    99.8%  99%   10/6.6
    1e-3   (0, .9)     32     off (seed 1)  .999  300    3.8      99.4%  97%   12.5
    1e-3   (0, .9)     32     off (seed 2)  .999  300    3.4      99.0%  94%   12.8
    2e-3   (0, .9)     32     off           .999  300    3.4      100%   100%  12.6
    1e-3, D 2e-3       32     off           .999  300    3.7      99.1%  93%   17.8

Hence the defaults: lr 1e-3 for both networks, betas (0, 0.9), width 32, no augmentation,
EMA 0.999 (with a (1 + t) / (10 + t) warmup): >= 99% of samples are the asked-for digit after
~75 s (300 steps). EMA mainly improves FD (28 vs 47); the raw generator is often worse per class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from layerwise.engine import Trainer, TrainerConfig
from layerwise.models.dcgan import DCGANConfig, Discriminator, Generator, sample_latent

MONITOR = "val_fd"
LR = 1e-3
BETAS = (0.0, 0.9)
EMA_WARMUP = 10  # EMA decay starts at (1 + t) / (10 + t): early averages don't drag the start
TRANSLATE = 0.125  # translate by up to this share of the side
CUTOUT = 0.5  # a square of this share of the side is zeroed


class GANPair(nn.Module):
    """The generator, the discriminator and ``generator_ema``, an exponential moving average
    copy of the generator (no gradients, kept in eval mode and in the state_dict, so
    checkpoints and weights files save it). Calling the pair samples from the EMA generator.

    Example:
        >>> pair = GANPair(DCGANConfig(channels=1, side=16, n_classes=10, width=8))
        >>> pair(torch.randn(2, 64), torch.tensor([3, 7])).shape
        torch.Size([2, 1, 16, 16])
    """

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = config
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)
        self.generator_ema = Generator(config)
        self.generator_ema.load_state_dict(self.generator.state_dict())
        self.generator_ema.requires_grad_(False)
        self.generator_ema.eval()

    def train(self, mode: bool = True) -> GANPair:
        super().train(mode)
        self.generator_ema.eval()  # only ever sampled from
        return self

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator_ema(z, labels)

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        """``ema = decay * ema + (1 - decay) * generator``; BatchNorm statistics are copied."""
        for ema, online in zip(
            self.generator_ema.parameters(), self.generator.parameters(), strict=True
        ):
            ema.lerp_(online, 1.0 - decay)
        for ema, online in zip(self.generator_ema.buffers(), self.generator.buffers(), strict=True):
            ema.copy_(online)


def diff_augment(x: torch.Tensor, cutout: bool = True) -> torch.Tensor:
    """Random translation (up to 1/8 of the side, zero padding) and cutout of a batch, both
    differentiable in ``x``; randomness from torch's global generator on ``x``'s device.

    Example:
        >>> torch.manual_seed(0) and diff_augment(torch.ones(2, 1, 16, 16)).shape
        torch.Size([2, 1, 16, 16])
    """
    n, _, h, w = x.shape
    dev = x.device
    sh, sw = max(1, round(h * TRANSLATE)), max(1, round(w * TRANSLATE))
    ty = torch.randint(-sh, sh + 1, (n, 1, 1), device=dev)
    tx = torch.randint(-sw, sw + 1, (n, 1, 1), device=dev)
    rows = torch.arange(h, device=dev)[None, :, None] - ty  # [n, h, 1] source rows
    cols = torch.arange(w, device=dev)[None, None, :] - tx  # [n, 1, w] source cols
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)  # [n, h, w]
    index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).reshape(n, 1, h * w)
    flat = x.reshape(n, x.shape[1], h * w)
    moved = flat.gather(2, index.expand(-1, x.shape[1], -1)).reshape_as(x)
    mask = inside
    if cutout:
        ch, cw = max(1, round(h * CUTOUT)), max(1, round(w * CUTOUT))
        cy = torch.randint(0, h + 1 - ch % 2, (n, 1, 1), device=dev)
        cx = torch.randint(0, w + 1 - cw % 2, (n, 1, 1), device=dev)
        r = torch.arange(h, device=dev)[None, :, None]
        c = torch.arange(w, device=dev)[None, None, :]
        hole = ((r - cy).abs() < (ch + 1) // 2) & ((c - cx).abs() < (cw + 1) // 2)
        mask = mask & ~hole
    return moved * mask[:, None].to(x.dtype)


class GANTrainer(Trainer):
    """The engine with hinge-loss GAN steps, one two-group Adam, an EMA generator and
    sample-quality validation.

    ``quality(generator_ema) -> {"val_fd": ..., ...}`` measures the EMA generator each epoch;
    ``lr_d`` is the discriminator's rate (default: the config's ``lr``); ``augment`` applies
    :func:`diff_augment` to real and fake images before the discriminator (for long runs on
    small datasets); ``ema_decay`` is the EMA generator's decay.

    Example:
        >>> pair = GANPair(DCGANConfig(channels=1, side=8, n_classes=2, width=8))
        >>> images, labels = torch.rand(32, 1, 8, 8) * 2 - 1, torch.randint(0, 2, (32,))
        >>> trainer = GANTrainer(pair, gan_config({"epochs": 1, "progress": False}, seed=0))
        >>> history = trainer.fit(RandomBatches(images, labels, 8, steps=2, seed=0))
        >>> sorted(history.records[0])[:4]
        ['epoch', 'lr', 'seconds', 'train_d_fake']
    """

    # under DDP: two networks stepped in turn through their parts, which one DDP wrapper cannot
    # follow, so each backward_step averages its gradients across the ranks (the engine's
    # averages_gradients) and rank 0's BatchNorm statistics are every rank's after each step
    averages_gradients = True

    def __init__(
        self,
        pair: GANPair,
        config: TrainerConfig,
        quality: Callable[[nn.Module], dict[str, float]] | None = None,
        ema_decay: float = 0.999,
        lr_d: float | None = None,
        augment: bool = False,
    ):
        super().__init__(pair, lambda out, target: out, config)
        self.quality = quality
        self.ema_decay = ema_decay
        self.lr_d = lr_d
        self.augment = augment

    @property
    def steps_done(self) -> int:
        """Generator steps taken, read from the optimizer's state (so it survives a resume)."""
        if self.optimizer is None:
            return 0
        state = self.optimizer.state.get(next(self.model.generator.parameters()), {})
        return int(state.get("step", 0))

    def make_optimizer(self) -> torch.optim.Optimizer:
        """One Adam, a parameter group per network (generator first)."""
        lr = self.config.lr
        groups = [
            {"params": list(self.model.generator.parameters()), "lr": lr},
            {"params": list(self.model.discriminator.parameters()), "lr": self.lr_d or lr},
        ]
        return torch.optim.Adam(groups, lr=lr, betas=BETAS)

    def _critic(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.augment:
            images = diff_augment(images)
        return self.model.discriminator(images, labels)

    def train_step(self, batch: tuple[Any, ...]) -> dict[str, Any]:
        real, labels = batch[0], batch[1] if len(batch) > 1 else None
        pair, n = self.model, len(real)
        if not pair.config.n_classes:
            labels = None
        z = torch.randn(n, pair.config.z_dim, device=real.device)
        with self.autocast():
            fake = pair.generator(z, labels)
            both_labels = None if labels is None else torch.cat([labels, labels])
            logits = self._critic(torch.cat([real, fake.detach()]), both_labels)
            d_real, d_fake = logits[:n], logits[n:]
            d_loss = torch.relu(1 - d_real).mean() + torch.relu(1 + d_fake).mean()
        self.backward_step(d_loss, inputs=list(pair.discriminator.parameters()))
        with self.autocast():
            g_loss = -self._critic(fake, labels).mean()
        self.backward_step(g_loss, inputs=list(pair.generator.parameters()))
        t = self.steps_done
        pair.update_ema(min(self.ema_decay, (1 + t) / (EMA_WARMUP + t)))
        return {
            "loss": g_loss.detach(),
            "d_loss": d_loss.detach(),
            "d_real": d_real.detach().float().mean(),
            "d_fake": d_fake.detach().float().mean(),
        }

    def sampler(self) -> nn.Module:
        """What samples are drawn from: the averaged generator."""
        return self.model.generator_ema

    def evaluate(self, data: Any) -> dict[str, float]:
        """``quality(generator_ema)``; ``data`` is unused (the engine passes its placeholder)."""
        if self.quality is None:
            return {}
        return dict(self.quality(self.model.generator_ema))


class RandomBatches:
    """``steps`` random batches of ``(images, labels)`` per epoch ("epoch" = ``steps``), drawn
    without replacement from a seeded permutation that is redrawn when used up.

    Example:
        >>> batches = RandomBatches(torch.zeros(10, 1, 8, 8), torch.zeros(10).long(), 4, 3, 0)
        >>> len(batches), [b[0].shape[0] for b in batches]
        (3, [4, 4, 4])
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch: int, steps: int,
                 seed: int, deadline: float | None = None):  # fmt: skip
        from layerwise.engine.distributed import current_world, rank_seed

        if len(images) != len(labels) or len(images) == 0:
            raise ValueError(
                f"{len(images)} images and {len(labels)} labels: give equal, non-zero counts."
            )
        self.images, self.labels = images, labels
        # in a world of several processes each draws its own share of the step's batch (rank 0
        # what one process draws), and the deadline is the world's: any rank past it ends the
        # epoch of all, at the same step
        self.world = current_world()
        self.batch, self.steps = min(max(1, batch // self.world.size), len(images)), steps
        self.generator = torch.Generator().manual_seed(rank_seed(seed, self.world.rank))
        self._order = torch.empty(0, dtype=torch.long)
        self.deadline = deadline  # a time.perf_counter() value: the epoch ends early after it

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from layerwise.engine.distributed import any_across

        for _ in range(self.steps):
            if self.deadline is not None and any_across(time.perf_counter() >= self.deadline,
                                                        self.world):  # fmt: skip
                return
            if len(self._order) < self.batch:
                self._order = torch.randperm(len(self.images), generator=self.generator)
            index, self._order = self._order[: self.batch], self._order[self.batch :]
            yield self.images[index], self.labels[index]


def gan_config(params: dict[str, Any], seed: int) -> TrainerConfig:
    """The engine's options for a GAN: monitored by ``val_fd`` (lower is better), no early
    stopping, a constant rate; ``params`` may set epochs, batch_size, lr, time_limit, device,
    checkpoint_dir, resume, progress, cpu_threads and mixed_precision.

    Example:
        >>> gan_config({"time_limit": 60}, seed=0).monitor
        'val_fd'
    """
    keys = ("batch_size", "lr", "time_limit", "device", "checkpoint_dir", "resume", "progress",
            "cpu_threads", "mixed_precision")  # fmt: skip
    options = {k: params[k] for k in keys if k in params}
    options.setdefault("batch_size", 64)
    options.setdefault("lr", LR)
    return TrainerConfig(epochs=int(params.get("epochs", 10_000)), optimizer="adam",
                         schedule="constant", patience=params.get("patience"), monitor=MONITOR,
                         mode="min", seed=seed, **options)  # fmt: skip


def sample_images(
    generator: nn.Module,
    n: int,
    labels: torch.Tensor | None = None,
    seed: int = 0,
    batch: int = 256,
) -> torch.Tensor:
    """``n`` images in [-1, 1] on the CPU, sampled in eval mode without gradients; the same
    ``seed`` gives the same images. ``labels`` (length ``n``) picks the classes of a
    conditional generator. The module's train/eval mode is restored.

    Example:
        >>> g = Generator(DCGANConfig(channels=1, side=16, n_classes=10, width=8))
        >>> a = sample_images(g, 4, torch.arange(4), seed=1)
        >>> torch.equal(a, sample_images(g, 4, torch.arange(4), seed=1)), a.shape
        (True, torch.Size([4, 1, 16, 16]))
    """
    device = next(generator.parameters()).device
    z = sample_latent(n, generator.config.z_dim, torch.Generator().manual_seed(seed))
    was_training = generator.training
    generator.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, n, batch):
            zb = z[start : start + batch].to(device)
            yb = None if labels is None else labels[start : start + batch].to(device)
            parts.append(generator(zb, yb).float().cpu())
    generator.train(was_training)
    return torch.cat(parts) if parts else torch.empty(0)
