"""The classical recommenders: most popular, item-kNN, EASE, and a bias baseline for ratings.

The three rankers score a user from their history alone (a user index of -1 works), so a
fitted model is one item vector (most popular) or one items x items matrix: sparse for
item-kNN, dense for EASE. Item-kNN's neighbourhood size and EASE's penalty are chosen by
validation NDCG@10 when ``fit`` gets a validation set and the params do not fix them; the
choice and every value's score are kept in ``tuning``. ``BiasBaseline`` predicts ratings as
global mean + user bias + item bias. Arrays go to ``<prefix>.safetensors`` through
:func:`~layerwise.engine.checkpoint.save_weights` (no pickle); the rest is the JSON-safe info
``save`` returns.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.errors import DataError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.recommendation.base import (
    Interactions,
    RatingModel,
    Recommender,
    histories_matrix,
)
from layerwise.tasks.recommendation.metrics import evaluate_ranking

NEIGHBOURS = (20, 50, 100, 200, 400)
L2_GRID = (10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 3000.0)
VAL_USERS = 2000  # tuning measures at most this many validation users (a seeded sample)
BLOCK_CELLS = 1 << 24  # item-kNN similarity is computed n_items x block columns at a time
TUNE_METRIC = "ndcg@10"


def _write(run: RunFolder, prefix: str, arrays: dict[str, np.ndarray]) -> str:
    import torch

    from layerwise.engine.checkpoint import save_weights

    name = prefix + ".safetensors"
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    save_weights(run.file(name), tensors)
    return name


def _read(run: RunFolder, info: dict[str, Any]) -> dict[str, np.ndarray]:
    from layerwise.runs.weights import read_tensors

    return {k: v.numpy() for k, v in read_tensors(run, info["file"]).items()}


def _validation(
    train: Interactions, val: tuple[np.ndarray, list[np.ndarray]] | None, seed: int
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]] | None:
    """Validation users with held items, their training histories and held items (a seeded
    sample of ``VAL_USERS`` when there are more); None when there is nothing to measure."""
    if val is None:
        return None
    users, held = np.asarray(val[0], dtype=np.int64), list(val[1])
    keep = np.array([len(h) > 0 for h in held], dtype=bool) & (users >= 0)
    keep &= users < train.n_users
    pick = np.flatnonzero(keep)
    if len(pick) > VAL_USERS:
        pick = np.sort(np.random.default_rng(seed).choice(pick, VAL_USERS, replace=False))
    if len(pick) == 0:
        return None
    train_histories = train.histories()
    users = users[pick]
    return users, [train_histories[u] for u in users], [held[i] for i in pick]


def _tune(
    model: Recommender, param: str, grid: list[Any], apply: Any, validation: tuple
) -> dict[str, Any]:
    """Call ``apply(value)`` for each grid value, score the validation users, and leave the
    best value applied (the first on ties). Returns the JSON-safe tuning record."""
    users, histories, held = validation
    scores: dict[str, float] = {}
    best, best_score = grid[0], -np.inf
    for value in grid:
        apply(value)
        metrics, _ = evaluate_ranking(model.score, users, histories, held, model.n_items)
        scores[str(value)] = float(metrics[TUNE_METRIC])
        if metrics[TUNE_METRIC] > best_score:
            best, best_score = value, metrics[TUNE_METRIC]
    if best != grid[-1]:
        apply(best)
    return {"param": param, "chosen": best, "metric": TUNE_METRIC, "scores": scores,
            "users": len(users)}  # fmt: skip


class _Saved(Recommender):
    """What the rankers share: the info dict and rebuilding from it."""

    family: ClassVar[str] = "classical"

    def __init__(self, seed: int = 0, **params: Any):
        super().__init__(seed, **params)
        self.tuning: dict[str, Any] = {}

    @property
    def tuned(self) -> dict[str, Any]:
        """The value chosen on validation, as a param (``refit_params`` reuses it)."""
        if not self.tuning:
            return {}
        return {self.tuning["param"]: self.tuning["chosen"]}

    def _info(self, run: RunFolder, prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        return {"name": self.name, "file": _write(run, prefix, arrays), "seed": self.seed,
                "params": dict(self.params), "n_items": self.n_items,
                "tuning": self.tuning}  # fmt: skip

    @classmethod
    def _blank(cls, info: dict[str, Any]) -> Any:
        model = cls(seed=int(info.get("seed", 0)), **info.get("params", {}))
        model.n_items = int(info["n_items"])
        model.tuning = dict(info.get("tuning", {}))
        return model


class MostPopular(_Saved):
    """Every user gets the same scores: log1p of each item's training count.

    >>> train = Interactions(2, 3, np.array([0, 0, 1]), np.array([2, 0, 2]))
    >>> model = MostPopular()
    >>> model.fit(train)
    >>> model.score(np.array([-1]), [np.array([], np.int64)]).argmax(axis=1).tolist()
    [2]
    """

    name: ClassVar[str] = "most-popular"
    complexity: ClassVar[int] = 0
    description: ClassVar[str] = "items ranked by training popularity"

    def fit(self, train: Interactions, val: Any = None) -> None:
        self.n_items = train.n_items
        self.popularity = np.log1p(train.item_counts()).astype(np.float32)

    def score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        return np.tile(self.popularity, (len(users), 1))

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        return self._info(run, prefix, {"popularity": self.popularity})

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> MostPopular:
        model = cls._blank(info)
        model.popularity = _read(run, info)["popularity"]
        return model


def cosine_neighbours(x: Any, k: int, shrink: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Each item's ``k`` most cosine-similar other items from the binary users x items
    matrix ``x``: indices and similarities ``[n_items, k]``, best first, padded with -1 / 0
    where fewer than ``k`` items have a positive similarity (``k`` is capped at n_items - 1).
    ``shrink`` is added to the denominator (similarities from few co-occurrences shrink).

    >>> from scipy.sparse import csr_matrix
    >>> x = csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1]], np.float32))
    >>> cosine_neighbours(x, 1)[0].tolist()
    [[1], [0], [1]]
    """
    x = x.tocsc().astype(np.float32)
    n_items = x.shape[1]
    k = min(k, max(n_items - 1, 0))
    xt = x.T.tocsr()
    norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel()).astype(np.float32)
    index = np.full((n_items, k), -1, dtype=np.int64)
    value = np.zeros((n_items, k), dtype=np.float32)
    width = max(1, BLOCK_CELLS // max(n_items, 1))
    for start in range(0, n_items, width):
        cols = np.arange(start, min(n_items, start + width))
        block = np.asarray((xt @ x[:, cols]).toarray(), dtype=np.float32)  # co-counts
        denominator = norms[:, None] * norms[None, cols] + np.float32(shrink)
        np.divide(block, denominator, out=block, where=denominator > 0)
        block[denominator <= 0] = 0.0
        block[cols, np.arange(len(cols))] = 0.0  # an item is not its own neighbour
        top = _top_rows(block, k)
        sims = np.take_along_axis(block, top, axis=0)
        keep = sims > 0
        index[cols, : len(top)] = np.where(keep, top, -1).T
        value[cols, : len(top)] = np.where(keep, sims, 0.0).T
    return index, value


def _top_rows(block: np.ndarray, k: int) -> np.ndarray:
    """Row indices of each column's ``k`` largest values ``[k, n_cols]``, largest first and
    equal values in index order (which of several equal values at the cut is kept is
    arbitrary, but the same on every run)."""
    if k < block.shape[0]:
        top = np.argpartition(-block, k - 1, axis=0)[:k] if k else block[:0].astype(np.int64)
    else:
        top = np.broadcast_to(np.arange(block.shape[0])[:, None], block.shape)
    order = np.lexsort((top, -np.take_along_axis(block, top, axis=0)), axis=0)
    return np.take_along_axis(top, order, axis=0).astype(np.int64)


class ItemKNN(_Saved):
    """Item-based k nearest neighbours: a user's score for item j is the summed cosine
    similarity of j to the items in their history, over j's ``neighbours`` most similar items.

    Params: ``neighbours`` (default 100, tuned on validation when not given), ``shrink``
    (added to the cosine denominator, default 0).

    >>> train = Interactions(3, 3, np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 2]))
    >>> model = ItemKNN(neighbours=1)
    >>> model.fit(train)
    >>> model.score(np.array([-1]), [np.array([0])]).round(2).tolist()
    [[0.0, 1.0, 0.0]]
    """

    name: ClassVar[str] = "item-knn"
    complexity: ClassVar[int] = 1
    description: ClassVar[str] = "item-based kNN on cosine similarity of interaction columns"

    def fit(
        self, train: Interactions, val: tuple[np.ndarray, list[np.ndarray]] | None = None
    ) -> None:
        self.n_items = train.n_items
        validation = None if "neighbours" in self.params else _validation(train, val, self.seed)
        grid = sorted({min(k, max(train.n_items - 1, 0)) for k in NEIGHBOURS})
        most = max(grid) if validation else int(self.params.get("neighbours", 100))
        most = min(most, max(train.n_items - 1, 0))
        shrink = float(self.params.get("shrink", 0.0))
        index, value = cosine_neighbours(train.matrix(), most, shrink)
        apply = lambda k: self._build(index[:, :k], value[:, :k])  # noqa: E731
        if validation is None:
            apply(most)
            self.neighbours, self.tuning = most, {}
        else:
            self.tuning = _tune(self, "neighbours", grid, apply, validation)
            self.neighbours = int(self.tuning["chosen"])

    def _build(self, index: np.ndarray, value: np.ndarray) -> None:
        """The sparse similarity S with S[i, j] = sim(i, j) for i among j's neighbours."""
        from scipy.sparse import csr_matrix

        keep = index >= 0
        cols = np.repeat(np.arange(self.n_items), keep.sum(axis=1))
        matrix = csr_matrix((value[keep], (index[keep], cols)), shape=(self.n_items, self.n_items))
        matrix.sort_indices()
        self._set(matrix.indptr, matrix.indices, matrix.data)

    def _set(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> None:
        from scipy.sparse import csr_matrix

        self.arrays = {"indptr": indptr.astype(np.int64), "indices": indices.astype(np.int64),
                       "data": data.astype(np.float32)}  # fmt: skip
        a = self.arrays
        self.similarity = csr_matrix(
            (a["data"], a["indices"], a["indptr"]), shape=(self.n_items, self.n_items)
        )

    def score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        product = histories_matrix(histories, self.n_items) @ self.similarity
        return np.asarray(product.toarray(), dtype=np.float32)

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        info = self._info(run, prefix, self.arrays)
        info["neighbours"] = self.neighbours
        return info

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> ItemKNN:
        model = cls._blank(info)
        model.neighbours = int(info["neighbours"])
        a = _read(run, info)
        model._set(a["indptr"], a["indices"], a["data"])
        return model


def ease_weights(gram: np.ndarray, l2: float) -> np.ndarray:
    """EASE's item-item weights from the Gram matrix XᵀX: P = (XᵀX + λI)⁻¹,
    B[i, j] = -P[i, j] / P[j, j], diag(B) = 0 (Steck 2019), as float32.

    >>> ease_weights(np.array([[2.0, 1.0], [1.0, 2.0]]), 1.0).astype(float).round(3).tolist()
    [[0.0, 0.333], [0.333, 0.0]]
    """
    g = np.array(gram, dtype=np.float64, copy=True)
    g[np.diag_indices_from(g)] += l2
    return _normalise(np.linalg.inv(g))


def _normalise(p: np.ndarray) -> np.ndarray:
    """B from P, overwriting P (items x items float64 is the memory that matters here)."""
    p /= -np.diag(p).copy()[None, :]
    p[np.diag_indices_from(p)] = 0.0
    return p.astype(np.float32)


class EASE(_Saved):
    """Embarrassingly Shallow Autoencoder (Steck 2019): a closed-form items x items linear
    model with zero diagonal; score = history @ B.

    Params: ``l2`` (λ, default 250, tuned on validation when not given). Dense: skipped for
    catalogues of more than ``MAX_ITEMS`` items.

    >>> train = Interactions(3, 3, np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 2]))
    >>> model = EASE(l2=1.0)
    >>> model.fit(train)
    >>> model.score(np.array([-1]), [np.array([0])]).argmax(axis=1).tolist()
    [1]
    """

    name: ClassVar[str] = "ease"
    complexity: ClassVar[int] = 1
    description: ClassVar[str] = "EASE: closed-form linear item-item autoencoder"
    MAX_ITEMS: ClassVar[int] = 20000

    def skip_reason(self, train: Interactions) -> str | None:
        n = train.n_items
        if n <= self.MAX_ITEMS:
            return None
        gigabytes = 3 * n * n * 8 / 1e9  # Gram, inverse and weights, float64
        return (f"EASE inverts a dense items x items matrix: {n:,} items would need about "
                f"{gigabytes:,.0f} GB (the limit is {self.MAX_ITEMS:,} items).")  # fmt: skip

    def fit(
        self, train: Interactions, val: tuple[np.ndarray, list[np.ndarray]] | None = None
    ) -> None:
        self.n_items = train.n_items
        x = train.matrix()
        gram = np.asarray((x.T @ x).toarray(), dtype=np.float64)
        validation = None if "l2" in self.params else _validation(train, val, self.seed)
        if validation is None:
            self.l2, self.tuning = float(self.params.get("l2", 250.0)), {}
            self.weights = ease_weights(gram, self.l2)
            return

        # One inverse per λ: an eigendecomposition shared by all of them was tried and is
        # about 7 times slower than one inverse with OpenBLAS, so it only pays off past 7 values.
        def apply(l2: float) -> None:
            self.weights = ease_weights(gram, l2)

        self.tuning = _tune(self, "l2", list(L2_GRID), apply, validation)
        self.l2 = float(self.tuning["chosen"])

    def score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        product = histories_matrix(histories, self.n_items) @ self.weights
        return np.asarray(product, dtype=np.float32)

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        info = self._info(run, prefix, {"weights": self.weights})
        info["l2"] = self.l2
        return info

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> EASE:
        model = cls._blank(info)
        model.l2 = float(info["l2"])
        model.weights = _read(run, info)["weights"]
        return model


class BiasBaseline(RatingModel):
    """Rating = global mean + user bias + item bias, the regularised baseline predictor of
    Koren (2010), fitted by a few alternating passes (items, then users).

    Params: ``item_l2`` (default 25), ``user_l2`` (default 10), ``passes`` (default 5).
    An unknown user or item (index -1) contributes bias 0.

    >>> train = Interactions(2, 2, np.array([0, 0, 1]), np.array([0, 1, 0]),
    ...                      ratings=np.array([5.0, 3.0, 4.0], np.float32))
    >>> model = BiasBaseline(item_l2=0.0, user_l2=0.0)
    >>> model.fit(train)
    >>> model.predict(np.array([-1]), np.array([-1])).round(3).tolist()
    [4.0]
    """

    name: ClassVar[str] = "bias-baseline"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "global mean + regularised user and item biases"

    def fit(self, train: Interactions, val: Interactions | None = None) -> None:
        if train.ratings is None or len(train) == 0:
            raise DataError(
                "The bias baseline needs explicit ratings, and these interactions have none.",
                "Pass a rating column, or use a ranking candidate for implicit data.",
            )
        ratings = np.asarray(train.ratings, dtype=np.float64)
        item_l2 = float(self.params.get("item_l2", 25.0))
        user_l2 = float(self.params.get("user_l2", 10.0))
        self.mean = float(ratings.mean())
        self.user_bias = np.zeros(train.n_users)
        self.item_bias = np.zeros(train.n_items)
        user_n = np.bincount(train.users, minlength=train.n_users)
        item_n = np.bincount(train.items, minlength=train.n_items)
        for _ in range(int(self.params.get("passes", 5))):
            rest = ratings - self.mean - self.user_bias[train.users]
            self.item_bias = np.bincount(train.items, rest, train.n_items) / (item_l2 + item_n)
            rest = ratings - self.mean - self.item_bias[train.items]
            self.user_bias = np.bincount(train.users, rest, train.n_users) / (user_l2 + user_n)
        # a user or item without ratings and no penalty divides 0 by 0
        self.item_bias = np.nan_to_num(self.item_bias)
        self.user_bias = np.nan_to_num(self.user_bias)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.mean + _lookup(self.user_bias, users) + _lookup(self.item_bias, items)

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        arrays = {"mean": np.array([self.mean]), "user_bias": self.user_bias,
                  "item_bias": self.item_bias}  # fmt: skip
        return {"name": self.name, "file": _write(run, prefix, arrays), "seed": self.seed,
                "params": dict(self.params)}  # fmt: skip

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> BiasBaseline:
        model = cls(seed=int(info.get("seed", 0)), **info.get("params", {}))
        a = _read(run, info)
        model.mean = float(a["mean"][0])
        model.user_bias, model.item_bias = a["user_bias"], a["item_bias"]
        return model


def _lookup(bias: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``bias[index]``, with 0 for an index outside ``0..len(bias)-1`` (-1 = unknown)."""
    index = np.asarray(index, dtype=np.int64)
    known = (index >= 0) & (index < len(bias))
    return np.where(known, bias[np.where(known, index, 0)] if len(bias) else 0.0, 0.0)
