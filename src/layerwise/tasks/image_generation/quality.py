"""How good are generated images: a Fréchet distance on the features of a classifier that
layerwise trains on the same real images (no Inception weights are needed), plus, for
conditional generators, how often that classifier recognises the requested class.

:func:`train_feature_net` trains a small :class:`~layerwise.models.resnet.ResNet` on the
real images: on their classes when there are at least two, otherwise on predicting which of
four rotations was applied (self-supervised, so unlabelled folders get features too).
:class:`QualityJudge` holds that network and the feature statistics of held-out real
images, scores image sets, and saves itself as tensors plus JSON.

Measured on sklearn digits upsampled to 16x16 (the network trained on 1,527 images, the
reference 270 held-out ones; one shared CPU thread; feature dim 32): 12 epochs in ~21 s,
val accuracy 97.8% (97.8% on the reference). FD to the reference: 270 training images 0.47
(another draw 0.23; all 1,527: 0.19), Gaussian noise 63. The 0.23 draw blurred (Gaussian
sigma 0.5 / 1 / 1.5 / 2 / 3 pixels): 0.28 / 1.47 / 6.5 / 12.6 / 20.1; with noise added
(std 0.05 / 0.1 / 0.2 / 0.4 / 0.8 in [-1, 1] units): 0.20 / 0.18 / 0.56 / 4.5 / 20.2, i.e.
monotonic once a corruption is above the sampling noise of the FD itself (the network is
trained with brightness/contrast augmentation, so it shrugs off noise of std <= 0.1).
Rotation mode (labels ignored): val accuracy 67% (digits such as 0, 1, 8 look alike turned),
floor 0.006, noise 39, blur 0.04 / 0.18 / 0.47 / 0.85 / 1.33, added noise
0.006 / 0.020 / 0.32 / 3.9 / 19.2: smaller numbers, the same order.

Example:
    >>> import torch
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(500, 4)), rng.normal(size=(500, 4))
    >>> frechet_distance(a, a) < 1e-9, frechet_distance(a, b + 3.0) > 30
    (True, True)
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from layerwise.candidates.cnn import to_tensor
from layerwise.errors import DataError
from layerwise.models.resnet import ResNet, ResNetConfig, resnet_config_for

VAL_FRACTION = 0.15
# Optimizer steps an epoch count aims for, within [MIN_EPOCHS, MAX_EPOCHS] and the time limit:
# 1,297 16x16 digits (85% of 1,527) at batch 64, 21 steps an epoch, get 12 epochs (~1.7 s each).
TARGET_STEPS = 250
MIN_EPOCHS, MAX_EPOCHS = 5, 40
PATIENCE = 6
# The network is tiny: one CPU thread trains it as fast as several, and on a shared machine
# much faster (OpenMP spin-waits); measured 2.3 s vs 0.3 s an epoch of 400 8x8 digits.
CPU_THREADS = 1


@contextlib.contextmanager
def _one_thread(device: torch.device) -> Iterator[None]:
    """Run with CPU_THREADS intra-op threads on the CPU, then restore torch's setting."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(CPU_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _split(targets: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded 85/15 split of ``range(len(targets))``, stratified where every class has two."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(targets))
    stratify = targets if np.bincount(targets).min(initial=0) >= 2 else None
    try:
        train, val = train_test_split(
            index, test_size=VAL_FRACTION, random_state=seed, stratify=stratify
        )
    except ValueError:  # a class too small for a stratified split
        train, val = train_test_split(index, test_size=VAL_FRACTION, random_state=seed)
    return np.sort(train), np.sort(val)


def _rotate(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate each image ``x[i]`` by ``turns[i]`` quarter turns (square images or half turns)."""
    out = x.clone()
    for k in turns.unique().tolist():
        mask = turns == k
        out[mask] = torch.rot90(x[mask], int(k), dims=(2, 3))
    return out


def _step_seconds(
    model: ResNet, x: torch.Tensor, y: torch.Tensor, transform: Any, batch: int
) -> float:
    """Seconds of one (augmented) training step, timed on a throwaway copy of the model."""
    import copy

    trial = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(trial.parameters(), lr=1e-4)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        xb, yb = transform((x[:batch], y[:batch]))
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(trial(xb), yb).backward()
        optimizer.step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[1:]))


def train_feature_net(
    images: np.ndarray,
    labels: np.ndarray | None,
    seed: int = 0,
    time_limit: float = 60.0,
    progress: bool = False,
) -> tuple[ResNet, dict[str, Any]]:
    """Train the judge's classifier on real uint8 images ``[N, H, W, C]``.

    With two or more classes in ``labels`` it learns the classes; otherwise it learns which
    rotation was applied: 0, 90, 180 or 270 degrees (only 0 or 180 for non-square images).
    Trained by the engine (cross-entropy, AdamW, cosine schedule, light augmentation) on a
    seeded stratified 85/15 split, early-stopping on the validation loss, within ``time_limit``.

    Returns:
        The network (CPU, eval mode) and ``{"kind": "classes" | "rotation", "n_outputs",
        "val_accuracy", "feature_dim", "config", "epochs", "seconds"}``.

    Example:
        >>> from layerwise.data.image_sources import digits
        >>> s = digits()
        >>> model, info = train_feature_net(s.images[:300], s.labels[:300], time_limit=2)
        >>> info["kind"], info["feature_dim"]
        ('classes', 32)
    """
    from layerwise.engine.config import resolve_device

    with _one_thread(resolve_device("auto")):
        return _train(images, labels, seed, time_limit, progress)


def _train(
    images: np.ndarray, labels: np.ndarray | None, seed: int, time_limit: float, progress: bool
) -> tuple[ResNet, dict[str, Any]]:
    from layerwise.data.image_augment import augment, default_augment
    from layerwise.engine import Trainer, TrainerConfig

    start = time.perf_counter()
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8 or len(images) < 8:
        raise DataError(
            f"train_feature_net needs uint8 images [N, H, W, C] (N >= 8); got {images.dtype} {images.shape}.",
        )
    n, height, width, channels = images.shape
    labelled = labels is not None and len(np.unique(labels)) >= 2
    if labelled:
        targets = np.asarray(labels, dtype=np.int64)
        kind, n_outputs = "classes", int(targets.max()) + 1
    else:
        targets = np.zeros(n, dtype=np.int64)
        kind, n_outputs = "rotation", 4 if height == width else 2
    step = 1 if n_outputs == 4 or labelled else 2  # quarter turns per rotation class
    train_idx, val_idx = _split(targets, seed)
    pixels = images[train_idx].reshape(-1, channels).astype(np.float64) / 255.0
    config = resnet_config_for(
        channels,
        n_outputs,
        height,
        width,
        mean=pixels.mean(axis=0).tolist(),
        std=(pixels.std(axis=0) + 1e-3).tolist(),
    )
    torch.manual_seed(seed)
    model = ResNet(config)
    x, y = to_tensor(images[train_idx]), torch.from_numpy(targets[train_idx])
    xv, yv = to_tensor(images[val_idx]), torch.from_numpy(targets[val_idx])
    if not labelled:  # every validation image in every rotation
        turns = torch.arange(n_outputs).repeat_interleave(len(xv))
        xv, yv = _rotate(xv.repeat(n_outputs, 1, 1, 1), turns * step), turns
    generator = torch.Generator().manual_seed(seed)
    augment_config = default_augment(channels, height, width)

    def transform(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        xb, yb = batch
        xb = augment(xb, augment_config, generator)
        if not labelled:
            yb = torch.randint(0, n_outputs, (len(xb),), generator=generator).to(xb.device)
            xb = _rotate(xb, yb * step)
        return xb, yb

    batch_size = 64 if len(x) < 2000 else 128
    steps = math.ceil(len(x) / batch_size)
    per_epoch = _step_seconds(model, x, y, transform, batch_size) * steps * 1.5
    epochs = int(np.clip(round(TARGET_STEPS / steps), MIN_EPOCHS, MAX_EPOCHS))
    epochs = int(np.clip(time_limit // max(per_epoch, 1e-6), 1, epochs))
    if progress:
        print(f"feature net: {epochs} epochs of {steps} steps (~{per_epoch:.1f} s an epoch)")
    trainer_config = TrainerConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=3e-3,
        weight_decay=0.05,
        schedule="cosine",
        warmup_steps=min(100, math.ceil(len(x) / batch_size)),
        patience=PATIENCE,
        time_limit=max(time_limit - (time.perf_counter() - start), 1.0),
        seed=seed,
        progress=progress,
        alone=True,  # the measuring instrument: rank 0's own in a world of several processes
    )

    def accuracy(outputs: torch.Tensor, target: torch.Tensor) -> float:
        return float((outputs.argmax(dim=1) == target).float().mean())

    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    trainer = Trainer(
        model, loss_fn, trainer_config, {"accuracy": accuracy}, batch_transform=transform
    )
    history = trainer.fit((x, y), val=(xv, yv))
    model = trainer.model.to("cpu").eval()
    with torch.no_grad():
        val_accuracy = accuracy(torch.cat([model(b) for b in xv.split(512)]), yv)
    info = {
        "kind": kind,
        "n_outputs": n_outputs,
        "val_accuracy": val_accuracy,
        "feature_dim": int(config.widths[-1]),
        "config": config.to_dict(),
        "epochs": len(history),
        "seconds": round(time.perf_counter() - start, 2),
    }
    return model, info


def _forward(
    model: ResNet, images: torch.Tensor, batch: int = 512
) -> tuple[np.ndarray, torch.Tensor]:
    """Penultimate features ``[N, D]`` (float64) and logits of images in [-1, 1] NCHW."""
    model.eval()
    device = next(model.parameters()).device
    feats, logits = [], []
    with torch.no_grad():
        for part in images.split(batch):
            x = ((part.to(device).float() + 1.0) / 2.0).clamp_(0.0, 1.0)
            x = model.stem(model.normalize(x))
            for stage in model.stages:
                x = stage(x)
            f = model.head[:-1](x)
            feats.append(f.double().cpu())
            logits.append(model.head[-1](f).float().cpu())
    if not feats:
        return np.zeros((0, model.config.widths[-1])), torch.zeros(0, model.config.n_classes)
    return torch.cat(feats).numpy(), torch.cat(logits)


def features(model: ResNet, images: torch.Tensor, batch: int = 512) -> np.ndarray:
    """Pooled features before the final linear layer, ``[N, D]`` float64, of images in [-1, 1].

    Example:
        >>> model = ResNet(resnet_config_for(1, 3, 8, 8))
        >>> features(model, torch.zeros(5, 1, 8, 8)).shape
        (5, 32)
    """
    return _forward(model, images, batch)[0]


def classify(model: ResNet, images: torch.Tensor, batch: int = 512) -> np.ndarray:
    """Predicted class ids ``[N]`` of images in [-1, 1] NCHW.

    Example:
        >>> classify(ResNet(resnet_config_for(1, 3, 8, 8)), torch.zeros(2, 1, 8, 8)).shape
        (2,)
    """
    return _forward(model, images, batch)[1].argmax(dim=1).numpy()


def _stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or len(feats) < 2:
        raise DataError(f"A Fréchet distance needs features [N >= 2, D]; got {feats.shape}.")
    return feats.mean(axis=0), np.atleast_2d(np.cov(feats, rowvar=False))


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_from_stats(
    mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray
) -> float:
    """Fréchet distance between N(mu1, cov1) and N(mu2, cov2), by eigendecompositions.

    ``tr sqrt(cov1 cov2)`` is computed as the sum of square roots of the (clipped, real)
    eigenvalues of the symmetric ``cov1^1/2 cov2 cov1^1/2``, so it is real without
    scipy's sqrtm and stable for singular covariances.

    Example:
        >>> frechet_from_stats(np.zeros(2), np.eye(2), np.ones(2), np.eye(2))
        2.0
    """
    root = _sqrt_psd(cov1)
    middle = root @ cov2 @ root
    values = np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)
    value = float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2))
    return max(value - 2.0 * float(np.sqrt(values).sum()), 0.0)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` and ``b`` ``[N, D]``.

    Example:
        >>> a = np.random.default_rng(0).normal(size=(200, 3))
        >>> round(frechet_distance(a, a + 1.0), 6)
        3.0
    """
    return frechet_from_stats(*_stats(a), *_stats(b))


class QualityJudge:
    """Scores generated images against held-out real ones with a trained feature network.

    Example:
        >>> from layerwise.data.image_sources import digits
        >>> s = digits()
        >>> model, info = train_feature_net(s.images[:300], s.labels[:300], time_limit=2)
        >>> real = to_tensor(s.images[300:600]).float() / 127.5 - 1
        >>> judge = QualityJudge(model, real, info)
        >>> judge.score(torch.rand_like(real) * 2 - 1)["fd"] > judge.floor(real[:150])
        True
    """

    def __init__(self, model: ResNet, reference: torch.Tensor, info: dict[str, Any]):
        mean, cov = _stats(features(model, reference))
        self._set(model, info, mean, cov, len(reference))

    def _set(
        self, model: ResNet, info: dict[str, Any], mean: np.ndarray, cov: np.ndarray, n: int
    ) -> None:
        self.model = model.eval()
        self.info = dict(info)
        self.mean, self.cov, self.n_reference = mean, cov, int(n)

    def score(self, images: torch.Tensor, labels: np.ndarray | None = None) -> dict[str, Any]:
        """``{"fd"}`` of ``images`` ([-1, 1] NCHW) to the reference; with ``labels`` (the
        requested classes) and a class-trained network, also ``class_accuracy`` and
        ``per_class_accuracy`` (None for classes absent from ``labels``)."""
        feats, logits = _forward(self.model, images)
        out: dict[str, Any] = {"fd": frechet_from_stats(*_stats(feats), self.mean, self.cov)}
        if labels is not None and self.info.get("kind") == "classes":
            labels = np.asarray(labels, dtype=np.int64)
            hit = logits.argmax(dim=1).numpy() == labels
            out["class_accuracy"] = float(hit.mean())
            out["per_class_accuracy"] = [
                float(hit[labels == k].mean()) if (labels == k).any() else None
                for k in range(int(self.info["n_outputs"]))
            ]
        return out

    def floor(self, real: torch.Tensor) -> float:
        """FD of other real images (e.g. a training subset of the reference's size) to the
        reference: the best a generator can hope for."""
        return self.score(real)["fd"]

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors (weights as ``model.*``, ``reference.mean``/``reference.cov``) for one
        safetensors file, and JSON-able metadata."""
        tensors = {f"model.{k}": v.detach().cpu() for k, v in self.model.state_dict().items()}
        tensors["reference.mean"] = torch.from_numpy(np.ascontiguousarray(self.mean))
        tensors["reference.cov"] = torch.from_numpy(np.ascontiguousarray(self.cov))
        meta = {
            "config": self.model.config.to_dict(),
            "info": self.info,
            "n_reference": self.n_reference,
        }
        return tensors, meta

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any],
                   model: ResNet | None = None) -> QualityJudge:  # fmt: skip
        """Inverse of :meth:`state`: no reference images needed. ``model``: its network when
        already restored (a run folder's is checked against the file's shapes first)."""
        if model is None:
            model = ResNet(ResNetConfig.from_dict(meta["config"]))
            prefix = "model."
            weights = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            model.load_state_dict(weights)
        judge = cls.__new__(cls)
        mean = tensors["reference.mean"].double().numpy()
        cov = tensors["reference.cov"].double().numpy()
        judge._set(model, meta["info"], mean, cov, meta.get("n_reference", 0))
        return judge
