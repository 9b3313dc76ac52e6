"""The Kneser-Ney n-gram language model: normalisation, a reference implementation, files."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from layerwise.errors import ConfigError, DataError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.language_generation.ngram import ORDERS, NGramLM, _discounts


@pytest.fixture(scope="module")
def text_ids():
    rng = np.random.default_rng(0)
    words = [rng.integers(0, 12, rng.integers(2, 6)) for _ in range(40)]
    ids = np.concatenate([np.append(words[i], 12) for i in rng.integers(0, 40, 600)])
    return ids[:2500], ids[2500:3000]


@pytest.mark.parametrize("order", [1, 3, 5])
def test_probabilities_sum_to_one_for_any_context(text_ids, order):
    train, val = text_ids
    lm = NGramLM(order=order).fit(train, vocab_size=15)  # ids 13, 14 never seen
    contexts = [[], [0], [12, 3], list(val[:10]), [13, 14, 13], [14, 0, 1, 2, 3, 4]]
    for context in contexts:
        p = lm.next_probs(context)
        assert p.shape == (15,) and (p > 0).all()
        assert abs(p.sum() - 1.0) < 1e-9
    scores = lm.log_prob(val[:40])
    for i in range(40):
        assert scores[i] == pytest.approx(np.log(lm.next_probs(val[:i])[val[i]]), abs=1e-12)


def _reference_log_probs(train, test, order, vocab):
    """Interpolated modified Kneser-Ney written plainly with dictionaries."""
    raw = {
        k: Counter(tuple(train[j : j + k]) for j in range(len(train) - k + 1))
        for k in range(1, order + 1)
    }
    cont = {k: Counter(g[1:] for g in raw[k + 1]) for k in range(1, order)}
    tables = {}
    for k in range(1, order + 1):
        for top in (True, False):
            counts = raw[k] if top or k == order else cont[k]
            d = _discounts(np.array(list(counts.values()), dtype=np.int64))
            total, held = defaultdict(float), defaultdict(float)
            for gram, c in counts.items():
                total[gram[:-1]] += c
                held[gram[:-1]] += d[min(c, 3)]
            tables[k, top] = counts, d, total, held
    out = []
    for i, w in enumerate(test):
        context, p = tuple(test[max(0, i - order + 1) : i]), 1.0 / vocab
        for k in range(1, len(context) + 2):
            counts, d, total, held = tables[k, k == order]
            h = context[len(context) - k + 1 :] if k > 1 else ()
            if total.get(h, 0) > 0:
                c = counts.get((*h, w), 0)
                p = (c - d[min(c, 3)]) / total[h] + held[h] / total[h] * p
        out.append(np.log(p))
    return np.array(out)


def test_matches_a_plain_reference_implementation(text_ids):
    train, val = text_ids
    train, val = [int(t) for t in train[:800]], [int(t) for t in val[:120]] + [14]
    lm = NGramLM(order=4).fit(np.array(train), vocab_size=15)
    np.testing.assert_allclose(
        lm.log_prob(val), _reference_log_probs(train, val, 4, 15), rtol=0, atol=1e-12
    )


def test_repeated_pattern_has_loss_near_zero_at_high_order():
    ids = np.tile(np.array([3, 1, 4, 1, 5, 9, 2, 6]), 200)
    lm = NGramLM(order=6).fit(ids[:1200])
    assert lm.loss(ids[1200:]) < 0.05
    assert lm.perplexity(ids[1200:]) < 1.06
    assert NGramLM(order=1).fit(ids[:1200]).loss(ids[1200:]) > 1.5


def test_order_is_chosen_on_validation_and_recorded(text_ids):
    train, val = text_ids
    lm = NGramLM().fit(train, val)
    assert sorted(lm.val_losses) == list(ORDERS["char"])
    assert lm.order == min(lm.val_losses, key=lm.val_losses.get)
    assert lm.loss(val) == pytest.approx(lm.val_losses[lm.order])
    assert sorted(NGramLM(kind="bpe").fit(train, val).val_losses) == list(ORDERS["bpe"])
    with pytest.raises(ConfigError, match="val_ids"):
        NGramLM().fit(train)


def test_save_and_load_give_identical_losses(tmp_path, text_ids):
    train, val = text_ids
    lm = NGramLM().fit(train, val, vocab_size=16)
    lm.to_file(tmp_path / "lm.safetensors")
    again = NGramLM.from_file(tmp_path / "lm.safetensors")
    assert (again.order, again.kind, again.vocab_size) == (lm.order, "char", 16)
    assert again.val_losses == lm.val_losses
    np.testing.assert_array_equal(again.log_prob(val), lm.log_prob(val))
    run = RunFolder(tmp_path / "run")
    info = lm.save(run, "ngram")
    assert NGramLM.load(run, info).loss(val) == lm.loss(val)
    with pytest.raises(DataError, match="does not exist"):
        NGramLM.from_file(tmp_path / "missing.safetensors")


def test_sample_is_deterministic_for_a_seed(text_ids):
    train, _ = text_ids
    lm = NGramLM(order=4).fit(train)
    first = lm.sample([12], 50, seed=3)
    assert first.shape == (50,) and first.max() < lm.vocab_size
    np.testing.assert_array_equal(first, lm.sample([12], 50, seed=3))
    assert not np.array_equal(first, lm.sample([12], 50, seed=4))
    assert len(lm.sample([], 5, seed=np.random.default_rng(0))) == 5


def test_bad_ids_and_options_are_explained():
    lm = NGramLM(order=2).fit([0, 1, 2, 1, 0])
    with pytest.raises(DataError, match="vocab_size=3"):
        lm.loss([0, 7])
    with pytest.raises(DataError, match="integers"):
        lm.loss(np.array([0.5]))
    with pytest.raises(ConfigError):
        NGramLM(order=0)
    with pytest.raises(ConfigError, match="kind"):
        NGramLM(kind="word")
    with pytest.raises(ConfigError, match="not fitted"):
        NGramLM(order=3).loss([1, 2])
