"""Speech on real and longer-trained data (slow: minutes on a CPU). The FSDD test skips where
../shared/datasets/fsdd is absent."""

from __future__ import annotations

import numpy as np
import pytest

import layerwise
from layerwise.data.speech import fixed_clips, read_clips
from layerwise.tasks.speech_recognition.sources import fsdd_path, tone_words
from layerwise.tasks.speech_recognition.transcriber import fit_transcriber

pytestmark = pytest.mark.slow


def test_transcriber_writes_out_tone_word_utterances():
    speech = fixed_clips(read_clips(tone_words(per_word=30)), 8000, 6400)
    _, figures = fit_transcriber(
        speech, speech, speech, speech.classes, {"epochs": 6, "utterances_per_epoch": 640}, 0
    )
    assert figures["test_wer"] <= 0.1


def test_fsdd_official_split(tmp_path):
    root = fsdd_path()
    if root is None:
        pytest.skip("FSDD is not under ../shared/datasets/fsdd")
    clips = read_clips(root, "{label}_{speaker}_{take}.wav")
    take = np.array([int(n.rsplit("_", 1)[1].split(".")[0]) for n in clips.names])
    run = layerwise.fit(clips.subset(take >= 5), task="speech-recognition",
                        test_data=clips.subset(take < 5), output_dir=str(tmp_path),
                        verbose=False)  # fmt: skip
    assert run.metrics["candidates"]["speech-cnn"]["test"]["accuracy"] >= 0.98
    assert run.metrics["transcription"]["test_wer"] <= 0.2
