"""Interaction logs (who took which item, when, and how they rated it) for recommendation: a
generated log with known structure, a writer for the MovieLens file format, and where a real
MovieLens copy lies on disk.

:func:`latent_log` plants structure that each family of recommender can find only part of,
so that a comparison between them means something before real data is at hand:

- **popularity** (Zipf-like, long-tailed): what a most-popular baseline finds;
- **taste** (users and items from a mixture of genre clusters): co-occurrence that matrix
  models (EASE, ALS, item-kNN, two-tower) recover and a popularity model cannot;
- **order** (``sequential=True``): items come in short chains within a genre (a series of
  films, volumes of a book) that a user tends to take one after the other, and each user's
  taste drifts from one genre mix to another over their history. Only a model that reads
  the order of a user's recent items (a Markov chain, GRU4Rec, SASRec) can use this.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from layerwise.tasks.recommendation.movielens_files import MOVIELENS_FILES

TEMPERATURE = 0.12  # sharpness of taste: logits are u·v / TEMPERATURE (u, v unit vectors)
ZIPF = 1.5  # popularity logit is -ZIPF * log(popularity rank)
FOLLOW = 0.35  # chance that a user takes the next item of a chain right after this one
DRIFT = 0.35  # how far a user's taste moves from their first to their last interaction
MAX_CHAIN = 8
ITEM_NOISE, USER_NOISE = 0.8, 0.5  # spread of items and users around their genre centres
START = 880_000_000  # 1997-11, where MovieLens-100k begins
SHARED = Path(__file__).resolve().parents[5] / "shared" / "datasets"


def latent_log(
    n_users: int = 943,
    n_items: int = 1682,
    mean_per_user: float = 100,
    dim: int = 16,
    explicit: bool = True,
    sequential: bool = True,
    seed: int = 0,
    item_names: bool = False,
) -> pd.DataFrame:
    """A MovieLens-like interaction log generated from known latent structure.

    Each user takes ``k`` distinct items (lognormal, at least 5, at most half the catalogue,
    ``mean_per_user`` on average), drawn without replacement from
    ``softmax(u·v / TEMPERATURE - ZIPF * log(popularity rank))`` (Gumbel top-k). ``u`` and
    ``v`` are unit vectors near one or two of the genre centres. With ``sequential=True``
    the user's taste moves from ``u`` part of the way (``DRIFT``) towards another genre: the
    items are drawn with the average taste and ordered so that those the later taste
    prefers come later; and after an item that has a successor in its chain the user takes
    that successor next with probability ``FOLLOW``. Without it the order is random. Ratings are
    ``round(clip(3 + user bias + item bias + scaled affinity + noise, 1, 5))``.

    Args:
        n_users: users, numbered 1..n_users.
        n_items: items, numbered 1..n_items (or named ``item-0042`` with ``item_names``).
        mean_per_user: average interactions per user.
        dim: size of the latent vectors.
        explicit: add the ``rating`` column (integers 1-5).
        sequential: plant chains and taste drift; without it the order is random.
        seed: the same seed gives the same log.
        item_names: item ids as strings instead of ints.

    Returns:
        Columns ``user``, ``item``, ``rating`` (when explicit), ``timestamp`` (int seconds,
        increasing within each user), sorted by user and time; one row per (user, item).

    Example:
        >>> log = latent_log(50, 200, mean_per_user=20, seed=1)
        >>> list(log.columns), bool(log.duplicated(["user", "item"]).any())
        (['user', 'item', 'rating', 'timestamp'], False)
    """
    rng = np.random.default_rng(seed)
    genres = max(2, min(18, n_items // 20))
    world = _world(rng, n_users, n_items, dim, genres, sequential)
    counts = _activity(rng, n_users, n_items, mean_per_user)
    users, items, keys = _choose(rng, world, counts, sequential)
    if sequential:
        users, items, keys = _follow_chains(rng, users, items, keys, world["next"], n_items)
    order = np.lexsort((keys, users))
    users, items = users[order], items[order]
    rank = np.arange(len(users)) - np.searchsorted(users, users)
    keep = rank < counts[users]  # chains added rows: cut each history back to its length
    users, items = users[keep], items[keep]
    frame = pd.DataFrame({"user": users + 1, "item": world["ids"][items]})
    if item_names:
        width = max(4, len(str(n_items)))
        frame["item"] = [f"item-{i:0{width}d}" for i in frame["item"]]
    if explicit:
        frame["rating"] = _ratings(rng, world, users, items)
    frame["timestamp"] = _timestamps(rng, users, n_users)
    return frame


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _world(rng, n_users, n_items, dim, genres, sequential) -> dict:
    """Genre centres, item and user vectors, popularity, biases and chains."""
    centres = _unit(rng.normal(0, 1, (genres, dim)))
    genre = rng.choice(genres, size=n_items, p=rng.dirichlet(np.full(genres, 2.0)))
    item_vec = _unit(centres[genre] + ITEM_NOISE * rng.normal(0, 1, (n_items, dim)) / np.sqrt(dim))
    popularity = -ZIPF * np.log1p(rng.permutation(n_items))
    first, second = rng.integers(0, genres, (2, n_users))
    share = rng.beta(3, 1.5, (n_users, 1))
    noise = rng.normal(0, 1, (n_users, dim)) / np.sqrt(dim)
    start = _unit(share * centres[first] + (1 - share) * centres[second] + USER_NOISE * noise)
    # drawn either way, so that sequential=False gives the same items, users and taste
    later = centres[rng.integers(0, genres, n_users)]
    end = _unit((1 - DRIFT) * start + DRIFT * later) if sequential else start
    nxt = _chains(rng, genre, genres)
    return {
        "item": item_vec,
        "start": start,
        "end": end,
        "popularity": popularity,
        "next": nxt if sequential else np.full(n_items, -1),
        "ids": rng.permutation(n_items) + 1,
        "user_bias": rng.normal(0, 0.45, n_users),
        "item_bias": rng.normal(0, 0.5, n_items) + 0.1 * (popularity - popularity.mean()),
    }


def _chains(rng, genre: np.ndarray, genres: int) -> np.ndarray:
    """``next[i]``: the item after ``i`` in its chain, or -1. Chains stay within a genre."""
    nxt = np.full(len(genre), -1)
    for g in range(genres):
        members = rng.permutation(np.flatnonzero(genre == g))
        at = 0
        while at < len(members):
            length = min(MAX_CHAIN, 1 + rng.poisson(2.0))
            chain = members[at : at + length]
            nxt[chain[:-1]] = chain[1:]
            at += length
    return nxt


def _activity(rng, n_users: int, n_items: int, mean: float) -> np.ndarray:
    """Interactions per user: lognormal, clipped to [5, n_items / 2], rescaled to ``mean``."""
    low, high = min(5, n_items // 2), max(1, n_items // 2)
    raw = rng.lognormal(0.0, 1.0, n_users)
    scale = mean / raw.mean()
    for _ in range(20):  # clipping moves the mean; a few fixed-point steps put it back
        counts = np.clip(raw * scale, low, high)
        scale *= mean / max(counts.mean(), 1e-9)
    return np.clip(np.round(raw * scale), low, high).astype(int)


def _choose(rng, world: dict, counts: np.ndarray, sequential: bool):
    """Gumbel top-k per user (sampling without replacement from the softmax). Users go in
    blocks of similar ``k`` so only the first ``max(k)`` columns of each block are sorted.
    Returns rows and an ordering key per row."""
    n_items = len(world["popularity"])
    users, items, keys = [], [], []
    block = max(1, 4_000_000 // n_items)
    item_vec = world["item"].astype(np.float32)
    shift = (world["end"] - world["start"]).astype(np.float32)
    popularity = world["popularity"].astype(np.float32)
    by_count = np.argsort(counts, kind="stable")
    for lo in range(0, len(counts), block):
        who = by_count[lo : lo + block]
        taste = ((world["start"][who] + world["end"][who]) / 2).astype(np.float32)
        logits = taste @ item_vec.T / TEMPERATURE + popularity
        # log(w) - log(E), E ~ Exp(1), ranks like log(w) + Gumbel noise
        logits -= np.log(rng.standard_exponential(logits.shape, dtype=np.float32) + 1e-30)
        k = int(counts[who].max())
        top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(logits, top, 1)), 1)
        take = np.arange(k) < counts[who, None]
        rows, chosen = who[np.nonzero(take)[0]], top[take]
        users.append(rows)
        items.append(chosen)
        if sequential:  # items the later taste likes better come later, with noise
            lean = np.einsum("ij,ij->i", shift[rows], item_vec[chosen]) / TEMPERATURE
            keys.append(lean + rng.logistic(0, 1, len(rows)))
        else:
            keys.append(rng.random(len(rows)))
    return np.concatenate(users), np.concatenate(items), np.concatenate(keys)


def _follow_chains(rng, users, items, keys, nxt, n_items):
    """Put the chain successor of an item right after it (moving it there when the user
    already has it, adding it otherwise) with probability FOLLOW, one chain step a round."""
    order = np.lexsort((keys, users))
    users, items = users[order], items[order]
    rank = (np.arange(len(users)) - np.searchsorted(users, users)).astype(float)
    keys = rank * (MAX_CHAIN + 1)  # room for a chain of successors between two ranks
    fresh = np.arange(len(users))
    for _ in range(MAX_CHAIN - 1):
        src = fresh[(nxt[items[fresh]] >= 0) & (rng.random(len(fresh)) < FOLLOW)]
        if not len(src):
            break
        codes = users * n_items + items
        sort = np.argsort(codes)
        want = users[src] * n_items + nxt[items[src]]
        at = np.minimum(np.searchsorted(codes[sort], want), len(codes) - 1)
        found = codes[sort][at] == want
        moved = sort[at[found]]
        keys[moved] = keys[src[found]] + 1
        new = src[~found]
        start = len(users)
        users = np.concatenate([users, users[new]])
        items = np.concatenate([items, nxt[items[new]]])
        keys = np.concatenate([keys, keys[new] + 1])
        fresh = np.concatenate([moved, np.arange(start, len(users))])
    return users, items, keys


def _ratings(rng, world: dict, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    taste = ((world["start"] + world["end"]) / 2).astype(np.float32)
    affinity = np.einsum("ij,ij->i", taste[users], world["item"].astype(np.float32)[items])
    affinity = (affinity - affinity.mean()) / (affinity.std() + 1e-9)
    value = (
        3.5
        + world["user_bias"][users]
        + world["item_bias"][items]
        + 0.6 * affinity
        + rng.normal(0, 0.6, len(users))
    )
    return np.clip(np.round(value), 1, 5).astype(int)


def _timestamps(rng, users: np.ndarray, n_users: int) -> np.ndarray:
    """Sessions of a few minutes between items, days between sessions; users start at
    different times over about two years. ``users`` must be sorted."""
    begin = START + rng.integers(0, 2 * 365 * 86400, n_users)
    gap = rng.exponential(600, len(users)) + 30
    between = rng.random(len(users)) < 0.1
    gap[between] += rng.exponential(5 * 86400, int(between.sum()))
    gap = np.ceil(gap).astype(np.int64)
    total = np.cumsum(gap)
    first = np.searchsorted(users, users)
    return begin[users] + total - total[first]


def write_movielens(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` (``user``, ``item``, optional ``rating`` and ``timestamp``) in the
    MovieLens-100k ``u.data`` format: tab-separated ``user item rating timestamp``, no
    header. Rating 1 when the frame has none; row order as time when it has no timestamp.

    >>> import tempfile
    >>> path = write_movielens(latent_log(20, 100, 10), tempfile.mkdtemp() + "/u.data")
    >>> len(pd.read_csv(path, sep="\\t", header=None).columns)
    4
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = pd.DataFrame(
        {
            "user": frame["user"].to_numpy(),
            "item": frame["item"].to_numpy(),
            "rating": frame["rating"].to_numpy() if "rating" in frame else 1,
            "timestamp": (
                frame["timestamp"].to_numpy() if "timestamp" in frame else np.arange(len(frame))
            ),
        }
    )
    out.to_csv(path, sep="\t", header=False, index=False)
    return path


def movielens_path() -> Path | None:
    """A MovieLens ``u.data`` (100k) or ``ratings.dat`` (1M) on this machine, or None.

    Looks at ``$LAYERWISE_MOVIELENS`` (the file or its folder) first, then in and one or two
    folders below ``$LAYERWISE_DATA``, ``../shared/datasets`` and the project's
    ``shared/datasets``.
    """
    roots = [os.environ.get("LAYERWISE_MOVIELENS"), os.environ.get("LAYERWISE_DATA")]
    roots += [Path("..") / "shared" / "datasets", SHARED]
    for root in (Path(r) for r in roots if r):
        if root.is_file() and root.name in MOVIELENS_FILES:
            return root
        if not root.is_dir():
            continue
        for pattern in ("", "*/", "*/*/"):
            for name in MOVIELENS_FILES:
                found = sorted(root.glob(pattern + name))
                if found:
                    return found[0]
    return None


def recbole_ml100k() -> Path | None:
    """MovieLens-100k as RecBole's wheel ships it (``recbole/dataset_example/ml-100k/
    ml-100k.inter``: the 100,000 ratings of u.data with typed headers), when the package is
    installed (``pip install recbole --no-deps`` is enough: nothing of it is imported), else None.
    """
    import importlib.util

    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "dataset_example" / "ml-100k" / "ml-100k.inter"
        if path.is_file():
            return path
    return None
