"""Regret benchmark: how much worse is the model layerwise serves than the best model it trained?

Every application's benchmark datasets are run once (seed 0) with layerwise's defaults and a
time limit per fit. From each run's metrics (what metrics.json holds) this reads the served
(chosen) candidate's test score and every candidate's test score in the same run, on the
metric the advisor chooses by, and reports

    regret = best - served, in the metric's direction (positive: the advisor served a worse
    model than one it had trained; zero: it served the best), absolute and as % of |best|,

and how often a classical model was served. Targets: mean regret <= 0.5% of the metric, none
above 2%.

- tables: scikit-learn's breast_cancer, wine, digits, diabetes and palmerpenguins; one
  stratified 25% test split (seed 0) passed as test_data.
- images: digits as images, generated shapes and scans (``layerwise.data.image_sources``),
  the splits of benchmarks/vision.py.
- texts: rt-polarity, one stratified 90/10 split (seed 0); --quick: 3,000 sentences.
- forecasting: ETTh1 (first 14,400 rows, 60/20/20 in time, horizon 96) and statsmodels' co2
  (--quick) or co2, sunspots, nile.
- anomaly: the 8 ADBench sets unsupervised (ADBench's protocol: fit on all of X, ROC-AUC
  against y on the same rows). Without labels there is no validation to choose on: the served
  default (the ensemble) is compared with the best single detector, so regret can be negative.
- recommendation: the generated logs of benchmarks/recommendation.py (NDCG@10), and the rating
  models' RMSE where the run has them.
- speech: FSDD official split (takes 0-4 test), without the transcriber.
- language generation: tinyshakespeare (full mode only); its run scores candidates on the
  validation text only, so its test regret is "not recorded".

    python benchmarks/regret.py --quick      # under 20 minutes on 2 CPU cores
    python benchmarks/regret.py              # full sets, longer time limits
    python benchmarks/regret.py --only tables images
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt, header, markdown_table, progress, write_result

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
PACKAGES = ("layerwise", "torch", "numpy", "pandas", "scikit-learn", "lightgbm", "statsmodels")
SEED = 0
APPS = ("tables", "images", "texts", "anomaly", "recommendation", "speech", "forecasting",
        "language")  # fmt: skip
CLASSICAL_FAMILIES = ("classical", "baseline")
TARGET_MEAN_PCT, TARGET_MAX_PCT = 0.5, 2.0
SIMPLER = 1.0  # the setting in force (layerwise.core.selection.SIMPLER_Z, or --simpler-z)
Z_LEVELS = (0.0, 0.5, 1.0, 2.0)  # the simplicity preference's settings compared on the same runs
CHOICES: list[tuple[frozenset, dict[float, str]]] = []  # what each z would serve, per choice


def record_choices() -> None:
    """Wrap the core rule so that every choice in this process also records what it would
    have served at each of Z_LEVELS (same rows: same trained models, so the comparison has no
    training noise), then returns the choice at the configured setting."""
    from layerwise.core import selection

    original = selection.choose

    def recording(rows: list[dict], plan: Any, complexity: dict) -> tuple[str, str]:
        configured, served = selection.SIMPLER_Z, {}
        try:
            for z in Z_LEVELS:
                selection.SIMPLER_Z = z
                served[z] = original([dict(r) for r in rows], plan, complexity)[0]
        finally:
            selection.SIMPLER_Z = configured
        CHOICES.append((frozenset(r["candidate"] for r in rows if "validation" in r), served))
        return original(rows, plan, complexity)

    selection.choose = recording


@dataclass
class Row:
    """One dataset's regret: served vs best candidate on the test set of the same run."""

    app: str
    dataset: str
    metric: str = ""
    greater_is_better: bool = True
    served: str = ""
    family: str = ""
    served_score: float | None = None
    best: str = ""
    best_score: float | None = None
    seconds: float | None = None
    candidates: int = 0
    note: str = ""
    notes: list[str] = field(default_factory=list)
    by_z: dict[float, float] = field(default_factory=dict)  # regret % had z been each level

    @property
    def regret(self) -> float | None:
        if self.served_score is None or self.best_score is None:
            return None
        diff = self.best_score - self.served_score
        return diff if self.greater_is_better else -diff

    @property
    def regret_pct(self) -> float | None:
        r = self.regret
        if r is None or not self.best_score:
            return None
        return 100.0 * r / abs(self.best_score)


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if out != out else out


def from_metrics(app: str, dataset: str, metrics: dict, seconds: float, metric: str | None = None,
                 note: str = "") -> Row:  # fmt: skip
    """A row from a run's metrics.json: the served candidate's test score on the choosing metric
    and the best test score among the candidates that recorded one."""
    metric = metric or metrics["metric"]
    chosen = metrics["chosen"]
    cands = metrics.get("candidates", {})
    row = Row(app, dataset, metric, bool(metrics.get("greater_is_better", True)), chosen,
              cands.get(chosen, {}).get("family", "?"), seconds=seconds, note=note)  # fmt: skip
    scores = {}
    for name, entry in cands.items():
        test = entry.get("test")
        if isinstance(test, dict) and _num(test.get(metric)) is not None:
            scores[name] = _num(test[metric])
    row.candidates = len(scores)
    skipped = [n for n, e in cands.items() if "skipped" in e]
    if skipped:
        row.notes.append("skipped: " + ", ".join(skipped))
    served = scores.get(chosen, _num(metrics.get("test", {}).get(metric)))
    if served is None or not scores:
        row.notes.append("candidates' test scores not recorded")
        row.served_score = served
        return row
    pick = max if row.greater_is_better else min
    row.best = pick(scores, key=scores.get)
    row.served_score, row.best_score = served, scores[row.best]
    if scores[row.best] == served:
        row.best = chosen if chosen in scores else row.best
    choice = next((c for names, c in reversed(CHOICES) if chosen in names and names <= set(cands)
                   and c.get(SIMPLER) == chosen), None)  # fmt: skip
    if choice and row.best_score:
        sign = 1.0 if row.greater_is_better else -1.0
        row.by_z = {z: 100.0 * sign * (row.best_score - scores.get(name, served)) /
                    abs(row.best_score) for z, name in choice.items()}  # fmt: skip
    return row


def fit(data: Any, task: str, **options: Any) -> tuple[Any, float]:
    import layerwise

    CHOICES.clear()
    with tempfile.TemporaryDirectory(prefix="lw-regret-") as tmp:
        started = time.perf_counter()
        run = layerwise.fit(data, task=task, output_dir=tmp, verbose=False, report=False,
                            seed=SEED, **options)  # fmt: skip
        return run, time.perf_counter() - started


# ---- applications ---------------------------------------------------------------------------
def tables(quick: bool) -> Iterator[Row]:
    from sklearn.model_selection import train_test_split
    from tabular import load_datasets

    limit = 60.0 if quick else 300.0
    for data in load_datasets(quick=False):
        stratify = data.frame[data.target] if data.kind == "classification" else None
        train, test = train_test_split(data.frame, test_size=0.25, random_state=SEED,
                                       stratify=stratify)  # fmt: skip
        run, seconds = fit(train, f"tabular-{data.kind}", target=data.target, test_data=test,
                           time_limit=limit)  # fmt: skip
        yield from_metrics("tables", data.name, run.metrics, seconds, note=f"limit {limit:g} s")


def images(quick: bool) -> Iterator[Row]:
    from vision import datasets

    limit = 60.0 if quick else 300.0
    for name, train, test in datasets(quick):
        run, seconds = fit(train, "image-classification", test_data=test, time_limit=limit)
        yield from_metrics("images", f"{name} ({len(train)}+{len(test)})", run.metrics, seconds,
                           note=f"limit {limit:g} s")  # fmt: skip


def texts(quick: bool) -> Iterator[Row]:
    folder = SHARED / "rt-polarity"
    if not (folder / "rt-polarity.pos").exists():
        yield Row("texts", "rt-polarity", note=f"absent ({folder}): skipped")
        return
    from sklearn.model_selection import train_test_split
    from text import splits

    from layerwise.data.text import read_texts

    files = {"pos": str(folder / "rt-polarity.pos"), "neg": str(folder / "rt-polarity.neg")}
    data = read_texts(class_files=files)
    if quick:
        keep, _ = train_test_split(np.arange(len(data)), train_size=3000, random_state=SEED,
                                   stratify=data.labels)  # fmt: skip
        data = data.subset(keep)
    (train, test), limit = splits(data.labels, 10, fixed=True)[0], 90.0 if quick else 600.0
    run, seconds = fit(data.subset(train), "text-classification", test_data=data.subset(test),
                       time_limit=limit)  # fmt: skip
    yield from_metrics("texts", f"rt-polarity ({len(data)} sentences, 90/10)", run.metrics,
                       seconds, note=f"limit {limit:g} s")  # fmt: skip


def forecasting(quick: bool) -> Iterator[Row]:
    import pandas as pd

    from layerwise.tasks.forecasting.sources import statsmodels_series

    ett = SHARED / "ett" / "ETTh1.csv"
    if ett.exists():
        # --quick: the first 5,000 rows and horizon 24 (one PatchTST epoch on the standard
        # 14,400 rows at horizon 96 takes minutes on 2 loaded cores, past any time limit).
        rows, horizon = (5_000, 24) if quick else (14_400, 96)
        limit = 120.0 if quick else 900.0
        frame = pd.read_csv(ett).iloc[:rows]
        run, seconds = fit(frame, "forecasting", horizon=horizon, val_size=0.2, test_size=0.2,
                           time_column="date", time_limit=limit)  # fmt: skip
        yield from_metrics("forecasting", f"ETTh1 ({rows:,} rows), horizon {horizon}",
                           run.metrics, seconds, note=f"limit {limit:g} s")  # fmt: skip
    else:
        yield Row("forecasting", "ETTh1", note=f"absent ({ett}): skipped")
    limit = 30.0 if quick else 120.0
    for name in ["co2"] if quick else ["co2", "sunspots", "nile"]:
        run, seconds = fit(statsmodels_series(name), "forecasting", val_size=0.2, test_size=0.2,
                           time_limit=limit)  # fmt: skip
        yield from_metrics("forecasting", f"{name}, horizon {run.metrics.get('horizon')}",
                           run.metrics, seconds, note=f"limit {limit:g} s")  # fmt: skip


def anomaly(quick: bool) -> Iterator[Row]:
    folder = SHARED / "adbench"
    paths = sorted(folder.glob("*.npz"), key=lambda p: p.stem.lower())
    if not paths:
        yield Row("anomaly", "ADBench", note=f"absent ({folder}): skipped")
        return
    from anomaly import load, training_scores

    from layerwise.tasks.anomaly_detection.scoring import ranking_metrics

    limit = 60.0 if quick else 300.0
    for path in paths:
        frame, y = load(path)
        run, seconds = fit(frame, "anomaly-detection", time_limit=limit)
        scores = training_scores(run.task, frame)
        roc = {k: float(ranking_metrics(y, s)["roc_auc"]) for k, s in scores.items()}
        chosen = run.chosen
        singles = {k: v for k, v in roc.items() if k != chosen and k != "ensemble"}
        row = Row("anomaly", path.stem.split("_", 1)[-1], "roc_auc (all rows, unsupervised)",
                  True, chosen, run.metrics["candidates"].get(chosen, {}).get("family", "?"),
                  roc.get(chosen), seconds=seconds, candidates=len(roc),
                  note=f"best single detector; limit {limit:g} s")  # fmt: skip
        if singles:
            row.best = max(singles, key=singles.get)
            row.best_score = singles[row.best]
        yield row


def recommendation(quick: bool) -> Iterator[Row]:
    from layerwise.tasks.recommendation.sources import latent_log

    size = {"n_users": 300, "n_items": 500, "mean_per_user": 40} if quick else {}
    limit = 60.0 if quick else 300.0
    logs = [("latent log (series, drift)", latent_log(seed=SEED, **size)),
            ("latent log (no sequence)", latent_log(seed=SEED, sequential=False, **size))]  # fmt: skip
    if quick:
        logs = logs[:1]
    for name, log in logs:
        run, seconds = fit(log, "recommendation", time_limit=limit)
        label = f"{name}{', quick size' if quick else ''}"
        yield from_metrics("recommendation", label, run.metrics, seconds, note=f"limit {limit:g} s")
        rating = run.metrics.get("rating")
        if rating:
            sub = {"metric": "rmse", "greater_is_better": False, "chosen": rating["chosen"],
                   "candidates": rating["candidates"], "test": {}}  # fmt: skip
            yield from_metrics("recommendation", f"{label}: ratings", sub, seconds,
                               note="same run")  # fmt: skip


def speech(quick: bool) -> Iterator[Row]:
    from layerwise.tasks.speech_recognition.sources import fsdd_path

    root = fsdd_path() or fsdd_path(SHARED / "fsdd" / "recordings")
    if root is None:
        yield Row("speech", "FSDD", note=f"absent ({SHARED / 'fsdd'}): skipped")
        return
    from layerwise.data.speech import read_clips

    clips = read_clips(root, "{label}_{speaker}_{take}.wav")
    take = np.array([int(n.rsplit("_", 1)[1].split(".")[0]) for n in clips.names])
    limit = 90.0 if quick else 600.0
    run, seconds = fit(clips.subset(np.flatnonzero(take >= 5)), "speech-recognition",
                       test_data=clips.subset(np.flatnonzero(take < 5)), transcriber=False,
                       time_limit=limit)  # fmt: skip
    yield from_metrics("speech", "FSDD official split", run.metrics, seconds,
                       note=f"limit {limit:g} s, no transcriber")  # fmt: skip


def language(quick: bool) -> Iterator[Row]:
    path = SHARED / "tinyshakespeare" / "input.txt"
    if quick:
        yield Row("language", "tinyshakespeare", note="full mode only (a GPT needs minutes)")
        return
    if not path.exists():
        yield Row("language", "tinyshakespeare", note=f"absent ({path}): skipped")
        return
    run, seconds = fit(str(path), "language-generation", time_limit=300.0)
    row = from_metrics("language", "tinyshakespeare", run.metrics, seconds, note="limit 300 s")
    row.notes = ["test not recorded: candidates are scored on the validation text only"]
    row.served_score, row.best_score, row.best = None, None, ""
    yield row


RUNNERS: dict[str, Callable[[bool], Iterator[Row]]] = {
    "tables": tables, "images": images, "texts": texts, "forecasting": forecasting,
    "anomaly": anomaly, "recommendation": recommendation, "speech": speech, "language": language,
}  # fmt: skip


# ---- output ---------------------------------------------------------------------------------
def table(rows: list[Row]) -> str:
    head = ["application", "dataset", "metric", "served (family)", "served test", "best candidate",
            "best test", "regret", "regret % of best", "candidates scored", "run s", "notes"]  # fmt: skip
    out = []
    for r in rows:
        arrow = "↑" if r.greater_is_better else "↓"
        recorded = r.regret is not None
        out.append([
            r.app, r.dataset, f"{r.metric} {arrow}" if r.metric else "—",
            f"{r.served} ({r.family})" if r.served else "—",
            fmt(r.served_score, 4), r.best or "—", fmt(r.best_score, 4),
            fmt(r.regret, 4) if recorded else "not recorded" if r.served else "—",
            f"{r.regret_pct:.2f}%" if r.regret_pct is not None else "—",
            r.candidates or "—", f"{r.seconds:.0f}" if r.seconds is not None else "—",
            "; ".join([*r.notes, r.note] if r.note else r.notes),
        ])  # fmt: skip
    return markdown_table(head, out)


def summary(rows: list[Row]) -> str:
    chosen_by_validation = [r for r in rows if r.regret_pct is not None and r.app != "anomaly"]
    lines = []
    for label, subset in (("datasets with a validation choice", chosen_by_validation),
                          ("all datasets incl. unsupervised anomaly",
                           [r for r in rows if r.regret_pct is not None])):  # fmt: skip
        if not subset:
            continue
        pct = np.array([r.regret_pct for r in subset])
        worst = subset[int(np.argmax(pct))]
        above = [
            f"{r.dataset} ({r.regret_pct:.2f}%)" for r in subset if r.regret_pct > TARGET_MAX_PCT
        ]
        met = pct.mean() <= TARGET_MEAN_PCT and not above
        lines.append(
            f"- **{label}** ({len(subset)}): mean regret {pct.mean():.2f}% of the best score, "
            f"median {np.median(pct):.2f}%, max {pct.max():.2f}% ({worst.app}: {worst.dataset}); "
            f"served the best candidate on {int(np.sum(pct <= 0))}/{len(subset)}; above "
            f"{TARGET_MAX_PCT:g}%: {', '.join(above) or 'none'}. Targets (mean <= "
            f"{TARGET_MEAN_PCT:g}%, none above {TARGET_MAX_PCT:g}%): **{'met' if met else 'not met'}**."
        )
    compared = [r for r in chosen_by_validation if r.by_z]
    if compared:
        parts = []
        for z in Z_LEVELS:
            pct = np.array([r.by_z[z] for r in compared])
            parts.append(f"z {z:g}: mean {pct.mean():.2f}%, max {pct.max():.2f}%, "
                         f"{int(np.sum(pct > TARGET_MAX_PCT))} above {TARGET_MAX_PCT:g}%")  # fmt: skip
        lines.append(
            f"- **The simplicity preference** (a simpler model served within z standard errors "
            f"of its paired difference with the best; layerwise uses z {SIMPLER:g}), on the same "
            f"trained models of {len(compared)} datasets: " + "; ".join(parts) + "."
        )
    served = [r for r in rows if r.served]
    classical = [r for r in served if r.family in CLASSICAL_FAMILIES]
    families: dict[str, int] = {}
    for r in served:
        families[r.family] = families.get(r.family, 0) + 1
    lines.append(
        f"- Classical model served on {len(classical)}/{len(served)} runs ("
        + ", ".join(f"{k} {v}" for k, v in sorted(families.items()))
        + "; 'baseline' counts as classical)."
    )
    missing = [f"{r.app}: {r.dataset}" for r in rows if r.regret is None]
    if missing:
        lines.append(f"- No regret figure for: {'; '.join(missing)} (see notes).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sets, shorter time limits")
    parser.add_argument("--only", nargs="+", choices=APPS, help="only these applications")
    parser.add_argument("--simpler-z", type=float, default=None,
                        help="the selection rule's standard errors within which a simpler model "
                        "is served (layerwise.core.selection.SIMPLER_Z; to measure its effect)")  # fmt: skip
    args = parser.parse_args(argv)
    name = "regret"
    from layerwise.core import selection

    if args.simpler_z is not None:
        selection.SIMPLER_Z = args.simpler_z
        name = f"regret-z{args.simpler_z:g}"
    global SIMPLER
    SIMPLER = selection.SIMPLER_Z
    record_choices()
    started, rows, apps = time.perf_counter(), [], list(args.only or APPS)
    for k, app in enumerate(apps):
        progress(f"{app} ...")
        try:
            for row in RUNNERS[app](args.quick):
                rows.append(row)
                progress(f"  {row.dataset}: served {row.served} {fmt(row.served_score, 4)}, best "
                         f"{row.best} {fmt(row.best_score, 4)}, regret {fmt(row.regret, 4)} "
                         f"({fmt(row.regret_pct, 2)}%), {fmt(row.seconds, 0)} s")  # fmt: skip
        except Exception as error:  # one application failing must not lose the others' rows
            progress(traceback.format_exc())
            rows.append(Row(app, "(run failed)", note=f"{type(error).__name__}: {error}"[:200]))
        page = render(rows, time.perf_counter() - started, apps[: k + 1], apps)
        path = write_result(name, page, args.quick)
    print(path.read_text())
    progress(f"wrote {path}")
    return 0


def render(rows: list[Row], seconds: float, done: list[str], apps: list[str]) -> str:
    """The result page; while applications are still to run it says so at the top (a partial
    page is written after each application, so an interrupted run leaves what it measured)."""
    partial = "" if done == apps else (
        f"**PARTIAL**: {len(done)} of {len(apps)} applications measured so far "
        f"({', '.join(done)}); still to run: {', '.join(a for a in apps if a not in done)}.\n\n"
    )  # fmt: skip
    return "\n".join([
        header("Regret: the served model against the best candidate of the same run", PACKAGES)
        + partial,
        "Regret = best candidate's test score - served model's test score, in the metric's "
        "direction (positive: a worse model was served than one trained in the same run), on the "
        "metric the advisor chooses by; % is of |best|. One run per dataset, seed 0, "
        "layerwise's defaults with a time limit per fit. Anomaly (ADBench, unsupervised): there "
        "are no labels to choose on, so the served default is compared with the best single "
        "detector (ROC-AUC over all rows, ADBench's protocol) and regret can be negative.",
        "",
        table(rows),
        "",
        summary(rows),
        f"- Whole benchmark: {seconds:.0f} s.",
    ])  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
