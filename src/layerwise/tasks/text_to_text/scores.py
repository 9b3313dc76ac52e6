"""The field's scores for text-to-text, computed by sacreBLEU (the reference implementation).

- **BLEU**: corpus BLEU with sacreBLEU's defaults (13a tokenisation, mixed case, exponential
  smoothing), one reference per hypothesis (the pair's own target), 0-100.
- **chrF**: sacreBLEU's chrF2 defaults (character 6-grams, beta 2), 0-100.
- **exact match**: the share of hypotheses equal to their reference once whitespace is
  collapsed (case and punctuation count), 0-1.
- **multi-reference** (when every acceptable target of each source is given): BLEU and chrF
  against all of them, and the share of hypotheses equal to any of them. A source can have
  any number of references: sacreBLEU takes references as streams (stream j holds the j-th
  reference of every sentence) and drops ``None`` entries per sentence, so shorter lists are
  padded with ``None``. Padding with ``""`` would be wrong: an empty string is a real (empty)
  reference, which BLEU's closest-reference length would then pick for short hypotheses.

Each score dict carries sacreBLEU's signature strings (``nrefs:1|case:mixed|eff:no|tok:13a|
smooth:exp|version:2.6.0``) so a report says exactly how its numbers were computed.

Corpus BLEU counts 1- to 4-grams and is 0 when the corpus holds no 4-gram at all (every
hypothesis under four tokens): on very short sentences, such as a bucket of 1-3 word
sources, chrF is the steadier guide.

Example:
    >>> s = text_scores(["the cat sat on the mat"], ["the cat is on the mat"])
    >>> round(s["bleu"], 2), round(s["chrf"], 2), s["exact_match"]
    (37.99, 64.58, 0.0)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from layerwise.errors import ConfigError, DataError

LENGTH_EDGES = ((1, 3), (4, 6), (7, 10), (11, 20))  # words; longer sources are "21+"


def _metrics() -> tuple[Any, Any]:
    """Fresh sacreBLEU BLEU and CHRF objects with their default settings."""
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError:
        raise ConfigError(
            "Text-to-text scores need sacreBLEU, which is not installed.",
            'Run: pip install "sacrebleu>=2.4"',
        ) from None
    return BLEU(), CHRF()


def _same(text: str) -> str:
    """The form compared for exact match: whitespace collapsed, nothing else changed."""
    return " ".join(text.split())


def _strings(texts: Any, what: str) -> list[str]:
    if isinstance(texts, str):
        raise DataError(f"{what} is one string.", "Pass a list of strings.")
    texts = list(texts)
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise DataError(
            f"{what}: item {bad} is a {type(texts[bad]).__name__}, not a string.",
            "Pass a list of strings (an empty string for an empty output).",
        )
    return texts


def _paired(hypotheses: Any, references: Any) -> tuple[list[str], list[str]]:
    hyps, refs = _strings(hypotheses, "hypotheses"), _strings(references, "references")
    if len(hyps) != len(refs):
        raise DataError(
            f"{len(hyps)} hypotheses but {len(refs)} references.",
            "Pass one reference per hypothesis.",
        )
    if not hyps:
        raise DataError("No hypotheses to score (the lists are empty).", "Pass at least one pair.")
    return hyps, refs


def _streams(references: list[str], multi: Any) -> tuple[list[list[str | None]], list[list[str]]]:
    """sacreBLEU reference streams from per-sentence lists of any length (padded with None),
    each list deduplicated and holding the pair's own reference; also the lists themselves."""
    multi = list(multi)
    if len(multi) != len(references):
        raise DataError(
            f"{len(multi)} lists of references for {len(references)} hypotheses.",
            "Pass one list of references (all targets of its source) per hypothesis.",
        )
    lists = []
    for i, (own, refs) in enumerate(zip(references, multi, strict=True)):
        refs = _strings(refs, f"multi_references[{i}]")
        lists.append(list(dict.fromkeys([*refs, own])))
    width = max(map(len, lists))
    streams = [[refs[j] if j < len(refs) else None for refs in lists] for j in range(width)]
    return streams, lists


def text_scores(
    hypotheses: Sequence[str],
    references: Sequence[str],
    multi_references: Sequence[Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Corpus BLEU, chrF and exact match of ``hypotheses`` against ``references``.

    Args:
        hypotheses: the model's outputs (an empty string is a valid, empty output).
        references: one reference per hypothesis: its pair's own target.
        multi_references: optionally, for each hypothesis every acceptable target of its
            source (any number; the pair's own reference is added when missing).

    Returns:
        ``count``, ``bleu``, ``chrf`` (0-100), ``exact_match`` (0-1), BLEU's details
        ``bleu_precisions`` (1- to 4-gram, 0-100), ``brevity_penalty``, ``hypothesis_length``
        and ``reference_length`` (13a tokens), and ``bleu_signature``, ``chrf_signature``.
        With ``multi_references`` also ``bleu_multi``, ``chrf_multi``, ``exact_match_multi``,
        ``references_per_source`` (mean) and ``bleu_multi_signature``,
        ``chrf_multi_signature``. All values are plain floats, ints or strings (JSON-safe).

    Example:
        >>> hyps = ["Il fait très froid ce matin.", "Je ne sais pas nager du tout."]
        >>> refs = ["Il fait très froid ce matin.", "Je ne sais pas du tout nager."]
        >>> s = text_scores(hyps, refs, [[refs[0]], [refs[1], hyps[1]]])
        >>> s["exact_match"], s["exact_match_multi"], round(s["bleu_multi"], 2), s["references_per_source"]
        (0.5, 1.0, 100.0, 1.5)
    """
    hyps, refs = _paired(hypotheses, references)
    bleu, chrf = _metrics()
    b, c = bleu.corpus_score(hyps, [refs]), chrf.corpus_score(hyps, [refs])
    out: dict[str, Any] = {
        "count": len(hyps),
        "bleu": float(b.score),
        "chrf": float(c.score),
        "exact_match": float(
            np.mean([_same(h) == _same(r) for h, r in zip(hyps, refs, strict=True)])
        ),
        "bleu_precisions": [float(p) for p in b.precisions],
        "brevity_penalty": float(b.bp),
        "hypothesis_length": int(b.sys_len),
        "reference_length": int(b.ref_len),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }
    if multi_references is None:
        return out
    streams, lists = _streams(refs, multi_references)
    bleu, chrf = _metrics()  # new objects: a metric's signature records its last nrefs
    hits = [_same(h) in {_same(r) for r in rs} for h, rs in zip(hyps, lists, strict=True)]
    out |= {
        "bleu_multi": float(bleu.corpus_score(hyps, streams).score),
        "chrf_multi": float(chrf.corpus_score(hyps, streams).score),
        "exact_match_multi": float(np.mean(hits)),
        "references_per_source": float(np.mean([len(rs) for rs in lists])),
        "bleu_multi_signature": str(bleu.get_signature()),
        "chrf_multi_signature": str(chrf.get_signature()),
    }
    return out


def length_bucket(text: str) -> str:
    """The length bucket of a source, in words: "1-3", "4-6", "7-10", "11-20" or "21+"
    ("0" for an empty text).

    >>> [length_bucket(t) for t in ["Go.", "I think so too.", ""]]
    ['1-3', '4-6', '0']
    """
    n = len(text.split())
    if n == 0:
        return "0"
    for lo, hi in LENGTH_EDGES:
        if lo <= n <= hi:
            return f"{lo}-{hi}"
    return f"{LENGTH_EDGES[-1][1] + 1}+"


def _natural(label: str) -> list[Any]:
    """Sort key comparing the numbers inside labels as numbers ("4-6" before "11-20")."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", label) if p]


def scores_by_length(
    sources: Sequence[str],
    hypotheses: Sequence[str],
    references: Sequence[str],
    bucket: Callable[[str], str] = length_bucket,
    multi_references: Sequence[Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """:func:`text_scores` for each bucket of source lengths (or any grouping of sources).

    Args:
        sources: the inputs the hypotheses answer.
        hypotheses: the outputs; references: one reference per output.
        bucket: text -> label (default :func:`length_bucket`).
        multi_references: as in :func:`text_scores`.

    Returns:
        One dict per bucket that holds pairs, ordered by label with the numbers in it read as
        numbers ("1-3", "4-6", ..., "21+"): ``bucket`` (the label) and ``count`` first, then
        the keys of :func:`text_scores`. The counts add up to the number of pairs.

    Example:
        >>> rows = scores_by_length(["Hi.", "See you later, my friend."], ["Salut.", "A +"],
        ...                         ["Salut.", "À plus tard, mon ami."])
        >>> [(r["bucket"], r["count"], r["exact_match"]) for r in rows]
        [('1-3', 1, 1.0), ('4-6', 1, 0.0)]
    """
    srcs = _strings(sources, "sources")
    hyps, refs = _paired(hypotheses, references)
    if len(srcs) != len(hyps):
        raise DataError(
            f"{len(srcs)} sources but {len(hyps)} hypotheses.", "Pass one source per hypothesis."
        )
    multi = None if multi_references is None else list(multi_references)
    groups: dict[str, list[int]] = {}
    for i, source in enumerate(srcs):
        groups.setdefault(str(bucket(source)), []).append(i)
    rows = []
    for label in sorted(groups, key=_natural):
        idx = groups[label]
        scores = text_scores(
            [hyps[i] for i in idx],
            [refs[i] for i in idx],
            None if multi is None else [multi[i] for i in idx],
        )
        rows.append({"bucket": label, **scores})
    return rows


def sentence_scores(hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per-sentence chrF (0-100), e.g. to show a report's worst examples.

    chrF, not sentence BLEU: on a short sentence BLEU's 3- and 4-gram precisions are often
    zero, so it swings with smoothing between near 0 and large values for small changes,
    while chrF's character n-grams grade partial matches smoothly. A hypothesis equal to its
    reference (whitespace collapsed) scores 100, the empty pair included (chrF gives 0 there).

    Example:
        >>> sentence_scores(["Merci.", "", "Bonjour"], ["Merci.", "", "Bonsoir"]).round(1).tolist()
        [100.0, 100.0, 20.8]
    """
    hyps, refs = _paired(hypotheses, references)
    _, chrf = _metrics()
    scores = [
        100.0 if _same(h) == _same(r) else float(chrf.sentence_score(h, [r]).score)
        for h, r in zip(hyps, refs, strict=True)
    ]
    return np.asarray(scores, dtype=np.float64)
