"""A compact residual CNN over log-mel spectrograms for spoken words.

The model takes waveforms: its front end computes the log-mel spectrogram, normalises it per
utterance (each mel band's mean removed, the whole scaled to unit variance: a microphone's or a
voice's spectral tilt matters less) and, in training mode only, applies SpecAugment. A saved
weights file plus the JSON config is all a predictor needs.

Example:
    >>> config = SpeechCNNConfig(n_classes=10, features={"sample_rate": 8000})
    >>> model = SpeechCNN(config).eval()
    >>> model(torch.zeros(2, 8000)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from layerwise.data.audio_augment import SpecAugment, SpecAugmentConfig, utterance_norm
from layerwise.data.audio_features import FeatureConfig, LogMel, dct_matrix
from layerwise.errors import dataclass_from_dict


@dataclass
class SpeechCNNConfig:
    """The architecture of a :class:`SpeechCNN`; ``features`` holds FeatureConfig fields and
    ``spec_augment`` SpecAugmentConfig fields.

    Example:
        >>> c = SpeechCNNConfig(n_classes=3)
        >>> SpeechCNNConfig.from_dict(c.to_dict()) == c
        True
    """

    n_classes: int
    features: dict[str, Any] = field(default_factory=dict)
    widths: list[int] = field(default_factory=lambda: [32, 64, 96])
    blocks: int = 1  # residual blocks per stage
    dropout: float = 0.2
    normalize: str = "utterance"  # or "none"
    # keep this many cepstral coefficients of each frame (None: all): the spectral envelope
    # (formants, which say the word) stays and the pitch harmonics (which say the speaker) go
    cepstra: int | None = None
    spec_augment: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = FeatureConfig.from_dict(self.features).to_dict()
        self.spec_augment = SpecAugmentConfig.from_dict(self.spec_augment).to_dict()
        self.widths = [int(w) for w in self.widths]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeechCNNConfig:
        return dataclass_from_dict(cls, d, "speech CNN config")


class _Residual(nn.Module):
    """Two 3x3 convolutions with batch norm and a shortcut (1x1 when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class SpeechCNN(nn.Module):
    """Waveforms ``[B, L]`` -> class logits ``[B, n_classes]`` (see the module doc)."""

    def __init__(self, config: SpeechCNNConfig):
        super().__init__()
        self.config = config
        self.log_mel = LogMel(FeatureConfig.from_dict(config.features))
        self.spec_augment = SpecAugment(SpecAugmentConfig.from_dict(config.spec_augment))
        if config.cepstra:  # orthonormal DCT rows: lifter.T @ lifter projects onto them
            mels = self.log_mel.config.n_mels
            self.register_buffer(
                "lifter", dct_matrix(config.cepstra, mels).float(), persistent=False
            )
        widths = config.widths
        self.stem = nn.Sequential(
            nn.Conv2d(1, widths[0], 3, 2, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        stages, c_in = [], widths[0]
        for i, width in enumerate(widths):
            for b in range(config.blocks):
                stages.append(_Residual(c_in, width, 2 if (i > 0 and b == 0) else 1))
                c_in = width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(c_in, config.n_classes))

    def features(self, waves: torch.Tensor) -> torch.Tensor:
        """The normalised (and, in training, augmented) log-mel input ``[B, 1, mels, frames]``."""
        spec = self.log_mel(waves)
        if self.config.cepstra:
            spec = torch.einsum(
                "km,bkt->bmt", self.lifter, torch.einsum("km,bmt->bkt", self.lifter, spec)
            )
        if self.config.normalize == "utterance":
            spec = utterance_norm(spec)
        return self.spec_augment(spec).unsqueeze(1)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(self.features(waves)))
        return self.head(x.mean(dim=(2, 3)))
