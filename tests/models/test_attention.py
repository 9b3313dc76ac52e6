"""The shared MultiHeadSelfAttention against a plain softmax(QK^T / sqrt(d) + mask) V, and the
three models built on it (GPT, SASRec, TextTransformer) against the same reference, with their
parameter names pinned (saved run folders store weights by these names)."""

from __future__ import annotations

import math

import pytest
import torch

from layerwise.models.attention import MultiHeadSelfAttention, attention_mask
from layerwise.models.gpt import GPT, GPTConfig
from layerwise.models.sasrec import SASRec, SASRecConfig
from layerwise.models.text_transformer import PAD_ID, TextTransformer, TextTransformerConfig

torch.set_num_threads(1)

DIM, HEADS, LENGTH = 12, 3, 6
KEEP = torch.tensor(
    [
        [False, False, True, True, True, True],  # left padding
        [True, True, True, True, False, False],  # right padding
        [True, False, True, True, False, True],  # holes
        [True, True, True, True, True, True],  # none
    ]
)


def allowed(length: int, keep: torch.Tensor | None, causal: bool) -> torch.Tensor:
    """``[N, L, L]`` bools, query by key, element by element."""
    n = 1 if keep is None else len(keep)
    out = torch.zeros(n, length, length, dtype=torch.bool)
    for b in range(n):
        for i in range(length):
            for j in range(length):
                ok = (keep is None or bool(keep[b, j])) and (not causal or j <= i)
                out[b, i, j] = ok or (causal and keep is not None and i == j)
    return out


def reference(
    attn: MultiHeadSelfAttention, x: torch.Tensor, keep: torch.Tensor | None, causal: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Output ``[N, L, dim]`` and probabilities ``[N, heads, L, L]``, head by head."""
    n, length, dim = x.shape
    hd = dim // attn.heads
    w, b = attn.qkv.weight, attn.qkv.bias
    bias = torch.zeros(3 * dim) if b is None else b
    mask = allowed(length, keep, causal).expand(n, -1, -1)
    additive = torch.zeros(n, length, length).masked_fill(~mask, float("-inf"))
    heads, probs = [], []
    for h in range(attn.heads):
        rows = [slice(part * dim + h * hd, part * dim + (h + 1) * hd) for part in range(3)]
        q, k, v = (x @ w[r].T + bias[r] for r in rows)
        p = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + additive, dim=-1)
        heads.append(p @ v)
        probs.append(p)
    return attn.proj(torch.cat(heads, -1)), torch.stack(probs, 1)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    ("keep", "causal"), [(None, False), (None, True), (KEEP, False), (KEEP, True)]
)
def test_attention_matches_reference(keep, causal, bias):
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(DIM, HEADS, dropout=0.5, bias=bias).eval()
    x = torch.randn(len(KEEP), LENGTH, DIM)
    want, want_probs = reference(attn, x, keep, causal)
    with torch.no_grad():
        got, probs = attn(x, keep, causal), attn.weights(x, keep, causal)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(probs, want_probs, atol=1e-6)
    assert torch.isfinite(got).all()


def test_attention_mask_shapes_and_dropout():
    assert attention_mask(None, False, 4) is None
    assert attention_mask(None, True, 4).shape == (4, 4)
    assert attention_mask(KEEP, False, LENGTH).shape == (4, 1, 1, LENGTH)
    assert attention_mask(KEEP, True, LENGTH).shape == (4, 1, LENGTH, LENGTH)
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(DIM, HEADS, dropout=0.5)
    x = torch.randn(2, LENGTH, DIM)
    assert not torch.allclose(attn(x), attn(x))  # dropout on the probabilities while training
    with pytest.raises(ValueError, match="multiple of heads"):
        MultiHeadSelfAttention(10, 3)


# The state_dict keys and shapes of each model before the shared attention (saved run folders
# load by these names; renaming one breaks every saved run of that model).
GPT_KEYS = [
    ("blocks.0.attn.proj.weight", (4, 4)),
    ("blocks.0.attn.qkv.weight", (12, 4)),
    ("blocks.0.ln1.weight", (4,)),
    ("blocks.0.ln2.weight", (4,)),
    ("blocks.0.mlp.0.weight", (16, 4)),
    ("blocks.0.mlp.2.weight", (4, 16)),
    ("head.weight", (5, 4)),
    ("norm.weight", (4,)),
    ("position_embedding", (4, 4)),
    ("token_embedding.weight", (5, 4)),
]
SASREC_KEYS = [
    ("blocks.0.attn.proj.bias", (4,)),
    ("blocks.0.attn.proj.weight", (4, 4)),
    ("blocks.0.attn.qkv.bias", (12,)),
    ("blocks.0.attn.qkv.weight", (12, 4)),
    ("blocks.0.ffn.0.bias", (4,)),
    ("blocks.0.ffn.0.weight", (4, 4)),
    ("blocks.0.ffn.3.bias", (4,)),
    ("blocks.0.ffn.3.weight", (4, 4)),
    ("blocks.0.norm1.bias", (4,)),
    ("blocks.0.norm1.weight", (4,)),
    ("blocks.0.norm2.bias", (4,)),
    ("blocks.0.norm2.weight", (4,)),
    ("item_embedding.weight", (6, 4)),
    ("norm.bias", (4,)),
    ("norm.weight", (4,)),
    ("position_embedding", (4, 4)),
]
TEXT_KEYS = [
    ("blocks.0.attn.proj.bias", (4,)),
    ("blocks.0.attn.proj.weight", (4, 4)),
    ("blocks.0.attn.qkv.bias", (12,)),
    ("blocks.0.attn.qkv.weight", (12, 4)),
    ("blocks.0.mlp.0.bias", (8,)),
    ("blocks.0.mlp.0.weight", (8, 4)),
    ("blocks.0.mlp.3.bias", (4,)),
    ("blocks.0.mlp.3.weight", (4, 8)),
    ("blocks.0.norm1.bias", (4,)),
    ("blocks.0.norm1.weight", (4,)),
    ("blocks.0.norm2.bias", (4,)),
    ("blocks.0.norm2.weight", (4,)),
    ("head.bias", (2,)),
    ("head.weight", (2, 4)),
    ("norm.bias", (4,)),
    ("norm.weight", (4,)),
    ("position_embedding", (4, 4)),
    ("token_embedding.weight", (5, 4)),
]


def keys(model: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return sorted((k, tuple(v.shape)) for k, v in model.state_dict().items())


def test_parameter_names_are_unchanged():
    gpt = GPT(GPTConfig(vocab_size=5, block_size=4, dim=4, layers=1, heads=2))
    sasrec = SASRec(SASRecConfig(n_items=5, max_len=4, dim=4, layers=1, heads=2))
    text = TextTransformer(TextTransformerConfig(5, 2, max_length=4, dim=4, depth=1, heads=2))
    assert keys(gpt) == GPT_KEYS
    assert keys(sasrec) == SASREC_KEYS
    assert keys(text) == TEXT_KEYS
    with_bias = GPT(GPTConfig(vocab_size=5, block_size=4, dim=4, layers=1, heads=2, bias=True))
    extra = {k for k, _ in keys(with_bias)} - {k for k, _ in GPT_KEYS}
    assert {"blocks.0.attn.qkv.bias", "blocks.0.attn.proj.bias"} <= extra


def test_gpt_matches_reference():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=13, block_size=8, dim=DIM, layers=2, heads=HEADS)).eval()
    idx = torch.randint(0, 13, (3, 7), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        x = model.token_embedding(idx) + model.position_embedding[: idx.shape[1]]
        for block in model.blocks:
            x = x + reference(block.attn, block.ln1(x), None, causal=True)[0]
            x = x + block.mlp(block.ln2(x))
        want = model.head(model.norm(x))
        assert torch.allclose(model(idx), want, atol=1e-6)
        model.reset_cache()
        parts = [model(idx[:, :3], use_cache=True), model(idx[:, 3:5], use_cache=True)]
        parts += [model(idx[:, 5:6], use_cache=True), model(idx[:, 6:], use_cache=True)]
        assert torch.allclose(torch.cat(parts, 1), want, atol=1e-5)


def test_sasrec_matches_reference():
    torch.manual_seed(0)
    config = SASRecConfig(n_items=9, max_len=LENGTH, dim=DIM, heads=HEADS, layers=2)
    model = SASRec(config).eval()
    seq = torch.randint(0, 9, (len(KEEP), LENGTH), generator=torch.Generator().manual_seed(1))
    seq = seq.masked_fill(~KEEP, config.pad)
    with torch.no_grad():
        positions = model.position_embedding[:LENGTH].flip(0)
        x = (model.item_embedding(seq) * DIM**0.5 + positions) * KEEP.unsqueeze(-1)
        for block in model.blocks:
            x = x + reference(block.attn, block.norm1(x), KEEP, causal=True)[0]
            x = x + block.ffn(block.norm2(x))
        got = model(seq)
    assert torch.isfinite(got).all()
    assert torch.allclose(got, model.norm(x), atol=1e-6)


def test_text_transformer_matches_reference():
    torch.manual_seed(0)
    config = TextTransformerConfig(20, 3, max_length=LENGTH, dim=DIM, depth=2, heads=HEADS)
    model = TextTransformer(config).eval()
    ids = torch.randint(2, 20, (len(KEEP), LENGTH), generator=torch.Generator().manual_seed(1))
    ids = ids.masked_fill(~KEEP, PAD_ID)
    with torch.no_grad():
        x = model.token_embedding(ids) + model.position_embedding[:LENGTH]
        probs = []
        for block in model.blocks:
            out, p = reference(block.attn, block.norm1(x), KEEP, causal=False)
            probs.append(p)
            x = x + out
            x = x + block.mlp(block.norm2(x))
        real = KEEP.unsqueeze(-1).float()
        want = model.head(model.norm((x * real).sum(1) / real.sum(1)))
        assert torch.allclose(model(ids), want, atol=1e-6)
        for got, p in zip(model.attention_weights(ids), probs, strict=True):
            assert torch.allclose(got, p, atol=1e-6)
