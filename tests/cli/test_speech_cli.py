"""The speech commands a user types: train on a flat folder with a label pattern, predict a
word, transcribe a recording, and the one-line errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from layerwise.data.audio import write_wav
from layerwise.data.speech_sources import tone_words


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("speech") / "recordings"
    folder.mkdir()
    clips, rate, labels = tone_words(per_word=30, seed=3)
    for i, (clip, label) in enumerate(zip(clips, labels, strict=True)):
        write_wav(folder / f"{label}_s{i % 3}_{i}.wav", clip, rate)
    return folder


def test_train_predict_and_transcribe_from_the_command_line(cli, recordings, tmp_path):
    config = tmp_path / "small.yaml"  # a config file keeps the models tiny for the test
    config.write_text(
        "options:\n  synthetic_per_word: 0\n  candidate_params: {speech-cnn: {epochs: 2}}\n"
        "  transcriber_params: {epochs: 1, utterances_per_epoch: 64}\n"
    )
    code, out, err = cli(
        "train", recordings, "--task", "speech-recognition", "--config", config,
        "--label-pattern", "{label}_{speaker}_{take}.wav", "-o", tmp_path / "runs",
    )  # fmt: skip
    assert code == 0, err
    assert "mfcc-logistic" in out and "speech-cnn" in out
    run = next((tmp_path / "runs").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.8  # the tone words differ in their vowels: easy
    assert 0.0 <= metrics["transcription"]["test_wer"]
    for name in ("model.mfcc.json", "model.speech.safetensors", "model.transcriber.safetensors",
                 "speech_examples.png", "transcription.json"):  # fmt: skip
        assert (run / name).exists(), name
    html = (run / "report.html").read_text()
    assert "Spectrograms of test clips" in html and "Word error rate" in html
    clip = next(recordings.glob("rise_*.wav"))
    code, out, err = cli("predict", run, clip)
    assert code == 0, err
    assert "prediction" in out and "probability_rise" in out
    clips, rate, _ = tone_words(per_word=1, seed=4)
    long = tmp_path / "long.wav"  # longer than one chunk: cut at a quiet moment
    write_wav(long, np.concatenate([clips[0], np.zeros(rate * 12, np.float32), clips[1]]), rate)
    code, out, err = cli("predict", run, long, "--transcribe")
    assert code == 0, err
    assert "transcript" in out and "long.wav" in out

    # bad input: one line, exit code 2
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is text")
    code, _, err = cli("predict", run, not_audio)
    assert code == 2 and "not a WAV file" in err and "Traceback" not in err
    empty = tmp_path / "empty.wav"
    write_wav(empty, np.zeros(0, np.float32), 8000)
    code, _, err = cli("predict", run, empty)
    assert code == 2 and "0 samples" in err
    hour = tmp_path / "hour.wav"
    write_wav(hour, np.zeros(8000 * 40, np.float32), 8000)
    code, _, err = cli("predict", run, hour)
    assert code == 2 and "--transcribe" in err
    code, _, err = cli("predict", run, clip, "--alert-budget", "1%")
    assert code == 2 and "anomaly-detection" in err


def test_train_errors_are_one_line(cli, recordings, tmp_path):
    code, _, err = cli(
        "train", recordings, "--task", "speech-recognition", "--label-pattern", "{speaker}.wav"
    )
    assert code == 2 and "{label}" in err
    code, _, err = cli(
        "train", recordings, "--task", "speech-recognition", "--label-pattern", "{label}-{take}.wav"
    )
    assert code == 2 and "matches none" in err
    (tmp_path / "nothing").mkdir()
    code, _, err = cli("train", tmp_path / "nothing", "--task", "speech-recognition")
    assert code == 2 and "No .wav files" in err
