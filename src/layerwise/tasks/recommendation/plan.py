"""What ``layerwise advise`` says about an interaction log before anything is trained: its
size, sparsity and history lengths, and which recommenders will compete and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class LogProfile:
    """A description of an interaction log for the advisor."""

    interactions: int
    users: int
    items: int
    median_history: float
    single_users: int
    explicit: bool
    has_time: bool
    rating_range: Any
    top_share: float  # interactions on the 10% most popular items

    def summary_lines(self) -> list[str]:
        density = self.interactions / max(self.users * self.items, 1)
        lines = [
            f"{self.interactions:,} interactions: {self.users:,} users x {self.items:,} items "
            f"({density:.2%} filled)",
            f"Median history {self.median_history:g} items; {self.single_users} users with one "
            "interaction (training only)",
            f"The 10% most popular items hold {self.top_share:.0%} of the interactions",
        ]
        if self.explicit:
            low, high = self.rating_range
            lines.append(f"Explicit ratings from {low:g} to {high:g}")
        lines.append("Times: yes (sequence order is used)" if self.has_time else "Times: none")
        return lines


def profile_log(log: Any) -> LogProfile:
    data = log.interactions
    lengths = np.bincount(data.users, minlength=data.n_users)
    counts = np.sort(data.item_counts())[::-1]
    top = counts[: max(1, len(counts) // 10)].sum() / max(counts.sum(), 1)
    return LogProfile(len(data), data.n_users, data.n_items, float(np.median(lengths)),
                      int((lengths == 1).sum()), log.explicit, log.has_time, log.rating_range,
                      float(top))  # fmt: skip


def plan_for(task: Any, log: Any) -> tuple[LogProfile, Any]:
    from layerwise.core.advisor import Plan, Rule
    from layerwise.tasks.recommendation.base import RATERS
    from layerwise.tasks.recommendation.baselines import EASE
    from layerwise.tasks.recommendation.fit import TOLERANCE, ranker_names

    profile = profile_log(log)
    names = ranker_names(task, log.has_time)
    big = profile.items > EASE.MAX_ITEMS
    rules = [
        Rule("sequential", log.has_time, "the log has times: SASRec reads each user's items in "
             "order and competes; the split holds out each user's latest items"),
        Rule("no times", not log.has_time, "no time column: one random interaction per user is "
             "held out, and the sequential model sits out"),
        Rule("explicit ratings", log.explicit, "ratings are also predicted (biased MF trained by "
             "MSE against a bias baseline, RMSE)"),
        Rule("large catalogue", big, f"{profile.items} items: EASE's items x items matrix is too "
             "large, so it sits out"),
        Rule("popularity-heavy", profile.top_share > 0.6, "most interactions are on a few items: "
             "most-popular is a strong baseline here"),
    ]  # fmt: skip
    candidates = names + (RATERS.names() if log.explicit else [])
    plan = Plan(
        candidates=candidates, rules=rules,
        protocol="leave-last-out (validation: each user's second-last item, test: the last)",
        n_splits=0, metric="ndcg@10", greater_is_better=True, tolerance=TOLERANCE,
        class_weights=False,
        recommendation=f"the best validation NDCG@10 among {', '.join(names)}; a simpler one "
        f"within {TOLERANCE:.0%} of it is preferred; the winner is retrained on every interaction",
    )  # fmt: skip
    return profile, plan
