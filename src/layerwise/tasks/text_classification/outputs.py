"""Word attributions for text runs: occlusion for any model, highlighted as HTML, written for a
few test texts into the run folder (``explanations.json``) and by ``layerwise explain``."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from layerwise.io import atomic_write
from layerwise.runs.folder import RunFolder
from layerwise.tasks.text_classification.report import (  # the files it reads, its highlighting
    EXPLANATIONS,
    TOP_NGRAMS,
    highlight_html,
)

MAX_WORDS = 80  # occlusion costs one prediction per word
_WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


def occlusion(task: Any, text: str) -> tuple[str, list[tuple[str, float]]]:
    """The predicted class and, per word, how much leaving it out lowers that class's
    probability (positive: the word pushed towards the prediction)."""
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text)][:MAX_WORDS]
    variants = [text] + [text[:s] + text[e:] for s, e in spans]
    proba = task.predict_proba(variants)
    label = task.labels_of(proba[:1])[0]
    k = task.classes.index(label)
    drops = proba[0, k] - proba[1:, k]
    return label, [(text[s:e], float(d)) for (s, e), d in zip(spans, drops, strict=True)]


def write_explanation(task: Any, text: str, folder: Path, prefix: str = "") -> list[Path]:
    label, words = occlusion(task, text)
    record = {"text": text, "prediction": label, "words": words, "method": "occlusion"}
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>explanation</title></head>'
        f'<body style="font-family:system-ui;max-width:800px;margin:2em auto"><p>Predicted '
        f"<b>{html.escape(label)}</b>. Green words pushed towards it, red ones against it "
        f"(leaving the word out changes the probability by the hover value).</p>"
        f'<p style="font-size:1.2em;line-height:2">{highlight_html(words)}</p></body></html>\n'
    )
    paths = [folder / f"{prefix}explanation.json", folder / f"{prefix}explanation.html"]
    atomic_write(paths[0], lambda p: p.write_text(json.dumps(record, indent=2), encoding="utf-8"))
    atomic_write(paths[1], lambda p: p.write_text(page, encoding="utf-8"))
    return paths


def write_text_extras(task: Any, run: RunFolder, test: Any, proba: np.ndarray, n: int = 6) -> None:
    """Attributions for a few test texts (right and wrong), given the chosen model's test
    probabilities, and each linear model's top n-grams."""
    predicted = np.array([task.classes.index(c) for c in task.labels_of(proba)])
    wrong = np.flatnonzero(predicted != test.labels)[: n // 2]
    right = np.flatnonzero(predicted == test.labels)[: n - len(wrong)]
    records = []
    for i in [*right, *wrong]:
        label, words = occlusion(task, test.texts[i])
        truth = task.classes[test.labels[i]]
        records.append({"text": test.texts[i], "truth": truth, "prediction": label, "words": words})
    run.write_json(EXPLANATIONS, {"method": "occlusion", "model": task.chosen, "texts": records})
    ngrams = {}
    for name, model in task.models.items():
        if hasattr(model, "top_ngrams"):
            top = model.top_ngrams(15)
            ngrams[name] = {task.classes[int(k)]: v for k, v in top.items()}
    if ngrams:
        run.write_json(TOP_NGRAMS, ngrams)
