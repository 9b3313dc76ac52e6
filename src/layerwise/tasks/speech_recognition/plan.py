"""What the advisor knows about a set of spoken words, and the plan it makes for the bake-off."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from layerwise.core.advisor import Plan, Rule
from layerwise.core.holdout import imbalance

FEW_CLIPS = 1000
IMBALANCE_RATIO = 2.0
FEW_SPEAKERS = 10


@dataclass
class SpeechProfile:
    """A description of the training clips for the advisor and decision.md."""

    n_train: int
    n_val: int
    n_test: int
    rate: int
    seconds: float
    classes: list[str]
    counts: list[int]
    speakers: int  # distinct speakers in training (0: unknown)
    split_by_speaker: bool
    synthetic: int  # synthetic clips added to training
    source: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def imbalance(self) -> float:
        return imbalance(self.counts)

    def summary_lines(self) -> list[str]:
        per_class = ", ".join(f"{c} {n}" for c, n in zip(self.classes, self.counts, strict=True))
        total = self.n_train + self.n_val + self.n_test
        lines = [
            f"{total:,} clips, {len(self.classes)} words, {self.rate} Hz, "
            f"window {self.seconds:.1f} s",
            f"Split: {self.n_train:,} training, {self.n_val:,} validation, {self.n_test:,} test"
            + (" (by speaker)" if self.split_by_speaker else ""),
            f"Training clips per word: {per_class}",
        ]
        if self.speakers:
            lines.append(f"{self.speakers} speakers in training")
        if self.synthetic:
            lines.append(f"{self.synthetic:,} synthetic (espeak-ng) clips added to training")
        if self.skipped:
            first = "; ".join(f"{name} ({why})" for name, why in self.skipped[:5])
            lines.append(f"{len(self.skipped)} unreadable files skipped, first: {first}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_test": self.n_test,
            "sample_rate": self.rate,
            "window_seconds": self.seconds,
            "classes": self.classes,
            "train_counts": self.counts,
            "speakers": self.speakers,
            "split_by_speaker": self.split_by_speaker,
            "synthetic_clips": self.synthetic,
            "source": self.source,
            "skipped": [list(s) for s in self.skipped],
            "notes": self.notes,
        }


def plan_speech(profile: SpeechProfile, protocol: str) -> Plan:
    """Candidates, metric and the rules that shaped them, for a speech profile."""
    imbalanced = profile.imbalance >= IMBALANCE_RATIO
    rules = [
        Rule(
            "few-clips",
            profile.n_train < FEW_CLIPS,
            f"only {profile.n_train} training clips: the CNN leans on augmentation (speed, "
            "shift, noise, SpecAugment), and the MFCC baseline may come close.",
        ),
        Rule(
            "unseen-speakers",
            profile.split_by_speaker,
            "validation and test hold out whole speakers, so the scores say how the model "
            "does on voices it has never heard.",
        ),
        Rule(
            "few-speakers",
            0 < profile.speakers < FEW_SPEAKERS and not profile.split_by_speaker,
            f"only {profile.speakers} speakers: test clips come from voices heard in training, "
            "so expect lower accuracy on new voices (a leave-one-speaker-out benchmark "
            "measures it).",
        ),
        Rule(
            "imbalanced",
            imbalanced,
            f"the most common word has {profile.imbalance:.1f}x the clips of the rarest: the "
            "CNN's loss is class-weighted and candidates are compared by balanced accuracy.",
        ),
        Rule(
            "synthetic-voices",
            profile.synthetic > 0,
            f"{profile.synthetic} clips voiced by espeak-ng in many voices are mixed into "
            "training (never into validation or test) to widen the range of voices.",
        ),
    ]
    seen_voices = not profile.split_by_speaker
    return Plan(
        prefer="speech-cnn" if seen_voices else None,
        prefer_reason="validation clips come from the training speakers, where averaged "
        "MFCCs look as good, but on voices never heard the CNN is far better (on the Free "
        "Spoken Digit Dataset with one speaker held out: 0.90 against 0.45 accuracy).",
        candidates=["mfcc-logistic", "speech-cnn"],
        rules=rules,
        protocol=protocol,
        n_splits=0,
        metric="balanced_accuracy" if imbalanced else "accuracy",
        greater_is_better=True,
        tolerance=0.01 if seen_voices else 0.002,  # one clip in a hundred: noise when
        # validated on the training voices
        class_weights=imbalanced,
        recommendation="deep learning: a CNN on log-mel spectrograms learns how a word's "
        "sounds change over time, which averaged MFCCs lose; the MFCC baseline shows by how much.",
    )
