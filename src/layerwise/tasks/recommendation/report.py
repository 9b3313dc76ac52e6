"""Report sections for recommendation runs: where each test user's held-out item ranked under
every candidate (hit rate at each cut-off), the chosen model's scores of what it recommends
against other items, how popular the recommended items are, and example users with their
recent history and recommendations.

All read ``recommend_plots.json``, written by the recommendation task::

    {"chosen": "ease", "n_items": 1682,
     "test_ranks": {"ease": [3, 120, 1], "most-popular": [40, 700, 12]},
     "scores": {"recommended": [2.1, 1.7], "other": [0.1, -0.3]},
     "popularity": {"catalogue": [583, 0, 12], "recommended": [583, 12]},
     "examples": [{"user": "196", "history": ["242", "302"], "held": ["51"],
                   "recommended": [{"item": "51", "score": 1.23, "hit": true}]}]}
"""

from __future__ import annotations

import html
import json

import numpy as np

from layerwise.runs import plots
from layerwise.runs.folder import RunFolder
from layerwise.tasks.recommendation.outputs import PLOTS  # the names it writes

CUTOFF = 10


def _field(run: RunFolder, name: str):
    """``recommend_plots.json[name]``, or None when the file or the field is missing."""
    if not run.exists(PLOTS):
        return None
    data = json.loads(run.read_text(PLOTS))
    return data.get(name) if isinstance(data, dict) else None


def hit_rates(ranks, ks: np.ndarray) -> np.ndarray:
    """Share of users whose held-out item ranked ``k`` or better, for each ``k``.

    >>> hit_rates([1, 3, 10, 50], np.array([1, 10, 100])).tolist()
    [0.25, 0.75, 1.0]
    """
    ranks = np.sort(np.asarray(ranks, dtype=float))
    return np.searchsorted(ranks, ks, side="right") / max(len(ranks), 1)


def rank_curves(run: RunFolder) -> str | None:
    """HR@k against k (log axis) for every candidate; the chosen one bold, k = 10 marked."""
    ranks = _field(run, "test_ranks")
    if not isinstance(ranks, dict) or not any(ranks.values()):
        return None
    ranks = {str(name): r for name, r in ranks.items() if r}
    chosen = str(_field(run, "chosen"))
    n_items = int(_field(run, "n_items") or max(max(r) for r in ranks.values()))
    ks = np.unique(np.geomspace(1, max(n_items, 2), 300).round().astype(int))
    fig, (ax,) = plots._figure(7.5, 4.0)
    at_cutoff = {}
    others = [c for c in plots.CYCLE if c != plots.GREEN]  # green is the chosen one's
    for i, (name, values) in enumerate(ranks.items()):
        rates = hit_rates(values, ks)
        at_cutoff[name] = float(hit_rates(values, np.array([CUTOFF]))[0])
        bold = name == chosen
        ax.plot(
            ks, rates, color=plots.GREEN if bold else others[i % len(others)],
            linewidth=2.6 if bold else 1.2, zorder=3 if bold else 2,
            label=f"{name}{' (chosen)' if bold else ''}  HR@{CUTOFF} {at_cutoff[name]:.3f}",
        )  # fmt: skip
    ax.axvline(CUTOFF, color=plots.GREY, linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlim(1, max(n_items, 2))
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("k (length of the recommendation list, log scale)")
    ax.set_ylabel(f"HR@k ({len(next(iter(ranks.values())))} test users)")
    ax.set_title("Share of test users whose held-out item is in the top k", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    best = max(at_cutoff, key=at_cutoff.get)
    note = (
        f'<p class="note">Each test user\'s held-out item is ranked among the {n_items} '
        "items minus those the user already had; a curve that rises early finds it near "
        f"the top. At k = {CUTOFF} (dashed) {html.escape(best)} leads with "
        f"{at_cutoff[best]:.1%}; a random order would reach about {CUTOFF / n_items:.1%}.</p>"
    )
    return note + plots.img_tag(
        plots._encode(fig), "hit rate at each cut-off k for every candidate"
    )


def score_distribution(run: RunFolder) -> str | None:
    """Overlaid histograms of the chosen model's scores of its top-10 items and of others."""
    scores = _field(run, "scores")
    if not isinstance(scores, dict):
        return None
    top = np.asarray(scores.get("recommended") or [], dtype=float)
    other = np.asarray(scores.get("other") or [], dtype=float)
    top, other = top[np.isfinite(top)], other[np.isfinite(other)]
    if not len(top) or not len(other):
        return None
    both = np.concatenate([top, other])
    low, high = np.quantile(both, [0.001, 0.999])
    bins = np.linspace(low, high if high > low else low + 1, 60)
    fig, (ax,) = plots._figure(7.5, 3.2)
    for values, name, colour in ((other, "other unseen items", plots.GREY),
                                 (top, f"top-{CUTOFF} recommendations", plots.GREEN)):  # fmt: skip
        ax.hist(np.clip(values, bins[0], bins[-1]), bins=bins, density=True, color=colour,
                alpha=0.55, label=f"{name} (n={len(values)})")  # fmt: skip
    ax.set_xlabel("score given by the chosen model")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    chosen = html.escape(str(_field(run, "chosen") or "the chosen model"))
    overlap = float(np.mean(other >= np.quantile(top, 0.1)))
    note = (
        f'<p class="note">Scores {chosen} gives the items it recommends (green) and random '
        f"items the same users had not seen (grey). {overlap:.1%} of the other items score "
        "above the lowest 10% of recommendations: the smaller, the more sharply the model "
        "separates what it recommends.</p>"
    )
    return note + plots.img_tag(plots._encode(fig), "scores of recommended and other items")


def popularity(run: RunFolder) -> str | None:
    """Distribution of training counts of recommended items against the whole catalogue."""
    data = _field(run, "popularity")
    if not isinstance(data, dict) or not data.get("catalogue") or not data.get("recommended"):
        return None
    catalogue = np.asarray(data["catalogue"], dtype=float)
    recommended = np.asarray(data["recommended"], dtype=float)
    head = np.sort(catalogue)[::-1][max(1, int(np.ceil(0.1 * len(catalogue)))) - 1]
    share = float(np.mean(recommended >= head))
    held = float(catalogue[catalogue >= head].sum() / max(catalogue.sum(), 1))
    top = max(catalogue.max(), recommended.max(), 1)
    bins = np.linspace(0, np.log1p(top), 40)
    fig, (ax,) = plots._figure(7.5, 3.2)
    for values, name, colour in ((catalogue, "catalogue (each item once)", plots.GREY),
                                 (recommended, f"top-{CUTOFF} recommendations", plots.GREEN)):  # fmt: skip
        weights = np.full(len(values), 1 / len(values))
        ax.hist(np.log1p(values), bins=bins, weights=weights, color=colour, alpha=0.55,
                label=name)  # fmt: skip
    ticks = [t for t in (0, 1, 10, 100, 1000, 10_000, 100_000) if t <= top]
    ax.set_xticks(np.log1p(ticks))
    ax.set_xticklabels([str(t) for t in ticks])
    ax.set_xlabel("training interactions of the item (log scale)")
    ax.set_ylabel("share")
    ax.legend(fontsize=8)
    note = (
        f'<p class="note">{share:.1%} of the recommendations are among the 10% most popular '
        f"items, which hold {held:.1%} of the training interactions. Near 100% means the "
        "model mostly repeats the bestsellers; the nearer to 10%, the further it reaches "
        "into the long tail.</p>"
    )
    return note + plots.img_tag(
        plots._encode(fig), "popularity of recommended items and of the catalogue"
    )


def examples(run: RunFolder) -> str | None:
    """A table of example users: recent history, held-out items, top recommendations."""
    rows = _field(run, "examples")
    if not isinstance(rows, list) or not rows:
        return None
    e = html.escape
    head = ["user", "recent history (latest last)", "held out", "recommended (score)"]
    body = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        recs = []
        for rec in row.get("recommended") or []:
            text = f"{e(str(rec.get('item')))} ({_score(rec.get('score'))})"
            if rec.get("hit"):
                text = f'<b style="color:{plots.GREEN}">{text} ✓</b>'
            recs.append(text)
        cells = [
            e(str(row.get("user", ""))),
            e(", ".join(str(i) for i in row.get("history") or [])),
            e(", ".join(str(i) for i in row.get("held") or [])),
            ", ".join(recs),
        ]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    note = (
        '<p class="note">Hits (a recommendation that is a held-out item) in bold green. '
        "History shows the last items before the held-out ones.</p>"
    )
    table = "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
    return note + table + "".join(body) + "</table>"


def _score(value) -> str:
    try:
        return f"{float(value):.2f}"
    except (TypeError, ValueError):
        return "–"


# The sections this application adds to report.html, in page order (Task.report_sections).
SECTIONS = [
    ("Where the held-out item ranked", rank_curves),
    ("Scores of recommended items", score_distribution),
    ("Popularity of what is recommended", popularity),
    ("Example recommendations", examples),
]
