"""Deep SVDD (Ruff et al. 2018): a bias-free MLP that maps usual rows close to a center.

No bias terms and no bounded activations: with either, the network could map every row to
the center (a constant function) and the one-class objective would be trivially solved.

But a bias-free LeakyReLU network maps 0 to 0 and scales with its input (f(tx) = t f(x) for
t > 0). On standardised rows, centred on 0, the most typical row would then be the farthest
from the center. So every input is shifted by a constant (``input_shift``) first, which moves
the data away from the origin without giving the network a free bias.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import pairwise

import torch
from torch import nn


@dataclass
class DeepSVDDConfig:
    n_inputs: int
    hidden: list[int] = field(default_factory=lambda: [64, 32])
    rep_dim: int = 16
    negative_slope: float = 0.1  # LeakyReLU: unbounded, keeps gradients for negative inputs
    input_shift: float = 2.0  # added to every (standardised) input: the data's center isn't 0

    def __post_init__(self) -> None:
        self.hidden = [int(h) for h in self.hidden]
        self.rep_dim = max(1, int(self.rep_dim))

    def to_dict(self) -> dict:
        return asdict(self)


def _bias_free_mlp(sizes: list[int], negative_slope: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(sizes)):
        layers.append(nn.Linear(a, b, bias=False))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(negative_slope))
    return nn.Sequential(*layers)


class DeepSVDD(nn.Module):
    """Maps rows ``[n, n_inputs]`` to representations ``[n, rep_dim]``; ``center`` is a buffer
    (saved with the weights) and :meth:`distance` the squared distance to it, the anomaly score.

    >>> model = DeepSVDD(DeepSVDDConfig(n_inputs=5, rep_dim=3))
    >>> model(-2 * torch.ones(2, 5)).tolist()  # no bias: -input_shift in, zero out
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    >>> model.distance(torch.zeros(2, 5)).shape
    torch.Size([2])
    """

    def __init__(self, config: DeepSVDDConfig):
        super().__init__()
        self.config = config
        sizes = [config.n_inputs, *config.hidden, config.rep_dim]
        self.encoder = _bias_free_mlp(sizes, config.negative_slope)
        self.register_buffer("center", torch.zeros(config.rep_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x + self.config.input_shift)

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        return ((self(x) - self.center) ** 2).sum(dim=1)

    def autoencoder(self) -> DeepSVDDAutoencoder:
        """This network as the encoder of an autoencoder, to pretrain it (as the paper does)."""
        return DeepSVDDAutoencoder(self)

    @torch.no_grad()
    def set_center(self, representations: torch.Tensor, eps: float = 0.1) -> None:
        """The mean representation, with coordinates closer to 0 than ``eps`` pushed to
        ``±eps`` (a zero coordinate is trivially matched by zero weights)."""
        center = representations.float().mean(dim=0)
        small = center.abs() < eps
        center[small & (center < 0)] = -eps
        center[small & (center >= 0)] = eps
        self.center.copy_(center.to(self.center.device))


class DeepSVDDAutoencoder(nn.Module):
    """A :class:`DeepSVDD` (shared, trained in place) and a mirrored bias-free decoder that
    reconstructs the input; the decoder is thrown away after pretraining.

    >>> svdd = DeepSVDD(DeepSVDDConfig(n_inputs=5, rep_dim=3))
    >>> svdd.autoencoder()(torch.zeros(2, 5)).shape
    torch.Size([2, 5])
    """

    def __init__(self, svdd: DeepSVDD):
        super().__init__()
        config = svdd.config
        self.svdd = svdd
        sizes = [config.n_inputs, *config.hidden, config.rep_dim]
        self.decoder = _bias_free_mlp(sizes[::-1], config.negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.svdd(x)) - self.svdd.config.input_shift
