"""The transcriber's parts against hand-worked examples: utterance building, CTC decoding,
word error rate and the cutting of long recordings."""

from __future__ import annotations

import numpy as np

from layerwise.data.speech import fixed_clips, read_clips
from layerwise.metrics import word_error_rate
from layerwise.tasks.speech_recognition.sources import tone_words
from layerwise.tasks.speech_recognition.transcriber import (
    CHUNK_S,
    MAX_WORDS,
    _chunks,
    build_utterances,
    greedy_decode,
)


def test_word_error_rate_counts_edits_over_reference_words():
    assert word_error_rate([["a", "b", "c"]], [["a", "b", "c"]]) == 0.0
    # one substitution, one deletion over 4 words; one insertion over 2 words: 3 / 6
    assert (
        word_error_rate([["a", "b", "c", "d"], ["x", "y"]], [["a", "z", "c"], ["x", "y", "y"]])
        == 0.5
    )
    assert word_error_rate([["a"]], [[]]) == 1.0


def test_greedy_decode_collapses_repeats_and_drops_blanks():
    path = [0, 1, 1, 0, 1, 2, 2, 0, 0, 3]  # blank, a, a, blank, a, b, b, blank, blank, c
    log_probs = np.log(np.full((len(path), 4), 0.1))
    log_probs[np.arange(len(path)), path] = np.log(0.7)
    tokens, confidence = greedy_decode(log_probs)
    assert tokens == [0, 0, 1, 2]
    assert abs(confidence - 0.7) < 1e-9


def test_built_utterances_hold_the_words_they_say():
    speech = fixed_clips(read_clips(tone_words(per_word=5)), 8000, 6400)
    waves, packed = build_utterances(speech, 20, np.random.default_rng(0))
    assert waves.shape[0] == 20 and packed.shape == (20, 1 + MAX_WORDS)
    assert (packed[:, 0] >= 1).all() and (packed[:, 0] <= MAX_WORDS).all()
    for row in packed:
        n = row[0]
        assert (row[1 : 1 + n] >= 1).all() and (row[1 + n :] == 0).all()
    exact, _ = build_utterances(speech, 5, np.random.default_rng(1), (3, 3))
    assert exact.shape[1] == waves.shape[1]


def test_long_recordings_are_cut_at_quiet_moments():
    rate = 8000
    rng = np.random.default_rng(0)
    loud = rng.normal(0, 0.3, int(9.5 * rate)).astype(np.float32)
    gap = np.zeros(int(0.2 * rate), np.float32)
    audio = np.concatenate([loud, gap, loud, gap, loud])
    pieces = _chunks(audio, rate)
    assert sum(len(p) for p in pieces) == len(audio)
    assert all(len(p) <= CHUNK_S * rate for p in pieces)
    first_cut = len(pieces[0])
    assert len(loud) <= first_cut <= len(loud) + len(gap)
