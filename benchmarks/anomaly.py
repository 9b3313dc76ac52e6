"""Anomaly benchmark: layerwise anomaly-detection with its defaults on the 8 ADBench datasets
in ../shared/datasets/adbench, beside scikit-learn's IsolationForest in the same run.

Unsupervised (ADBench's protocol): fit on all of X without y, score every row, ROC-AUC and
PR-AUC against y. Every layerwise detector and the served default (the ensemble) are shown;
kNN scores a training row without counting the row itself. The IsolationForest baseline is
scikit-learn's with its defaults and the same seed, on the raw X.

Fraud mode: 5% of the labels given (stratified by seed), the rest blank; layerwise serves what
its labelled rows choose (test_size 0: every given label is used); scored by PR-AUC on the
95% of rows whose labels were hidden, beside LightGBM alone trained on the same 5% (classes
weighted, raw features; a constant score when the 5% hold one class only).

Fraud mode trains LightGBM, CatBoost (when installed) and a focal-loss MLP and their greedy
weighted ensemble; "fraud ensemble" counts the seeds where it mixed two or more models, and
"ensemble vs best single" what the selection rule served of the two ("none": no ensemble).

    python benchmarks/anomaly.py               # 5 seeds (3 in fraud mode): results/anomaly.md
    python benchmarks/anomaly.py --quick       # 1 seed, unsupervised only
    python benchmarks/anomaly.py --fraud-only  # the fraud part alone: results/anomaly-fraud.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt, header, markdown_table, progress, write_result

ADBENCH = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adbench"
PACKAGES = ("layerwise", "torch", "numpy", "scikit-learn", "lightgbm", "catboost")
DETECTORS = ["isolation-forest", "knn", "robust-gaussian", "autoencoder", "deep-svdd", "ensemble"]


def load(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    with np.load(path, allow_pickle=False) as arrays:
        x, y = arrays["X"].astype(np.float64), arrays["y"].astype(int)
    return pd.DataFrame(x, columns=[f"x{j}" for j in range(x.shape[1])]), y


def fit(frame: pd.DataFrame, seed: int, target: str | None = None, **options):
    import layerwise

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = layerwise.fit(frame, task="anomaly-detection", target=target, output_dir=tmp,
                            verbose=False, report=False, seed=seed, **options)  # fmt: skip
        return run, time.perf_counter() - t0


def training_scores(task, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every candidate's score of the training rows, as during fit (kNN without self-matches)."""
    from layerwise.tasks.anomaly_detection.fit import training_scores as own_scores

    return own_scores(task.model, task.features.transform(frame))


def isolation_forest(frame: pd.DataFrame, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.ensemble import IsolationForest

    t0 = time.perf_counter()
    forest = IsolationForest(random_state=seed).fit(frame.to_numpy())
    return -forest.score_samples(frame.to_numpy()), time.perf_counter() - t0


def unsupervised(paths: list[Path], seeds: list[int]) -> str:
    from layerwise.tasks.anomaly_detection.scoring import ranking_metrics

    roc: dict[str, dict[str, list]] = {}
    pr: dict[str, dict[str, list]] = {}
    seconds: dict[str, list] = {}
    for path in paths:
        frame, y = load(path)
        name = path.stem.split("_", 1)[1]
        roc[name], pr[name], seconds[name] = {}, {}, []
        for seed in seeds:
            run, took = fit(frame, seed)
            scores = training_scores(run.task, frame)
            scores["sklearn IsolationForest"], if_seconds = isolation_forest(frame, seed)
            for key, s in scores.items():
                m = ranking_metrics(y, s)
                roc[name].setdefault(key, []).append(m["roc_auc"])
                pr[name].setdefault(key, []).append(m["pr_auc"])
            seconds[name].append((took, if_seconds))
        progress(f"{name}: ensemble ROC-AUC {np.mean(roc[name]['ensemble']):.3f}, "
                 f"IsolationForest {np.mean(roc[name]['sklearn IsolationForest']):.3f}")  # fmt: skip
    columns = [*DETECTORS, "sklearn IsolationForest"]
    return (
        _table("ROC-AUC", roc, columns, paths, frame_shapes(paths), seconds)
        + "\n"
        + _table("PR-AUC", pr, columns, paths, frame_shapes(paths), None)
        + "\n"
        + _verdict(roc)
    )


def frame_shapes(paths: list[Path]) -> dict[str, str]:
    out = {}
    for path in paths:
        with np.load(path, allow_pickle=False) as arrays:
            out[path.stem.split("_", 1)[1]] = (
                f"{arrays['X'].shape[0]}x{arrays['X'].shape[1]}, {arrays['y'].mean():.1%}"
            )
    return out


def _table(metric, values, columns, paths, shapes, seconds) -> str:
    head = ["dataset", "rows x cols, anomalies", *columns]
    if seconds is not None:
        head += ["layerwise fit s", "IF fit s"]
    rows = []
    for name in values:
        cells = [name, shapes[name], *[fmt(np.mean(values[name][c])) for c in columns]]
        if seconds is not None:
            cells += [f"{np.mean([s[0] for s in seconds[name]]):.1f}",
                      f"{np.mean([s[1] for s in seconds[name]]):.2f}"]  # fmt: skip
        rows.append(cells)
    means = [
        "**mean**",
        "",
        *[fmt(np.mean([np.mean(values[n][c]) for n in values])) for c in columns],
    ]
    rows.append(means + ([""] * 2 if seconds is not None else []))
    return f"### Unsupervised {metric} (mean over seeds)\n\n" + markdown_table(head, rows) + "\n"


def _verdict(roc: dict) -> str:
    served = {n: np.mean(v["ensemble"]) for n, v in roc.items()}
    forest = {n: np.mean(v["sklearn IsolationForest"]) for n, v in roc.items()}
    worst = min(served, key=lambda n: served[n] - forest[n])
    gap = served[worst] - forest[worst]
    mean_gap = np.mean(list(served.values())) - np.mean(list(forest.values()))
    ok = mean_gap >= 0 and gap >= -0.05
    return (
        f"Served default (ensemble) mean ROC-AUC {np.mean(list(served.values())):.3f} vs "
        f"IsolationForest {np.mean(list(forest.values())):.3f} ({mean_gap:+.3f}); largest "
        f"shortfall on one dataset: {worst} {gap:+.3f}. Target (mean >= IsolationForest, no "
        f"dataset more than 5 points below): **{'met' if ok else 'not met'}**.\n"
    )


def fraud(paths: list[Path], seeds: list[int], share: float = 0.05) -> str:
    """When the given 5% hold no anomaly, layerwise refuses the labels (one class) and the
    run is unsupervised, as a user would then train it."""
    from sklearn.model_selection import train_test_split

    from layerwise.tasks.anomaly_detection.scoring import ranking_metrics

    rows, ours_all, lgbm_all = [], [], []
    for path in paths:
        frame, y = load(path)
        name = path.stem.split("_", 1)[1]
        ours, lgbm, chosen, took, picks, mixed = [], [], [], [], [], 0
        for seed in seeds:
            given, hidden = train_test_split(
                np.arange(len(y)), train_size=share, random_state=seed, stratify=y
            )
            labelled = frame.copy()
            labelled["label"] = np.nan
            labelled.loc[given, "label"] = y[given]
            if y[given].min() == y[given].max():  # layerwise refuses one class: go unsupervised
                run, seconds = fit(frame, seed)
            else:
                run, seconds = fit(labelled, seed, target="label", test_size=0.0)
            scores = training_scores(run.task, frame)[run.chosen]
            ours.append(ranking_metrics(y[hidden], scores[hidden])["pr_auc"])
            lgbm.append(_lightgbm_alone(frame, y, given, hidden, seed))
            chosen.append(run.chosen)
            took.append(seconds)
            fraud = run.task.fraud
            picks.append(fraud.get("served_among_fraud_models", "none"))
            mixed += "fraud-ensemble" in run.metrics["candidates"]
        ours_all.append(np.mean(ours))
        lgbm_all.append(np.mean(lgbm))
        rows.append([name, round(float(share * y.sum())), fmt(np.mean(ours)), fmt(np.mean(lgbm)),
                     _counts(chosen), _counts(picks), f"{mixed}/{len(seeds)}",
                     f"{np.mean(took):.1f}"])  # fmt: skip
        progress(f"fraud {name}: layerwise {np.mean(ours):.3f}, LightGBM {np.mean(lgbm):.3f}")
    rows.append(["**mean**", "", fmt(np.mean(ours_all)), fmt(np.mean(lgbm_all)), "", "", "", ""])
    head = ["dataset", "labelled anomalies (about)", "layerwise PR-AUC", "LightGBM alone PR-AUC",
            "served (per seed)", "ensemble vs best single", "fraud ensemble", "fit s"]  # fmt: skip
    return (
        f"### Fraud mode: {share:.0%} of labels given, PR-AUC on the hidden {1 - share:.0%} "
        f"(mean over seeds {seeds})"
        "\n\n" + markdown_table(head, rows) + "\n"
    )


def _counts(names: list[str]) -> str:
    return ", ".join(f"{c} x{names.count(c)}" for c in dict.fromkeys(names))


def _lightgbm_alone(frame, y, given, hidden, seed) -> float:
    import lightgbm as lgb

    from layerwise.tasks.anomaly_detection.scoring import ranking_metrics

    if y[given].min() == y[given].max():
        return ranking_metrics(y[hidden], np.zeros(len(hidden)))["pr_auc"]
    model = lgb.LGBMClassifier(class_weight="balanced", random_state=seed, verbose=-1,
                               n_jobs=2, min_child_samples=5)  # fmt: skip
    model.fit(frame.iloc[given], y[given])
    return ranking_metrics(y[hidden], model.predict_proba(frame.iloc[hidden])[:, 1])["pr_auc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--fraud-seeds", type=int, default=3)
    parser.add_argument("--datasets", nargs="*", help="name parts, e.g. cardio WBC")
    parser.add_argument("--fraud-only", action="store_true", help="skip the unsupervised part")
    parser.add_argument("--label-share", type=float, default=0.05, help="fraud mode's labels")
    args = parser.parse_args()
    paths = sorted(ADBENCH.glob("*.npz"), key=lambda p: int(p.stem.split("_")[0]))
    if args.datasets:
        paths = [p for p in paths if any(d.lower() in p.stem.lower() for d in args.datasets)]
    if not paths:
        write_result("anomaly", f"ADBench not found at {ADBENCH}: skipped.\n", args.quick)
        return
    seeds = list(range(1 if args.quick else args.seeds))
    started = time.perf_counter()
    parts = [header("Anomaly benchmark", PACKAGES)]
    name = "anomaly-fraud" if args.fraud_only else "anomaly"
    if not args.fraud_only:
        parts.append(f"## ADBench, {len(paths)} datasets, seeds {seeds}\n")
        parts.append(unsupervised(paths, seeds))
        write_result(name, "\n".join(parts), args.quick)  # kept if the fraud part fails
    if not args.quick or args.fraud_only:
        parts.append(fraud(paths, list(range(args.fraud_seeds)), args.label_share))
    parts.append(f"\nWhole benchmark {time.perf_counter() - started:.0f} s.\n")
    print(write_result(name, "\n".join(parts), args.quick).read_text())


if __name__ == "__main__":
    main()
