"""A (class-conditional) convolutional variational autoencoder.

The decoder *is* the DCGAN generator (:class:`~layerwise.models.dcgan.Generator`: a linear layer
to a small start map, ``ConvTranspose2d(4, 2, 1)`` + class-conditional BatchNorm + ReLU stages,
a 3x3 convolution and tanh), so a trained decoder samples exactly like a GAN's generator:
``decoder(z, labels)`` with ``z ~ N(0, I)`` of size ``decoder.config.z_dim`` (see
:meth:`ConvVAE.decoder_module` and :func:`layerwise.tasks.image_generation.gan_train.sample_images`).
The encoder mirrors the DCGAN discriminator without spectral norm: a 3x3 stem, strided
``Conv2d(4, 2, 1)`` + LeakyReLU(0.2) stages down to the start map, then a linear layer to the
posterior's mean and log-variance. A conditional encoder sees the class as one-hot input planes;
the decoder as an embedding concatenated to ``z`` and per-class BatchNorm gains.

Example:
    >>> config = ConvVAEConfig(channels=1, side=16, n_classes=10, width=8)
    >>> vae = ConvVAE(config)
    >>> x, labels = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([0, 1, 2, 3])
    >>> recon, mu, logvar = vae(x, labels)
    >>> recon.shape, mu.shape, vae.decoder_module()(torch.randn(4, 32), labels).shape
    (torch.Size([4, 1, 16, 16]), torch.Size([4, 32]), torch.Size([4, 1, 16, 16]))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

import torch
from torch import nn

from layerwise.errors import ConfigError, dataclass_from_dict
from layerwise.models.dcgan import LEAK, DCGANConfig, Generator, _check_labels

LOGVAR_MIN, LOGVAR_MAX = -12.0, 8.0  # keep exp(logvar) finite early in training


@dataclass
class ConvVAEConfig:
    """The architecture of a :class:`ConvVAE`, JSON-able through :meth:`to_dict`.

    The same rules as :class:`~layerwise.models.dcgan.DCGANConfig` (whose stage logic it
    uses): ``channels`` 1 or 3, ``side`` divisible by 4 in 8..64, ``n_classes`` 0 for
    unconditional, ``width`` the full-resolution stage (doubling towards the start map, up to
    ``8 * width``).

    Example:
        >>> config = ConvVAEConfig(channels=3, side=28, n_classes=2)
        >>> ConvVAEConfig.from_dict(config.to_dict()) == config, config.stages, config.start
        (True, 2, 7)
    """

    channels: int
    side: int
    n_classes: int = 0
    z_dim: int = 32
    width: int = 32

    def __post_init__(self) -> None:
        try:
            self.dcgan()
        except ConfigError as error:
            raise ConfigError(
                error.message.replace("DCGANConfig.", "ConvVAEConfig."), error.hint
            ) from None

    def dcgan(self) -> DCGANConfig:
        """The DCGAN configuration of the same shape (the decoder's ``config``)."""
        return DCGANConfig(self.channels, self.side, self.n_classes, self.z_dim, self.width)

    @property
    def stages(self) -> int:
        """Down- (and up-) sampling stages between the image and the start map."""
        return self.dcgan().stages

    @property
    def start(self) -> int:
        """Side of the encoder's last feature map (and the decoder's first)."""
        return self.dcgan().start

    def stage_widths(self) -> list[int]:
        """Channels from the start map (index 0) to the full-resolution stage (index -1)."""
        return self.dcgan().stage_widths()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConvVAEConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the closest field."""
        return dataclass_from_dict(cls, d)


class Encoder(nn.Module):
    """Images in [-1, 1] (and classes) -> posterior ``(mu, logvar)``, each ``[N, z_dim]``."""

    def __init__(self, config: ConvVAEConfig):
        super().__init__()
        self.config = config
        widths = config.stage_widths()[::-1]  # full resolution first, doubling downwards
        self.stem = nn.Conv2d(config.channels + config.n_classes, widths[0], 3, padding=1)
        self.downs = nn.ModuleList(
            nn.Conv2d(c_in, c_out, 4, 2, 1) for c_in, c_out in pairwise(widths)
        )
        self.head = nn.Linear(widths[-1] * config.start**2, 2 * config.z_dim)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        _check_labels(labels, cfg.n_classes, len(x))
        if cfg.n_classes:
            planes = nn.functional.one_hot(labels, cfg.n_classes).to(x.dtype)
            x = torch.cat([x, planes[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)
        h = nn.functional.leaky_relu(self.stem(x), LEAK)
        for down in self.downs:
            h = nn.functional.leaky_relu(down(h), LEAK)
        mu, logvar = self.head(h.flatten(1)).chunk(2, dim=1)
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)


class VAEDecoder(nn.Module):
    """The decoder as a sampler: ``module(z, labels)`` with ``z ~ N(0, I)`` of size
    ``module.config.z_dim``, like a GAN generator. ``z`` is first mapped through the latent
    prior's per-class affine map (``mean[y] + scale[y] @ z``; the identity until
    :meth:`ConvVAE.fit_prior` fits it), then decoded by ``net`` (a DCGAN generator)."""

    def __init__(self, config: ConvVAEConfig):
        super().__init__()
        self.net = Generator(config.dcgan())
        self.config = self.net.config
        k, d = max(config.n_classes, 1), config.z_dim
        self.register_buffer("prior_mean", torch.zeros(k, d))
        self.register_buffer("prior_scale", torch.eye(d).repeat(k, 1, 1))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        _check_labels(labels, self.config.n_classes, len(z))
        k = labels if self.config.n_classes else torch.zeros(len(z), dtype=torch.long)
        k = k.to(z.device)
        z = self.prior_mean[k] + (self.prior_scale[k] @ z.unsqueeze(-1)).squeeze(-1)
        return self.net(z, labels)


class ConvVAE(nn.Module):
    """Encoder + decoder; ``forward(x, labels)`` -> ``(reconstruction, mu, logvar)``, the
    reconstruction decoded from one reparameterised sample of the posterior (its mean in eval
    mode).

    Samples (:meth:`decoder_module`) come from N(0, I) by default; :meth:`fit_prior` replaces it
    by a Gaussian per class fitted to the aggregate posterior of training images ("ex-post
    density estimation", Ghosh et al., 2020), which avoids the prior's holes.

    Example:
        >>> vae = ConvVAE(ConvVAEConfig(channels=3, side=16, width=8, z_dim=4))
        >>> mu, logvar = vae.encode(torch.zeros(2, 3, 16, 16))
        >>> images = vae.decode(mu).detach()
        >>> images.shape, float(images.abs().max()) <= 1.0
        (torch.Size([2, 3, 16, 16]), True)
    """

    def __init__(self, config: ConvVAEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = VAEDecoder(config)

    def encode(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance ``[N, z_dim]`` of images in [-1, 1]."""
        return self.encoder(x, labels if self.config.n_classes else None)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [-1, 1] ``[N, C, side, side]`` from latents ``[N, z_dim]`` (as is, not
        through the fitted prior)."""
        return self.decoder.net(z, labels if self.config.n_classes else None)

    def decoder_module(self) -> VAEDecoder:
        """The sampler, called like a GAN generator: ``module(z, labels)`` with ``z ~ N(0, I)``
        of size ``module.config.z_dim``; shares its weights with this VAE."""
        return self.decoder

    @torch.no_grad()
    def fit_prior(
        self, x: torch.Tensor, labels: torch.Tensor | None = None, batch: int = 512
    ) -> None:
        """Fit the sampling prior to images ``x``: per class (one when unconditional), the mean
        and covariance of the aggregate posterior (``cov(mu) + mean(exp(logvar))`` on the
        diagonal), as ``prior_mean`` and the Cholesky factor ``prior_scale``. A class without
        two images keeps N(0, I)."""
        was_training = self.training
        self.eval()
        device = self.decoder.prior_mean.device
        mus, variances = [], []
        for start in range(0, len(x), batch):
            yb = None if labels is None else labels[start : start + batch].to(device)
            mu, logvar = self.encode(x[start : start + batch].to(device), yb)
            mus.append(mu.float())
            variances.append(logvar.float().exp())
        self.train(was_training)
        mu, var = torch.cat(mus), torch.cat(variances)
        if not self.config.n_classes or labels is None:
            groups = torch.zeros(len(mu), dtype=torch.long, device=device)
        else:
            groups = labels.to(device)
        eye = torch.eye(self.config.z_dim, device=device)
        for k in range(len(self.decoder.prior_mean)):
            pick = groups == k
            if int(pick.sum()) < 2:
                continue
            m = mu[pick]
            cov = torch.cov(m.T).reshape_as(eye) + torch.diag(var[pick].mean(0)) + 1e-5 * eye
            self.decoder.prior_mean[k] = m.mean(0)
            self.decoder.prior_scale[k] = torch.linalg.cholesky(cov)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x, labels)
        z = mu
        if self.training:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z, labels), mu, logvar
