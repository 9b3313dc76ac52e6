"""The deep text candidates: learn a toy sentiment task, and reload to identical predictions."""

from __future__ import annotations

import numpy as np
import pytest

from layerwise.data.text import read_texts
from layerwise.runs.folder import RunFolder
from layerwise.tasks.text_classification.deep import TextCNNCandidate, TransformerCandidate

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def corpus(n: int, seed: int):
    rng = np.random.default_rng(seed)
    good, bad = ["great", "lovely", "superb", "fine"], ["awful", "dull", "boring", "bad"]
    fillers = ["the", "film", "was", "acting", "plot", "really", "quite", "story"]
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        words = [*list(rng.choice(fillers, size=5)), rng.choice(good if label else bad)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append("pos" if label else "neg")
    return read_texts((texts, labels))


@pytest.mark.parametrize("candidate", [TransformerCandidate, TextCNNCandidate])
def test_deep_text_candidate_learns_and_reloads(candidate, tmp_path):
    train, val = corpus(400, 0), corpus(100, 1)
    model = candidate(
        "binary", 2, 0, epochs=12, vocab_size=200, dim=32, lr=3e-3, warmup_steps=10, patience=20
    )
    model.fit(train, val)
    proba = model.predict(val.texts)
    assert np.mean(proba.argmax(axis=1) == val.labels) >= 0.9
    info = {"objective": "binary", "n_classes": 2, "seed": 0, **model.save(RunFolder(tmp_path))}
    loaded = candidate.load(RunFolder(tmp_path), info)
    assert np.array_equal(loaded.predict([*val.texts, ""]), model.predict([*val.texts, ""]))
