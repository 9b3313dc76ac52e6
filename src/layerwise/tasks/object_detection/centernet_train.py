"""The deep detector of object detection: a CenterNet (:mod:`layerwise.models.centernet`)
trained from scratch by the engine's one training loop.

Every image, in training and at inference, is letterboxed to ``side x side`` (long side scaled
to ``side``, the rest padded grey; :mod:`.augment`). One epoch is one pass over the training
images, each seen as a fresh random view (scale jitter 0.6-1.4 with a random crop or placement,
flip, colour jitter; optional mosaic), built in numpy by the Trainer's ``batch_transform`` from
a generator seeded by (seed, epoch, step), so a seed gives the same views, resumed or not.
The targets and loss are :mod:`.centernet_targets`'s; the validation mAP@0.5 (letterboxed
validation images, no augmentation, the peaks picked as :meth:`CenterNetDetector.predict`
picks them) drives early stopping and picks the epoch kept. AdamW, cosine schedule after a
linear warmup of 5% of the steps (at most 500).

Defaults, measured on a shared 2-core CPU, one thread (torch 2.13, channels-last), with the
paper's size-and-offset head (before the TTFNet head of :mod:`.centernet_targets`): 1,000
synthetic 128 px scenes (1-6 squares, discs and triangles of 8-64 px in random colours on
textured noise, the class told by the shape only), 100 validation and 200 test scenes;
widths 16-128, neck and heads 48 (:func:`centernet_config_for`); one epoch ~13 s (~75
images/s, augmentation and validation included; two threads on the busy machine were 3x
slower, so ``cpu_threads=1`` there). AP50 / AP75 are per-class VOC APs on the test scenes:

    setting (8 epochs unless said)             AP50   AP75   recall@0.5 (top 100)
    batch 32, lr 2e-3, 13 epochs (240 s)       0.39   0.13   0.78
    batch 16, lr 2e-3, 9 epochs (150 s)        0.46   0.15   0.82
    batch 16, lr 5e-3, seeds 0 / 1             0.42 / 0.44   0.09 / 0.15   0.78 / 0.80
    batch 16, lr 1e-2, 6 epochs                0.21   0.03   0.73
    raw sizes (L1 x 0.1), seeds 0 / 1          0.45 / 0.43   0.14 / 0.14   0.82 / 0.79
    no augmentation                            0.47   0.17   0.85
    batch 16, lr 5e-3, 600 s (45 epochs)       0.84   0.63   0.91

Hence batch 16 and lr 5e-3 (more, smaller steps in the same time; 1e-2 is too high), and
the augmentation stays on: it costs a little in a short run, where the model underfits
anyway, and is what keeps a few hundred real photos from being memorised in a long one.
Log and raw size targets were within seed noise. The head has changed since, the settings
have not been measured again against it.

Example:
    >>> detector = CenterNetDetector(seed=0, epochs=1, side=64)
    >>> detector.name, detector.family
    ('centernet', 'deep')
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from layerwise.engine import TrainerConfig
from layerwise.engine.config import resolve_device
from layerwise.engine.distributed import current_world
from layerwise.errors import ConfigError, RunFolderError, check_option_names
from layerwise.models.centernet import CenterNet, CenterNetConfig, centernet_config_for
from layerwise.tasks.object_detection.augment import (
    DetectionAugment,
    augment_example,
    letterbox,
    mosaic,
)
from layerwise.tasks.object_detection.centernet_plan import planned_epochs
from layerwise.tasks.object_detection.centernet_targets import (
    TOP_K,
    build_targets,
    centernet_loss,
    decode,
    mean_log_half_side,
)
from layerwise.tasks.object_detection.centernet_validation import DetectionTrainer, picked
from layerwise.tasks.object_detection.dataset import Detections, DetectionSet

MODEL_FILE = "centernet.safetensors"
LR = 5e-3
BATCH_SIZE = 16
WEIGHT_DECAY = 1e-4
# Epochs without a better validation mAP@0.5 before stopping: this many, or a quarter of the
# planned epochs if more. The cosine's low-learning-rate tail is where the boxes settle, and a
# small validation set's mAP swings by 0.2 from epoch to epoch: on raccoon (20 validation
# photos) a patience of 15 stopped at epoch 62 of 200, test mAP@0.5 0.79 and @0.5:0.95 0.27;
# 50 stopped at 182, 0.87 and 0.33.
PATIENCE = 15
SIDES = (128, 512)  # the automatic side: the median long side, rounded to 32, clipped to these
MAX_SIDE = 2048
PREDICT_BATCH = 16
# Class-aware NMS at this IoU after the peak picking: the 3x3 max-pool alone leaves a large
# object's secondary peaks, each with a full box of its own (raccoon test mAP@0.5 0.38
# without, 0.80 with; on 128 px generated scenes 0.782 against 0.787, so crowded small
# objects lose nothing at 0.5).
NMS_IOU = 0.5
PARAMS = (
    "side", "epochs", "batch_size", "lr", "weight_decay", "time_limit", "patience", "device",
    "progress", "checkpoint_dir", "resume", "augment", "flip", "mosaic", "nms_iou", "top_k",
    "widths", "blocks", "neck_width", "head_width", "channels_last", "cpu_threads", "backbone",
)  # fmt: skip


def default_side(images: list[np.ndarray]) -> int:
    """The median long side rounded to a multiple of 32, clipped to ``SIDES``.

    Example:
        >>> default_side([np.zeros((300, 200, 3))] * 3)
        288
    """
    long_sides = [max(image.shape[:2]) for image in images] or [SIDES[0]]
    return int(np.clip(round(float(np.median(long_sides)) / 32) * 32, *SIDES))


class CenterNetDetector:
    """CenterNet trained by the engine; boxes for images of any size.

    ``params``: side (network input, a multiple of 32; default :func:`default_side`),
    epochs (default: as many as fit ``time_limit``, or ``CPU_BUDGET_S`` on a CPU, at most
    ``MAX_EPOCHS``), batch_size (16), lr (5e-3, AdamW), weight_decay, time_limit (s),
    patience (15, or a quarter of the epochs if more), device, progress, checkpoint_dir,
    resume, augment (False, or a dict of :class:`DetectionAugment` fields), flip, mosaic (a probability), nms_iou (0.5; None:
    the 3x3 peak max-pool is the only suppression), top_k (100), channels_last (True),
    cpu_threads (None: torch's setting), and the architecture's widths, blocks, neck_width,
    head_width (default :func:`centernet_config_for`), or backbone (the path of a ResNet
    checkpoint that sets them and the backbone's starting weights: :mod:`.backbone`).
    Training is deterministic for a seed on a CPU when ``epochs`` is given (automatic epochs
    come from a timing).
    """

    name: ClassVar[str] = "centernet"
    family: ClassVar[str] = "deep"

    def __init__(self, seed: int = 0, **params: Any):
        check_option_names("centernet", params, PARAMS)
        self.seed = int(seed)
        self.params = dict(params)
        self.model: CenterNet | None = None
        self.side = int(params["side"]) if params.get("side") else None
        self.top_k = int(params.get("top_k", TOP_K))
        nms_iou = params.get("nms_iou", NMS_IOU)
        self.nms_iou = None if nms_iou is None else float(nms_iou)
        self.history: Any = None
        self.stopped_reason = ""
        self.notes: list[str] = []
        if self.side is not None and (self.side % 32 or not 32 <= self.side <= MAX_SIDE):
            raise ConfigError(
                f"side={self.side!r} is not valid.", f"Use a multiple of 32 in [32, {MAX_SIDE}]."
            )

    # ---- training -------------------------------------------------------------------------

    def _augment(self) -> DetectionAugment:
        given = self.params.get("augment", True)
        if given is False:
            return DetectionAugment.off()
        config = DetectionAugment.from_dict(dict(given) if isinstance(given, dict) else {})
        if self.params.get("flip") is not None:
            config.flip = bool(self.params["flip"])
        if self.params.get("mosaic") is not None:
            config.mosaic = float(self.params["mosaic"])
        return config

    def _build(self, train: DetectionSet) -> CenterNet:
        config = centernet_config_for(self.side, len(train), max(len(train.classes), 1))
        for key in ("widths", "blocks", "neck_width", "head_width"):
            if self.params.get(key) is not None:
                setattr(config, key, self.params[key])
        # Per-channel statistics from every 7th pixel of up to 200 images: enough to normalise.
        pixels = [image.reshape(-1, 3)[::7] for image in train.images[:200]]
        sample = np.concatenate(pixels).astype(np.float64)
        config.mean = (sample.mean(axis=0) / 255).tolist()
        config.std = (sample.std(axis=0) / 255 + 1e-3).tolist()
        backbone = None
        if self.params.get("backbone"):
            from layerwise.tasks.object_detection.backbone import read_backbone

            backbone = read_backbone(self.params["backbone"])
            config.widths, config.blocks = backbone.widths, backbone.blocks
            config.stem_kernel, config.pool_stem = backbone.stem_kernel, backbone.stem_kernel == 7
            config.mean, config.std = backbone.mean, backbone.std  # what its weights expect
            config.neck_width = config.head_width = max(config.neck_width, backbone.widths[0])
        config = CenterNetConfig.from_dict(config.to_dict())  # re-checked after the overrides
        if self.side % config.stride:
            raise ConfigError(
                f"side={self.side} is not a multiple of the network's stride {config.stride}.",
                f"Use a side that is a multiple of {config.stride}, or fewer widths.",
            )
        torch.manual_seed(self.seed)
        model = CenterNet(config)
        with torch.no_grad():
            model.box[-1].bias.copy_(torch.from_numpy(_mean_log_half_side(train, self.side)))
        if backbone is not None:
            from layerwise.tasks.object_detection.backbone import load_backbone

            count = load_backbone(model, backbone, self.params["backbone"])
            self.notes.append(
                f"centernet: backbone from {self.params['backbone']} ({count} tensors, "
                f"{backbone.source} names, widths {backbone.widths}, blocks {backbone.blocks})"
            )
        return model

    def _view(self, data: DetectionSet, i: int, rng: np.random.Generator, aug: DetectionAugment):
        keep = ~data.crowd[i]  # crowd regions are not objects to find: left out of the targets
        example = (data.images[i], data.boxes[i][keep], data.labels[i][keep])
        if aug.mosaic and rng.random() < aug.mosaic:
            others = [int(j) for j in rng.integers(0, len(data), 3)]
            four = [example] + [
                (data.images[j], data.boxes[j][~data.crowd[j]], data.labels[j][~data.crowd[j]])
                for j in others
            ]
            return mosaic(four, self.side, rng, aug)
        return augment_example(*example, self.side, rng, aug)

    def _batch(self, views: list[tuple], n_classes: int, device: Any, last: bool) -> tuple:
        images = torch.from_numpy(np.stack([v[0] for v in views])).permute(0, 3, 1, 2)
        # np.stack of HWC images permuted to NCHW is channels-last already; else make it plain.
        images = images.to(device) if last else images.contiguous().to(device)
        targets = build_targets([v[1] for v in views], [v[2] for v in views], n_classes, self.side)
        return images, targets.tensors(device)

    def _batch_size(self) -> int:
        return int(self.params.get("batch_size", BATCH_SIZE))

    def _threads(self) -> int | None:
        threads = self.params.get("cpu_threads")
        return None if threads is None else int(threads)

    def fit(self, train: DetectionSet, val: DetectionSet | None = None) -> None:
        """Train on ``train``; ``val`` (default: none, then the training loss is watched)
        gives the validation loss for early stopping and the epoch kept."""
        if self.side is None:
            self.side = default_side(train.images)
        model = self._build(train)
        n_classes = model.config.n_classes
        aug = self._augment()
        self.augment = aug
        device = resolve_device(self.params.get("device", "auto"))
        last = bool(self.params.get("channels_last", True))
        if last:  # ~1.4x faster on a CPU for these convnets (measured), and on GPUs too
            model = model.to(memory_format=torch.channels_last)
        batch_size = self._batch_size()
        steps = math.ceil(len(train) / batch_size)
        state = {"epoch": 0, "step": 0}
        world = current_world()

        def train_batch(indices: list[int], rng: np.random.Generator) -> tuple:
            views = [self._view(train, i, rng, aug) for i in indices]
            return self._batch(views, n_classes, device, last)

        def val_batch(indices: list[int], where: Any) -> tuple:
            views, truth = [], []
            for i in indices:
                keep = ~val.crowd[i]
                image, boxes, _, _ = letterbox(val.images[i], val.boxes[i], self.side)
                views.append((image, boxes[keep], val.labels[i][keep]))
                truth.append((boxes, val.labels[i], val.crowd[i]))
            return (*self._batch(views, n_classes, where, last), truth)

        epochs = planned_epochs(self, model.to(device), train_batch, len(train), steps,
                                len(val) if val is not None else 0)  # fmt: skip
        total = epochs * steps
        config = TrainerConfig.from_params(
            self.params,
            self.seed,
            {"lr": LR, "weight_decay": WEIGHT_DECAY, "patience": max(PATIENCE, epochs // 4)},
            epochs=epochs,
            batch_size=batch_size,
            schedule="cosine",
            warmup_steps=int(np.clip(total // 20, 1, 500)),
            # Validation mAP@0.5 (the bake-off's own measure) picks the epoch kept: the loss
            # does not follow it (on raccoon the validation loss fell to epoch 96 of 120 while
            # its mAP@0.5 fell from 0.50 to 0.10).
            monitor="val_map50",
            mode="max",
            clip_grad_norm=10.0,  # the focal loss spikes when a new peak appears early on
            channels_last=last,
            cpu_threads=self._threads(),
        )
        trainer: DetectionTrainer

        def transform(batch: tuple) -> tuple:
            epoch = len(trainer.history) + 1  # the draws depend on (seed, epoch, step) only
            if epoch != state["epoch"]:
                state["epoch"], state["step"] = epoch, 0
            state["step"] += 1
            # rank 0 draws what one process draws; another rank of a world its own views
            key = [self.seed, epoch, state["step"], *([world.rank] if world.rank else [])]
            return train_batch(batch[0].tolist(), np.random.default_rng(key))

        trainer = DetectionTrainer(
            model, centernet_loss, config, batch_transform=transform, val_batch=val_batch,
            pick=lambda *peaks: picked(*peaks, self.nms_iou, self.top_k),
        )  # fmt: skip
        index = torch.arange(len(train))
        held = None
        if val is not None and len(val):
            held = (torch.arange(len(val)), torch.arange(len(val)))
        self.history = trainer.fit((index, index), val=held)
        self.stopped_reason = trainer.stopped_reason
        # Plain memory format on the CPU: a reloaded model computes exactly the same numbers.
        self.model = trainer.model.to("cpu").to(memory_format=torch.contiguous_format).eval()

    # ---- inference ------------------------------------------------------------------------

    def predict(self, images: list[np.ndarray], score_threshold: float = 0.01) -> list[Detections]:
        """Detections for each image (uint8 ``[H, W, 3]``, any size), in its pixels, best
        first: the ``top_k`` peaks scoring at least ``score_threshold``."""
        if self.model is None:
            raise ConfigError("The centernet detector is not fitted.", "Call fit() or load().")
        model = self.model.eval()
        device = next(model.parameters()).device
        out: list[Detections] = []
        for start in range(0, len(images), PREDICT_BATCH):
            part = images[start : start + PREDICT_BATCH]
            framed = [letterbox(_rgb(image), np.zeros((0, 4)), self.side) for image in part]
            x = torch.from_numpy(np.stack([f[0] for f in framed])).permute(0, 3, 1, 2)
            scale = torch.tensor([f[2] for f in framed], dtype=torch.float32)
            pad = torch.tensor([f[3] for f in framed], dtype=torch.float32)
            with torch.no_grad():
                heat, box = model(x.contiguous().to(device))
                boxes, scores, labels = decode(heat, box, self.top_k, scale.to(device),
                                               pad.to(device))  # fmt: skip
            for b, s, lab, image in zip(boxes, scores, labels, part, strict=True):
                out.append(picked(b, s, lab, self.nms_iou, self.top_k, score_threshold,
                                  image.shape[:2]))  # fmt: skip
        return out

    # ---- run folders ----------------------------------------------------------------------

    def save(self, run: Any) -> dict[str, Any]:
        """Write ``centernet.safetensors``; return what :meth:`load` needs (JSON-able)."""
        from layerwise.engine.checkpoint import save_weights

        save_weights(run.file(MODEL_FILE), self.model.state_dict())
        return {
            "file": MODEL_FILE,
            "architecture": self.model.config.to_dict(),
            "side": int(self.side),
            "top_k": self.top_k,
            "nms_iou": self.nms_iou,
            "seed": self.seed,
        }

    @classmethod
    def load(cls, run: Any, info: dict[str, Any]) -> CenterNetDetector:
        """The detector :meth:`save` wrote; the network's shapes are checked against the
        weights file before anything is allocated (:func:`restore_module`)."""
        from layerwise.runs.weights import config_from, restore_module

        config = config_from(CenterNetConfig, info.get("architecture"), run)
        side, top_k, nms_iou = info.get("side"), info.get("top_k", TOP_K), info.get("nms_iou")
        valid = isinstance(side, int) and 32 <= side <= MAX_SIDE and side % config.stride == 0
        valid &= isinstance(top_k, int) and 1 <= top_k <= 10_000
        valid &= nms_iou is None or (isinstance(nms_iou, int | float) and 0 <= nms_iou <= 1)
        if not valid:
            raise RunFolderError(
                f"The centernet settings in '{run.path}' are not valid (side {side!r}, "
                f"top_k {top_k!r}, nms_iou {nms_iou!r}).",
                "Use the run folder as `layerwise train` wrote it, or train again.",
            )
        detector = cls(seed=int(info.get("seed", 0)), side=side, top_k=top_k, nms_iou=nms_iou)
        detector.model = restore_module(run, info["file"], lambda: CenterNet(config)).eval()
        return detector


def _mean_log_half_side(train: DetectionSet, side: int) -> np.ndarray:
    """:func:`mean_log_half_side` of the training boxes once letterboxed to ``side``."""
    sides = [
        (np.asarray(b, np.float64).reshape(-1, 4) * side / max(image.shape[:2]))
        for image, b in zip(train.images, train.boxes, strict=True)
    ]
    stacked = np.concatenate(sides) if sides else np.zeros((0, 4))
    return mean_log_half_side(stacked[:, 2:] - stacked[:, :2])


def _rgb(image: np.ndarray) -> np.ndarray:
    """uint8 RGB ``[H, W, 3]`` from greyscale ``[H, W]`` / ``[H, W, 1]`` or RGBA too."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8, copy=False))
