"""speech-recognition: reading layouts, splits, the transcriber's parts, and one small fit that
goes through predict, transcribe, save and load."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from layerwise.data.audio import write_wav
from layerwise.data.speech import read_clips
from layerwise.errors import DataError
from layerwise.tasks.speech_recognition.sources import tone_words
from layerwise.tasks.speech_recognition.task import SpeechRecognition


def _write_flat(folder, per_word=6, speakers=("ann", "bob")):
    clips, rate, labels = tone_words(per_word=per_word * len(speakers), seed=1)
    folder.mkdir(parents=True, exist_ok=True)
    for i, (clip, label) in enumerate(zip(clips, labels, strict=True)):
        write_wav(folder / f"{label}_{speakers[i % len(speakers)]}_{i}.wav", clip, rate)
    return folder


def _write_by_word(folder, per_word=5):
    clips, rate, labels = tone_words(per_word=per_word, seed=2)
    for i, (clip, label) in enumerate(zip(clips, labels, strict=True)):
        (folder / label).mkdir(parents=True, exist_ok=True)
        write_wav(folder / label / f"{i}.wav", clip, rate)
    return folder


def test_folder_per_word_skips_corrupt_files_and_uses_noise(tmp_path):
    root = _write_by_word(tmp_path / "commands")
    (root / "rise" / "broken.wav").write_bytes(b"RIFF\x00\x00")
    (root / "_background_noise_").mkdir()
    write_wav(
        root / "_background_noise_" / "hum.wav",
        np.random.default_rng(0).normal(0, 0.1, 16000),
        8000,
    )
    clips = read_clips(root)
    assert clips.classes == ["fall", "flat", "rise", "wave"]
    assert len(clips) == 20 and len(clips.skipped) == 1 and "broken.wav" in clips.skipped[0][0]
    assert len(clips.noise) == 1 and clips.rate == 8000


def test_label_pattern_reads_words_and_speakers(tmp_path):
    clips = read_clips(_write_flat(tmp_path / "flat"), "{label}_{speaker}_{take}.wav")
    assert set(clips.speakers) == {"ann", "bob"}
    assert clips.classes == ["fall", "flat", "rise", "wave"]


def test_pattern_matching_nothing_shows_a_name_and_the_pattern(tmp_path):
    root = _write_flat(tmp_path / "flat", per_word=1)
    with pytest.raises(DataError) as info:
        read_clips(root, "{speaker}-{label}.wav")
    assert "{speaker}-{label}.wav" in str(info.value) and ".wav'" in str(info.value)


def test_flat_folder_without_pattern_and_empty_folder_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match="--label-pattern"):
        read_clips(_write_flat(tmp_path / "flat", per_word=1))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"No \.wav files.*notes\.txt"):
        read_clips(tmp_path / "empty")


def test_clip_longer_than_the_limit_is_refused_for_words():
    task = SpeechRecognition(clip_seconds=1.0)
    task.rate, task.length = 8000, 8000
    with pytest.raises(DataError, match="--transcribe"):
        task.read(([np.zeros(8000 * 31, np.float32)], 8000), labelled=False)


def test_split_by_speaker_keeps_voices_apart():
    clips, rate, labels = tone_words(per_word=24)
    data = read_clips((clips, rate, labels))
    data.speakers = np.array([f"s{i % 12}" for i in range(len(clips))])
    task = SpeechRecognition(verbose=False)
    (train, val, test), profile, plan = task.profile_and_plan(data)
    assert profile.split_by_speaker
    assert not set(train.speakers) & set(test.speakers)
    assert not set(train.speakers) & set(val.speakers)
    assert plan.fired()[0].name == "unseen-speakers" or any(
        r.name == "unseen-speakers" for r in plan.fired()
    )


def test_clips_to_predict_are_read_whatever_their_names_and_layout(tmp_path):
    clips, rate, _ = tone_words(per_word=1, seed=3)
    for i, clip in enumerate(clips):  # names the training pattern does not match
        write_wav(tmp_path / "new" / ("kitchen" if i % 2 else "") / f"take {i}.wav", clip, rate)
    pattern = "{label}_{speaker}_{take}.wav"
    with pytest.raises(DataError, match="matches none"):  # labelled data keeps the pattern
        read_clips(tmp_path / "new", pattern)
    read = read_clips(tmp_path / "new", pattern, labelled=False)
    assert sorted(read.names) == ["kitchen/take 1.wav", "kitchen/take 3.wav", "take 0.wav",
                                  "take 2.wav"]  # fmt: skip
    assert read.labels is None and len(read.clips) == 4


def test_absurd_sample_rates_are_refused_or_skipped(tmp_path):
    with pytest.raises(DataError, match=r"5,070,001 Hz.*4,000 to 384,000 Hz"):
        read_clips(([np.zeros(100, np.float32)], 5_070_001))
    root = _write_by_word(tmp_path / "commands", per_word=2)
    good = (root / "rise" / "0.wav").read_bytes()  # its fmt chunk declares 8,000 Hz: make it
    odd = good.replace(struct.pack("<I", 8000), struct.pack("<I", 5_070_001), 1)  # 5 MHz
    (root / "rise" / "odd.wav").write_bytes(odd)
    clips = read_clips(root)
    assert len(clips) == 8 and clips.rate == 8000
    assert clips.skipped[0][0].endswith("odd.wav") and "5,070,001 Hz" in clips.skipped[0][1]
    task = SpeechRecognition(sample_rate=1_000_000)
    with pytest.raises(DataError, match="sample_rate"):
        task.read(root)
