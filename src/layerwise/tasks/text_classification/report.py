"""Report sections for text runs: highlighted word attributions and the top n-grams."""

from __future__ import annotations

import html
import json

from layerwise.runs.folder import RunFolder

EXPLANATIONS = "explanations.json"
TOP_NGRAMS = "top_ngrams.json"


def highlight_html(words: list[tuple[str, float]]) -> str:
    """Words on coloured backgrounds: green pushed towards the prediction, red against it."""
    scale = max((abs(w) for _, w in words), default=0.0) or 1.0
    out = []
    for word, weight in words:
        alpha = min(abs(weight) / scale, 1.0) * 0.85
        colour = f"rgba(46,160,67,{alpha:.2f})" if weight > 0 else f"rgba(218,54,51,{alpha:.2f})"
        out.append(
            f'<span title="{weight:+.3f}" style="background:{colour};padding:1px 2px;'
            f'border-radius:3px">{html.escape(word)}</span>'
        )
    return " ".join(out)


def explanations(run: RunFolder) -> str | None:
    if not run.exists(EXPLANATIONS):
        return None
    data = json.loads(run.read_text(EXPLANATIONS))
    out = [
        f'<p class="note">Test texts explained by occlusion with the chosen model '
        f"({html.escape(str(data.get('model')))}): each word is left out in turn; green words "
        "raised the predicted class's probability, red ones lowered it (hover for the value).</p>"
    ]
    for record in data.get("texts", []):
        mark = "✓" if record["truth"] == record["prediction"] else "✗"
        out.append(
            f"<p><b>{mark} predicted {html.escape(str(record['prediction']))}</b>, true "
            f"{html.escape(str(record['truth']))}<br>{highlight_html(record['words'])}</p>"
        )
    return "".join(out)


def top_ngrams(run: RunFolder) -> str | None:
    if not run.exists(TOP_NGRAMS):
        return None
    data = json.loads(run.read_text(TOP_NGRAMS))
    out = []
    for model, per_class in data.items():
        cells = "".join(
            f"<tr><td>{html.escape(str(label))}</td><td>"
            + ", ".join(html.escape(str(term)) for term, _ in terms[:15])
            + "</td></tr>"
            for label, terms in per_class.items()
        )
        out.append(
            f"<h3>{html.escape(model)}</h3><table><tr><th>class</th>"
            f"<th>n-grams with the largest weights towards it</th></tr>{cells}</table>"
        )
    return "".join(out) or None


# The sections this application adds to report.html, in page order (Task.report_sections).
SECTIONS = [
    ("Which words decided", explanations),
    ("Top n-grams of the linear models", top_ngrams),
]
