"""Which candidate is served: one rule for every application, on evidence shaped like its data.

Each bake-off row has its mean validation score (``validation``) and, where the application
can give it, its **evidence**: the scores of the units that mean was made of, on the same units
for every candidate of the run (:class:`Evidence`): the folds of a cross-validation, blocks of
consecutive forecast origins (one horizon or more apart, so overlapping windows do not count as
independent), or the examples of one holdout. Two comparisons use it:

1. **A holdout-only lead does not displace cross-validation on luck.** Where some candidates
   were cross-validated and the best mean belongs to one scored on the holdout alone (a deep
   model), it is kept only if it beats the best cross-validated candidate on the same holdout
   units by a paired z of at least ``HOLDOUT_Z``; otherwise the cross-validated one is the best.
   (Before this rule a small holdout's luck chose the transformer in 4 of 10 folds of
   rt-polarity where TF-IDF was better.)
2. **A simpler candidate wins within the noise.** Taking candidates from the simplest
   (``complexity``) up, the first whose shortfall from the best is within the plan's stated
   tolerance, or within ``SIMPLER_Z`` standard errors of its paired difference with the best
   (Breiman's one-standard-error rule), is served. A more complex model must earn its place by
   more than the spread of the evidence: on the regret benchmark the served ensembles that lost
   to ridge or to a linear model on test had validation leads smaller than that spread.

The standard error of a paired difference over ``n`` units is ``std(d) / sqrt(n)``; for
cross-validation folds it is corrected for the overlap of their training sets (Nadeau and
Bengio, 2003: variance times ``1/n + n_test/n_train``), without which fold-to-fold spread
understates the noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

HOLDOUT_Z = 2.0  # a holdout-only candidate must beat the cross-validated best by this paired z
SIMPLER_Z = 1.0  # a simpler candidate within this many standard errors of the best is served


@dataclass
class Evidence:
    """Per-unit validation scores in the metric's own units (their mean is the validation
    score, or close to it), comparable between candidates of one run when ``kind`` and
    ``len(scores)`` agree. ``test_share``: for folds, each fold's validation part over its
    training part (``1 / (k - 1)`` for k-fold), for the overlap correction; 0 otherwise."""

    kind: str  # "folds", "blocks", "holdout examples", "out-of-fold examples"
    scores: np.ndarray
    test_share: float = 0.0

    def comparable(self, other: Evidence | None) -> bool:
        return (
            other is not None and other.kind == self.kind and len(other.scores) == len(self.scores)
        )


def folds(scores: list[float] | np.ndarray) -> Evidence:
    """Evidence from k cross-validation folds (their scores, in order).

    >>> folds([0.9, 0.8, 0.85]).test_share
    0.5
    """
    k = len(scores)
    return Evidence("folds", np.asarray(scores, dtype=float), 1.0 / max(k - 1, 1))


def examples(credit: np.ndarray, kind: str = "holdout examples") -> Evidence:
    """Evidence from examples scored once each (one holdout, or the out-of-fold predictions of
    a cross-validation: ``kind="out-of-fold examples"``): each example's credit (1/0 for a
    correct call, or a class-weighted credit whose mean is balanced accuracy: :func:`credit`)."""
    return Evidence(kind, np.asarray(credit, dtype=float))


def block_labels(position: np.ndarray, n_blocks: int) -> np.ndarray:
    """The block of each forecast origin: ``n_blocks`` runs of consecutive ``position`` (the
    origin's step within its validation part), as equal in size as the origins allow.

    >>> block_labels(np.array([0, 5, 1, 4, 2, 3]), 3).tolist()
    [0, 2, 0, 2, 1, 1]
    """
    order = np.argsort(position, kind="stable")
    labels = np.empty(len(position), dtype=np.int64)
    for b, part in enumerate(np.array_split(order, max(1, min(n_blocks, len(order))))):
        labels[part] = b
    return labels


def blocks(losses: np.ndarray, labels: np.ndarray) -> Evidence:
    """Evidence from forecast origins: each block's mean loss (``labels`` from
    :func:`block_labels`) is a unit. Neighbouring origins share most of their futures; blocks
    at least a horizon long are close to independent.

    >>> blocks(np.arange(6.0), np.array([0, 0, 1, 1, 2, 2])).scores.tolist()
    [0.5, 2.5, 4.5]
    """
    return Evidence("blocks", np.array([losses[labels == b].mean() for b in np.unique(labels)]))


def credit(labels: np.ndarray, called: np.ndarray, metric: str, n_classes: int) -> np.ndarray:
    """Per-example credit whose mean is the metric: correctness for accuracy; for balanced
    accuracy (and, as its nearest per-example form, macro-F1) correctness weighted by
    ``n / (K n_class)`` so that each class counts equally.

    >>> float(credit(np.array([0, 0, 0, 1]), np.array([0, 0, 0, 0]), "balanced_accuracy", 2).mean())
    0.5
    """
    right = (np.asarray(called) == np.asarray(labels)).astype(float)
    if metric == "accuracy":
        return right
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    present = int((counts > 0).sum())
    weight = len(labels) / (present * np.maximum(counts[labels], 1.0))
    return right * weight


def _as_list(evidence: Evidence | list[Evidence] | None) -> list[Evidence]:
    if evidence is None:
        return []
    return list(evidence) if isinstance(evidence, list | tuple) else [evidence]


def shared(a: Any, b: Any) -> tuple[Evidence, Evidence] | None:
    """The first evidence of ``a`` (an Evidence or a list, in order of preference) that ``b``
    has on the same units, and ``b``'s."""
    for mine in _as_list(a):
        for theirs in _as_list(b):
            if mine.comparable(theirs):
                return mine, theirs
    return None


def paired_se(a: Any, b: Any) -> tuple[float, float] | None:
    """The mean and standard error of ``a - b`` over the units they share (None when they
    cannot be paired or there are fewer than two units).

    >>> a, b = folds([0.9, 0.8, 0.85, 0.9]), folds([0.8, 0.8, 0.8, 0.8])
    >>> [round(x, 4) for x in paired_se(a, b)]
    [0.0625, 0.0366]
    """
    pair = shared(a, b)
    if pair is None or len(pair[0].scores) < 2:
        return None
    diff = pair[0].scores - pair[1].scores
    n = len(diff)
    variance = float(np.var(diff, ddof=1)) * (1.0 / n + pair[0].test_share)
    return float(diff.mean()), float(np.sqrt(max(variance, 0.0)))


def choose(rows: list[dict[str, Any]], plan: Any, complexity: dict[str, int]) -> tuple[str, str]:
    """The served candidate and the sentence that says why (rules in the module docstring).

    ``rows``: bake-off rows with ``candidate``, ``validation`` and optionally ``evidence``
    (an :class:`Evidence` or a list of them, preferred first) and ``cross_validated``; ``plan``: the advisor's plan (``metric``,
    ``greater_is_better``, ``tolerance``: absolute for scores, relative for errors; ``prefer``).
    """
    scored = [r for r in rows if "validation" in r and np.isfinite(r["validation"])]
    if not scored:
        raise ValueError("no candidate produced a validation score")
    sign = 1.0 if plan.greater_is_better else -1.0
    best = max(scored, key=lambda r: sign * r["validation"])
    notes: list[str] = []
    lead = _holdout_lead(scored, best, sign, notes)
    if lead is not best:  # holdout-only scores above the cross-validated best are not evidence
        scored = [
            r for r in scored
            if r.get("cross_validated") or sign * r["validation"] <= sign * lead["validation"]
        ]  # fmt: skip
        best = lead

    for row in scored:  # the evidence behind the choice, for metrics.json and the report
        paired = paired_se(best.get("evidence"), row.get("evidence")) if row is not best else None
        if paired:
            units = shared(best["evidence"], row["evidence"])[0]  # type: ignore[index]
            row["paired"] = {"with": best["candidate"], "units": len(units.scores),
                             "kind": units.kind, "behind_best": sign * paired[0],
                             "standard_error": paired[1]}  # fmt: skip

    def gap(row: dict) -> float:  # how far behind the best, >= 0 in the metric's direction
        return max(0.0, sign * (best["validation"] - row["validation"]))

    band = plan.tolerance if plan.greater_is_better else plan.tolerance * abs(best["validation"])
    band_text = (
        f"{plan.tolerance:g} {plan.metric}"
        if plan.greater_is_better
        else f"{plan.tolerance:.1%} of the best {plan.metric}"
    )

    def allowance(row: dict) -> tuple[float, str]:
        paired = paired_se(best.get("evidence"), row.get("evidence"))
        noise = SIMPLER_Z * paired[1] if paired else 0.0
        if noise > band:
            units = shared(best.get("evidence"), row.get("evidence"))[0]  # type: ignore[index]
            return noise, (
                f"one standard error ({noise:.4f}) of its paired difference with the best over "
                f"{len(units.scores):,} validation {units.kind}"
            )
        return band, band_text

    order = sorted(
        scored, key=lambda r: (complexity.get(r["candidate"], 99), -sign * r["validation"])
    )
    chosen, why = best, ""
    for row in order:
        if row is best:
            break
        limit, why = allowance(row)
        if gap(row) <= limit + 1e-12:  # the band's edge counts as inside it
            chosen = row
            break
    preferred = [
        r for r in scored if r["candidate"] == plan.prefer and gap(r) <= allowance(r)[0] + 1e-12
    ]
    if preferred and preferred[0] is not chosen:
        row = preferred[0]
        text = (
            f"{row['candidate']} ({row['validation']:.4f}) is within {allowance(row)[1]} of the "
            f"best ({best['validation']:.4f}) and is preferred: {plan.prefer_reason}"
        )
        return row["candidate"], " ".join([*notes, text])
    if chosen is best:
        others = [r for r in scored if r is not best]
        runner = max(others, key=lambda r: sign * r["validation"]) if others else None
        lead = (
            f", {abs(best['validation'] - runner['validation']):.4f} ahead of "
            f"{runner['candidate']}{_beyond(best, runner)}"
            if runner
            else ""
        )
        text = f"{best['candidate']} has the best validation {plan.metric} ({best['validation']:.4f}{lead})."
        return best["candidate"], " ".join([*notes, text])
    text = (
        f"{chosen['candidate']} ({chosen['validation']:.4f}) is within {why} of the best, "
        f"{best['candidate']} ({best['validation']:.4f}), and is simpler, so it is preferred."
    )
    return chosen["candidate"], " ".join([*notes, text])


def _beyond(best: dict, runner: dict) -> str:
    paired = paired_se(best.get("evidence"), runner.get("evidence"))
    if not paired or paired[1] == 0:
        return ""
    units = shared(best.get("evidence"), runner.get("evidence"))[0]  # type: ignore[index]
    return f", {abs(paired[0]) / paired[1]:.1f} standard errors on the same {units.kind}"


def _holdout_lead(scored: list[dict], best: dict, sign: float, notes: list[str]) -> dict:
    """Rule 1: the best, or the best cross-validated candidate when the best was scored on
    the holdout alone and does not beat it there by a paired z of HOLDOUT_Z."""
    crossed = [r for r in scored if r.get("cross_validated")]
    if not crossed or best.get("cross_validated"):
        return best
    rival = max(crossed, key=lambda r: sign * r["validation"])
    paired = paired_se(best.get("evidence"), rival.get("evidence"))
    if paired is None:
        return best
    mean, se = paired
    z = sign * mean / se if se > 0 else (np.inf if sign * mean > 0 else 0.0)
    if z >= HOLDOUT_Z:
        notes.append(
            f"{best['candidate']} beats {rival['candidate']} on the same holdout (paired z {z:.1f})."
        )
        return best
    notes.append(
        f"{rival['candidate']} (cross-validated {rival['validation']:.4f}) stands as the best: "
        f"{best['candidate']} scored {best['validation']:.4f} on the holdout alone, and on the "
        f"same holdout examples it is not clearly better (paired z {z:.1f} < {HOLDOUT_Z:g})."
    )
    return rival
