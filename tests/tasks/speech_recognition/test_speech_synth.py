"""Synthetic spoken words from espeak-ng: the audio, the voices, reproducibility, the files."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("espeakng_loader")

from layerwise.data.audio import read_wav
from layerwise.errors import ConfigError, DataError
from layerwise.tasks.speech_recognition.synth import (
    DEFAULT_LANGUAGES,
    DEFAULT_VARIANTS,
    synthesize_words,
    synthesizer,
    write_words,
)


def test_speak_returns_plausible_audio():
    synth = synthesizer()
    audio = synth.speak("yes", voice="en-us")
    assert audio.dtype == np.float32
    assert 0.2 <= len(audio) / synth.sample_rate <= 2.0
    assert 0.05 < np.max(np.abs(audio)) <= 1.0
    assert np.sqrt(np.mean(audio**2)) > 0.005


def test_voices_and_pitches_differ():
    synth = synthesizer()
    base = synth.speak("seven", voice="en-us+m3", pitch=40)
    other_voice = synth.speak("seven", voice="en+f2", pitch=40)
    other_pitch = synth.speak("seven", voice="en-us+m3", pitch=80)
    for audio in (other_voice, other_pitch):
        assert len(audio) != len(base) or not np.allclose(audio, base, atol=1e-3)


def test_every_default_voice_speaks():
    synth = synthesizer()
    for variant in DEFAULT_VARIANTS:
        assert np.max(np.abs(synth.speak("up", f"en-us+{variant}"))) > 0.05, variant
    for language in DEFAULT_LANGUAGES:
        assert np.max(np.abs(synth.speak("up", f"{language}+m1"))) > 0.05, language


def test_synthesize_words_is_deterministic_for_a_seed():
    first = synthesize_words(["yes", "no"], per_word=4, seed=3)
    again = synthesize_words(["yes", "no"], per_word=4, seed=3)
    other = synthesize_words(["yes", "no"], per_word=4, seed=4)
    assert [c.word for c in first] == ["yes"] * 4 + ["no"] * 4
    assert [c.voice for c in first] == [c.voice for c in again]
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(first, again, strict=True))
    assert [c.voice for c in first] != [c.voice for c in other]
    for clip in first:
        assert clip.rate == 16000 and clip.samples.dtype == np.float32
        assert 0.3 <= len(clip.samples) / clip.rate <= 2.5
        assert 0.45 <= np.max(np.abs(clip.samples)) <= 1.0
        assert 110 <= clip.words_per_minute <= 230 and 25 <= clip.pitch <= 85


def test_given_voices_are_used():
    clips = synthesize_words(["go"], per_word=5, voices=["en-us+m3", "en+f2"], rate=8000)
    assert {c.voice for c in clips} <= {"en-us+m3", "en+f2"}
    assert all(c.rate == 8000 for c in clips)


def test_written_files_read_back(tmp_path):
    clips = synthesize_words(["yes", "no"], per_word=2, rate=16000, voices=["en-us+m3"])
    paths = write_words(clips, tmp_path / "synth")
    assert len(paths) == 4 and len(set(paths)) == 4
    for clip, path in zip(clips, paths, strict=True):
        assert path.parent == tmp_path / "synth" / clip.word
        assert path.name.startswith(f"{clip.word}_en-us-m3_") and path.suffix == ".wav"
        samples, rate = read_wav(path)
        assert rate == 16000 and len(samples) == len(clip.samples)
        assert np.allclose(samples, clip.samples, atol=1e-3)


@pytest.mark.parametrize("voice", ["xx-nowhere", "en-us+nosuchvariant", "en-us+annie"])
def test_unknown_voice_is_named(voice):
    with pytest.raises(ConfigError, match=voice.replace("+", r"\+")):
        synthesizer().speak("yes", voice=voice)
    with pytest.raises(ConfigError, match=voice.replace("+", r"\+")):
        synthesize_words(["yes"], per_word=1, voices=[voice])


def test_empty_text_is_a_data_error():
    with pytest.raises(DataError):
        synthesizer().speak("  ")


@pytest.mark.parametrize(
    "words", [[], ["yes", ""], ["yes", " yes "], ["a/b"], ["a\\b"], [".."], ["_noise"]]
)
def test_bad_words_are_refused(words):
    with pytest.raises(ConfigError):
        synthesize_words(words, per_word=1)


@pytest.mark.parametrize("options", [{"per_word": 0}, {"rate": 1000}, {"rate": 96000}])
def test_bad_options_are_refused(options):
    with pytest.raises(ConfigError):
        synthesize_words(["yes"], **{"per_word": 1, **options})


def test_cli_writes_a_folder_per_word(cli, tmp_path):
    out = tmp_path / "synth"
    code, stdout, _ = cli(
        "data", "synth-speech", "--words", "yes,no", "--per-word", "3", "--out", out
    )
    assert code == 0
    assert len(list(out.glob("yes/*.wav"))) == 3 and len(list(out.glob("no/*.wav"))) == 3
    assert "6 clips" in stdout and "--task speech-recognition" in stdout


def test_cli_bad_per_word_is_one_line(cli, tmp_path):
    code, _, stderr = cli(
        "data", "synth-speech", "--words", "yes", "--per-word", "0", "--out", tmp_path / "s"
    )
    assert code == 2
    assert stderr.strip().startswith("error:") and len(stderr.strip().splitlines()) == 1
