"""The deep candidate for spoken words: a residual CNN on log-mel spectrograms, trained by the
engine on waveforms augmented on the fly (speed, shift, gain, background noise; SpecAugment
inside the model), with label smoothing and a one-cycle schedule. Saved as safetensors plus
its architecture in JSON.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.candidates.cnn import CNNCandidate

MODEL_FILE = "model.speech.safetensors"
# Cepstral coefficients of each log-mel frame the CNN sees (None: the full spectrum). Keeping
# 16 of 40 smooths away the pitch harmonics; leave-one-speaker-out on FSDD (4 speakers, 30
# epochs) went from 0.864 / 0.744 / 0.794 to 0.862 / 0.816 / 0.842 for george / jackson / lucas.
CEPSTRA = 16


def _accuracy(outputs: Any, targets: Any) -> float:
    return float((outputs.argmax(dim=1) == targets).float().mean())


class SpeechCNNCandidate(CNNCandidate):
    """Log-mel residual CNN; ``params``: epochs, batch_size, lr, weight_decay, label_smoothing,
    widths, blocks, normalize ("utterance" or "none"), cepstra, augment (WaveAugmentConfig fields),
    spec_augment (SpecAugmentConfig fields), n_mels, time_limit, device, progress,
    checkpoint_dir, resume. Epochs and the CPU time budget are chosen as for the image CNN.

    >>> SpeechCNNCandidate("multiclass", n_classes=10).family
    'deep'
    """

    name: ClassVar[str] = "speech-cnn"
    family: ClassVar[str] = "deep"
    complexity: ClassVar[int] = 3
    description: ClassVar[str] = "residual CNN on log-mel spectrograms, trained by the engine"
    cpu_budget: ClassVar[float] = 240.0  # seconds on a CPU without a time limit
    model_file: ClassVar[str] = MODEL_FILE

    def _build(self, train: Any) -> Any:
        from layerwise.models.speech_cnn import SpeechCNN, SpeechCNNConfig

        config = SpeechCNNConfig(
            n_classes=max(self.n_classes, 2),
            features={"sample_rate": train.rate, "n_mels": int(self.params.get("n_mels", 40))},
            widths=list(self.params.get("widths", [32, 64, 96])),
            blocks=int(self.params.get("blocks", 1)),
            normalize=str(self.params.get("normalize", "utterance")),
            cepstra=self.params.get("cepstra", CEPSTRA),
            spec_augment=dict(self.params.get("spec_augment") or {}),
        )
        return SpeechCNN(config)

    def fit(self, train: Any, val: Any, class_weights: np.ndarray | None = None) -> None:
        """Train on ``train`` (a SpeechSet), keeping the epoch best on ``val``."""
        import torch

        from layerwise.data.audio_augment import WaveAugmentConfig, augment_waves
        from layerwise.engine import Trainer, TrainerConfig
        from layerwise.engine.distributed import agreed

        torch.manual_seed(self.seed)
        self.notes: list[str] = []
        self.model = self._build(train)
        self.augment_config = WaveAugmentConfig.from_dict(dict(self.params.get("augment") or {}))
        x, y = torch.from_numpy(train.waves), torch.from_numpy(train.labels.astype(np.int64))
        xv, yv = torch.from_numpy(val.waves), torch.from_numpy(val.labels.astype(np.int64))
        weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        smoothing = float(self.params.get("label_smoothing", 0.1))
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=smoothing)
        generator = torch.Generator().manual_seed(self.seed)
        bank = [torch.from_numpy(n) for n in train.noise if len(n) >= train.waves.shape[1] // 4]

        def transform(batch: tuple[Any, ...]) -> tuple[Any, ...]:
            waves, target = batch
            return augment_waves(waves, self.augment_config, generator, bank), target

        batch_size = int(self.params.get("batch_size", 64))
        probe = self._probe(self.model, x, y, loss_fn, transform, batch_size)
        # one plan for every process, the first one's: each would time its probe differently,
        # and a rank that planned fewer epochs would leave the others waiting at a collective
        self.epochs, steps_per_epoch = agreed(list(self._epochs(len(x), batch_size, probe)))
        config = TrainerConfig.from_params(
            self.params,
            self.seed,
            {"lr": 3e-3, "weight_decay": 0.05},
            epochs=self.epochs,
            steps_per_epoch=steps_per_epoch,
            batch_size=batch_size,
            schedule="onecycle",
            patience=None,
        )
        trainer = Trainer(
            self.model, loss_fn, config, {"accuracy": _accuracy}, batch_transform=transform
        )
        self.history = trainer.fit((x, y), val=(xv, yv))
        self.stopped_reason = trainer.stopped_reason
        self.model = trainer.model.to("cpu").eval()
        self.tta = False

    def predict(self, speech: Any, tta: bool | None = None) -> np.ndarray:
        """Class probabilities ``[n, k]`` for a SpeechSet (or float32 waveforms ``[n, L]``)."""
        import torch

        waves = getattr(speech, "waves", speech)
        x = torch.from_numpy(np.ascontiguousarray(waves, dtype=np.float32))
        parts = []
        with torch.no_grad():
            for start in range(0, len(x), 256):
                parts.append(torch.softmax(self.model(x[start : start + 256]).float(), dim=1))
        if not parts:
            return np.zeros((0, self.model.config.n_classes))
        return torch.cat(parts).double().numpy()

    def facts(self) -> dict[str, Any]:
        return {"augment": self.augment_config.to_dict()}

    @classmethod
    def _classes(cls) -> tuple[Any, Any, Any]:
        from layerwise.data.audio_augment import WaveAugmentConfig
        from layerwise.models.speech_cnn import SpeechCNN, SpeechCNNConfig

        return SpeechCNN, SpeechCNNConfig, WaveAugmentConfig
