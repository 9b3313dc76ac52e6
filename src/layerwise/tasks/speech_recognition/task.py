"""speech-recognition: which word a clip says, and what a longer recording says.

A residual CNN on log-mel spectrograms competes with MFCC statistics + logistic regression for
single words; a CTC transcriber (convolutional front end + bidirectional GRU) learns to write
out utterances of several words, trained on utterances built from the training clips.

Inputs: a folder per word (``commands/<word>/*.wav``), a flat folder with ``label_pattern``
(``{label}_{speaker}_{take}.wav``), WAV files, or ``(arrays, rate[, labels])`` in memory
(see :mod:`layerwise.data.speech`).

Started by torchrun or ``--devices N``, every process trains the CNN and the transcriber together
(DDP, with the first process's epochs and time limit) and the first alone the MFCC model and the
run folder (:mod:`layerwise.core.holdout_bakeoff`).
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.core.holdout import HOLDOUT_DEFAULTS, HoldoutTask
from layerwise.core.registry import Registry
from layerwise.errors import ConfigError, DataError
from layerwise.runs.folder import RunFolder

CANDIDATES = Registry("speech candidate")
CANDIDATES.register(
    "mfcc-logistic",
    "layerwise.tasks.speech_recognition.mfcc_logistic:MFCCLogisticCandidate",
    "MFCC statistics + logistic regression",
)
CANDIDATES.register(
    "speech-cnn",
    "layerwise.tasks.speech_recognition.cnn:SpeechCNNCandidate",
    "log-mel residual CNN",
)

DEFAULTS: dict[str, Any] = {
    **HOLDOUT_DEFAULTS,
    "label_pattern": None,  # flat folders: e.g. "{label}_{speaker}_{take}.wav"
    "sample_rate": None,  # None: 8 kHz for telephone-band recordings, else 16 kHz
    "clip_seconds": None,  # None: long enough for 95% of the trimmed clips (0.5-2 s)
    "split_by": "auto",  # "speaker", "random"; auto: by speaker with >= 10 known speakers
    "synthetic_per_word": "auto",  # espeak-ng clips per word mixed into training; auto:
    # SYNTHETIC_PER_WORD when the words are speakable and fewer than 10 speakers are known
    "transcriber": True,  # also train the CTC transcriber (predict --transcribe)
    "transcriber_params": {},
}
SPLIT_SPEAKERS = 10
SYNTHETIC_PER_WORD = 100
SPEAKABLE = re.compile(r"^[A-Za-z][A-Za-z' -]*$|^[0-9]+$")


class SpeechRecognition(HoldoutTask):
    """Recognise spoken words; a log-mel CNN and an MFCC baseline compete, and a CTC
    transcriber writes out longer recordings.

    >>> import layerwise
    >>> from layerwise.tasks.speech_recognition.sources import tone_words
    >>> run = layerwise.fit(tone_words(), task="speech-recognition", verbose=False)  # doctest: +SKIP
    """

    name: ClassVar[str] = "speech-recognition"
    description: ClassVar[str] = "Recognise spoken words and transcribe recordings (WAV files)"
    request_kind: ClassVar[str | None] = "audio"  # served: see layerwise.serve.requests
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    CANDIDATES: ClassVar[Registry] = CANDIDATES
    unit: ClassVar[str] = "clips"
    # the CNN and the transcriber under DDP on every rank, the MFCC model on rank 0
    data_parallel: ClassVar[bool] = True

    predict_options: ClassVar[tuple[str, ...]] = ("transcribe",)  # layerwise predict

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.speech_recognition.cli import spoken_words

        return spoken_words(folder)

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.rate: int | None = None
        self.length: int | None = None
        self.transcriber: Any = None
        self.transcriber_info: dict[str, Any] | None = None
        self.transcription: dict[str, Any] = {}
        self._notes: list[str] = []  # what fitting found worth telling (decision.md)

    def inputs_of(self, speech: Any) -> Any:
        return speech

    # ---- reading ------------------------------------------------------------------------
    def read(self, data: Any, target: str | None = None, labelled: bool = True) -> Any:
        """Clips at the trained rate and window (or the options' before training)."""
        from layerwise.data.speech import choose_length, choose_rate, fixed_clips, read_clips

        clips = read_clips(
            data,
            self.option("label_pattern"),
            labelled=labelled,
            progress=bool(self.option("verbose")),
        )
        if labelled and clips.labels is None:
            raise DataError(
                f"The clips in '{clips.source}' have no words to learn.",
                "Put each word's WAVs in <folder>/<word>/, or pass --label-pattern.",
            )
        if clips.labels is not None and self.classes:  # map to the trained words (-1: unknown)
            index = {c: i for i, c in enumerate(self.classes)}
            labels = np.array([index.get(clips.classes[k], -1) for k in clips.labels])
            clips = replace(clips, labels=labels, classes=list(self.classes))
        rate = self.rate or self.option("sample_rate") or choose_rate(clips.rate)
        if self.rate is None and self.option("sample_rate"):
            from layerwise.data.audio import check_rate

            check_rate(int(rate), "The sample_rate option",
                       "Leave sample_rate unset (8 or 16 kHz is chosen from the recordings).")  # fmt: skip
        length, seconds = self.length, self.option("clip_seconds")
        if length is None and seconds:
            length = int(seconds * rate)
        elif length is None:
            length = round(choose_length(clips.clips, clips.rate) * rate / clips.rate)
        return fixed_clips(clips, int(rate), int(length))

    # ---- fit ----------------------------------------------------------------------------
    def profile_and_plan(self, data: Any, target: str | None = None) -> tuple[tuple, Any, Any]:
        """Read and split the clips, profile them and plan the bake-off (all `advise` does)."""
        from layerwise.tasks.speech_recognition.plan import SpeechProfile, plan_speech

        speech = self.read(data, target)
        self._check_labels(speech)
        self.target = target
        self.classes = list(speech.classes)
        self.rate, self.length = speech.rate, speech.waves.shape[1]
        by_speaker = self._by_speaker(speech)
        if by_speaker:
            train, val, test, protocol = self._split_by_speaker(speech)
        else:
            train, val, test, protocol = self._split(speech)
        train, synthetic = self._with_synthetic(train)
        profile = SpeechProfile(
            len(train),
            len(val),
            len(test),
            self.rate,
            self.length / self.rate,
            self.classes,
            np.bincount(train.labels, minlength=len(self.classes)).tolist(),
            0 if train.speakers is None else len(set(train.speakers) - {"", "espeak"}),
            by_speaker,
            synthetic,
            speech.source,
            list(speech.skipped),
            list(speech.notes) + self._notes,
        )
        return (train, val, test), profile, self.announce(profile, plan_speech(profile, protocol))

    def _by_speaker(self, speech: Any) -> bool:
        setting = self.option("split_by")
        if setting not in ("auto", "speaker", "random"):
            raise ConfigError(
                f"split_by '{setting}' is not one of auto, speaker, random.",
                "Use split_by='speaker' to test on unseen voices.",
            )
        known = 0 if speech.speakers is None else len(set(speech.speakers) - {""})
        if setting == "speaker" and known < 3:
            raise ConfigError(
                f"split_by='speaker' needs at least 3 known speakers; found {known}.",
                "Name speakers in the label pattern, e.g. '{label}_{speaker}_{take}.wav'.",
            )
        return setting == "speaker" or (setting == "auto" and known >= SPLIT_SPEAKERS)

    def _split_by_speaker(self, speech: Any) -> tuple[Any, Any, Any, str]:
        """Whole speakers in each split: about test_size of them for test, val_size for
        validation (at least one each)."""
        speakers = np.array(sorted(set(speech.speakers) - {""}))
        order = np.random.default_rng(self.option("seed")).permutation(len(speakers))
        n_test = max(1, round(self.option("test_size") * len(speakers)))
        n_val = max(1, round(self.option("val_size") * len(speakers)))
        test_set = set(speakers[order[:n_test]])
        val_set = set(speakers[order[n_test : n_test + n_val]])
        test_mask = np.isin(speech.speakers, list(test_set))
        val_mask = np.isin(speech.speakers, list(val_set))
        return (
            speech.subset(~test_mask & ~val_mask),
            speech.subset(val_mask),
            speech.subset(test_mask),
            f"{len(val_set)} held-out speakers (test: {len(test_set)} other speakers)",
        )

    def _with_synthetic(self, train: Any) -> tuple[Any, int]:
        """Training clips plus espeak-ng clips of each word (see ``synthetic_per_word``)."""
        per_word = self._synthetic_per_word(train)
        if per_word <= 0:
            return train, 0
        from layerwise.tasks.speech_recognition.sources import add_synthetic

        return add_synthetic(train, per_word, seed=self.option("seed")), per_word * len(
            self.classes
        )

    def _synthetic_per_word(self, train: Any) -> int:
        setting = self.option("synthetic_per_word")
        if setting != "auto":
            return int(setting or 0)
        speakers = 0 if train.speakers is None else len(set(train.speakers) - {""})
        if speakers >= SPLIT_SPEAKERS or not all(SPEAKABLE.match(c) for c in self.classes):
            return 0
        try:
            import espeakng_loader  # noqa: F401
        except ImportError:
            self._notes.append(
                'Few voices to learn from: pip install "layerwise[speech]" to mix synthetic '
                "espeak-ng voices into training (they helped on unseen speakers)."
            )
            return 0
        return SYNTHETIC_PER_WORD

    def _bake_off(
        self, plan: Any, data: tuple, weights: Any, run: RunFolder | None, started: float
    ) -> list[dict[str, Any]]:
        """The candidates, then the transcriber. HoldoutTask.fit calls after_bake_off on rank 0
        alone, but the transcriber trains under DDP on every rank: it is trained here, where
        every rank still is, and after_bake_off (rank 0) saves it."""
        rows = super()._bake_off(plan, data, weights, run, started)
        self.transcriber, self.transcription, self.transcriber_info = None, {}, None
        if self.option("transcriber"):
            self._fit_transcriber(run, data, started)
        return rows

    def _fit_transcriber(self, run: RunFolder | None, data: tuple, started: float) -> None:
        """Train the CTC transcriber on utterances built from the training clips."""
        from layerwise.engine.distributed import agreed, current_world
        from layerwise.tasks.speech_recognition.transcriber import fit_transcriber

        train, val, test = data
        main = current_world().main
        params = None
        if main:  # its checkpoint folder and time limit are rank 0's, sent to all
            params = {
                "device": self.option("device"),
                **(self.option("transcriber_params") or {}),
                "progress": bool(self.option("verbose")),
                "checkpoint_dir": str(run.file("checkpoints") / "transcriber"),
                "resume": self.option("resume") is not None,
            }
            limit = self.option("time_limit")
            if limit is not None:
                left = max(1.0, 0.9 * limit - (time.perf_counter() - started))
                params.setdefault("time_limit", left)
        params = agreed(params)
        self.say(f"Training the transcriber on utterances built from {len(train):,} clips")
        transcriber, figures = fit_transcriber(
            train, val, test, self.classes, params, self.option("seed")
        )
        if not main:
            return
        self.transcriber, self.transcription = transcriber, figures
        self.say(
            f"transcriber: test word error rate {self.transcription['test_wer']:.3f} "
            f"({self.transcription['fit_seconds']:.0f} s)"
        )

    def after_bake_off(self, run: RunFolder, data: tuple, started: float) -> None:
        """Save the transcriber trained after the candidates (see :meth:`_bake_off`)."""
        if self.transcriber is not None:
            self.transcriber_info = self.transcriber.save(run)

    def preprocess_json(self) -> dict[str, Any]:
        return {
            "sample_rate": self.rate,
            "length": self.length,
            "label_pattern": self.option("label_pattern"),
            "transcriber": self.transcriber_info,
        }

    def extra_metrics(self) -> dict[str, Any]:
        return {"transcription": self.transcription} if self.transcription else {}

    def write_extras(self, run: RunFolder, test: Any, proba: dict[str, np.ndarray]) -> None:
        from layerwise.tasks.speech_recognition.outputs import write_speech_extras

        write_speech_extras(self, run, test, proba)

    # ---- predict ------------------------------------------------------------------------
    def predict(self, inputs: Any, transcribe: bool = False) -> pd.DataFrame:
        """Word and probabilities per clip; with ``transcribe``, the words of each recording."""
        if not transcribe:
            return super().predict(inputs)
        self._require_fitted()
        if self.transcriber is None:
            raise ConfigError(
                "This run has no transcriber (it was trained with transcriber off).",
                "Train again without --no-transcriber to transcribe recordings.",
            )
        from layerwise.data.speech import read_clips
        from layerwise.tasks.speech_recognition.transcriber import transcribe_clips

        clips = read_clips(inputs, self.option("label_pattern"), labelled=False)
        result = transcribe_clips(self.transcriber, clips, self.rate)
        result.attrs["notes"] = list(clips.notes)
        return result

    # ---- schema and loading -------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        self._require_fitted()
        return {
            "type": "audio",
            "sample_rate": self.rate,
            "window_seconds": self.length / self.rate,
            "note": "WAV (PCM 8/16/24/32-bit or float, any rate, mono or stereo); resampled, "
            "silence trimmed and centred in the window",
        }

    def output_schema(self) -> dict[str, Any]:
        schema = super().output_schema()
        if self.transcriber is not None:
            schema["transcription"] = {
                "fields": ["clip", "transcript", "words", "confidence", "seconds"],
                "vocabulary": self.classes,
            }
        return schema

    def restore(self, stored: dict[str, Any]) -> None:
        self.rate, self.length = int(stored["sample_rate"]), int(stored["length"])

    @classmethod
    def load(cls, run: RunFolder) -> SpeechRecognition:
        task = super().load(run)
        stored = run.read_json("preprocess.json")
        if stored.get("transcriber"):
            from layerwise.tasks.speech_recognition.transcriber import Transcriber

            task.transcriber = Transcriber.load(run, stored["transcriber"])
        return task

    def prediction_rows(self, inputs: Any) -> int:
        from layerwise.data.speech import read_clips

        return len(read_clips(inputs, self.option("label_pattern"), labelled=False))

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.tasks.speech_recognition.report import SECTIONS

        return SECTIONS

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        from layerwise.data.speech import read_clips
        from layerwise.tasks.speech_recognition.sources import tone_words

        clips = read_clips(tone_words(per_word=30, seed=seed))
        options = {
            "synthetic_per_word": 0,
            "candidate_params": {"speech-cnn": {"epochs": 2}},
            "transcriber_params": {"epochs": 1, "utterances_per_epoch": 64},
        }
        return clips, options, clips.subset(np.arange(5))

    def explain(self, clip: Any, out_dir: str | Path, prefix: str = "") -> list[Path]:
        raise ConfigError(
            "Layer views are not available for speech runs yet.",
            "Open the run's report.html for spectrograms of test clips.",
        )
