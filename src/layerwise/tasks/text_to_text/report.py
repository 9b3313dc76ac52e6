"""Report sections of a text-to-text run: test pairs with every model's output beside the
reference (the first ones and the worst), BLEU and chrF by source length, and the
Transformer's attention maps."""

from __future__ import annotations

import html
from typing import Any

from layerwise.runs import folder as names
from layerwise.runs.folder import RunFolder
from layerwise.tasks.text_to_text.examples import ATTENTION, EXAMPLES


def _table(rows: list[dict[str, Any]], served: str) -> str:
    names_ = list(rows[0]["outputs"]) if rows else []
    head = "".join(f"<th>{html.escape(n)}{' (served)' if n == served else ''}</th>"
                   for n in names_)  # fmt: skip
    body = []
    for row in rows:
        cells = "".join(f"<td>{html.escape(str(row['outputs'].get(n, '')))}</td>" for n in names_)
        body.append(f"<tr><td>{html.escape(row['source'])}</td>"
                    f"<td>{html.escape(row['reference'])}</td>{cells}"
                    f"<td>{row.get('chrf', '')}</td></tr>")  # fmt: skip
    return (f"<table><tr><th>source</th><th>reference</th>{head}<th>chrF (served)</th></tr>"
            + "".join(body) + "</table>")  # fmt: skip


def examples(run: RunFolder) -> str | None:
    if not run.exists(EXAMPLES):
        return None
    data = run.read_json(EXAMPLES)
    served = str(data.get("served"))
    note = ('<p class="note">Test pairs whose sources training never saw, with each model\'s '
            "output beside the reference. chrF (0 to 100) scores the served model's output "
            "against this one reference; a good translation worded differently still scores "
            "low, which is why the table is worth reading and not only the score.</p>")  # fmt: skip
    parts = [note, _table(data.get("first", []), served)]
    if data.get("worst"):
        parts += ["<h3>The worst test pairs (lowest chrF of the served model)</h3>",
                  _table(data["worst"], served)]  # fmt: skip
    return "".join(parts)


def by_length(run: RunFolder) -> str | None:
    """BLEU and chrF on the test pairs by the source's length in words, for every candidate."""
    candidates = run.read_json(names.METRICS).get("candidates", {})
    tables = {n: c["test"].get("by_length") or [] for n, c in candidates.items()}
    buckets = [r["bucket"] for r in next(iter(tables.values()), [])]
    if not buckets:
        return None
    head = "".join(f"<th>{html.escape(n)} BLEU</th><th>{html.escape(n)} chrF</th>"
                   for n in tables)  # fmt: skip
    rows = []
    for i, bucket in enumerate(buckets):
        count = tables[next(iter(tables))][i]["count"]
        cells = "".join(f"<td>{_cell(t[i]['bleu'])}</td><td>{_cell(t[i]['chrf'])}</td>"
                        if i < len(t) else "<td>-</td><td>-</td>" for t in tables.values())  # fmt: skip
        rows.append(f"<tr><td>{html.escape(bucket)} words</td><td>{count}</td>{cells}</tr>")
    note = ('<p class="note">Long sentences are where translation models usually fall behind; '
            "a short sentence of three words or fewer has no 4-gram, so its BLEU is 0 or "
            "unsteady, and chrF is the better guide there.</p>")  # fmt: skip
    return (note + f"<table><tr><th>source length</th><th>pairs</th>{head}</tr>"
            + "".join(rows) + "</table>")  # fmt: skip


def attention(run: RunFolder) -> str | None:
    from layerwise.runs.report_images import _embed

    if not run.exists(ATTENTION):
        return None
    note = ('<p class="note">The Transformer\'s last decoder layer (mean over its heads): each '
            "row is an output token, each column a source token, darker where the output token "
            "drew more on it. A translation that follows the source shows a rough diagonal; "
            "words that change order across the languages show as crossings.</p>")  # fmt: skip
    return note + _embed(run, ATTENTION, "attention maps of the last decoder layer")


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


SECTIONS = [
    ("Test pairs", examples),
    ("Scores by source length", by_length),
    ("What each output token looked at", attention),
]
