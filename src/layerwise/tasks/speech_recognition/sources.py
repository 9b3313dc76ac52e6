"""Speech data that needs no download: tone "words" generated in numpy (for fast tests),
spoken words voiced by espeak-ng (for demos and for widening the voices a model hears), and
the Free Spoken Digit Dataset where it lies on disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

DEMO_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
TONE_WORDS = ("rise", "fall", "flat", "wave")
FSDD_HOME = Path(__file__).resolve().parents[5] / "shared" / "datasets" / "fsdd" / "recordings"


# (first, second formant) in Hz of each made-up word's vowel: "ee", "ah", "eh", "oo"
FORMANTS = ((300, 2300), (750, 1200), (500, 1800), (350, 800))


def tone_words(
    per_word: int = 30, words: tuple[str, ...] = TONE_WORDS, rate: int = 8000, seed: int = 0
) -> tuple[list[np.ndarray], int, list[str]]:
    """Clips of made-up "words": a voiced vowel (harmonics shaped by two formants) whose pitch
    rises, falls, stays flat or wavers, each at a random pitch, length and loudness with a
    little noise: ``(clips, rate, labels)``, ready for ``layerwise.fit``.

    >>> clips, rate, labels = tone_words(per_word=2)
    >>> len(clips), rate, labels[:2]
    (8, 8000, ['rise', 'rise'])
    """
    rng = np.random.default_rng(seed)
    clips, labels = [], []
    for k, word in enumerate(words):
        formants = np.array(FORMANTS[k % 4]) * (1 + 0.2 * (k // 4))
        for _ in range(per_word):
            seconds = rng.uniform(0.25, 0.5)
            t = np.arange(int(seconds * rate)) / rate
            u = t / seconds
            contour = (1 + 0.4 * u, 1.4 - 0.4 * u, np.full_like(u, 1.2),
                       1.2 + 0.15 * np.sin(2 * np.pi * 3 * u))[k % 4]  # fmt: skip
            f0 = rng.uniform(90, 200) * contour
            phase = 2 * np.pi * np.cumsum(f0) / rate
            shift = rng.uniform(0.9, 1.1)  # a speaker's vocal tract
            harmonics = np.arange(1, int(0.45 * rate / f0.min()) + 1)[:, None]
            freq = harmonics * f0[None, :]
            envelope = sum(np.exp(-(((freq - shift * f) / 120) ** 2)) for f in formants)
            envelope = envelope * (freq < 0.45 * rate)
            voice = (envelope * np.sin(harmonics * phase[None, :])).sum(axis=0)
            voice = voice / (np.abs(voice).max() + 1e-9) * np.sin(np.pi * u) ** 0.5
            pad = np.zeros(int(rng.uniform(0.05, 0.2) * rate))
            clip = np.concatenate([pad, 0.5 * rng.uniform(0.4, 1.0) * voice, pad])
            clips.append((clip + rng.normal(0, 0.003, len(clip))).astype(np.float32))
            labels.append(word)
    return clips, rate, labels


def add_synthetic(train: Any, per_word: int, seed: int = 0) -> Any:
    """``train`` (a SpeechSet) plus ``per_word`` espeak-ng clips of each of its words, fitted
    to its rate and window; their speaker is "espeak" and their names start with "synthetic/"."""
    from dataclasses import replace

    from layerwise.data.audio import fit_length, trim_silence
    from layerwise.tasks.speech_recognition.synth import synthesize_words

    clips = synthesize_words(train.classes, per_word, rate=train.rate, seed=seed)
    width = train.waves.shape[1]
    voiced = [trim_silence(c.samples, train.rate) for c in clips]
    waves = np.stack([fit_length(v, width) for v in voiced]).astype(np.float32)
    index = {c: i for i, c in enumerate(train.classes)}
    speakers = train.speakers if train.speakers is not None else np.full(len(train), "")
    return replace(
        train,
        waves=np.concatenate([train.waves, waves]),
        lengths=np.concatenate([train.lengths, [min(len(v), width) for v in voiced]]),
        labels=np.concatenate([train.labels, [index[c.word] for c in clips]]).astype(np.int64),
        names=list(train.names) + [f"synthetic/{c.word}_{n}" for n, c in enumerate(clips)],
        speakers=np.concatenate([speakers, np.full(len(clips), "espeak")]),
        split=None,
    )


def synthetic_commands(
    folder: Path, words: tuple[str, ...] = DEMO_WORDS, per_word: int = 60
) -> Path:
    """A commands/<word>/*.wav folder voiced by espeak-ng (kept if already there)."""
    from layerwise.tasks.speech_recognition.synth import synthesize_words, write_words

    folder = Path(folder)
    if not (folder.is_dir() and len(list(folder.glob("*/*.wav"))) == len(words) * per_word):
        write_words(synthesize_words(words, per_word, rate=16000, seed=0), folder)
    return folder


def fsdd_path(root: str | os.PathLike | None = None) -> Path | None:
    """The Free Spoken Digit Dataset's recordings folder (``{digit}_{speaker}_{take}.wav``),
    or None when it is not on this machine. Get it from
    https://github.com/Jakobovski/free-spoken-digit-dataset (the ``recordings`` folder)."""
    path = Path(root) if root is not None else FSDD_HOME
    return path if path.is_dir() and any(path.glob("*.wav")) else None
