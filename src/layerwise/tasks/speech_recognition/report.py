"""Report sections for speech runs: spectrograms of test clips with the word heard, and the
transcriber's word error rate, curve and example transcripts."""

from __future__ import annotations

import html
from typing import Any

from layerwise.runs.folder import RunFolder

SPECTROGRAMS = "speech_examples.png"
TRANSCRIPTION = "transcription.json"


def spectrograms(run: RunFolder) -> str | None:
    from layerwise.runs.report_images import _embed

    if not run.exists(SPECTROGRAMS):
        return None
    note = (
        '<p class="note">Log-mel spectrograms of test clips as the models hear them (time '
        "across, pitch up): green titles are correct, one per word; red ones are the most "
        "confident mistakes. Bright bands are the formants that tell vowels apart.</p>"
    )
    return note + _embed(run, SPECTROGRAMS, "spectrograms of test clips")


def transcription(run: RunFolder) -> str | None:
    from layerwise.runs import plots

    if not run.exists(TRANSCRIPTION):
        return None
    t: dict[str, Any] = run.read_json(TRANSCRIPTION)
    out = [
        f'<p class="note">Word error rate on {t["test_utterances"]} test utterances of '
        f"{t['test_words_per_utterance']} words: <b>{t['test_wer']:.3f}</b> (validation "
        f"{t['validation_wer']:.3f}). The utterances were built by joining held-out clips "
        "with random pauses, not recorded as sentences: expect a higher error rate on "
        "natural speech, where words run together. Model: "
        f"{html.escape(t['model'])}; trained {t['epochs']} epochs of "
        f"{t['utterances_per_epoch']} fresh utterances in {t['fit_seconds']:.0f} s.</p>"
    ]
    history = t.get("history") or {}
    if history.get("val_loss"):
        import pandas as pd

        frame = pd.DataFrame(
            {
                "epoch": range(1, len(history["val_loss"]) + 1),
                "train_loss": history.get("train_loss") or None,
                "val_loss": history["val_loss"],
                "val_wer": history.get("val_wer") or None,
            }
        )
        image = plots.learning_curves(frame)
        if image:
            out.append(
                f'<img alt="transcriber learning curves" src="data:image/png;base64,{image}">'
            )
    examples = t.get("examples") or []
    if examples:
        rows = "".join(
            f"<tr><td>{html.escape(e['reference'])}</td><td>{html.escape(e['heard'])}</td></tr>"
            for e in examples
        )
        out.append(f"<h3>Examples</h3><table><tr><th>said</th><th>heard</th></tr>{rows}</table>")
    return "".join(out)


# The sections this application adds to report.html, in page order (Task.report_sections).
SECTIONS = [
    ("Spectrograms of test clips", spectrograms),
    ("Transcription", transcription),
]
