"""How ``--tune`` shows in a run: a section of decision.md and a plot of score by trial in
report.html, both from the search's record (``tuning.json``, plain JSON)."""

from __future__ import annotations

import html
from typing import Any

from layerwise.core.bakeoff import markdown_table
from layerwise.runs.folder import RunFolder

TUNING_FILE = "tuning.json"  # tuning.py writes it (the same name)


def _value(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def _params(params: dict[str, Any]) -> str:
    def one(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return ", ".join(f"{k}={one(v)}" for k, v in params.items())


def _counts(trials: list[dict]) -> str:
    states = [t["state"] for t in trials]
    parts = [f"{states.count(s)} {w}" for s, w in (("complete", "finished"), ("pruned", "pruned"),
             ("stopped", "stopped by the time limit"), ("failed", "failed")) if s in states]  # fmt: skip
    return f"{len(trials)} trials run" + (f" ({', '.join(parts)})" if parts else "")


def tuning_markdown(record: dict[str, Any], chosen: str) -> str:
    """decision.md's section on the search: what was searched and how, the trials, the best
    configuration against the untuned one on the bake-off's folds and on a fresh split, how the
    optimism of the best of many trials is taken out, and the outcome."""
    lines = ["", "## Tuning (--tune)", ""]
    base = record.get("family")
    if base is None:
        return "\n".join([*lines, f"Nothing was searched: {record.get('why', '')}.", ""])
    trials, metric = record.get("trials", []), record.get("metric")
    lines += [
        f"Searched: **{base}** ({record.get('why')}), up to {record.get('trials_asked')} trials "
        f"of Optuna's {record.get('sampler')} on the bake-off's {record.get('folds')} folds, "
        f"each scored fold by fold; pruner: {record.get('pruner')}. {_counts(trials)}.",
        "",
    ]
    untuned, best, fresh = record.get("untuned", {}), record.get("best"), record.get("fresh_split")
    fresh_cell = f"on a fresh split (seed {fresh['seed']})" if fresh else "on a fresh split"
    table = [[f"untuned {base}", _value(untuned.get("value")),
              _value(_mean(fresh["untuned"])) if fresh else "-", _params(untuned.get("params", {}))]]  # fmt: skip
    if best is not None:
        table.append([f"best: trial {best['trial']}", _value(best["value"]),
                      _value(_mean(fresh["tuned"])) if fresh else "-", _params(best["params"])])  # fmt: skip
    head = ["configuration", f"{metric}, bake-off folds", f"{metric}, {fresh_cell}", "parameters"]
    lines += [*markdown_table(head, table), ""]
    if best is not None and fresh is not None:
        name = record.get("row", f"{base}-tuned")
        se = fresh.get("standard_error")
        lines += [
            f"The best of {len(trials)} trials on the same folds is flattered by the choice among "
            f"them. On a fresh split of the training rows, which the search never scored, it "
            f"leads the untuned {base} by {fresh['lead']:+.4f}"
            + (f" (± {se:.4f}, paired)" if isinstance(se, int | float) else "")
            + f"; so {name} competes at {_value(record.get('competes_with'))}: its bake-off fold "
            f"scores lowered by the optimism, {record.get('optimism', 0.0):.4f}. Ranked half a "
            f"step more complex than {base}, it is served only when the selection rule's paired "
            f"evidence puts it ahead by more than the noise.",
            "",
            f"**Outcome:** {name} was chosen."
            if chosen == name
            else f"**Outcome:** {name} was not chosen; {chosen} was.",
            "",
        ]
    lines += [f"- {note}" for note in record.get("notes", [])]
    if trials:
        rows = [[str(i + 1), t["state"], str(len(t["folds"])), _value(t["value"]),
                 f"{t['seconds']:.1f}", _params(t["params"])] for i, t in enumerate(trials)]  # fmt: skip
        head = ["trial", "state", "folds", f"mean {metric}", "seconds", "parameters"]
        lines += ["", *markdown_table(head, rows)]
    return "\n".join(lines) + "\n"


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def render(run: RunFolder) -> str | None:
    """report.html's plot of score by trial (None for a run without tuning)."""
    if not run.exists(TUNING_FILE):
        return None
    from layerwise.runs import plots

    record = run.read_json(TUNING_FILE)
    if not isinstance(record, dict) or not isinstance(record.get("trials"), list):
        return None
    untuned = record.get("untuned") if isinstance(record.get("untuned"), dict) else {}
    baseline = untuned.get("value") if isinstance(untuned.get("value"), int | float) else None
    metric = str(record.get("metric") or "score")
    chart = plots.trials_chart(
        record["trials"], metric, bool(record.get("greater_is_better", True)), baseline
    )
    if not chart:
        return None
    note = (
        f"<p class=\"note\">Each trial's mean {html.escape(metric)} on the bake-off's folds "
        f"({html.escape(str(record.get('family')))}); a pruned trial is shown at its running "
        "mean when the pruner stopped it. The table of trials is in the decision above.</p>"
    )
    return plots.img_tag(chart, "score by trial") + note


# The sections this application adds to report.html, in page order (Task.report_sections).
SECTIONS = [("Tuning: score by trial", render)]
