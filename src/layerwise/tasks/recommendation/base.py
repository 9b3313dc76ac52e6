"""What every recommender of the recommendation task shares: the interactions it learns from
(``Interactions``: users and items as indices, in time order per user) and the contract of a
candidate (``Recommender``: fit, score every item for a batch of users, save, load), and the
candidates by name (``RANKERS``, ``RATERS``).

Ranking candidates learn from *who interacted with what* (every interaction is a positive,
ratings or not), which is how the full-ranking results of the literature are measured.
Explicit ratings are predicted separately by a ``RatingModel`` (RMSE).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from layerwise.core.registry import Registry
from layerwise.runs.folder import RunFolder


@dataclass
class Interactions:
    """Interactions as index arrays, sorted by user, then time (or file order).

    ``users[i]`` and ``items[i]`` are indices in ``0..n_users-1`` and ``0..n_items-1``;
    ``ratings`` is None for implicit data. ``histories()`` gives each user's items in order.

    Example:
        >>> data = Interactions(2, 3, np.array([0, 0, 1]), np.array([2, 0, 1]))
        >>> [h.tolist() for h in data.histories()]
        [[2, 0], [1]]
        >>> data.matrix().toarray().tolist()
        [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """

    n_users: int
    n_items: int
    users: np.ndarray  # int64 [n]
    items: np.ndarray  # int64 [n]
    ratings: np.ndarray | None = None  # float32 [n]
    times: np.ndarray | None = None  # float64 [n], seconds or any increasing number

    def __len__(self) -> int:
        return len(self.users)

    def histories(self) -> list[np.ndarray]:
        """Each user's items in order (an empty array for a user without interactions)."""
        bounds = np.searchsorted(self.users, np.arange(self.n_users + 1))
        return [self.items[bounds[u] : bounds[u + 1]] for u in range(self.n_users)]

    def matrix(self) -> Any:
        """The binary users x items scipy CSR matrix (1 where the user interacted)."""
        from scipy.sparse import csr_matrix

        ones = np.ones(len(self.users), dtype=np.float32)
        m = csr_matrix((ones, (self.users, self.items)), shape=(self.n_users, self.n_items))
        m.data[:] = 1.0  # repeated pairs count once
        return m

    def item_counts(self) -> np.ndarray:
        return np.bincount(self.items, minlength=self.n_items)

    def select(self, mask: np.ndarray) -> Interactions:
        """The interactions where ``mask`` is true (same users and items)."""
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return Interactions(self.n_users, self.n_items, self.users[mask], self.items[mask],
                            pick(self.ratings), pick(self.times))  # fmt: skip


def histories_matrix(histories: list[np.ndarray], n_items: int) -> Any:
    """The binary CSR matrix of a list of histories (one row each)."""
    from scipy.sparse import csr_matrix

    lengths = np.array([len(h) for h in histories], dtype=np.int64)
    rows = np.repeat(np.arange(len(histories)), lengths)
    cols = np.concatenate(histories) if len(histories) else np.zeros(0, np.int64)
    m = csr_matrix(
        (np.ones(len(cols), np.float32), (rows, cols.astype(np.int64))),
        shape=(len(histories), n_items),
    )
    m.data[:] = 1.0
    return m


def refit_params(candidate: Any) -> dict[str, Any]:
    """Params that retrain a fitted candidate on all the data without validation: its own,
    the hyperparameters it tuned on validation (``candidate.tuned``), and for deep models the
    best epoch count."""
    params = {**candidate.params, **(getattr(candidate, "tuned", None) or {})}
    best = candidate.history.best if candidate.history is not None else None
    if best is not None:
        params.update(epochs=int(best["epoch"]), patience=None)
    return params


class Recommender(ABC):
    """A ranking candidate: scores every item for a user, higher = recommend first.

    ``fit(train, val)``: ``val`` is ``(users, held)`` — user indices and, for each, the item
    indices held out for validation — for candidates that early-stop or tune on it.
    ``score(users, histories)``: a float32 ``[len(users), n_items]`` array. ``histories[j]`` is
    user ``users[j]``'s items in time order, as the task knows them at prediction time (the
    training history, plus validation items when testing); a user index of -1 is a user the
    model never saw (history-based models can still score them). Items already in the
    history are masked by the caller, not here.
    """

    name: ClassVar[str]
    family: ClassVar[str]  # "classical" | "deep"
    complexity: ClassVar[int]
    description: ClassVar[str] = ""
    needs_time: ClassVar[bool] = False  # sequential models: only when the order is meaningful

    def __init__(self, seed: int = 0, **params: Any):
        self.seed = seed
        self.params = params
        self.n_items = 0
        self.history = None  # a layerwise.engine.History for deep candidates

    def refit_params(self) -> dict[str, Any]:
        return refit_params(self)

    def skip_reason(self, train: Interactions) -> str | None:
        """Why this candidate cannot run on ``train`` (too many items, ...), or None."""
        return None

    @abstractmethod
    def fit(
        self, train: Interactions, val: tuple[np.ndarray, list[np.ndarray]] | None = None
    ) -> None:
        """Learn from ``train``."""

    @abstractmethod
    def score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        """Scores ``[len(users), n_items]`` (float32)."""

    def similar(self, items: np.ndarray) -> np.ndarray:
        """Item-to-item scores ``[len(items), n_items]``: by default, the scores of a new user
        whose history is that one item. Embedding models override this with cosine similarity."""
        histories = [np.array([i], dtype=np.int64) for i in items]
        return self.score(np.full(len(items), -1, dtype=np.int64), histories)

    @abstractmethod
    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        """Write the model file(s) into ``run`` (named from ``prefix``); return JSON-safe info."""

    @classmethod
    @abstractmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> Recommender:
        """Rebuild a fitted candidate from its files and the info ``save`` returned."""


class RatingModel(ABC):
    """Predicts a user's rating of an item (explicit data only); judged by RMSE."""

    name: ClassVar[str]
    family: ClassVar[str]

    def __init__(self, seed: int = 0, **params: Any):
        self.seed = seed
        self.params = params
        self.history = None

    def refit_params(self) -> dict[str, Any]:
        return refit_params(self)

    @abstractmethod
    def fit(self, train: Interactions, val: Interactions | None = None) -> None:
        """Learn from ``train.ratings``; ``val`` (held-out ratings) may drive early stopping."""

    @abstractmethod
    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings (float64, unclipped); index -1 = unseen user or item."""

    @abstractmethod
    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]: ...

    @classmethod
    @abstractmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> RatingModel: ...


# The candidates by name, each imported when picked: the bake-off fits them, a run folder's
# preprocess.json names the served ones.
RANKERS = Registry("recommender")
RANKERS.register("most-popular", "layerwise.tasks.recommendation.baselines:MostPopular")
RANKERS.register("item-knn", "layerwise.tasks.recommendation.baselines:ItemKNN")
RANKERS.register("ease", "layerwise.tasks.recommendation.baselines:EASE")
RANKERS.register("mf-bpr", "layerwise.tasks.recommendation.deep:MFBPR")
RANKERS.register("neumf", "layerwise.tasks.recommendation.deep:NeuMFRanker")
RANKERS.register("sasrec", "layerwise.tasks.recommendation.sequential:SASRecRanker")
RATERS = Registry("rating model")
RATERS.register("bias-baseline", "layerwise.tasks.recommendation.baselines:BiasBaseline")
RATERS.register("mf-rating", "layerwise.tasks.recommendation.deep:MFRating")
