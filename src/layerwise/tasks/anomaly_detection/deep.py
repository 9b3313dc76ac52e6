"""The deep detectors of anomaly-detection: an autoencoder and Deep SVDD, trained by the engine.

Both clip the (already standardised) input to ``[-clip, clip]`` at fit and score time alike,
so that a few heavy-tailed values can't dominate the training loss, and early-stop on a
held-out 10% of the rows given to ``fit``.

In a world of several processes every rank calls ``fit`` on the same rows (see :mod:`.ranks`):
the engine trains the network data-parallel, each rank on its share of every batch; what a
detector computes from its trained network (Deep SVDD's center) is rank 0's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from layerwise.runs.folder import RunFolder
from layerwise.tasks.anomaly_detection.detector import Detector

SCORE_BATCH = 4096


class TorchDetector(Detector):
    """What the deep detectors share: input clipping, the validation split, the trainer
    configuration, batched scoring and safetensors weights."""

    family: ClassVar[str] = "deep"
    complexity: ClassVar[int] = 3
    model: Any = None

    @property
    def clip(self) -> float:
        return float(self.params.get("clip", 10.0))

    def _tensor(self, x: np.ndarray) -> Any:
        import torch

        x = np.clip(np.asarray(x, dtype=np.float32), -self.clip, self.clip)
        return torch.from_numpy(np.ascontiguousarray(x))

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Train and validation row indices: a seeded 10% held out, none for tiny inputs."""
        order = np.random.default_rng(self.seed).permutation(n)
        n_val = round(0.1 * n)
        if n < 20 or n_val < 2:
            return order, None
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def _config(self, n_train: int, stage: str = "", epochs: int | None = None) -> Any:
        """The engine's options from the params; ``stage`` (e.g. "pretrain_") prefixes keys that
        override the plain ones for that stage, and names its checkpoint subfolder."""
        from layerwise.engine import TrainerConfig

        p = self.params
        get = lambda key, default: p.get(f"{stage}{key}", p.get(key, default))  # noqa: E731
        checkpoint_dir = p.get("checkpoint_dir")
        if checkpoint_dir is not None and stage:
            checkpoint_dir = Path(checkpoint_dir) / stage.rstrip("_")
        return TrainerConfig(
            epochs=int(epochs or get("epochs", 100)),
            batch_size=int(p.get("batch_size", min(256, max(32, n_train // 16)))),
            lr=float(get("lr", 1e-3)),
            weight_decay=float(get("weight_decay", 1e-5)),
            patience=int(get("patience", 10)),
            time_limit=p.get("time_limit"),
            seed=self.seed,
            progress=bool(p.get("progress", False)),
            device=p.get("device", "auto"),
            checkpoint_dir=checkpoint_dir,
            resume=bool(p.get("resume", False)),
            cpu_threads=1,  # tiny models: one thread is as fast and immune to contention
        )

    def _train(
        self, model: Any, x: Any, target: Any, loss_fn: Any, config: Any, noise: float = 0.0
    ) -> Any:
        """Fit ``model`` on ``(x, target)`` with the engine; returns the History."""
        import torch

        from layerwise.engine import Trainer

        transform = None
        if noise > 0:  # denoising: Gaussian noise on training inputs only, never on validation

            def transform(batch: tuple[Any, ...]) -> tuple[Any, ...]:
                return (batch[0] + noise * torch.randn_like(batch[0]), *batch[1:])

        torch.manual_seed(self.seed)
        train_idx, val_idx = self._split(len(x))
        trainer = Trainer(model, loss_fn, config, batch_transform=transform)
        val = None if val_idx is None else (x[val_idx], target[val_idx])
        history = trainer.fit((x[train_idx], target[train_idx]), val=val)
        trainer.model.to("cpu")
        return history

    def _check_fitted(self) -> None:
        if self.model is None:
            raise RuntimeError(f"The {self.name} detector is not fitted: call fit() first.")

    def _batched(self, x: np.ndarray, fn: Any) -> np.ndarray:
        """``fn`` on batches of the clipped rows, in eval mode without gradients, as float64."""
        import torch

        self.model.eval()
        tensor = self._tensor(x)
        parts = []
        with torch.no_grad():
            for start in range(0, len(tensor), SCORE_BATCH):
                parts.append(fn(tensor[start : start + SCORE_BATCH]).double().numpy())
        return np.concatenate(parts)  # callers handle zero rows

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        from layerwise.engine.checkpoint import save_weights

        file = f"{prefix}.safetensors"
        save_weights(run.file(file), self.model.state_dict())
        return {
            "file": file,
            "architecture": self.model.config.to_dict(),
            "name": self.name,
            "seed": self.seed,
            "clip": self.clip,
        }

    @classmethod
    def _restore(cls, run: RunFolder, info: dict[str, Any], build: Any) -> TorchDetector:
        from layerwise.runs.weights import restore_module

        detector = cls(seed=info.get("seed", 0), clip=info.get("clip", 10.0))
        detector.model = restore_module(run, info["file"], build).eval()
        return detector


class AutoencoderDetector(TorchDetector):
    """An MLP autoencoder; a row is as unusual as it is badly reconstructed.

    Each column's squared error is divided by its median over the training rows before the
    row's mean is taken: otherwise the columns the network reconstructs worst for every row
    (one-hot categories, noisy measurements) decide every score. Heavy dropout (0.5) keeps the
    network from learning to reconstruct the anomalies it is trained among. Both lifted the
    mean ROC-AUC on the 8 ADBench datasets from 0.80 to about 0.89.

    Params: hidden ([64, 32]), bottleneck (8, at most d // 2), dropout (0.5), noise (0.0:
    Gaussian input noise while training, a denoising autoencoder when > 0), epochs (100),
    batch_size, lr (1e-3), weight_decay (1e-5), patience (10), clip (10).
    """

    name: ClassVar[str] = "autoencoder"
    description: ClassVar[str] = "MLP autoencoder; score = mean scaled reconstruction error"
    error_scale: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> None:
        import torch

        from layerwise.models.tabular_autoencoder import (
            TabularAutoencoder,
            TabularAutoencoderConfig,
        )

        data = self._tensor(x)
        config = TabularAutoencoderConfig(
            n_inputs=data.shape[1],
            hidden=list(self.params.get("hidden", [64, 32])),
            bottleneck=int(self.params.get("bottleneck", 8)),
            dropout=float(self.params.get("dropout", 0.5)),
        )
        torch.manual_seed(self.seed)
        self.model = TabularAutoencoder(config)
        self.error_scale = None
        n_train = len(self._split(len(data))[0])
        self.history = self._train(
            self.model,
            data,
            data,
            torch.nn.functional.mse_loss,
            self._config(n_train),
            noise=float(self.params.get("noise", 0.0)),
        )
        self.model.eval()
        errors = self._batched(x, self._squared_errors) if len(x) else np.ones((1, data.shape[1]))
        self.error_scale = np.maximum(np.median(errors, axis=0), 1e-2 * errors.mean() + 1e-12)

    def _squared_errors(self, batch: Any) -> Any:
        return (self.model(batch) - batch) ** 2

    def _scaled_errors(self, x: np.ndarray) -> np.ndarray:
        errors = self._batched(x, self._squared_errors)
        return errors if self.error_scale is None else errors / self.error_scale

    def score(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted()
        if len(x) == 0:
            return np.zeros(0)
        return self._scaled_errors(x).mean(axis=1)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each column's share of the row's scaled squared reconstruction error (rows sum to 1)."""
        self._check_fitted()
        if len(x) == 0:
            return np.zeros((0, np.shape(x)[1] if np.ndim(x) == 2 else 0))
        errors = self._scaled_errors(x)
        totals = errors.sum(axis=1, keepdims=True)
        uniform = np.full_like(errors, 1.0 / errors.shape[1])
        return np.divide(errors, totals, out=uniform, where=totals > 0)

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> AutoencoderDetector:
        from layerwise.models.tabular_autoencoder import (
            TabularAutoencoder,
            TabularAutoencoderConfig,
        )
        from layerwise.runs.weights import config_from

        config = config_from(TabularAutoencoderConfig, info["architecture"], run)
        detector = cls._restore(run, info, lambda: TabularAutoencoder(config))
        if info.get("error_scale") is not None:
            detector.error_scale = np.asarray(info["error_scale"], dtype=np.float64)
        return detector  # type: ignore[return-value]

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        info = super().save(run, prefix)
        scale = None if self.error_scale is None else self.error_scale.tolist()
        return {**info, "error_scale": scale}


class DeepSVDDDetector(TorchDetector):
    """One-class Deep SVDD: a bias-free network, pretrained as the encoder of an autoencoder,
    then trained to map the training rows close to a center; score = squared distance to it.

    The inputs are shifted by ``input_shift`` (2) before the bias-free network (see
    :mod:`layerwise.models.deep_svdd`: otherwise the median row would look the most unusual).

    Params: hidden ([64, 32]), rep_dim (16), input_shift (2), pretrain_epochs (20; 0 skips
    pretraining), epochs (100), batch_size, lr (1e-3), weight_decay (1e-5), patience (10),
    eps (0.1), clip (10); pretrain_lr, pretrain_weight_decay and pretrain_patience override
    lr, weight_decay and patience for pretraining. ``pretrain_history`` keeps its History.
    """

    name: ClassVar[str] = "deep-svdd"
    description: ClassVar[str] = "Deep SVDD: squared distance to a learnt one-class center"

    def fit(self, x: np.ndarray) -> None:
        import torch

        from layerwise.engine.distributed import agreed
        from layerwise.models.deep_svdd import DeepSVDD, DeepSVDDConfig

        data = self._tensor(x)
        config = DeepSVDDConfig(
            n_inputs=data.shape[1],
            hidden=list(self.params.get("hidden", [64, 32])),
            rep_dim=int(self.params.get("rep_dim", 16)),
            input_shift=float(self.params.get("input_shift", 2.0)),
        )
        torch.manual_seed(self.seed)
        self.model = DeepSVDD(config)
        n_train = len(self._split(len(data))[0])
        pretrain_epochs = int(self.params.get("pretrain_epochs", 20))
        self.pretrain_history = None
        if pretrain_epochs > 0:
            self.pretrain_history = self._train(
                self.model.autoencoder(),
                data,
                data,
                torch.nn.functional.mse_loss,
                self._config(n_train, "pretrain_", epochs=pretrain_epochs),
            )
        self.model.eval()
        with torch.no_grad():  # the center: the mean representation after pretraining
            representations = torch.cat([self.model(b) for b in data.split(SCORE_BATCH)])
        self.model.set_center(representations, eps=float(self.params.get("eps", 0.1)))
        # rank 0's in a world (every rank's weights are the same, but a sum in another order on
        # another machine could differ in its last bits; the targets must be the same)
        self.model.center.copy_(agreed(self.model.center.cpu()).to(self.model.center.device))
        target = self.model.center.expand(len(data), -1)
        self.history = self._train(self.model, data, target, _svdd_loss, self._config(n_train))
        self.model.eval()

    def score(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted()
        if len(x) == 0:
            return np.zeros(0)
        return self._batched(x, self.model.distance)

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> DeepSVDDDetector:
        from layerwise.models.deep_svdd import DeepSVDD, DeepSVDDConfig
        from layerwise.runs.weights import config_from

        config = config_from(DeepSVDDConfig, info["architecture"], run)
        return cls._restore(run, info, lambda: DeepSVDD(config))  # type: ignore[return-value]


def _svdd_loss(representations: Any, center: Any) -> Any:
    """Mean squared distance to the center (given per row as the target)."""
    return ((representations.float() - center) ** 2).sum(dim=1).mean()
