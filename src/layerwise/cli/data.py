"""layerwise data synth-speech --words yes,no --per-word 200 --out synth/"""

from __future__ import annotations

from typing import Optional

import typer

app = typer.Typer(help="Make or prepare data.", no_args_is_help=True)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")]


@app.command("synth-speech")
def synth_speech(
    words: str = typer.Option(..., "--words", help="Comma-separated words, e.g. yes,no,up,down."),
    per_word: int = typer.Option(200, "--per-word", help="Clips to make of each word."),
    out_dir: str = typer.Option(..., "--out", "-o", help="Folder to write <word>/*.wav into."),
    rate: int = typer.Option(16000, "--rate", help="Sample rate of the WAV files, Hz."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same clips."),
    voices: Optional[str] = typer.Option(
        None,
        "--voices",
        help="Comma-separated espeak-ng voices, e.g. en-us+m3,en+f2 [English accents x variants].",
    ),
) -> None:
    """Synthesise spoken words with espeak-ng in many voices, one folder per word."""
    import time

    from layerwise.cli.common import err, out
    from layerwise.tasks.speech_recognition.synth import synthesize_words, write_words

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
