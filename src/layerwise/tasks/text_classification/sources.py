"""Text data the project generates (no download): short movie-review sentences for the demo
and the tests, with negation ("not good") so that word order matters a little."""

from __future__ import annotations

import numpy as np

from layerwise.data.text import TextSet, read_texts

_GOOD = ["good", "great", "wonderful", "moving", "funny", "clever", "gripping", "charming",
         "superb", "delightful", "touching", "brilliant"]  # fmt: skip
_BAD = ["bad", "dull", "boring", "clumsy", "tedious", "awful", "flat", "lifeless", "silly",
        "predictable", "dreadful", "weak"]  # fmt: skip
_SUBJECTS = ["the film", "this movie", "the plot", "the acting", "the script", "the ending",
             "the soundtrack", "the cast", "the story", "the director's work"]  # fmt: skip
_INTENS = ["", "", "really ", "quite ", "so ", "truly ", "rather "]
_TAILS = ["", "", ".", "!", " overall.", ", to be honest.", " from start to finish.",
          " despite the hype.", " for a sequel."]  # fmt: skip


def reviews(n: int = 2000, seed: int = 0, noise: float = 0.05) -> TextSet:
    """``n`` labelled review sentences, "pos" or "neg" (balanced); ``noise`` flips labels.

    About a quarter are negated ("the plot was not dull"), which flips their sentiment.

    >>> len(reviews(10)), reviews(10).classes
    (10, ['neg', 'pos'])
    """
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        positive = i % 2 == 0
        negate = rng.random() < 0.25
        pool = _BAD if positive == negate else _GOOD
        word = pool[rng.integers(len(pool))]
        verb = "was not" if negate else rng.choice(["was", "is", "felt", "seemed"])
        subject = _SUBJECTS[rng.integers(len(_SUBJECTS))]
        intens = "" if negate else _INTENS[rng.integers(len(_INTENS))]
        text = f"{subject} {verb} {intens}{word}{_TAILS[rng.integers(len(_TAILS))]}"
        if rng.random() < 0.3:  # a second, neutral clause
            other = _SUBJECTS[rng.integers(len(_SUBJECTS))]
            text += (
                f" {other.capitalize()} was {rng.choice(['long', 'in colour', 'French', 'new'])}."
            )
        label = positive if rng.random() >= noise else not positive
        texts.append(text[0].upper() + text[1:])
        labels.append("pos" if label else "neg")
    return read_texts((texts, labels))
