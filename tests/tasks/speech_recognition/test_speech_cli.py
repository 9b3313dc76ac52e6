"""The speech commands a user types: train on a flat folder with a label pattern, predict a
word, transcribe a recording, and the one-line errors for bad input."""

from __future__ import annotations

import contextlib
import io
import json
import struct

import numpy as np
import pytest

from layerwise.data.audio import write_wav
from layerwise.tasks.speech_recognition.sources import tone_words

PATTERN = "{label}_{speaker}_{take}.wav"


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("speech") / "recordings"
    folder.mkdir()
    clips, rate, labels = tone_words(per_word=30, seed=3)
    for i, (clip, label) in enumerate(zip(clips, labels, strict=True)):
        write_wav(folder / f"{label}_s{i % 3}_{i}.wav", clip, rate)
    return folder


@pytest.fixture(scope="module")
def trained(recordings, tmp_path_factory):
    """(run folder, train's stdout): one small run trained with a label pattern, shared by the
    tests of this module (training is the slow part)."""
    from layerwise.cli.main import main

    folder = tmp_path_factory.mktemp("speech-run")
    config = folder / "small.yaml"  # a config file keeps the models tiny for the test
    config.write_text(
        "options:\n  synthetic_per_word: 0\n  candidate_params: {speech-cnn: {epochs: 2}}\n"
        "  transcriber_params: {epochs: 1, utterances_per_epoch: 64}\n"
    )
    args = ["train", recordings, "--task", "speech-recognition", "--config", config,
            "--label-pattern", PATTERN, "-o", folder / "runs"]  # fmt: skip
    out, code = io.StringIO(), 0
    with contextlib.redirect_stdout(out):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
    assert code in (0, None), out.getvalue()
    return next((folder / "runs").iterdir()), out.getvalue()


def test_train_predict_and_transcribe_from_the_command_line(cli, recordings, trained, tmp_path):
    run, out = trained
    assert "mfcc-logistic" in out and "speech-cnn" in out
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


def test_a_folder_of_new_names_is_predicted_despite_the_training_pattern(
    cli, recordings, trained, tmp_path
):
    run, _ = trained
    clips, rate, _ = tone_words(per_word=1, seed=5)
    new = tmp_path / "new"
    for i, clip in enumerate(clips):  # names the training pattern does not match
        write_wav(new / ("kitchen" if i % 2 else "") / f"recording {i}.wav", clip, rate)
    code, out, err = cli("predict", run, new, "-o", tmp_path / "words.csv")
    assert code == 0, err
    written = (tmp_path / "words.csv").read_text()
    assert len(written.splitlines()) == 1 + len(clips)
    assert "kitchen/recording 1.wav" in written and "recording 2.wav" in written
    code, out, err = cli("predict", run, new, "--transcribe")
    assert code == 0, err
    assert "recording 3.wav" in out
    code, out, err = cli("evaluate", run, recordings)  # labelled data: the pattern still applies
    assert code == 0, err
    assert "accuracy" in out


def craft_wav(path, rate: int, samples: int = 800) -> None:
    """A well-formed 16-bit mono WAV whose header declares ``rate`` (the byte rate wraps)."""
    fmt = struct.pack("<HHIIHH", 1, 1, rate, (2 * rate) & 0xFFFFFFFF, 2, 16)
    body = bytes(2 * samples)
    chunks = b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(body)) + body
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)


@pytest.mark.parametrize("rate", [5_070_000, 4_294_967_291])
def test_a_header_declaring_an_absurd_rate_is_one_line(cli, trained, tmp_path, rate):
    crafted = tmp_path / "x.wav"
    craft_wav(crafted, rate)
    code, _, err = cli("predict", trained[0], crafted)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"{rate:,} Hz" in err and "4,000 to 384,000 Hz" in err and "x.wav" in err


def test_a_header_declaring_an_absurd_rate_costs_no_memory(command_peaks, trained, tmp_path):
    """A 1.6 KB WAV declaring 5,070,001 Hz (co-prime with the model's rate) made predict build
    a resampling filter of ~5 GB; now it is refused at reading. A plain predict peaks at about
    0.4 GB here; the cap makes a regression fail instead of exhausting the machine."""
    crafted = tmp_path / "x.wav"
    craft_wav(crafted, 5_070_001)
    _, err, [(code, peak)] = command_peaks([["predict", trained[0], crafted]], cap_bytes=3 << 30)
    assert code == 2 and "5,070,001 Hz" in err and "Traceback" not in err, err
    assert peak < 1.5e9


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
