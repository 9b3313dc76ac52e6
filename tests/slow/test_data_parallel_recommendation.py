"""A recommendation run in two gloo processes on this CPU (engine.distributed) against one:
MF-BPR, SASRec and the rating MF trained by both ranks together (the rankers' losses call the
model's parts, so their gradients are averaged by the engine itself:
``RankingTrainer.averages_gradients``), each rank on its shard of the interactions with its own
negatives; the classical rankers, the rating baseline, the choice, the refit order and the run
folder rank 0's (their figures are exactly one process's). The refit of a chosen deep model is
ordered too: a rank that skipped it would leave the other waiting at a collective (the deadline
of ``two_processes`` fails such a run instead of hanging). In tests/slow."""

from __future__ import annotations

from pathlib import Path

import pytest
from two_ranks import one_and_two, two_processes

pytestmark = pytest.mark.slow

DEEP = {"epochs": 8, "patience": 8, "cpu_threads": 1}
RUN = {"task": "recommendation", "verbose": False, "report": False, "seed": 0,
       "candidates": ["most-popular", "ease", "mf-bpr", "sasrec", "bias-baseline", "mf-rating"],
       "candidate_params": {"mf-bpr": DEEP, "sasrec": {**DEEP, "max_len": 20},
                            "mf-rating": {"epochs": 8, "cpu_threads": 1}}}  # fmt: skip


def ratings(path: Path) -> str:
    """A generated MovieLens-like log of ratings with times (userId, movieId, rating, timestamp)."""
    from layerwise.tasks.recommendation.sources import latent_log

    latent_log(n_users=300, n_items=200, mean_per_user=30, seed=0).to_csv(path, index=False)
    return str(path)


def test_a_log_in_two_processes_chooses_what_one_chooses(tmp_path):
    two, one = one_and_two(ratings(tmp_path / "ratings.csv"), RUN, tmp_path)
    both = [run["metrics"]["candidates"] for run in (two, one)]
    validation = {n: [b[n].get("validation", {}).get("ndcg@10") for b in both] for n in both[0]}
    # EASE 0.306 both, MF-BPR 0.234 / 0.239, SASRec 0.237 / 0.233: a clear choice
    assert two["chosen"] == one["chosen"], validation
    for name in ("most-popular", "ease"):  # rank 0's alone
        assert both[0][name]["test"] == both[1][name]["test"], name
    for name in ("mf-bpr", "sasrec"):  # trained together: within the noise of other batches
        ndcg = [b[name]["test"]["ndcg@10"] for b in both]
        assert abs(ndcg[0] - ndcg[1]) < 0.05, (name, ndcg)


def test_a_chosen_deep_ranker_is_refitted_by_both_processes(tmp_path):
    run = {**RUN, "candidates": ["most-popular", "mf-bpr", "bias-baseline", "mf-rating"]}
    two = two_processes(ratings(tmp_path / "ratings.csv"), run, tmp_path / "two")
    assert two["chosen"] == "mf-bpr"  # 0.23 against the most popular items' 0.19: then refitted
