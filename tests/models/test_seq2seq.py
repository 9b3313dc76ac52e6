"""The Transformer encoder-decoder: shapes, masks, cached decoding against full recomputation,
greedy and beam search, attention maps, config checks, and learning to reverse sequences."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from layerwise.errors import ConfigError, DataError
from layerwise.models.seq2seq import (
    Seq2Seq,
    Seq2SeqConfig,
    decoder_io,
    pad_batch,
    seq2seq_config_for,
)

torch.set_num_threads(1)

VOCAB = 15  # pad 0, bos 1, eos 2, symbols 3..14
PAD, BOS, EOS = 0, 1, 2


def config(**extra) -> Seq2SeqConfig:
    options = {"dim": 16, "heads": 2, "encoder_layers": 2, "decoder_layers": 2, "ffn_ratio": 2.0}
    options |= {"dropout": 0.0, "max_source_len": 12, "max_target_len": 12, **extra}
    return Seq2SeqConfig(VOCAB, **options)


def tiny(**extra) -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(config(**extra)).eval()


def sequences(n: int, seed: int, shortest: int = 3, longest: int = 6) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(shortest, longest + 1, (n,), generator=g).tolist()
    return [torch.randint(3, VOCAB, (k,), generator=g).tolist() for k in lengths]


@pytest.fixture(scope="module")
def reverser() -> Seq2Seq:
    """A tiny model trained to reverse 3 to 6 symbols (~4 s on one core)."""
    torch.manual_seed(0)
    model = Seq2Seq(config(dim=32, heads=4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(250):
        source = sequences(64, seed=step)
        target_in, target_out = decoder_io([s[::-1] for s in source], model.config)
        logits = model(pad_batch(source, PAD), target_in)
        loss = F.cross_entropy(logits.flatten(0, 1), target_out.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_shapes_and_source_padding_changes_nothing():
    model = tiny()
    source, reply = sequences(3, seed=1), sequences(3, seed=2)
    target_in, _ = decoder_io(reply, model.config)
    padded = torch.cat([pad_batch(source, PAD), torch.zeros(3, 4, dtype=torch.long)], 1)
    with torch.no_grad():
        batch = model(padded, target_in)
        assert batch.shape == (3, target_in.shape[1], VOCAB)
        for row, (s, r) in enumerate(zip(source, reply, strict=True)):
            alone = model(torch.tensor([s]), decoder_io([r], model.config)[0])
            assert torch.allclose(batch[row, : len(r) + 1], alone[0], atol=1e-5)


def test_decoder_is_causal():
    model = tiny()
    source, target_in = torch.tensor([[3, 4, 5]]), torch.tensor([[BOS, 6, 7, 8, 9]])
    changed = target_in.clone()
    changed[0, 3] = 10
    with torch.no_grad():
        a, b = model(source, target_in), model(source, changed)
    assert torch.allclose(a[:, :3], b[:, :3], atol=1e-6)
    assert not torch.allclose(a[:, 3:], b[:, 3:])


def test_decode_step_matches_full_decode():
    model = tiny()
    source = pad_batch(sequences(2, seed=3), PAD)
    target_in = torch.tensor([[BOS, 3, 4, 5, 6, 7], [BOS, 8, 9, 10, PAD, PAD]])
    with torch.no_grad():
        memory, keep = model.encode(source)
        want = model.decode(memory, keep, target_in)
        cache = model.start_cache(memory, keep)
        parts = [model.decode_step(target_in[:, a:b], cache) for a, b in [(0, 3), (3, 4), (4, 6)]]
    assert cache.length == 6
    assert torch.allclose(torch.cat(parts, 1), want, atol=1e-5)


@pytest.mark.parametrize("trained", [False, True])
def test_cache_changes_no_output(trained, request):
    model = request.getfixturevalue("reverser") if trained else tiny()
    source = pad_batch(sequences(8, seed=4, longest=9), PAD)
    assert model.greedy(source) == model.greedy(source, use_cache=False)
    beam = model.beam_search(source, beam=3)
    assert beam == model.beam_search(source, beam=3, use_cache=False)
    assert model.beam_search(source, beam=1) == model.greedy(source)


def test_lengths_and_special_tokens():
    model = tiny()
    source = pad_batch([[3, 4], [5, 6, 7, 8, 9, 10, 11, 12]], PAD)
    for replies in [model.greedy(source, max_len=4), model.beam_search(source, 3, max_len=4)]:
        assert all(len(r) <= 3 and not {PAD, BOS, EOS} & set(r) for r in replies)
    # default: min(max_target_len, 1.5 * source length + 10) tokens, eos included
    assert [len(r) <= 11 for r in model.greedy(source)] == [True, True]
    with pytest.raises(ValueError, match="max_target_len=12"):
        model.greedy(source, max_len=13)
    with pytest.raises(ValueError, match="beam=0"):
        model.beam_search(source, beam=0)
    model.train()
    model.greedy(source, max_len=2)
    assert model.training  # the mode is restored


def test_learns_to_reverse(reverser):
    source = sequences(100, seed=1000)
    batch = pad_batch(source, PAD)
    for replies in [reverser.greedy(batch), reverser.beam_search(batch, beam=4)]:
        exact = sum(r == s[::-1] for r, s in zip(replies, source, strict=True)) / len(source)
        assert exact >= 0.9


@pytest.mark.parametrize("length_penalty", [1.0, 0.0])
def test_beam_scores_at_least_greedy(reverser, length_penalty):
    # Longer than anything seen in training: the model is unsure, beam and greedy differ.
    source = pad_batch(sequences(24, seed=5, shortest=7, longest=10), PAD)
    greedy = reverser.greedy(source)
    beam = reverser.beam_search(source, beam=4, length_penalty=length_penalty)
    assert beam != greedy
    got = reverser.score(source, beam, length_penalty)
    want = reverser.score(source, greedy, length_penalty)
    assert (got >= want - 1e-5).all()


def test_attention_maps(reverser):
    source = pad_batch([[3, 4, 5], [6, 7, 8, 9, 10]], PAD)
    target_in, _ = decoder_io([[5, 4, 3], [10, 9, 8, 7, 6]], reverser.config)
    maps = reverser.attention_maps(source, target_in)
    assert maps.shape == (2, 4, 6, 5)
    assert torch.allclose(maps.sum(-1), torch.ones(2, 4, 6), atol=1e-5)
    assert (maps[0, :, :, 3:] == 0).all()  # padding gets no attention


def test_weights_and_names():
    model = tiny()
    names = set(model.state_dict())
    assert "positions" not in names  # sinusoids are not weights
    assert "decoder.0.cross_attn.qkv.weight" in names and "encoder.1.self_attn.proj.bias" in names
    assert not any("head" in name for name in names)  # the output projection is the embedding
    fresh = Seq2Seq(config())
    fresh.load_state_dict(model.state_dict())
    source, target_in = torch.tensor([[3, 4]]), torch.tensor([[BOS, 5]])
    with torch.no_grad():
        assert torch.equal(fresh.eval()(source, target_in), model(source, target_in))


def test_bad_inputs():
    model = tiny()
    with pytest.raises(DataError, match="length <= 12"):
        model(torch.ones(1, 13, dtype=torch.long), torch.tensor([[BOS]]))
    with pytest.raises(DataError, match="vocab_size=15"):
        model.greedy(torch.tensor([[3, 15]]))
    with pytest.raises(DataError, match="dtype"):
        model.encode(torch.tensor([[3.0, 4.0]]))


@pytest.mark.parametrize(
    "bad",
    [
        {"vocab_size": 3},
        {"dim": 10, "heads": 4},
        {"heads": 0},
        {"encoder_layers": 0},
        {"decoder_layers": 1.5},
        {"ffn_ratio": -1.0},
        {"dropout": 1.0},
        {"max_source_len": 0},
        {"max_target_len": 1},
        {"pad_id": 15},
        {"bos_id": 0},
        {"eos_id": 1},
        {"dim": "big"},
    ],
)
def test_config_rejects_nonsense(bad):
    options = {"vocab_size": VOCAB, **bad}
    with pytest.raises(ConfigError, match=f"Seq2SeqConfig.{next(iter(bad))}="):
        Seq2SeqConfig(**options)


def test_config_round_trip_and_sizing():
    assert Seq2SeqConfig.from_dict(config().to_dict()) == config()
    with pytest.raises(ConfigError, match="Did you mean 'dim'"):
        Seq2SeqConfig.from_dict({"vocab_size": 10, "dims": 8})
    sizes = [seq2seq_config_for(n, 8000, on_cpu=False) for n in (1_000, 20_000, 100_000, 10**6)]
    assert [c.dim for c in sizes] == [128, 256, 384, 512]
    assert [c.decoder_layers for c in sizes] == [2, 3, 4, 6]
    assert seq2seq_config_for(10**6, 8000, on_cpu=True).dim == 256
    assert seq2seq_config_for(10, 50, on_cpu=True, eos_id=3, dropout=0.0).eos_id == 3
