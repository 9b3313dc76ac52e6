"""What the advisor knows about a text dataset, and the plan it makes for the bake-off."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from layerwise.core.advisor import Plan, Rule
from layerwise.core.holdout import imbalance

SMALL_TEXTS = 20_000  # below this, n-gram models are hard to beat without pretrained weights
IMBALANCE_RATIO = 2.0
LONG_TEXTS = 200  # median words beyond which the deep models see a truncated text


@dataclass
class TextProfile:
    """A description of the training texts for the advisor and decision.md."""

    n_train: int
    n_val: int
    n_test: int
    classes: list[str]
    counts: list[int]
    median_words: float
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def imbalance(self) -> float:
        return imbalance(self.counts)

    def summary_lines(self) -> list[str]:
        per_class = ", ".join(f"{c} {n:,}" for c, n in zip(self.classes, self.counts, strict=True))
        return [
            f"{self.n_train + self.n_val + self.n_test:,} texts, {len(self.classes)} classes, "
            f"median {self.median_words:.0f} words",
            f"Split: {self.n_train:,} training, {self.n_val:,} validation, {self.n_test:,} test",
            f"Training texts per class: {per_class}",
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_test": self.n_test,
            "classes": self.classes,
            "train_counts": self.counts,
            "median_words": self.median_words,
            "source": self.source,
            "notes": self.notes,
        }


def plan_texts(profile: TextProfile, protocol: str) -> Plan:
    """Candidates, metric and the rules that shaped them, for a text profile."""
    imbalanced = profile.imbalance >= IMBALANCE_RATIO
    rules = [
        Rule(
            "small-corpus",
            profile.n_train < SMALL_TEXTS,
            f"{profile.n_train:,} training texts: without pretrained embeddings, n-gram models "
            "(TF-IDF + logistic regression, NB-SVM) are usually as good as a network trained "
            "from scratch, so they go first and a deep model must beat them on validation.",
        ),
        Rule(
            "imbalanced",
            imbalanced,
            f"the largest class is {profile.imbalance:.1f}x the smallest: losses are "
            "class-weighted and candidates are compared by macro-F1.",
        ),
        Rule(
            "long-texts",
            profile.median_words > LONG_TEXTS,
            f"median {profile.median_words:.0f} words: the deep models read the first 128 "
            "subword tokens; the n-gram models read everything.",
        ),
        Rule(
            "binary-threshold",
            len(profile.classes) == 2,
            "two classes: the decision threshold maximises macro-F1 (imbalanced) or accuracy on "
            "validation, moved from 0.5 only when the gain holds on held-out rows, unless "
            "--threshold names another target; sensitivity and specificity are reported at it.",
        ),
    ]
    return Plan(
        candidates=["tfidf-logistic", "nbsvm", "text-cnn", "transformer"],
        rules=rules,
        protocol=protocol,
        n_splits=0,
        metric="macro_f1" if imbalanced else "accuracy",
        greater_is_better=True,
        tolerance=0.002,
        class_weights=imbalanced,
        ensemble=True,
        recommendation="classical n-gram models first on a corpus this size; the deep models "
        "and the mean of the best deep and best classical model must earn their place."
        if profile.n_train < SMALL_TEXTS
        else "deep learning: with this much text a network trained from scratch can beat n-grams.",
    )
