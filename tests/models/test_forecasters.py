"""The forecasting models (DLinear, PatchTST, SegRNN): shapes, channel independence,
equivariances, configs, weights and learning a noisy sine."""

from __future__ import annotations

import math

import pytest
import torch

from layerwise.errors import ConfigError, DataError
from layerwise.models.dlinear import DLinear, DLinearConfig
from layerwise.models.patchtst import PatchTST, PatchTSTConfig
from layerwise.models.revin import RevIN, subtract_last
from layerwise.models.segrnn import SegRNN, SegRNNConfig


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def dlinear(lookback: int, horizon: int, channels: int, **extra) -> DLinear:
    return DLinear(DLinearConfig(lookback, horizon, n_channels=channels, **extra))


def patchtst(lookback: int, horizon: int, channels: int, **extra) -> PatchTST:
    options = {"dim": 16, "depth": 2, "ff_dim": 32, **extra}
    return PatchTST(PatchTSTConfig(lookback, horizon, n_channels=channels, **options))


def segrnn(lookback: int, horizon: int, channels: int, **extra) -> SegRNN:
    options = {"hidden": 32, **extra}
    return SegRNN(SegRNNConfig(lookback, horizon, n_channels=channels, **options))


def segrnn_lstm(lookback: int, horizon: int, channels: int, **extra) -> SegRNN:
    return segrnn(lookback, horizon, channels, cell="lstm", **extra)


MODELS = {"dlinear": dlinear, "patchtst": patchtst, "segrnn": segrnn, "segrnn_lstm": segrnn_lstm}
LEVEL_FREE = ["patchtst", "segrnn", "segrnn_lstm"]  # level passes straight through


def perturbed(model: torch.nn.Module) -> torch.nn.Module:
    """Move the weights off their (sometimes symmetric) initial values."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("sizes", [(50, 7, 3), (96, 24, 2)])
def test_output_shape(name, sizes):
    lookback, horizon, channels = sizes
    torch.manual_seed(0)
    model = MODELS[name](lookback, horizon, channels)
    y = model(torch.randn(4, lookback, channels))
    assert y.shape == (4, horizon, channels) and y.dtype == torch.float32
    y.sum().backward()  # trains (dropout on) without errors
    with pytest.raises(DataError):
        model(torch.randn(4, lookback + 1, channels))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_channel_independence(name):
    torch.manual_seed(0)
    model = perturbed(MODELS[name](50, 7, 3))
    x = torch.randn(5, 50, 3)
    changed = x.clone()
    changed[:, :, 1] = 10 * torch.randn(5, 50)
    with torch.no_grad():
        base, other = model(x), model(changed)
    torch.testing.assert_close(other[:, :, 0], base[:, :, 0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(other[:, :, 2], base[:, :, 2], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(other[:, :, 1], base[:, :, 1])


@pytest.mark.parametrize("name", LEVEL_FREE)
def test_shift_equivariance(name):
    torch.manual_seed(0)
    model = perturbed(MODELS[name](50, 7, 3))
    x = torch.randn(5, 50, 3)
    with torch.no_grad():
        torch.testing.assert_close(model(x + 25.0), model(x) + 25.0, atol=1e-3, rtol=1e-4)


def test_scale_equivariance_of_patchtst_with_revin():
    torch.manual_seed(0)
    model = perturbed(patchtst(50, 7, 3))
    x = torch.randn(5, 50, 3)
    with torch.no_grad():
        torch.testing.assert_close(model(3.0 * x - 2.0), 3.0 * model(x) - 2.0, atol=1e-4, rtol=1e-4)
    # Without RevIN the level is not removed.
    plain = perturbed(patchtst(50, 7, 3, revin=False))
    with torch.no_grad():
        assert not torch.allclose(plain(x + 25.0), plain(x) + 25.0, atol=1e-2)


def test_revin_round_trip_and_subtract_last():
    revin = RevIN(2)
    with torch.no_grad():
        revin.weight.fill_(2.0)
        revin.bias.fill_(0.5)
    x = torch.randn(3, 20, 2) * 4 + 7
    z = revin.normalize(x)
    torch.testing.assert_close(z.mean(1), torch.full((3, 2), 0.5), atol=1e-5, rtol=0)
    torch.testing.assert_close(revin.denormalize(z), x, atol=1e-4, rtol=1e-5)
    assert "_mean" not in revin.state_dict()
    centred, last = subtract_last(x)
    assert centred[:, -1].abs().max() == 0 and torch.equal(last[:, 0], x[:, -1])
    with pytest.raises(RuntimeError):
        RevIN(2).denormalize(x)


CONFIGS = {
    "dlinear": (DLinearConfig, DLinearConfig(96, 24, kernel_size=13), "kernel_size", 0),
    "patchtst": (PatchTSTConfig, PatchTSTConfig(96, 24, dim=32, heads=4), "dim", 30),
    "segrnn": (SegRNNConfig, SegRNNConfig(96, 24, cell="lstm", n_channels=7), "cell", "rnn"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_config_round_trip_and_errors(name):
    cls, config, field, bad = CONFIGS[name]
    assert cls.from_dict(config.to_dict()) == config
    d = config.to_dict()
    d[field + "s"] = d.pop(field)  # a misspelled field
    with pytest.raises(ConfigError, match=f"'{field}'"):
        cls.from_dict(d)
    with pytest.raises(ConfigError, match=field):
        cls.from_dict({**config.to_dict(), field: bad})


def test_specific_config_errors():
    with pytest.raises(ConfigError, match="patch_len"):
        PatchTSTConfig(12, 4, patch_len=16)
    with pytest.raises(ConfigError, match="heads"):
        PatchTSTConfig(96, 24, dim=18, heads=4)
    with pytest.raises(ConfigError, match="hidden"):
        SegRNNConfig(96, 24, hidden=33)
    assert PatchTSTConfig(336, 96).n_patches == 42
    assert (SegRNNConfig(50, 7).n_in, SegRNNConfig(50, 7).n_out) == (3, 1)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_state_dict_round_trip(name):
    torch.manual_seed(0)
    model = perturbed(MODELS[name](50, 7, 3))
    torch.manual_seed(123)  # a different initialisation
    fresh = type(model)(model.config)
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    x = torch.randn(4, 50, 3)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x), atol=0, rtol=0)


def test_dlinear_individual_weights():
    model = dlinear(24, 6, 3, kernel_size=5, individual=True)
    assert len(model.seasonal) == len(model.trend) == 3
    assert torch.all(model.seasonal[0].weight == 1 / 24) and torch.all(model.trend[2].bias == 0)
    with torch.no_grad():
        model.seasonal[2].weight.mul_(-3)  # only channel 2 changes
    shared = dlinear(24, 6, 3, kernel_size=5)
    x = torch.randn(2, 24, 3)
    with torch.no_grad():
        a, b = model(x), shared(x)
    torch.testing.assert_close(a[:, :, :2], b[:, :, :2])
    assert not torch.allclose(a[:, :, 2], b[:, :, 2])
    with pytest.raises(DataError, match="3 channels"):
        model(torch.randn(2, 24, 2))
    n_individual = sum(p.numel() for p in model.parameters())
    assert n_individual == 3 * sum(p.numel() for p in shared.parameters())
    # The fresh model forecasts the window mean (weights 1/L, zero bias).
    flat = dlinear(24, 6, 1)(torch.full((1, 24, 1), 4.0))
    torch.testing.assert_close(flat, torch.full((1, 6, 1), 4.0))


def sine_windows(
    n: int, lookback: int, horizon: int, gen: torch.Generator, series: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    starts = torch.randint(0, series.shape[0] - lookback - horizon, (n,), generator=gen)
    idx = starts[:, None] + torch.arange(lookback + horizon)
    windows = series[idx]  # [n, L + H, C]
    return windows[:, :lookback], windows[:, lookback:]


LEARN = {
    "dlinear": lambda: dlinear(96, 24, 2),
    "patchtst": lambda: patchtst(96, 24, 2, dropout=0.1),
    "segrnn": lambda: segrnn(96, 24, 2, hidden=64, dropout=0.1),
    "segrnn_lstm": lambda: segrnn_lstm(96, 24, 2, hidden=64, dropout=0.1),
}


@pytest.mark.parametrize("name", sorted(LEARN))
def test_learns_a_noisy_sine(name):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(3000, dtype=torch.float32)
    clean = torch.stack(
        [torch.sin(2 * math.pi * t / 24), 2 + 0.5 * torch.cos(2 * math.pi * t / 24)], 1
    )
    series = clean + 0.1 * torch.randn(clean.shape, generator=gen)
    train, test = series[:2400], series[2400:]
    model = LEARN[name]()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(200):
        x, y = sine_windows(32, 96, 24, gen, train)
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    x, y = sine_windows(256, 96, 24, gen, test)
    with torch.no_grad():
        mse = torch.nn.functional.mse_loss(model(x), y).item()
    naive = torch.nn.functional.mse_loss(x[:, -1:].expand_as(y), y).item()
    assert mse < 0.1 * naive, (mse, naive)
