"""The text models: shapes, padding invariance, weights files, embeddings API and learning."""

from __future__ import annotations

import pytest
import torch

from layerwise.engine import Trainer, TrainerConfig, load_weights, save_weights
from layerwise.errors import ConfigError, DataError
from layerwise.models.text_cnn import TextCNN, TextCNNConfig
from layerwise.models.text_transformer import TextTransformer, TextTransformerConfig

torch.set_num_threads(1)

VOCAB = 40


def transformer(**extra) -> TextTransformer:
    options = {"max_length": 32, "dim": 32, "depth": 1, "heads": 4, **extra}
    return TextTransformer(TextTransformerConfig(VOCAB, 2, **options))


def cnn(**extra) -> TextCNN:
    return TextCNN(TextCNNConfig(VOCAB, 2, **{"dim": 16, "channels": 16, **extra}))


MODELS = {"transformer": transformer, "cnn": cnn}


def toy(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded sequences of 3-20 tokens; the class is whether token 5 appears."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.zeros(n, 20, dtype=torch.int64)
    labels = torch.arange(n) % 2
    for i in range(n):
        length = int(torch.randint(3, 21, (1,), generator=gen))
        row = torch.randint(6, VOCAB, (length,), generator=gen)
        row[torch.rand(length, generator=gen) < 0.1] = 1  # some [UNK]s
        if labels[i]:
            row[int(torch.randint(0, length, (1,), generator=gen))] = 5
        ids[i, :length] = row
    return ids, labels


@pytest.mark.parametrize("name", sorted(MODELS))
def test_shapes_and_embeddings_api(name):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    ids, _ = toy(6, seed=1)
    logits = model(ids)
    assert logits.shape == (6, 2) and logits.dtype == torch.float32
    emb = model.embed(ids)
    assert emb.shape == (6, 20, model.config.dim)
    torch.testing.assert_close(model.forward_from_embeddings(emb, ids), logits)
    # Gradients reach the embeddings (integrated gradients).
    emb = emb.detach().requires_grad_(True)
    model.forward_from_embeddings(emb, ids)[:, 1].sum().backward()
    assert emb.grad is not None and emb.grad[ids != 0].abs().sum() > 0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_padding_does_not_change_the_output(name):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))  # not the initial (near-zero) weights
    ids = torch.tensor([[7, 8, 9, 10, 11, 12], [13, 14, 0, 0, 0, 0]])
    padded = torch.cat([ids, torch.zeros(2, 9, dtype=torch.int64)], 1)
    with torch.no_grad():
        base, longer = model(ids), model(padded)
        alone = model(ids[1:, :2])  # the short row on its own, without padding
    torch.testing.assert_close(longer, base, atol=1e-5, rtol=0)
    torch.testing.assert_close(alone, base[1:], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_short_and_empty_rows(name):
    model = MODELS[name]().eval()
    with torch.no_grad():
        out = model(torch.tensor([[9]]))  # shorter than the widest CNN kernel
        blank = model(torch.tensor([[0, 0, 0]]))  # only padding: finite, no NaN
    assert out.shape == (1, 2) and torch.isfinite(blank).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_weights_file_round_trip(name, tmp_path):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    save_weights(tmp_path / "model.safetensors", model.state_dict())
    config = type(model.config).from_dict(model.config.to_dict())
    torch.manual_seed(1)
    again = type(model)(config).eval()
    again.load_state_dict(load_weights(tmp_path / "model.safetensors"))
    ids, _ = toy(5, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(again(ids), model(ids), atol=0, rtol=0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_learns_whether_a_token_appears(name):
    torch.manual_seed(0)
    model = MODELS[name](dropout=0.1)
    x, y = toy(600, seed=3)
    xv, yv = toy(200, seed=4)
    config = TrainerConfig(epochs=8, batch_size=32, lr=3e-3, patience=None, progress=False)
    trainer = Trainer(model, torch.nn.functional.cross_entropy, config)
    trainer.fit((x, y), val=(xv, yv))
    accuracy = (trainer.predict((xv,)).argmax(1) == yv).float().mean().item()
    assert accuracy > 0.9


def test_token_dropout_only_in_training():
    torch.manual_seed(0)
    model = transformer(token_dropout=0.5, dropout=0.0)
    ids, _ = toy(8, seed=5)
    with torch.no_grad():
        assert not torch.equal(model.train()(ids), model(ids))  # different [UNK]s each call
        torch.testing.assert_close(model.eval()(ids), model(ids))


def test_attention_weights_ignore_padding():
    model = transformer().eval()
    ids = torch.tensor([[7, 8, 9, 0, 0]])
    (weights,) = model.attention_weights(ids)
    assert weights.shape == (1, 4, 5, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 4, 5))
    assert weights[..., 3:].abs().max() == 0


def test_config_round_trips_and_errors():
    config = TextCNNConfig(100, 3, kernel_sizes=[2, 3])
    assert config.to_dict()["kernel_sizes"] == [2, 3]
    assert TextCNNConfig.from_dict(config.to_dict()) == config
    t = TextTransformerConfig(100, 3, depth=3)
    assert TextTransformerConfig.from_dict(t.to_dict()) == t
    with pytest.raises(ConfigError, match="multiple of heads"):
        TextTransformerConfig(100, 2, dim=30, heads=4)
    with pytest.raises(ConfigError, match="Did you mean 'depth'"):
        TextTransformerConfig.from_dict({**t.to_dict(), "deph": 2})
    with pytest.raises(ConfigError, match="kernel_sizes"):
        TextCNNConfig(100, 2, kernel_sizes=[])
    with pytest.raises(DataError, match="max_length=32"):
        transformer()(torch.ones(1, 33, dtype=torch.int64))
