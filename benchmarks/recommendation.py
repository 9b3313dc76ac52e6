"""Recommendation benchmark: every layerwise recommender with its defaults, side by side with
the classical baselines (most-popular, item-kNN, EASE) in the same run, on logs whose latent
structure is known, and on a real MovieLens file when one is given.

Protocol (the literature's full-ranking one, e.g. RecBole): leave-last-out by time, each
user's last interaction is the test item and the one before it the validation item; every
item the user has not interacted with is ranked; NDCG@10, HR@10, recall@20, coverage@10.
Hyperparameters (EASE's lambda, kNN's neighbours, deep models' epochs) are chosen on
validation; the served model is the best validation NDCG@10 (a simpler one within 2%).

Logs:
- ``ml100k-like``: 943 users x 1,682 items, about 100k ratings, generated with user and item
  taste vectors in genres, long-tailed popularity and activity, item series that users
  follow in order, and slowly drifting tastes (``layerwise.tasks.recommendation.sources``).
- ``no-sequence``: the same without series or drift (matrix structure only).
- ``MovieLens-100k``: the real 100,000 ratings, as RecBole's wheel ships them
  (``pip install recbole --no-deps``; nothing of RecBole is imported or run).
- ``--data u.data``: a MovieLens file (u.data or ratings.dat), or LAYERWISE_MOVIELENS.

    python benchmarks/recommendation.py              # results/recommendation.md
    python benchmarks/recommendation.py --quick      # smaller logs
    python benchmarks/recommendation.py --data ~/ml-100k/u.data
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, progress, write_result

PACKAGES = ("layerwise", "torch", "numpy", "scipy")
PUBLISHED = (
    "Published MovieLens-1M full-ranking NDCG@10 (RecBole, tuned): EASE 0.287, LightGCN 0.248, "
    "ItemKNN 0.239, NeuMF 0.229. The synthetic logs are not MovieLens: compare models within a "
    "row, not with these figures."
)


def run_log(name: str, data, fmt: str | None, seed: int) -> tuple[str, dict]:
    import layerwise

    with tempfile.TemporaryDirectory() as tmp:
        options = {"format": fmt} if fmt else {}
        started = time.perf_counter()
        run = layerwise.fit(data, task="recommendation", output_dir=tmp, verbose=False,
                            report=False, seed=seed, **options)  # fmt: skip
        seconds = time.perf_counter() - started
    return _table(name, run.metrics, seconds), run.metrics


def _table(name: str, metrics: dict, seconds: float) -> str:
    head = ["candidate", "family", "val NDCG@10", "test NDCG@10", "test HR@10", "test recall@20",
            "coverage@10", "fit s", "tuned"]  # fmt: skip
    rows = []
    for cand, entry in metrics["candidates"].items():
        if "skipped" in entry:
            rows.append([cand, entry["family"], "skipped", "", "", "", "", "", entry["skipped"]])
            continue
        v, t = entry["validation"], entry["test"]
        mark = " **(served)**" if cand == metrics["chosen"] else ""
        tuned = ", ".join(f"{k}={x}" for k, x in (entry.get("tuned") or {}).items())
        rows.append([cand + mark, entry["family"], v["ndcg@10"], t["ndcg@10"], t["hr@10"],
                     t["recall@20"], t["coverage@10"], round(entry["fit_seconds"], 1), tuned])  # fmt: skip
    text = [f"### {name}", "", f"{metrics['interactions']:,} interactions, {metrics['users']} users, "
            f"{metrics['items']} items; {metrics['test_users']} test users. Whole run "
            f"{seconds:.0f} s (including retraining the served model on everything).", "",
            markdown_table(head, rows), ""]  # fmt: skip
    cands = metrics["candidates"]
    served = cands[metrics["chosen"]]["test"]["ndcg@10"]
    if "ease" in cands and "test" in cands["ease"]:
        ease = cands["ease"]["test"]["ndcg@10"]
        verdict = "met" if served >= ease else "not met"
        text.append(f"Served {metrics['chosen']}: test NDCG@10 {served:.4f} vs EASE {ease:.4f} "
                    f"({served - ease:+.4f}, ratio {served / ease:.3f}): target {verdict}.")  # fmt: skip
    if metrics.get("rating"):
        parts = [f"{n} {e['test']['rmse']:.4f}" for n, e in metrics["rating"]["candidates"].items()]
        text.append(f"Rating RMSE on test: {', '.join(parts)} (served "
                    f"{metrics['rating']['chosen']}).")  # fmt: skip
    return "\n".join(text) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller generated logs")
    parser.add_argument("--data", help="a MovieLens u.data or ratings.dat file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from layerwise.tasks.recommendation.sources import latent_log, movielens_path, recbole_ml100k

    size = {"n_users": 300, "n_items": 500, "mean_per_user": 40} if args.quick else {}
    logs = [("ml100k-like (series, drift)", latent_log(seed=args.seed, **size), None),
            ("no-sequence (matrix structure only)",
             latent_log(seed=args.seed, sequential=False, **size), None)]  # fmt: skip
    ml100k = recbole_ml100k()
    if ml100k is not None:
        logs.append(("MovieLens-100k (RecBole's copy of u.data)", str(ml100k), None))
    real = Path(args.data) if args.data else movielens_path()
    if real is not None:
        logs.append((f"MovieLens file {real.name}", str(real), "movielens"))
    sections = [header("Recommendation: deep vs classical recommenders", PACKAGES), PUBLISHED, ""]
    if real is None and ml100k is None:
        sections.append("No MovieLens file here (none can be downloaded on this machine); pass "
                        "--data u.data to add one.\n")  # fmt: skip
    for name, data, fmt in logs:
        progress(f"{name} ...")
        text, _ = run_log(name, data, fmt, args.seed)
        progress(text)
        sections.append(text)
    path = write_result("recommendation", "\n".join(sections), args.quick)
    print("\n".join(sections))
    progress(f"wrote {path}")


if __name__ == "__main__":
    main()
