"""A CTC acoustic model for transcription: log-mel front end, two strided convolutions (time
/8, one output every 80 ms), a bidirectional GRU and a linear layer over the vocabulary plus
the CTC blank (index 0).

Example:
    >>> model = SpeechCTC(SpeechCTCConfig(vocabulary=["yes", "no"])).eval()
    >>> model(torch.zeros(2, 16000)).shape   # 1 s at 16 kHz: 101 frames -> 13 steps
    torch.Size([2, 13, 3])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from layerwise.data.audio_augment import SpecAugment, SpecAugmentConfig, utterance_norm
from layerwise.data.audio_features import FeatureConfig, LogMel
from layerwise.errors import dataclass_from_dict


@dataclass
class SpeechCTCConfig:
    """The architecture of a :class:`SpeechCTC`; ``vocabulary`` lists the output tokens
    (words), the blank not included."""

    vocabulary: list[str]
    features: dict[str, Any] = field(default_factory=dict)
    channels: int = 32
    hidden: int = 128
    layers: int = 2
    time_stride: int = 8  # frames (10 ms) per output step, 4 or 8: words last 30-80 steps
    # of 10 ms, so 80 ms steps leave each several outputs and halve the GRU's work
    dropout: float = 0.1
    spec_augment: dict[str, Any] = field(
        default_factory=lambda: {"warp": 0.1, "freq_masks": 2, "time_masks": 0}
    )

    def __post_init__(self) -> None:
        self.features = FeatureConfig.from_dict(self.features).to_dict()
        self.spec_augment = SpecAugmentConfig.from_dict(self.spec_augment).to_dict()
        self.vocabulary = [str(v) for v in self.vocabulary]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeechCTCConfig:
        return dataclass_from_dict(cls, d, "speech CTC config")


class SpeechCTC(nn.Module):
    """Waveforms ``[B, L]`` -> log-probabilities ``[B, T', vocabulary + 1]`` (blank first)."""

    def __init__(self, config: SpeechCTCConfig):
        super().__init__()
        self.config = config
        features = FeatureConfig.from_dict(config.features)
        self.log_mel = LogMel(features)
        self.spec_augment = SpecAugment(SpecAugmentConfig.from_dict(config.spec_augment))
        c = config.channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c, 3, 2, 1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, (2, config.time_stride // 2), 1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
        )
        mels = (features.n_mels + 1) // 2
        mels = (mels + 1) // 2
        self.project = nn.Linear(c * mels, config.hidden)
        self.rnn = nn.GRU(
            config.hidden,
            config.hidden,
            num_layers=config.layers,
            batch_first=True,
            bidirectional=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(2 * config.hidden, len(config.vocabulary) + 1)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        spec = self.spec_augment(utterance_norm(self.log_mel(waves)))
        x = self.conv(spec.unsqueeze(1))  # [B, C, mels/4, T/4]
        b, c, m, t = x.shape
        x = torch.relu(self.project(x.permute(0, 3, 1, 2).reshape(b, t, c * m)))
        x, _ = self.rnn(self.dropout(x))
        return torch.log_softmax(self.out(self.dropout(x)).float(), dim=-1)

    def steps(self, n_samples: int) -> int:
        """Output steps for a clip of ``n_samples``."""
        half = (self.log_mel.frames(n_samples) + 1) // 2
        stride = self.config.time_stride // 2
        return (half - 1) // stride + 1
