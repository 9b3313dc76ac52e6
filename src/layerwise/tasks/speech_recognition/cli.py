"""What speech recognition adds to the ``layerwise`` command: its ``train`` options, the
``layerwise data synth-speech`` command and its demo. Read at the command's start-up: nothing
heavy at the top (see core.cli_spec)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer

from layerwise.core.cli_spec import CUT_OPTIONS, CommandLine, Demo, TrainOption


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")]


def synth_speech(
    words: str = typer.Option(..., "--words", help="Comma-separated words, e.g. yes,no,up,down."),
    per_word: int = typer.Option(200, "--per-word", help="Clips to make of each word."),
    out_dir: str = typer.Option(..., "--out", "-o", help="Folder to write <word>/*.wav into."),
    rate: int = typer.Option(16000, "--rate", help="Sample rate of the WAV files, Hz."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same clips."),
    voices: Optional[str] = typer.Option(  # noqa: UP045 (typer reads Optional)
        None,
        "--voices",
        help="Comma-separated espeak-ng voices, e.g. en-us+m3,en+f2 [English accents x variants].",
    ),
) -> None:
    """Synthesise spoken words with espeak-ng in many voices, one folder per word."""
    import time

    from rich.console import Console

    from layerwise.tasks.speech_recognition.synth import synthesize_words, write_words

    out, err = Console(highlight=False), Console(stderr=True, highlight=False)
    start = time.perf_counter()
    chosen = None if voices is None else _split(voices)
    clips = synthesize_words(
        _split(words), per_word, rate=rate, seed=seed, voices=chosen, progress=err.is_terminal
    )
    write_words(clips, out_dir)
    seconds = time.perf_counter() - start
    n_words = len({clip.word for clip in clips})
    n_voices = len({clip.voice for clip in clips})
    out.print(
        f"Wrote {len(clips)} clips of {n_words} words in {n_voices} voices at {rate} Hz "
        f"in {seconds:.1f} s to {out_dir}",
        soft_wrap=True,
    )
    out.print("Next:")
    out.print(f"  layerwise train {out_dir} --task speech-recognition", soft_wrap=True)


def looks_like_audio(data: Any) -> bool:
    """True for a ClipSet or SpeechSet, a .wav file, or a folder whose first files are WAVs."""
    from layerwise.data.speech import ClipSet, SpeechSet

    if isinstance(data, ClipSet | SpeechSet):
        return True
    if not isinstance(data, (str, os.PathLike)):
        return False
    path = Path(data)
    if path.is_file() or not path.is_dir():
        return path.suffix.lower() == ".wav"
    for n, child in enumerate(path.rglob("*")):
        if child.is_file() and child.suffix.lower() == ".wav":
            return True
        if n > 200:
            break
    return False


COMMAND_LINE = CommandLine(
    recognises=looks_like_audio,
    panel="Speech recognition",
    train_options=(
        *CUT_OPTIONS,
        TrainOption("--label-pattern", "label_pattern", str,
                    "Speech: read the word from flat file names, e.g. "
                    "'{label}_{speaker}_{take}.wav'."),
        TrainOption("--synthetic-per-word", "synthetic_per_word", int,
                    "Speech: espeak-ng clips per word added to training."),
        TrainOption("--transcriber/--no-transcriber", "transcriber", bool,
                    "Speech: also train the transcriber [on]."),
        TrainOption("--split-by", "split_by", str,
                    "Speech: speaker or random test split [speaker if >= 10 known]."),
    ),
    data_commands=(("synth-speech", synth_speech),),
)  # fmt: skip


def spoken_words(folder: Path) -> Demo:
    """The demo: spoken commands voiced by espeak-ng (no further synthetic clips needed)."""
    from layerwise.tasks.speech_recognition.sources import DEMO_WORDS, synthetic_commands

    per_word = 60
    path = synthetic_commands(folder / "commands", DEMO_WORDS, per_word)
    first = str(next(p for p in sorted(path.rglob("*.wav"))))
    return Demo(path, None,
                f"spoken commands ({len(DEMO_WORDS)} words x {per_word} clips voiced by espeak-ng "
                "in many voices, commands/<word>/*.wav)",
                options={"synthetic_per_word": 0},  # the demo's voices are synthetic already
                hint=first, next=(f"  layerwise predict {{run}} {first} --transcribe",))  # fmt: skip
