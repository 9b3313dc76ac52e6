"""The deep candidate for images: a ResNet-style CNN sized to the resolution, trained by the
engine with augmentation on tensors, label smoothing, a one-cycle schedule and optional
test-time augmentation; saved as safetensors plus its architecture in JSON."""

from __future__ import annotations

import copy
import math
import time
from typing import Any, ClassVar

import numpy as np

from layerwise.core.candidate import Candidate
from layerwise.runs.folder import RunFolder

MODEL_FILE = "model.safetensors"
# Optimizer steps an automatic epoch count aims for: enough for small CNNs to converge on
# a few thousand images with a one-cycle schedule.
TARGET_STEPS = 1000
# Without a time limit, automatic epochs on a CPU are cut to fit this many seconds of training
# (measured by timing a few steps first), so a default run stays a few minutes long.
CPU_BUDGET_S = 240.0
# Pixels a prediction or validation batch holds: 128 images of 64x64, 512 of 32x32 and below.
# Activations scale with it (512 images of 64x64 took 1.2 GB while predicting on a CPU).
EVAL_PIXELS = 1 << 19


def eval_batch(height: int, width: int) -> int:
    """Images in a prediction batch of this size: 16 to 512, ``EVAL_PIXELS`` pixels at most.

    >>> eval_batch(64, 64), eval_batch(8, 8), eval_batch(512, 512)
    (128, 512, 16)
    """
    return int(np.clip(EVAL_PIXELS // max(height * width, 1), 16, 512))


def to_tensor(images: np.ndarray) -> Any:
    """uint8 images ``[N, H, W, C]`` as a contiguous uint8 tensor ``[N, C, H, W]``."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def training_images(images: Any) -> Any:
    """What the engine trains on: the images as one tensor, or, streamed from disk (records
    that do not fit in memory), as rows the engine reads a batch at a time."""
    from layerwise.data.records import Records

    if isinstance(images, Records):
        from layerwise.engine.rows import RowsOnDisk

        return RowsOnDisk(images, to_tensor)
    return to_tensor(images)


def _accuracy(outputs: Any, targets: Any) -> float:
    return float((outputs.argmax(dim=1) == targets).float().mean())


class CNNCandidate(Candidate):
    """ResNet-style CNN; ``params``: epochs, batch_size, lr, weight_decay, label_smoothing,
    augment (a dict of AugmentConfig fields), tta ("auto", True, False), width_multiplier,
    time_limit, device, progress, checkpoint_dir, resume.

    >>> CNNCandidate("multiclass", n_classes=10).family
    'deep'
    """

    name: ClassVar[str] = "cnn"
    family: ClassVar[str] = "deep"
    complexity: ClassVar[int] = 3
    description: ClassVar[str] = "ResNet-style CNN trained by the layerwise engine"
    cpu_budget: ClassVar[float] = CPU_BUDGET_S
    model_file: ClassVar[str] = MODEL_FILE

    def _augment_config(self, channels: int, height: int, width: int) -> Any:
        from layerwise.data.image_augment import AugmentConfig, default_augment

        config = default_augment(channels, height, width)
        given = dict(self.params.get("augment") or {})
        if self.params.get("flip") is not None:
            given.setdefault("flip", bool(self.params["flip"]))
        return AugmentConfig.from_dict({**config.to_dict(), **given})

    def _build(self, train: Any) -> Any:
        from layerwise.data.records import channel_stats
        from layerwise.models.resnet import ResNet, resnet_config_for

        mean, std = channel_stats(train.images)  # a chunk at a time: the set may be on disk
        height, width = train.size
        config = resnet_config_for(
            train.channels,
            max(self.n_classes, 2),
            height,
            width,
            width_multiplier=float(self.params.get("width_multiplier", 1.0)),
            mean=mean,
            std=[s + 1e-3 for s in std],
        )
        return ResNet(config)

    def _epochs(self, n: int, batch_size: int, trainer_probe: Any) -> tuple[int, int | None]:
        """(epochs, steps an epoch): ``epochs`` if given; else enough for ~TARGET_STEPS steps,
        cut to fit ``time_limit``, to part of one pass when a whole one does not fit."""
        given = self.params.get("steps_per_epoch")
        given = None if given is None else int(given)
        if self.params.get("epochs") is not None:
            return int(self.params["epochs"]), given
        from layerwise.engine.config import resolve_device

        steps = math.ceil(n / batch_size)
        epochs = int(np.clip(round(TARGET_STEPS / steps), 8, 60))
        limit = self.params.get("time_limit")
        if limit is None and resolve_device(self.params.get("device", "auto")).type == "cpu":
            limit = self.cpu_budget
        if limit is not None and given is None:
            step_s = trainer_probe() * 1.15  # validation and bookkeeping
            per_epoch = step_s * steps
            if per_epoch > limit:  # a set this large (or a machine this slow): part of a pass
                given = max(1, int(limit / max(step_s, 1e-9)))
                self.notes.append(f"CNN trained {given:,} of the {steps:,} steps of a pass over "
                                  f"the training images to fit {limit:.0f} s; give a "
                                  "--time-limit to train longer.")  # fmt: skip
                return 1, given
            fitted = int(np.clip(limit // max(per_epoch, 1e-6), 1, epochs))
            if fitted < epochs:
                self.notes.append(
                    f"CNN epochs cut from {epochs} to {fitted} to fit {limit:.0f} s of training "
                    f"(~{per_epoch:.1f} s an epoch); give a --time-limit or epochs to change it."
                )
            epochs = fitted
        return epochs, given

    def _probe(self, model: Any, x: Any, y: Any, loss_fn: Any, transform: Any, batch: int) -> Any:
        """A function timing one training step on a throwaway copy of the model (seconds)."""
        import torch

        def measure() -> float:
            trial = copy.deepcopy(model).train()
            optimizer = torch.optim.AdamW(trial.parameters(), lr=1e-4)
            times = []
            for _ in range(3):
                xb, yb = transform((x[:batch], y[:batch]))
                t0 = time.perf_counter()
                optimizer.zero_grad()
                loss_fn(trial(xb), yb).backward()
                optimizer.step()
                times.append(time.perf_counter() - t0)
            return float(np.median(times[1:]))

        return measure

    def fit(self, train: Any, val: Any, class_weights: np.ndarray | None = None) -> None:
        """Train on ``train`` (an ImageSet), early-stopping and choosing TTA on ``val``."""
        import torch

        from layerwise.data.image_augment import augment
        from layerwise.engine import Trainer, TrainerConfig
        from layerwise.engine.distributed import agreed

        torch.manual_seed(self.seed)
        self.notes: list[str] = []
        self.model = self._build(train)
        height, width = train.size
        self.augment_config = self._augment_config(train.channels, height, width)
        x, y = training_images(train.images), torch.from_numpy(train.labels.astype(np.int64))
        xv, yv = training_images(val.images), torch.from_numpy(val.labels.astype(np.int64))
        weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        smoothing = float(self.params.get("label_smoothing", 0.1))
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=smoothing)
        generator = torch.Generator().manual_seed(self.seed)

        def transform(batch: tuple[Any, ...]) -> tuple[Any, ...]:
            images, target = batch
            return augment(images, self.augment_config, generator), target

        batch_size = int(self.params.get("batch_size", 64 if len(x) < 2000 else 128))
        probe = self._probe(self.model, x, y, loss_fn, transform, batch_size)
        # one plan for all ranks
        self.epochs, steps_per_epoch = agreed(list(self._epochs(len(x), batch_size, probe)))
        config = TrainerConfig.from_params(
            self.params,
            self.seed,
            {"lr": 3e-3, "weight_decay": 0.05},
            epochs=self.epochs,
            steps_per_epoch=steps_per_epoch,
            batch_size=batch_size,
            schedule="onecycle",
            patience=None,  # one-cycle needs its full schedule; the best epoch is restored
            channels_last=True,  # measured ~1.3x faster for these convnets on CPU as on GPU
            eval_batch_size=min(4 * batch_size, eval_batch(height, width)),
        )
        trainer = Trainer(
            self.model, loss_fn, config, {"accuracy": _accuracy}, batch_transform=transform
        )
        self.history = trainer.fit((x, y), val=(xv, yv))
        self.stopped_reason = trainer.stopped_reason
        self.model = trainer.model.to("cpu").eval()
        self.tta = self._choose_tta(val)

    def _choose_tta(self, val: Any) -> bool:
        """Test-time augmentation stays on only if it does not hurt validation log loss."""
        setting = self.params.get("tta", "auto")
        if setting != "auto":
            return bool(setting)
        truth = val.labels
        plain = self.predict(val.images, tta=False)[np.arange(len(truth)), truth]
        views = self.predict(val.images, tta=True)[np.arange(len(truth)), truth]
        return float(-np.log(views + 1e-12).mean()) <= float(-np.log(plain + 1e-12).mean())

    def predict(self, images: np.ndarray, tta: bool | None = None) -> np.ndarray:
        """Class probabilities ``[n, k]`` for uint8 images ``[n, H, W, C]``."""
        import torch

        from layerwise.data.image_augment import tta_views

        use_tta = getattr(self, "tta", False) if tta is None else tta
        parts = []
        step = eval_batch(*images.shape[1:3])
        with torch.no_grad():
            for start in range(0, len(images), step):  # a batch at a time also read from disk
                batch = to_tensor(images[start : start + step])
                views = tta_views(batch, self.augment_config) if use_tta else [batch]
                probs = [torch.softmax(self.model(v).float(), dim=1) for v in views]
                parts.append(torch.stack(probs).mean(dim=0))
        if not parts:
            return np.zeros((0, self.model.config.n_classes))
        return torch.cat(parts).double().numpy()

    def facts(self) -> dict[str, Any]:
        """What metrics.json records of this model beyond its scores."""
        return {"tta": bool(self.tta), "augment": self.augment_config.to_dict()}

    @classmethod
    def _classes(cls) -> tuple[Any, Any, Any]:
        """The network, its config and the augmentation config classes this candidate saves."""
        from layerwise.data.image_augment import AugmentConfig
        from layerwise.models.resnet import ResNet, ResNetConfig

        return ResNet, ResNetConfig, AugmentConfig

    def save(self, run: RunFolder) -> dict[str, Any]:
        from layerwise.engine.checkpoint import save_weights

        save_weights(run.file(self.model_file), self.model.state_dict())
        return {
            "file": self.model_file,
            "architecture": self.model.config.to_dict(),
            "augment": self.augment_config.to_dict(),
            "tta": bool(self.tta),
        }

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> CNNCandidate:
        from layerwise.runs.weights import config_from, restore_module

        network, config_class, augment = cls._classes()
        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        config = config_from(config_class, info["architecture"], run)
        model.model = restore_module(run, info["file"], lambda: network(config)).eval()
        model.augment_config = augment.from_dict(info["augment"])
        model.tta = bool(info.get("tta", False))
        return model
