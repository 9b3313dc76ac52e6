"""The speech-specific files of a speech-recognition run: log-mel spectrograms of test clips
with the chosen model's word (correct ones and the most confidently wrong), and the
transcriber's figures for the report."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from layerwise.runs.folder import RunFolder
from layerwise.tasks.speech_recognition.report import SPECTROGRAMS, TRANSCRIPTION

N_RIGHT = 8
N_WRONG = 8


def write_speech_extras(task: Any, run: RunFolder, test: Any, proba: dict[str, np.ndarray]) -> None:
    chosen = proba[task.chosen]
    predicted = np.array([task.classes.index(c) for c in task.labels_of(chosen)])
    right = [
        int(np.flatnonzero((test.labels == k) & (predicted == k))[0])
        for k in range(len(task.classes))
        if ((test.labels == k) & (predicted == k)).any()
    ]
    wrong = np.flatnonzero(predicted != test.labels)
    wrong = wrong[np.argsort(-chosen[wrong, predicted[wrong]])][:N_WRONG].tolist()
    picked = right[:N_RIGHT] + wrong
    if picked:
        titles = [
            f"{test.names[i][-22:]}\ntrue {task.classes[test.labels[i]]}, heard "
            f"{task.classes[predicted[i]]} ({chosen[i, predicted[i]]:.2f})"
            for i in picked
        ]
        run.write_bytes(
            SPECTROGRAMS,
            spectrogram_grid_png(test.waves[picked], test.rate, titles, len(right[:N_RIGHT])),
        )
    if task.transcription:
        run.write_json(TRANSCRIPTION, task.transcription)


def spectrogram_grid_png(
    waves: np.ndarray, rate: int, titles: list[str], n_right: int, ncols: int = 4
) -> bytes:
    """Log-mel spectrograms of ``waves [n, L]`` in a grid; the first ``n_right`` titled in
    green (correct), the rest in red.

    >>> spectrogram_grid_png(np.zeros((2, 8000), np.float32), 8000, ["a", "b"], 1)[:4]
    b'\\x89PNG'
    """
    import torch

    from layerwise.data.audio_features import FeatureConfig, LogMel
    from layerwise.explain.layer_views import _figure, _png

    config = FeatureConfig(sample_rate=rate)
    with torch.no_grad():
        specs = LogMel(config)(torch.from_numpy(np.ascontiguousarray(waves))).numpy()
    n = len(specs)
    cols = max(1, min(ncols, n))
    rows = math.ceil(n / cols)
    fig = _figure(cols * 2.6, rows * 2.0 + 0.3)
    seconds = waves.shape[1] / rate
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        floor = specs[i].max() - 9.0  # about 80 dB of range shown
        ax.imshow(
            np.maximum(specs[i], floor),
            origin="lower",
            aspect="auto",
            cmap="magma",
            extent=(0, seconds, 0, config.n_mels),
        )
        ax.set_title(titles[i], fontsize=7, color="#2ca02c" if i < n_right else "#d62728")
        ax.tick_params(labelsize=6)
        ax.set_xlabel("seconds", fontsize=6)
        ax.set_ylabel("mel band", fontsize=6)
    fig.tight_layout()
    return _png(fig)
