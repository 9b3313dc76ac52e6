"""What the advisor knows about an image dataset, and the plan it makes for the bake-off."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from layerwise.core.advisor import Plan, Rule
from layerwise.core.holdout import imbalance

SMALL_IMAGES = 1000
IMBALANCE_RATIO = 2.0  # largest class over smallest: beyond this the loss is class-weighted
TINY_SIDE = 16


@dataclass
class ImageProfile:
    """A description of the training images for the advisor and decision.md."""

    n_train: int
    n_val: int
    n_test: int
    height: int
    width: int
    channels: int
    classes: list[str]
    counts: list[int]
    source: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def imbalance(self) -> float:
        return imbalance(self.counts)

    def summary_lines(self) -> list[str]:
        colour = "grayscale" if self.channels == 1 else "RGB"
        per_class = ", ".join(f"{c} {n}" for c, n in zip(self.classes, self.counts, strict=True))
        lines = [
            f"{self.n_train + self.n_val + self.n_test:,} images, {self.height}x{self.width} "
            f"{colour}, {len(self.classes)} classes",
            f"Split: {self.n_train:,} training, {self.n_val:,} validation, {self.n_test:,} test",
            f"Training images per class: {per_class}",
        ]
        if self.skipped:
            first = "; ".join(f"{name} ({why})" for name, why in self.skipped[:5])
            lines.append(f"{len(self.skipped)} unreadable images skipped, first: {first}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_test": self.n_test,
            "height": self.height,
            "width": self.width,
            "channels": self.channels,
            "classes": self.classes,
            "train_counts": self.counts,
            "source": self.source,
            "skipped": [list(s) for s in self.skipped],
            "notes": self.notes,
        }


def plan_images(profile: ImageProfile, protocol: str, flip: bool) -> Plan:
    """Candidates, metric and the rules that shaped them, for an image profile."""
    binary = len(profile.classes) == 2
    imbalanced = profile.imbalance >= IMBALANCE_RATIO
    side = min(profile.height, profile.width)
    rules = [
        Rule(
            "few-images",
            profile.n_train < SMALL_IMAGES,
            f"only {profile.n_train} training images: the CNN leans on augmentation, and the "
            "pixel baseline may come close.",
        ),
        Rule(
            "imbalanced",
            imbalanced,
            f"the largest class is {profile.imbalance:.1f}x the smallest: the CNN's loss is "
            "class-weighted and candidates are compared by balanced accuracy.",
        ),
        Rule(
            "tiny-images",
            side <= TINY_SIDE,
            f"{profile.height}x{profile.width} images: a shallow CNN with mild augmentation.",
        ),
        Rule(
            "no-flips",
            not flip,
            "grayscale images (digits, scans): mirror images are not valid examples, so flips "
            "are off (pass --flip to allow them)."
            if profile.channels == 1
            else "flips were turned off.",
        ),
        Rule(
            "binary-threshold",
            binary,
            "two classes: the decision threshold maximises macro-F1 (imbalanced) or accuracy on "
            "validation, moved from 0.5 only when the gain holds on held-out rows, unless "
            "--threshold names another target; sensitivity and specificity are reported at it.",
        ),
    ]
    metric = "balanced_accuracy" if imbalanced else "accuracy"
    return Plan(
        candidates=["pixel-logistic", "cnn"],
        rules=rules,
        protocol=protocol,
        n_splits=0,
        metric=metric,
        greater_is_better=True,
        tolerance=0.002,
        class_weights=imbalanced,
        recommendation="deep learning: a CNN learns the local patterns (edges, textures, "
        "shapes) that a linear model on pixels cannot; the pixel baseline shows by how much.",
    )
