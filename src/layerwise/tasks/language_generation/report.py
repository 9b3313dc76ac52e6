"""Report sections for generation runs: the samples a text generator wrote as it trained."""

from __future__ import annotations

import html
import json

from layerwise.runs.folder import RunFolder
from layerwise.tasks.language_generation.outputs import SAMPLES  # the names it writes


def text_samples(run: RunFolder) -> str | None:
    """A table of the samples taken during training: when, the validation loss then, and the
    text (from the run's prompt), so the reader sees the model learn to write."""
    if not run.exists(SAMPLES):
        return None
    data = json.loads(run.read_text(SAMPLES))
    samples = data.get("samples") if isinstance(data, dict) else None
    if not samples:
        return None
    rows = []
    for s in samples:
        loss = s.get("val_loss")
        shown = "-" if loss is None else f"{float(loss):.3f}"
        rows.append(
            f"<tr><td class=num>{s.get('step', '')}</td><td class=num>{s.get('seconds', '')}</td>"
            f"<td class=num>{shown}</td><td><pre>{html.escape(str(s.get('text', '')))}</pre></td></tr>"
        )
    prompt = html.escape(repr(data.get("prompt", "")))
    return (
        f'<p class="note">Each sample continues the prompt {prompt} with temperature 0.8 and '
        "top-k 40, the same seed every time.</p><table><tr><th>step</th><th>seconds</th>"
        "<th>validation loss (estimate)</th><th>sample</th></tr>" + "".join(rows) + "</table>"
    )


# The sections this application adds to report.html, in page order (Task.report_sections).
SECTIONS = [
    ("Samples during training", text_samples),
]
