"""TabM and its piecewise-linear numeric embeddings: bin edges, the encoding's values, shapes,
the members' independence and the ensemble's average."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerwise.models.tabm import (
    PiecewiseLinearEmbeddings,
    TabM,
    TabMConfig,
    ensemble_mean,
    quantile_edges,
)


def test_edges_are_quantiles_merged_and_padded():
    values = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, np.nan], [3.0, 5.0], [4.0, np.nan]])
    edges = quantile_edges(values, 4)
    assert edges.shape == (2, 5) and edges.dtype == np.float32
    assert edges[0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert edges[1].tolist() == [5.0] * 5  # one value: no bins (missing ones ignored)
    assert quantile_edges(np.full((3, 1), np.nan), 2).tolist() == [[0.0, 0.0, 0.0]]


def test_encoding_is_the_fraction_of_each_bin():
    ple = PiecewiseLinearEmbeddings(2, 3, 4)
    ple.edges.copy_(torch.tensor([[0.0, 1.0, 2.0, 4.0], [0.0, 10.0, 10.0, 10.0]]))
    x = torch.tensor([[1.5, 5.0], [-1.0, -5.0], [6.0, 20.0], [3.0, 0.0]])
    got = ple.encode(x)
    # first bin open below, last open above, the middle ones in [0, 1]; padded bins are 0
    assert got[0, 0].tolist() == [1.0, 0.5, 0.0] and got[0, 1].tolist() == [0.5, 0.0, 0.0]
    assert got[1, 0].tolist() == [-1.0, 0.0, 0.0]
    assert got[1, 1].tolist() == [-0.5, 0.0, 0.0]  # its only bin is first and last: linear
    assert got[2, 0].tolist() == [1.0, 1.0, 2.0] and got[2, 1].tolist() == [2.0, 0.0, 0.0]
    assert got[3, 0].tolist() == [1.0, 1.0, 0.5]
    # at the start the PLE weights are zero: the embedding is linear in the value
    out = ple(x)
    assert torch.allclose(out, x.unsqueeze(-1) * ple.scale + ple.shift)


@pytest.mark.parametrize("adapters", ["input", "hidden", "all"])
def test_members_are_independent_and_shaped(adapters):
    torch.manual_seed(0)
    config = TabMConfig(n_numeric=4, cardinalities=[3, 5], n_outputs=2, n_encoded=3, n_bins=4,
                        hidden=[16, 8], k=6, adapters=adapters)  # fmt: skip
    model = TabM(config).eval()
    model.ple.edges.copy_(torch.tensor(quantile_edges(np.random.randn(50, 3), 4)))
    numeric = torch.randn(7, 4)
    categorical = torch.tensor([[0, 1], [2, 4]] * 3 + [[1, 0]])
    out = model(numeric, categorical)
    assert out.shape == (7, 6, 2)
    assert not torch.allclose(out[:, 0], out[:, 1])  # the adapters' signs make them differ
    # a row's prediction does not depend on the other rows of its batch
    assert torch.allclose(model(numeric[:3], categorical[:3]), out[:3], atol=1e-6)


def test_config_is_checked():
    with pytest.raises(ValueError, match="adapters"):
        TabMConfig(n_numeric=2, adapters="everywhere")
    with pytest.raises(ValueError, match="out of range"):
        TabMConfig(n_numeric=2, n_encoded=3)


def test_ensemble_mean_averages_probabilities():
    logits = torch.tensor([[[10.0, 0.0], [0.0, 10.0]]])
    assert torch.allclose(ensemble_mean(logits, True), torch.tensor([[0.5, 0.5]]), atol=1e-4)
    assert ensemble_mean(torch.tensor([[[1.0], [3.0]]]), False).tolist() == [[2.0]]
