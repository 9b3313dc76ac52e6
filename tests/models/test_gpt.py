"""The GPT: shapes, causality, tying, cached generation against a naive loop, sampling, learning."""

from __future__ import annotations

import pytest
import torch

from layerwise.errors import ConfigError
from layerwise.models.gpt import (
    GPT,
    PRESETS,
    GPTConfig,
    lm_loss,
    parameter_count,
    sample_logits,
)

torch.set_num_threads(1)

VOCAB = 23


def tiny(block_size: int = 16, **extra) -> GPT:
    torch.manual_seed(0)
    options = {"dim": 32, "layers": 2, "heads": 4, **extra}
    return GPT(GPTConfig(VOCAB, block_size=block_size, **options)).eval()


def prompt(length: int, batch: int = 1, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def naive_generate(model: GPT, idx: torch.Tensor, n: int, keep: int, **sampling) -> torch.Tensor:
    """Full forward on the window every step; the window is cut to its last ``keep`` tokens
    whenever it would exceed block_size (the rule GPT.generate documents)."""
    block = model.config.block_size
    seq, start = idx, max(0, idx.shape[1] - block)
    with torch.no_grad():
        for _ in range(n):
            token = sample_logits(model(seq[:, start:])[:, -1], **sampling)
            seq = torch.cat([seq, token], 1)
            if seq.shape[1] - start > block:
                start = seq.shape[1] - keep
    return seq


def test_shapes_and_too_long_input():
    model = tiny()
    assert model(prompt(16, batch=3)).shape == (3, 16, VOCAB)
    assert model(prompt(1)).shape == (1, 1, VOCAB)
    with pytest.raises(ValueError, match="block_size=16"):
        model(prompt(17))


def test_causal():
    model = tiny()
    idx = prompt(12)
    changed = idx.clone()
    changed[0, 7] = (changed[0, 7] + 1) % VOCAB
    a, b = model(idx), model(changed)
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-6)
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_weight_tying_and_residual_init():
    model = tiny(layers=8, dim=64)
    assert model.head.weight is model.token_embedding.weight
    assert sum(p is model.token_embedding.weight for p in model.parameters()) == 1
    proj = model.blocks[0].attn.proj.weight.std().item()
    assert proj == pytest.approx(0.02 / 4, rel=0.1)  # 0.02 / sqrt(2 * 8)
    assert model.blocks[0].attn.qkv.weight.std().item() == pytest.approx(0.02, rel=0.1)


def test_cached_forward_matches_full_forward():
    model = tiny()
    idx = prompt(14, batch=2)
    full = model(idx)
    model.reset_cache()
    parts = [model(idx[:, :5], use_cache=True), model(idx[:, 5:6], use_cache=True)]
    parts.append(model(idx[:, 6:], use_cache=True))  # several queries after a cached past
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)
    with pytest.raises(ValueError, match="block_size"):
        model(prompt(3), use_cache=True)
    model.reset_cache()


@pytest.mark.parametrize("slide_to", [None, 1, 5, 16])
@pytest.mark.parametrize("length", [3, 16, 21])
def test_greedy_generation_matches_naive_loop(slide_to, length):
    model = tiny()
    idx = prompt(length, batch=2)
    out = model.generate(idx, 40, temperature=0, slide_to=slide_to)
    keep = 8 if slide_to is None else slide_to
    assert out.shape == (2, length + 40)
    assert torch.equal(out, naive_generate(model, idx, 40, keep, temperature=0))


@pytest.mark.parametrize("sampling", [{}, {"top_k": 5}, {"top_p": 0.8, "temperature": 1.5}])
def test_sampled_generation_matches_naive_loop(sampling):
    model = tiny()
    idx = prompt(4)
    out = model.generate(idx, 45, generator=torch.Generator().manual_seed(3), **sampling)
    gen = torch.Generator().manual_seed(3)
    assert torch.equal(out, naive_generate(model, idx, 45, 8, generator=gen, **sampling))


def test_top_k_one_top_p_tiny_and_temperature_zero_are_greedy():
    model = tiny()
    idx = prompt(5)
    greedy = model.generate(idx, 30, temperature=0)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(model.generate(idx, 30, temperature=2.0, top_k=1, generator=gen), greedy)
    assert torch.equal(model.generate(idx, 30, temperature=2.0, top_p=1e-6, generator=gen), greedy)


def test_seeds():
    model = tiny()
    idx = prompt(5)

    def run(seed: int) -> torch.Tensor:
        return model.generate(
            idx, 30, temperature=3.0, generator=torch.Generator().manual_seed(seed)
        )

    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))


def test_on_token_streams_every_token_in_order():
    model = tiny()
    idx = prompt(5)
    seen: list[int] = []
    out = model.generate(idx, 25, temperature=0, on_token=seen.append)
    assert seen == out[0, 5:].tolist()
    rows: list[list[int]] = []
    out = model.generate(prompt(5, batch=2), 3, temperature=0, on_token=rows.append)
    assert rows == out[:, 5:].T.tolist()


def test_generate_restores_training_mode_and_checks_arguments():
    model = tiny().train()
    assert model.generate(prompt(3), 0).shape == (1, 3)
    assert model.training
    with pytest.raises(ValueError, match="top_p"):
        model.generate(prompt(3), 2, top_p=0.0)
    with pytest.raises(ValueError, match="slide_to"):
        model.generate(prompt(3), 2, slide_to=17)


def test_overfits_a_repeating_string():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=3, block_size=24, dim=32, layers=2, heads=2))
    data = torch.arange(200) % 3  # "abcabc..."
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(100):
        starts = torch.randint(0, len(data) - 25, (16,))
        batch = torch.stack([data[s : s + 25] for s in starts])
        loss = lm_loss(model(batch[:, :-1]), batch[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1, f"loss {loss.item():.3f} after 100 steps"
    out = model.generate(torch.tensor([[0]]), 30, temperature=0)
    assert torch.equal(out[0], torch.arange(31) % 3)


def test_lm_loss_is_mean_nats_per_token():
    logits = torch.zeros(2, 5, 7)
    targets = torch.zeros(2, 5, dtype=torch.long)
    assert lm_loss(logits, targets).item() == pytest.approx(torch.log(torch.tensor(7.0)).item())


@pytest.mark.parametrize(("name", "millions"), [("tiny", 0.79), ("small", 4.72), ("base", 14.16)])
def test_preset_parameter_counts(name, millions):
    config = GPTConfig.preset(name, vocab_size=65)
    counts = parameter_count(GPT(config))
    assert counts["non_embedding"] / 1e6 == pytest.approx(millions, rel=0.02)
    embedding = 65 * config.dim + config.block_size * config.dim
    assert counts["total"] == counts["non_embedding"] + embedding


def test_presets_and_config_round_trip():
    assert set(PRESETS) == {"tiny", "small", "base"}
    config = GPTConfig.preset("small", vocab_size=100, block_size=64)
    assert (config.layers, config.dim, config.block_size) == (6, 256, 64)
    assert GPTConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="tiny"):
        GPTConfig.preset("tiney", vocab_size=10)
    with pytest.raises(ConfigError, match="dim"):
        GPTConfig(10, dim=30, heads=4)
    with pytest.raises(ConfigError, match="layer"):
        GPTConfig.from_dict({"vocab_size": 10, "layer": 2})


def test_bias_option():
    with_bias = GPT(GPTConfig(VOCAB, block_size=8, dim=16, layers=1, heads=2, bias=True))
    without = GPT(GPTConfig(VOCAB, block_size=8, dim=16, layers=1, heads=2))
    assert parameter_count(with_bias)["total"] > parameter_count(without)["total"]
    assert with_bias.blocks[0].attn.qkv.bias is not None
    assert without.blocks[0].ln1.bias is None
