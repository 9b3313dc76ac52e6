"""The n-gram baseline on tinyshakespeare (last 10% is validation, as in nanoGPT).

Skips when ``../shared/datasets/tinyshakespeare/input.txt`` is absent. Measured on 2 CPU
cores: orders 2..8 give 2.487, 2.062, 1.756, 1.614, 1.614, 1.634, 1.644 nats/char on
validation (order 6 chosen), counting and choosing in about 2.5 s.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from layerwise.tasks.language_generation.corpus import make_tokenizer, read_corpus, split_corpus
from layerwise.tasks.language_generation.ngram import NGramLM

pytestmark = pytest.mark.slow
SHAKESPEARE = (
    Path(__file__).resolve().parents[3] / "shared" / "datasets" / "tinyshakespeare" / "input.txt"
)


@pytest.fixture(scope="module")
def corpus():
    if not SHAKESPEARE.exists():
        pytest.skip(f"{SHAKESPEARE} not found")
    return read_corpus(SHAKESPEARE)


def test_char_ngram_reaches_the_measured_loss_quickly(corpus):
    tok = make_tokenizer("char", corpus.text)
    assert tok.vocab_size == 65
    train, val = split_corpus(tok.encode(corpus.text), 0.1, block=256)
    start = time.perf_counter()
    lm = NGramLM().fit(train, val, vocab_size=tok.vocab_size)
    assert time.perf_counter() - start < 30
    assert lm.order in (5, 6, 7)
    assert lm.val_losses[lm.order] == pytest.approx(1.614, abs=0.01)
    assert lm.val_losses[2] > 2.4
    sample = tok.decode(lm.sample(tok.encode("ROMEO:\n"), 200, seed=0))
    assert len(sample) == 200 and "\n" in sample


def test_bpe_round_trips_the_whole_play(corpus):
    tok = make_tokenizer("bpe", corpus.text[: int(len(corpus.text) * 0.9)])
    ids = tok.encode(corpus.text)
    assert tok.decode(ids) == corpus.text
    assert len(ids) < len(corpus.text) / 2
