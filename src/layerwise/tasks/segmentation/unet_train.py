"""The deep model of segmentation: a U-Net (:mod:`layerwise.models.unet`) trained by the
engine's one training loop, and tiled inference so an image of any size gets a mask.

Training: each step draws random ``crop x crop`` views (:mod:`.augment`: crop, affine, elastic,
flips, intensity) from a generator seeded by (seed, epoch, step), so a seed gives the same
views, resumed or not. An epoch is ``max(n_images, VIEWS_PER_EPOCH)`` views: with 24 images an
epoch of 24 crops would be three steps. The loss is cross-entropy with class weights (the
inverse square root of each class's pixel share, at most ``MAX_CLASS_WEIGHT``, so a thin
membrane counts) plus the soft Dice loss of the classes present, as nnU-Net trains; ignored
pixels count in neither. Validation runs the tiled inference on the whole validation images and
its Dice (:func:`validation_dice`: the foreground mean, both classes' mean for two classes)
picks the epoch kept and stops the training.

Inference: images no larger than ``TILE`` on both sides go through whole (padded to the
stride); larger ones in ``TILE``-pixel windows overlapping by a quarter, each window's
probabilities weighted by a ramp that is highest at its centre (where the network sees the most
context) and summed, so the seams do not show. Test-time augmentation (the mean over the image
and its mirror images and quarter turns, those the training drew: ``VIEWS``) is kept only when it
raises the validation Dice.

Example:
    >>> from layerwise.tasks.segmentation.cells import generated_masks
    >>> images, masks, _ = generated_masks(6, size=32, seed=0)
    >>> model = UNetSegmenter(seed=0, epochs=1, crop=32).fit(list(images[:4]), list(masks[:4]),
    ...     ["background", "cell"], list(images[4:]), list(masks[4:]))
    >>> model.predict([images[5]])[0].shape
    (32, 32)
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from layerwise.engine import Trainer, TrainerConfig
from layerwise.engine.config import resolve_device
from layerwise.engine.distributed import current_world
from layerwise.errors import ConfigError, RunFolderError, check_option_names
from layerwise.models.unet import UNet, UNetConfig, unet_config_for
from layerwise.tasks.segmentation.augment import SegmentationAugment, random_view
from layerwise.tasks.segmentation.masks import IGNORE
from layerwise.tasks.segmentation.metrics import pixel_confusion, segmentation_scores
from layerwise.tasks.segmentation.two_class_cut import checked_cut, decide
from layerwise.tasks.segmentation.unet_plan import planned_epochs

MODEL_FILE = "unet.safetensors"
# test-time views (left-right flip, up-down flip, transpose): the dihedral group, of which a
# model uses those its training augmentation drew (photos: the left-right flip only)
VIEWS = tuple((h, v, t) for t in (False, True) for v in (False, True) for h in (False, True))
# Early stopping waits half the planned epochs: the best epoch's weights are kept anyway, and a
# noisy validation Dice on a few images stopped a membrane run at epoch 93 of 108, before the
# cosine's low-learning-rate tail.
# lr 1e-2 (AdamW, warmup then cosine) against 3e-3 at the same CPU budget: ISBI membrane's
# membrane Dice 0.817 against 0.779 (600 s), generated cells 0.960 against 0.952, lesions 0.975
# against 0.970 (120 s each)
LR, WEIGHT_DECAY, BATCH_SIZE, PATIENCE = 1e-2, 1e-4, 8, 20
VIEWS_PER_EPOCH = 64
MAX_CLASS_WEIGHT = 10.0
CROPS = (64, 256)  # the automatic crop: the median short side, a multiple of 32, clipped here
TILE = 512
PARAMS = ("crop", "epochs", "batch_size", "lr", "weight_decay", "time_limit", "patience",
          "device", "progress", "checkpoint_dir", "resume", "augment", "vflip", "widths",
          "tta", "cpu_threads")  # fmt: skip


def default_crop(images: list[np.ndarray]) -> int:
    """The median short side rounded down to a multiple of 32, clipped to ``CROPS``.

    Example:
        >>> default_crop([np.zeros((512, 512))] * 3), default_crop([np.zeros((70, 90))])
        (256, 64)
    """
    short = float(np.median([min(im.shape[:2]) for im in images])) if images else CROPS[0]
    return int(np.clip(int(short) // 32 * 32, *CROPS))


def class_weights(masks: list[np.ndarray], n_classes: int) -> np.ndarray:
    """Inverse square root of each class's share of the counted pixels, mean 1, at most
    ``MAX_CLASS_WEIGHT`` times the smallest (a class absent from training gets the largest).

    Example:
        >>> [round(w, 3) for w in class_weights([np.array([[0, 0, 0, 1]])], 2).tolist()]
        [0.732, 1.268]
    """
    counts = np.zeros(n_classes, np.float64)
    for mask in masks:
        counts += np.bincount(mask[mask != IGNORE].reshape(-1), minlength=n_classes)[:n_classes]
    share = counts / max(counts.sum(), 1.0)
    weights = 1.0 / np.sqrt(np.maximum(share, 1e-12))
    weights = np.minimum(weights, weights.min() * MAX_CLASS_WEIGHT)
    return (weights / weights.mean()).astype(np.float32)


def validation_dice(confusion: np.ndarray) -> float:
    """The score that picks the epoch kept and test-time augmentation: the mean foreground Dice,
    but for two classes the mean of both. Which of two classes is "background" is the mask's
    convention, not the user's interest: ISBI's membrane masks mark the membrane 0 and the
    cell interior 255, and the foreground Dice alone (the interior, 78% of the pixels) hardly
    moves when the thin membrane improves. Both outlines should fit, as the two-class cut
    (:mod:`.two_class_cut`) also asks.

    Example:
        >>> round(validation_dice(np.array([[8, 2], [0, 90]])), 3)  # class 0: 2 of 10 missed
        0.939
    """
    scores = segmentation_scores(confusion)
    if len(confusion) == 2:
        return float(np.nan_to_num(np.nanmean(scores["dice"])))
    return float(np.nan_to_num(scores["mean_dice"]))


def dice_ce_loss(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted cross-entropy plus ``1 - soft Dice`` averaged over the classes present in the
    batch's truth; ``IGNORE`` pixels count in neither."""
    logits = logits.float()
    ce = F.cross_entropy(logits, target.long(), weight=weights, ignore_index=IGNORE)
    counted = (target != IGNORE).unsqueeze(1).float()
    proba = torch.softmax(logits, dim=1) * counted
    onehot = F.one_hot(target.long().clamp(max=logits.shape[1] - 1), logits.shape[1])
    onehot = onehot.permute(0, 3, 1, 2).float() * counted
    intersection = (proba * onehot).sum(dim=(0, 2, 3))
    sizes = proba.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    present = onehot.sum(dim=(0, 2, 3)) > 0
    dice = (2 * intersection + 1.0) / (sizes + 1.0)
    soft_dice = dice[present].mean() if bool(present.any()) else dice.new_ones(())
    return ce + (1 - soft_dice)


class _SegmentationTrainer(Trainer):
    """The engine's Trainer whose validation is the tiled prediction of whole images."""

    def __init__(self, *args: Any, score: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.score = score

    def evaluate(self, data: Any) -> dict[str, float]:
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad(), self.autocast():
            dice = self.score(self.model)
        self.model.train(was_training)
        return {"val_dice": float(np.nan_to_num(dice))}


class UNetSegmenter:
    """A U-Net trained by the engine; masks for images of any size (see the module doc)."""

    name: ClassVar[str] = "unet"
    family: ClassVar[str] = "deep"

    def __init__(self, seed: int = 0, **params: Any):
        check_option_names("unet", params, PARAMS)
        self.seed, self.params = int(seed), dict(params)
        self.model: UNet | None = None
        self.tta = False
        self.views: list[tuple[bool, bool, bool]] = [(False, False, False)]  # for tta: see VIEWS
        self.cut: float | None = None  # two classes: set on validation by the bake-off
        self.history: Any = None
        self.notes: list[str] = []

    def _augment(self) -> SegmentationAugment:
        given = self.params.get("augment", True)
        if given is False:
            return SegmentationAugment.off()
        config = SegmentationAugment(**(dict(given) if isinstance(given, dict) else {}))
        if self.params.get("vflip") is not None:  # no up means no orientation: turns too
            config.vflip = config.transpose = bool(self.params["vflip"])
        return config

    def fit(self, images: list[np.ndarray], masks: list[np.ndarray], classes: list[str],
            val_images: list[np.ndarray] | None = None,
            val_masks: list[np.ndarray] | None = None) -> UNetSegmenter:  # fmt: skip
        crop = int(self.params.get("crop") or default_crop(images))
        channels = 1 if images[0].ndim == 2 else images[0].shape[2]
        device = resolve_device(self.params.get("device", "auto"))
        config = unet_config_for(crop, len(images), len(classes), in_channels=channels,
                                 on_cpu=device.type == "cpu")  # fmt: skip
        if self.params.get("widths"):
            config.widths = [int(w) for w in self.params["widths"]]
        sample = np.concatenate([im.reshape(-1, channels)[::7] for im in images[:200]])
        config.mean = (sample.mean(axis=0) / 255).tolist()
        config.std = (sample.std(axis=0) / 255 + 1e-3).tolist()
        config = UNetConfig.from_dict(config.to_dict())
        if crop % config.stride:
            raise ConfigError(f"crop={crop} is not a multiple of the U-Net's stride "
                              f"{config.stride}.", f"Use a multiple of {config.stride}.")  # fmt: skip
        torch.manual_seed(self.seed)
        model = UNet(config)
        weights = torch.from_numpy(class_weights(masks, len(classes))).to(device)
        aug = self._augment()
        self.views = [v for v in VIEWS if (aug.flip or not v[0]) and (aug.vflip or not v[1])
                      and (aug.transpose or not v[2])]  # fmt: skip
        views = max(len(images), VIEWS_PER_EPOCH)
        state = {"epoch": 0, "step": 0}
        world = current_world()
        trainer: _SegmentationTrainer

        def make_batch(index: list[int], rng: np.random.Generator) -> tuple:
            pairs = [random_view(images[i % len(images)], masks[i % len(images)], crop, rng, aug)
                     for i in index]  # fmt: skip
            x = torch.from_numpy(np.stack([p[0] for p in pairs]))
            x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
            y = torch.from_numpy(np.stack([p[1] for p in pairs]).astype(np.int64))
            return x.contiguous().to(device), y.to(device)

        def transform(batch: tuple) -> tuple:
            epoch = len(trainer.history) + 1
            if epoch != state["epoch"]:
                state["epoch"], state["step"] = epoch, 0
            state["step"] += 1
            # rank 0 draws what one process draws; another rank of a world its own views
            key = [self.seed, epoch, state["step"], *([world.rank] if world.rank else [])]
            return make_batch(batch[0].tolist(), np.random.default_rng(key))

        def score(net: UNet) -> float:
            return self._val_dice(net, val_images, val_masks, False)

        batch_size = int(self.params.get("batch_size", BATCH_SIZE))
        steps = math.ceil(views / batch_size)
        has_val = bool(val_images)
        model = model.to(device)
        loss = lambda logits, target: dice_ce_loss(logits, target, weights)  # noqa: E731
        epochs = planned_epochs(self, model, make_batch, loss, batch_size, steps,
                                score if has_val else None)  # fmt: skip
        trainer_config = TrainerConfig.from_params(
            self.params, self.seed,
            {"lr": LR, "weight_decay": WEIGHT_DECAY, "patience": max(PATIENCE, epochs // 2),
             "batch_size": BATCH_SIZE},
            epochs=epochs, schedule="cosine", warmup_steps=int(np.clip(epochs * steps // 20, 1, 300)),
            monitor="val_dice" if has_val else "val_loss", mode="max" if has_val else "min",
            clip_grad_norm=5.0, cpu_threads=self.params.get("cpu_threads"),
        )  # fmt: skip
        trainer = _SegmentationTrainer(model, loss, trainer_config, batch_transform=transform,
                                       score=score if has_val else None)  # fmt: skip
        index = torch.arange(views)
        held = (torch.arange(1), torch.arange(1)) if has_val else None
        self.history = trainer.fit((index, index), val=held)
        self.model = trainer.model.to("cpu").eval()
        self.classes = list(classes)
        if not world.main:  # its share trained; the choices below are rank 0's
            return self
        if has_val and self.params.get("tta", "auto") == "auto":
            plain, flipped = (
                self._val_dice(self.model, val_images, val_masks, False),
                self._val_dice(self.model, val_images, val_masks, True),
            )
            self.tta = flipped > plain + 0.002
            self.notes.append(f"unet: test-time augmentation ({len(self.views)} views) "
                              f"{'kept' if self.tta else 'left out'} (validation Dice "
                              f"{flipped:.4f} with, {plain:.4f} without)")  # fmt: skip
        else:
            self.tta = self.params.get("tta") is True  # "auto" without validation: off
        self.tta = self.tta and len(self.views) > 1
        return self

    def save(self, run: Any) -> dict[str, Any]:
        """Write ``unet.safetensors``; return what :meth:`load` needs (JSON-able)."""
        from layerwise.engine.checkpoint import save_weights

        save_weights(run.file(MODEL_FILE), self.model.state_dict())
        return {"file": MODEL_FILE, "architecture": self.model.config.to_dict(),
                "tta": bool(self.tta), "views": [list(v) for v in self.views], "cut": self.cut, "seed": self.seed,
                "notes": list(self.notes)}  # fmt: skip

    @classmethod
    def load(cls, run: Any, info: dict[str, Any]) -> UNetSegmenter:
        """The U-Net :meth:`save` wrote; its shapes are checked against the weights file before
        anything is allocated (:func:`~layerwise.runs.weights.restore_module`)."""
        from layerwise.runs.weights import config_from, restore_module

        config = config_from(UNetConfig, info.get("architecture"), run)
        views = info.get("views", [[False, False, False]])
        if not isinstance(info.get("tta", False), bool) or not (
            isinstance(views, list) and 1 <= len(views) <= len(VIEWS)
            and all(isinstance(v, list) and tuple(v) in VIEWS for v in views)
        ):  # fmt: skip
            raise RunFolderError(f"The unet settings in '{run.path}' are not valid (tta "
                                 f"{info.get('tta')!r}, views {str(views)[:80]}).",
                                 "Train again.")  # fmt: skip
        model = cls(seed=int(info.get("seed", 0)))
        model.model = restore_module(run, info["file"], lambda: UNet(config)).eval()
        model.tta, model.classes = bool(info.get("tta", False)), []
        model.views = [tuple(bool(x) for x in v) for v in views]
        model.cut = checked_cut(info.get("cut"), run)
        model.notes = [str(n) for n in info.get("notes", [])][:20]
        return model

    def _val_dice(self, net: UNet, images: list[np.ndarray], masks: list[np.ndarray],
                  tta: bool) -> float:  # fmt: skip
        """The Dice of ``net``'s argmax masks over all pixels of ``images``: the mean over the
        foreground classes, or over both classes of a two-class mask (see ``validation_dice``)."""
        n = net.config.n_classes
        views = self.views if tta else self.views[:1]
        conf = sum(pixel_confusion(m, self._predict_one(net, im, views).argmax(-1), n)
                   for im, m in zip(images, masks, strict=True))  # fmt: skip
        return validation_dice(conf)

    def _predict_one(self, net: UNet, image: np.ndarray, views: list) -> np.ndarray:
        """Class probabilities ``[H, W, n_classes]`` of one uint8 image, tiled when large, the
        mean over ``views`` (see ``VIEWS``)."""
        x = torch.from_numpy(np.array(image, copy=True))  # the caller's array may be read-only
        x = x[None] if x.ndim == 2 else x.permute(2, 0, 1)
        height, width = image.shape[:2]
        stride = net.config.stride
        tile = min(TILE, _ceil_to(max(height, width), stride))
        ph, pw = max(_ceil_to(height, stride), tile), max(_ceil_to(width, stride), tile)
        # float in [0, 1] (the network reads floats so); replicate-padded to the tiles
        x = F.pad(x[None].float() / 255.0, (0, pw - width, 0, ph - height), mode="replicate")
        device = next(net.parameters()).device
        total = torch.zeros(net.config.n_classes, ph, pw)
        weight = torch.zeros(1, ph, pw)
        ramp = _ramp(tile)
        step = max(stride, tile - tile // 4)
        for top in _starts(ph, tile, step):
            for left in _starts(pw, tile, step):
                window = x[:, :, top : top + tile, left : left + tile].to(device)
                with torch.no_grad():
                    proba = _forward(net, window, views)[0].float().cpu()
                total[:, top : top + tile, left : left + tile] += proba * ramp
                weight[:, top : top + tile, left : left + tile] += ramp
        out = (total / weight.clamp(min=1e-8))[:, :height, :width]
        return out.permute(1, 2, 0).numpy()

    def predict_proba(self, images: list[np.ndarray]) -> list[np.ndarray]:
        if self.model is None:
            raise ConfigError("The unet is not fitted.", "Call fit() or load().")
        with torch.no_grad():
            views = self.views if self.tta else self.views[:1]
            return [self._predict_one(self.model, im, views) for im in images]

    def predict(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Each image's mask: the most probable class, or for two classes class 1 where its
        probability reaches ``cut`` when one was chosen (:mod:`.two_class_cut`)."""
        return [decide(p, self.cut) for p in self.predict_proba(images)]


def _forward(net: UNet, x: torch.Tensor, views: list) -> torch.Tensor:
    """The mean of the softmax over ``views`` of square windows ``x``, each mapped back."""
    total = None
    for flip, vflip, transpose in views:
        dims = [d for d, on in ((-1, flip), (-2, vflip)) if on]
        seen = x.flip(dims) if dims else x
        seen = seen.transpose(-1, -2) if transpose else seen
        proba = torch.softmax(net(seen), dim=1)
        proba = proba.transpose(-1, -2) if transpose else proba
        proba = proba.flip(dims) if dims else proba
        total = proba if total is None else total + proba
    return total / len(views)


def _ceil_to(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def _starts(length: int, tile: int, step: int) -> list[int]:
    """Window starts covering ``length``: every ``step``, the last one flush with the end."""
    starts = list(range(0, max(length - tile, 0) + 1, step))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def _ramp(tile: int) -> torch.Tensor:
    """A ``[1, tile, tile]`` blending weight, highest at the centre, small but positive at the
    edges (a window's edge pixels see the least context)."""
    line = 1.0 - torch.abs(torch.linspace(-1, 1, tile)) * 0.9
    return (line[:, None] * line[None, :])[None]
