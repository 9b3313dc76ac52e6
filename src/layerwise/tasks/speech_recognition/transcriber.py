"""Transcription for speech-recognition runs: a CTC model (:mod:`layerwise.models.speech_ctc`)
over the run's words, trained by the engine on utterances built from the training clips.

An utterance is 1-3 training clips, each trimmed of silence, joined by random pauses of
0.05-0.35 s, then augmented like the word clips (speed, gain, noise). Fresh utterances are
built for every batch, so the model never sees the same one twice. Validation and test use
fixed utterances of held-out clips (3 words each for test), scored by word error rate.
Decoding is greedy; recordings longer than ``CHUNK_S`` are cut at their quietest moments.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from layerwise.metrics import word_error_rate
from layerwise.runs.folder import RunFolder

MODEL_FILE = "model.transcriber.safetensors"
MAX_WORDS = 3  # words in a training utterance: as many as a test one, and 25% cheaper than 4
TEST_WORDS = 3
PAUSE_S = (0.05, 0.35)
CHUNK_S = 10.0
MAX_RECORDING_S = 2 * 3600.0
CPU_BUDGET_S = 180.0  # on FSDD 120 s gave 4-5 epochs and a test WER of 0.10-0.49: too close to
# where CTC starts to read words
UTTERANCES_PER_EPOCH = 2000


def build_utterances(
    speech: Any,
    n: int,
    rng: np.random.Generator,
    words: tuple[int, int] = (1, MAX_WORDS),
    step: int | None = None,
    speed: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` utterances of ``words`` random clips of ``speech`` with pauses between them:
    waveforms ``[n, L]`` (L fits MAX_WORDS typical clips) and packed targets: the number of
    words, then word indices + 1 (0 is the CTC blank) padded to MAX_WORDS, then, when ``step``
    (samples per model output) is given, the word heard at each output step (0 in pauses).
    ``speed`` plays each clip at a random 1 +- speed times its speed."""
    rate = speech.rate
    typical = float(np.quantile(speech.lengths, 0.9))
    length = int(MAX_WORDS * (typical + rate * PAUSE_S[1]) + rate * 0.2)
    steps = 0 if step is None else -(-length // step)
    waves = np.zeros((n, length), dtype=np.float32)
    targets = np.zeros((n, 1 + MAX_WORDS + steps), dtype=np.int64)
    for row in range(n):
        count = int(rng.integers(words[0], words[1] + 1))
        position = int(rng.uniform(0.02, 0.1) * rate)
        said = []
        for i in rng.integers(0, len(speech), count):
            clip = speech.voiced(int(i)) * rng.uniform(0.6, 1.0)
            if speed:  # played faster or slower: pitch and tempo change together
                factor = rng.uniform(1 - speed, 1 + speed)
                clip = np.interp(np.arange(0, len(clip) - 1, factor), np.arange(len(clip)), clip)
            if position + len(clip) > length:
                break
            waves[row, position : position + len(clip)] = clip
            said.append(int(speech.labels[i]) + 1)
            if step:  # output steps whose centre falls inside the word
                first = -(-(position - step // 2) // step)
                last = (position + len(clip) - step // 2) // step
                targets[row, 1 + MAX_WORDS + max(first, 0) : 1 + MAX_WORDS + last + 1] = said[-1]
            position += len(clip) + int(rng.uniform(*PAUSE_S) * rate)
        targets[row, 0] = len(said)
        targets[row, 1 : 1 + len(said)] = said
    return waves, targets


def transcriber_loss(log_probs: Any, packed: Any) -> Any:
    """Mean CTC loss of ``log_probs [B, T, V]`` against packed targets, plus, where the
    targets carry the word at each step (built utterances do), the cross-entropy of those
    steps: the known alignment gets CTC past its all-blank start in a few dozen steps."""
    import torch
    import torch.nn.functional as F

    lengths = packed[:, 0]
    flat = torch.cat([row[1 : 1 + int(n)] for row, n in zip(packed, lengths, strict=True)])
    steps = torch.full((log_probs.shape[0],), log_probs.shape[1], dtype=torch.long)
    loss = F.ctc_loss(log_probs.transpose(0, 1), flat, steps, lengths, blank=0, zero_infinity=True)
    frames = packed[:, 1 + MAX_WORDS :]
    if frames.shape[1]:
        t = min(frames.shape[1], log_probs.shape[1])
        loss = loss + F.nll_loss(
            log_probs[:, :t].reshape(-1, log_probs.shape[2]), frames[:, :t].reshape(-1)
        )
    return loss


def greedy_decode(log_probs: np.ndarray) -> tuple[list[int], float]:
    """Token indices (blank removed, repeats collapsed) and the mean probability of the
    steps that emitted them."""
    best = log_probs.argmax(axis=-1)
    tokens, confidence, previous = [], [], 0
    for t, token in enumerate(best):
        if token != 0 and token != previous:
            tokens.append(int(token) - 1)
            confidence.append(float(np.exp(log_probs[t, token])))
        previous = token
    return tokens, float(np.mean(confidence)) if confidence else 1.0


def _packed_words(packed: np.ndarray) -> list[list[int]]:
    return [list(row[1 : 1 + row[0]] - 1) for row in packed]


def _wer(log_probs: Any, packed: Any) -> float:
    hypotheses = [greedy_decode(lp)[0] for lp in log_probs.float().numpy()]
    return word_error_rate(_packed_words(packed.numpy()), hypotheses)


class Transcriber:
    """A trained CTC model with its vocabulary; ``transcribe`` writes out waveforms."""

    def __init__(self, model: Any):
        self.model = model.eval()
        self.vocabulary = list(model.config.vocabulary)
        self.rate = int(model.config.features["sample_rate"])

    def log_probs(self, waves: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model(torch.from_numpy(np.ascontiguousarray(waves))).numpy()

    def decode(self, waves: np.ndarray) -> list[tuple[list[int], float]]:
        """Greedy token sequences and confidences for equal-length waveforms ``[n, L]``."""
        out = []
        for start in range(0, len(waves), 64):
            out += [greedy_decode(lp) for lp in self.log_probs(waves[start : start + 64])]
        return out

    def wer(self, waves: np.ndarray, packed: np.ndarray) -> float:
        hypotheses = [tokens for tokens, _ in self.decode(waves)]
        return word_error_rate(_packed_words(packed), hypotheses)

    def save(self, run: RunFolder) -> dict[str, Any]:
        from layerwise.engine.checkpoint import save_weights

        save_weights(run.file(MODEL_FILE), self.model.state_dict())
        return {"file": MODEL_FILE, "architecture": self.model.config.to_dict()}

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> Transcriber:
        from layerwise.models.speech_ctc import SpeechCTC, SpeechCTCConfig
        from layerwise.runs.weights import config_from, restore_module

        config = config_from(SpeechCTCConfig, info["architecture"], run)
        return cls(restore_module(run, info["file"], lambda: SpeechCTC(config)))


def _epochs(params: dict, step_seconds: float, steps: int) -> int:
    if params.get("epochs") is not None:
        return int(params["epochs"])
    from layerwise.engine.config import resolve_device

    limit = params.get("time_limit")
    if limit is None and resolve_device(params.get("device", "auto")).type == "cpu":
        limit = CPU_BUDGET_S
    if limit is None:
        return 30
    return int(np.clip(limit // max(1.15 * step_seconds * steps, 1e-6), 1, 30))


def fit_transcriber(
    train: Any, val: Any, test: Any, classes: list[str], params: dict[str, Any], seed: int
) -> tuple[Transcriber, dict[str, Any]]:
    """Train the CTC model; returns it and its figures (validation and test WER, time).

    In a world of several processes every one calls this with the same ``params`` (the first
    process's time limit and checkpoint folder): they train the model together under DDP, and
    the processes other than the first return no figures."""
    import torch

    from layerwise.data.audio_augment import WaveAugmentConfig, augment_waves
    from layerwise.engine import Trainer, TrainerConfig
    from layerwise.engine.distributed import agreed, current_world
    from layerwise.models.speech_ctc import SpeechCTC, SpeechCTCConfig

    started = time.perf_counter()
    torch.manual_seed(seed)
    model = SpeechCTC(SpeechCTCConfig(vocabulary=classes, features={"sample_rate": train.rate}))
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    augment = WaveAugmentConfig(shift=0.0, speed=0.0)  # speed is changed clip by clip
    step = model.log_mel.config.hop_length * model.config.time_stride
    bank = [torch.from_numpy(n) for n in train.noise]
    batch_size = int(params.get("batch_size", 32))
    world = current_world()
    rank_batch = max(1, batch_size // world.size)  # the engine's Trainer.rank_batch
    mine = slice(world.rank, None, world.size)

    def transform(batch: tuple[Any, ...]) -> tuple[Any, ...]:
        # The batch is only a count: every process builds the whole step's utterances from
        # the same seeded generators and keeps every size-th from its rank, so the processes
        # train on different utterances (not one copy each) and, together, on one process's
        # batch; the generators stay alike everywhere, step after step
        whole = len(batch[0]) * world.size
        waves, packed = build_utterances(train, whole, rng, step=step, speed=0.1)
        noisy = augment_waves(torch.from_numpy(waves), augment, generator, bank)
        device = batch[0].device
        return noisy[mine].to(device), torch.from_numpy(packed[mine]).to(device)

    val_waves, val_packed = build_utterances(val, max(64, min(len(val), 300)), rng, step=step)
    # time one step to fit the epochs into the budget
    probe = SpeechCTC(model.config)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=1e-4)
    t0 = time.perf_counter()
    for _ in range(2):  # a step of one process's share
        xb, yb = transform((torch.zeros(rank_batch), None))
        optimizer.zero_grad()
        transcriber_loss(probe(xb), yb).backward()
        optimizer.step()
    step_seconds = (time.perf_counter() - t0) / 2
    n = int(params.get("utterances_per_epoch", UTTERANCES_PER_EPOCH))
    # the first process's plan for all: each times its probe differently, and a process that
    # planned fewer epochs would leave the others waiting at a collective
    epochs = int(agreed(_epochs(params, step_seconds, math.ceil(n / batch_size))))
    total_steps = epochs * math.ceil(n / batch_size)
    config = TrainerConfig.from_params(
        params,
        seed,
        {"lr": 3e-3},
        epochs=epochs,
        batch_size=batch_size,
        warmup_steps=max(1, total_steps // 10),  # a short warmup: CTC needs its steps at speed
        weight_decay=0.01,
        schedule="onecycle",
        patience=None,
        clip_grad_norm=5.0,
    )
    trainer = Trainer(model, transcriber_loss, config, {"wer": _wer}, batch_transform=transform)
    indices = torch.arange(n)
    history = trainer.fit(
        (indices, indices), val=(torch.from_numpy(val_waves), torch.from_numpy(val_packed))
    )
    transcriber = Transcriber(trainer.model.to("cpu"))
    if not world.main:  # its share of the training given; the figures and the file are rank 0's
        return transcriber, {}
    test_rng = np.random.default_rng(seed + 1)
    test_waves, test_packed = build_utterances(
        test, max(100, len(test) // TEST_WORDS), test_rng, (TEST_WORDS, TEST_WORDS)
    )
    heard = transcriber.decode(test_waves[:8])
    examples = [
        {
            "reference": " ".join(classes[k] for k in said),
            "heard": " ".join(classes[k] for k in tokens),
        }
        for said, (tokens, _) in zip(_packed_words(test_packed[:8]), heard, strict=True)
    ]
    figures = {
        "model": "CTC: log-mel, 2 strided convolutions, bidirectional GRU, greedy decoding",
        "training_data": f"utterances of 1-{MAX_WORDS} training clips joined by 0.05-0.35 s pauses, "
        "with noise (built, not recorded)",
        "epochs": len(history),
        "utterances_per_epoch": n,
        "validation_wer": transcriber.wer(val_waves, val_packed),
        "test_wer": transcriber.wer(test_waves, test_packed),
        "test_utterances": len(test_waves),
        "test_words_per_utterance": TEST_WORDS,
        "fit_seconds": time.perf_counter() - started,
        "examples": examples,
        "history": {
            k: [float(v) for v in history.column(k) if v is not None]
            for k in ("train_loss", "val_loss", "val_wer")
        },
    }
    return transcriber, figures


def _chunks(samples: np.ndarray, rate: int) -> list[np.ndarray]:
    """Pieces of at most CHUNK_S, each cut at the quietest 10 ms in its last 3 s."""
    limit, pieces, start = int(CHUNK_S * rate), [], 0
    frame = max(1, rate // 100)
    while len(samples) - start > limit:
        window = samples[start + limit - 3 * rate : start + limit]
        energy = np.convolve(window**2, np.ones(frame), mode="valid")
        cut = start + limit - 3 * rate + int(np.argmin(energy)) + frame // 2
        pieces.append(samples[start:cut])
        start = cut
    pieces.append(samples[start:])
    return pieces


def transcribe_clips(transcriber: Transcriber, clips: Any, rate: int) -> pd.DataFrame:
    """One row per recording: its name, the words heard, a confidence and its length."""
    from layerwise.data.audio import resample
    from layerwise.errors import DataError

    rows = []
    for name, samples in zip(clips.names, clips.clips, strict=True):
        seconds = len(samples) / clips.rate
        if seconds > MAX_RECORDING_S:
            raise DataError(
                f"'{name}' is {seconds / 3600:.1f} hours long; transcription takes up to "
                f"{MAX_RECORDING_S / 3600:.0f} hours a file.",
                "Split the recording into shorter files.",
            )
        audio = resample(samples, clips.rate, rate) if clips.rate != rate else samples
        words, confidence = [], []
        for piece in _chunks(audio, rate):
            ((tokens, conf),) = transcriber.decode(piece[None, :].astype(np.float32))
            words += [transcriber.vocabulary[t] for t in tokens]
            confidence.append(conf)
        rows.append(
            {
                "clip": name,
                "transcript": " ".join(words),
                "words": len(words),
                "confidence": float(np.mean(confidence)),
                "seconds": round(seconds, 3),
            }
        )
    return pd.DataFrame(rows)
