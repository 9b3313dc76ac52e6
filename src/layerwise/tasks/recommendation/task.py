"""recommendation: what a user will want next, from a log of who interacted with what.

Every run compares classical recommenders (most-popular, item-kNN, EASE) with deep ones
(matrix factorisation with BPR, NeuMF, and SASRec over each user's sequence when the log has
times) by full-ranking NDCG@10 on a leave-last-out validation split, reports test figures on
the next interaction of each user, and serves the winner retrained on all interactions.
Explicit ratings are also predicted (a biased MF trained by MSE against a bias baseline,
judged by RMSE). A user or item never seen gets the most popular items, with a note.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.core.task import RUN_DEFAULTS, Run, Task
from layerwise.errors import ConfigError, DataError
from layerwise.runs.folder import RunFolder

DEFAULTS: dict[str, Any] = {
    **RUN_DEFAULTS,  # time_limit: seconds for all deep candidates; None: a budget each on a CPU
    "user_column": None,
    "item_column": None,
    "rating_column": None,
    "time_column": None,
    "format": "auto",  # "movielens" for u.data / ratings.dat; "table"
    "rating_scale": None,  # e.g. "1-5": ratings outside it are an error
    "top": 10,
    "refit": True,  # retrain the chosen models on every interaction before serving
}
POPULAR_NOTE = "most popular items"


class Recommendation(Task):
    """Top-k recommendations per user, similar items, and predicted ratings.

    >>> Recommendation(top=20).option("top")
    20
    """

    name: ClassVar[str] = "recommendation"
    DEFAULTS: ClassVar[dict[str, Any]] = DEFAULTS
    description: ClassVar[str] = "Recommend items to users from an interaction log"
    request_kind: ClassVar[str | None] = "users"  # served: see layerwise.serve.requests
    data_parallel: ClassVar[bool] = True  # the deep models under DDP; the rest on rank 0

    # layerwise predict: --user, --similar-to and --top; DATA (a table of users) may be left out
    predict_options: ClassVar[tuple[str, ...]] = ("user", "similar_to", "top")
    data_optional: ClassVar[tuple[str, ...]] = ("predict",)

    def training_summary(self, run: Run) -> list[Any]:
        from layerwise.tasks.recommendation.cli import training_summary

        return training_summary(run)

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.recommendation.cli import ratings_log

        return ratings_log(folder)

    def __init__(self, **options: Any):
        self._check_options(options)
        super().__init__(**options)
        self.user_ids: list[str] = []
        self.item_ids: list[str] = []
        self.columns: dict[str, Any] = {}
        self.histories: list[np.ndarray] = []
        self.counts = np.zeros(0)
        self.ranker: Any = None
        self.rater: Any = None
        self.rating_range: Any = None
        self.has_time = False
        self.target = None  # config.yaml's field; the columns are options here

    def _check_options(self, options: dict[str, Any]) -> None:
        self.check_option_names(options)

    # ---- fit ---------------------------------------------------------------------------
    def read(self, data: Any) -> Any:
        from layerwise.tasks.recommendation.interactions import read_interactions

        return read_interactions(
            data,
            user_column=self.option("user_column"),
            item_column=self.option("item_column"),
            rating_column=self.option("rating_column"),
            time_column=self.option("time_column"),
            format=self.option("format"),
            rating_scale=self.option("rating_scale"),
        )

    def fit(self, data: Any, target: str | None = None, **options: Any) -> Run:
        """Read the log, split it, compare every candidate, and write the run folder.
        ``target`` may name the item column (as ``--target`` does for other tasks)."""
        from layerwise.tasks.recommendation.fit import fit_recommendation

        self._check_options(options)
        self.options = {**self.options, **options}
        if target is not None and self.option("item_column") is None:
            self.options["item_column"] = target
        started = time.perf_counter()
        return fit_recommendation(self, data, self.read(data), started)

    def profile_and_plan(self, data: Any, target: str | None = None) -> tuple[Any, Any, Any]:
        """What ``layerwise advise`` shows: the log's size and sparsity, and the plan."""
        from layerwise.tasks.recommendation.plan import plan_for

        if target is not None and self.option("item_column") is None:
            self.options["item_column"] = target
        log = self.read(data)
        profile, plan = plan_for(self, log)
        return log, profile, plan

    # ---- predict -----------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.ranker is None:
            raise DataError("This recommender is not fitted.", "Call fit() or load a run folder.")

    def _top(self, top: Any) -> int:
        top = self.option("top") if top is None else top
        if not isinstance(top, (int, np.integer)) or isinstance(top, bool) or top < 1:
            raise ConfigError(f"--top {top!r} is not valid.", "Ask for at least 1 item.")
        if top > len(self.item_ids):
            raise ConfigError(
                f"--top {top} is larger than the catalogue ({len(self.item_ids)} items).",
                f"Ask for at most {len(self.item_ids)}.",
            )
        return int(top)

    def predict(
        self, inputs: Any = None, user: Any = None, similar_to: Any = None, top: int | None = None
    ) -> pd.DataFrame:
        """Recommendations: for the users in ``inputs`` (a table with the user column, a list
        of ids, or one id as ``user``), ``top`` rows each: ``user``, ``rank``, ``item``,
        ``score`` (the model's, higher first; not comparable across models), ``note``, and
        ``predicted_rating`` for explicit logs. Items a user already has are left out. With
        ``similar_to`` (an item id): the items most similar to it."""
        self._require_fitted()
        top = self._top(top)
        if similar_to is not None:
            return self._similar(str(similar_to), top)
        users = [str(user)] if user is not None else self._user_list(inputs)
        frames = [self._recommend(chunk, top) for chunk in _chunks(users, 512)]
        return pd.concat(frames, ignore_index=True)

    def _user_list(self, inputs: Any) -> list[str]:
        from layerwise.tasks.recommendation.interactions import id_strings

        if inputs is None:
            raise ConfigError("No users given.", "Pass a table of users, or --user ID.")
        if isinstance(inputs, (list, tuple, np.ndarray, pd.Series)):
            return [str(v) for v in inputs]
        from layerwise.data.tabular import read_table

        frame = read_table(inputs)
        column = self._user_column(frame)
        return [v for v in id_strings(frame[column]).tolist() if v is not None]

    def _user_column(self, frame: pd.DataFrame) -> str:
        from layerwise.errors import missing_column

        name = self.columns.get("user") or "user"
        for option in (name, "user"):
            if option in frame.columns:
                return option
        if frame.shape[1] == 1:
            return frame.columns[0]
        raise missing_column(name, frame.columns, "User column", f"'{frame.attrs.get('name')}'")

    def _recommend(self, users: list[str], top: int) -> pd.DataFrame:
        index = self._user_index(users)
        known = index >= 0
        histories = [self.histories[i] if i >= 0 else np.zeros(0, np.int64) for i in index]
        scores = np.repeat(self._popularity()[None, :], len(users), axis=0)
        if known.any():
            scores[known] = self.ranker.score(
                index[known], [h for h, k in zip(histories, known, strict=True) if k]
            )
        from layerwise.tasks.recommendation.metrics import top_items

        best = top_items(scores, histories, top)
        rows = []
        for j, user in enumerate(users):
            note = "" if known[j] else f"new user: {POPULAR_NOTE}"
            for rank, item in enumerate(best[j][best[j] >= 0], 1):
                rows.append(
                    (user, rank, self.item_ids[item], float(scores[j, item]), note, index[j], item)
                )
        out = pd.DataFrame(rows, columns=["user", "rank", "item", "score", "note", "_u", "_i"])
        if self.rater is not None:
            from layerwise.tasks.recommendation.outputs import predicted_ratings

            out["predicted_rating"] = predicted_ratings(
                self, out["_u"].to_numpy(), out["_i"].to_numpy()
            )
        return out.drop(columns=["_u", "_i"])

    def _similar(self, item: str, top: int) -> pd.DataFrame:
        index = self._item_index([item])[0]
        if index < 0:
            scores, note = self._popularity(), f"item {item} was never seen: {POPULAR_NOTE}"
            exclude = np.zeros(0, np.int64)
        else:
            scores, note = self.ranker.similar(np.array([index]))[0], ""
            exclude = np.array([index])
        from layerwise.tasks.recommendation.metrics import top_items

        best = top_items(scores[None, :], [exclude], top)[0]
        best = best[best >= 0]
        return pd.DataFrame({
            "similar_to": item, "rank": np.arange(1, len(best) + 1),
            "item": [self.item_ids[i] for i in best],
            "score": scores[best].astype(np.float64), "note": note,
        })  # fmt: skip

    def _popularity(self) -> np.ndarray:
        return np.log1p(self.counts).astype(np.float32)

    def _user_index(self, users: list[str]) -> np.ndarray:
        return pd.Index(self.user_ids).get_indexer(users).astype(np.int64)

    def _item_index(self, items: list[str]) -> np.ndarray:
        return pd.Index(self.item_ids).get_indexer(items).astype(np.int64)

    def prediction_rows(self, inputs: Any) -> int:
        top = self._top(None)
        index = self._user_index(self._user_list(inputs))
        seen = np.array([len(self.histories[i]) if i >= 0 else 0 for i in index])
        return int(np.minimum(top, len(self.item_ids) - seen).sum())

    # ---- evaluate ----------------------------------------------------------------------
    def evaluate(self, data: Any) -> dict[str, Any]:
        """Full-ranking metrics on a log of new interactions: each known user's items in
        ``data`` are ranked among every item the user had no other interaction with; RMSE of
        the predicted ratings too when the log has ratings."""
        from layerwise.tasks.recommendation.outputs import evaluate_log

        self._require_fitted()
        return evaluate_log(self, data)

    # ---- schema, load, contract ------------------------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        return {
            "kind": "user-ids",
            "columns": self.columns,
            "users": len(self.user_ids),
            "items": len(self.item_ids),
            "also": "similar_to: an item id",
        }

    def output_schema(self) -> dict[str, Any]:
        fields = {
            "user": "str: the user id asked about",
            "rank": "int: 1 = recommend first",
            "item": "str: an item id the user has not interacted with",
            "score": "float: the served model's score (higher first)",
            "note": "str: why popularity was used (a user never seen), else empty",
        }
        if self.rater is not None:
            fields["predicted_rating"] = (
                "float: the rating this user would give, on the log's scale"
            )
        return {"kind": "top-k-items", "fields": fields, "top": self.option("top")}

    @classmethod
    def load(cls, run: RunFolder) -> Recommendation:
        from layerwise.tasks.recommendation.outputs import restore

        return restore(cls, run)

    @classmethod
    def report_sections(cls) -> list[tuple[str, Any]]:
        from layerwise.tasks.recommendation.report import SECTIONS

        return SECTIONS

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        from layerwise.tasks.recommendation.sources import latent_log

        frame = latent_log(n_users=60, n_items=40, mean_per_user=12, dim=4, seed=seed)
        quick = {"epochs": 2}
        params = {name: quick for name in ("mf-bpr", "neumf", "sasrec", "mf-rating")}
        users = pd.DataFrame({"user": [*frame["user"].unique()[:5], "someone-new"]})
        return frame, {"candidate_params": params}, users


def _chunks(values: list[Any], size: int) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, max(len(values), 1), size)]
