"""What the gradient-boosted candidates of the tables and of fraud mode share: the split that
early stopping validates on, LightGBM's and CatBoost's early-stopped fit followed by a refit on
every row with the best round count, and CatBoost's optional import and load cap.

Both applications train boosted trees the same way; only how they build a dataset differs, so
each passes a function from row indices to its own LightGBM ``Dataset`` or CatBoost ``Pool``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from layerwise.errors import ConfigError

MIN_EARLY_STOPPING_ROWS = 100  # fewer training rows: a fixed number of rounds
PARALLEL_ROWS = 50_000  # from this many training rows a boosted model uses two threads
MAX_CATBOOST_BYTES = 1 << 30  # what loading reads at most: a large CatBoost model is ~100 MB

Rows = Callable[..., Any]  # (row indices[, reference]) -> a LightGBM Dataset or CatBoost Pool


def boosting_threads(rows: int) -> int:
    """Threads for a boosted model (LightGBM, CatBoost): one under PARALLEL_ROWS rows. On the
    tables most users bring, two threads on a busy 2-core machine made LightGBM 10-40x slower
    (its OpenMP threads spin waiting on each other over so little work: Males, 4,360 rows,
    0.43 s with one thread, 4-40 s with two), while one thread loses little when idle.

    >>> boosting_threads(5000), boosting_threads(200_000)
    (1, 2)
    """
    return 1 if rows < PARALLEL_ROWS else 2


def early_stopping_split(
    y: np.ndarray, classification: bool, seed: int, fraction: float | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Training and validation rows for early stopping (stratified for classes when every
    class can be on both sides), 15% of them under 2,000 rows and 10% above; None when there
    are too few rows to spare any.

    >>> tr, va = early_stopping_split(np.arange(200) % 2, True, seed=0)
    >>> len(tr), len(va)
    (170, 30)
    """
    from sklearn.model_selection import train_test_split

    rows = len(y)
    if rows < MIN_EARLY_STOPPING_ROWS:
        return None
    fraction = fraction or (0.15 if rows < 2000 else 0.1)
    stratify = None
    if classification:
        counts = np.bincount(np.asarray(y, dtype=np.int64))
        present = counts[counts > 0]
        if present.min() >= 2 and int(np.ceil(fraction * rows)) >= len(present):
            stratify = y
    train, val = train_test_split(
        np.arange(rows), test_size=fraction, random_state=seed, stratify=stratify
    )
    return np.sort(train), np.sort(val)


def lightgbm_early_stopped(
    params: dict[str, Any],
    dataset: Rows,
    split: tuple[np.ndarray, np.ndarray],
    max_rounds: int,
    patience: int,
    refit: bool = True,
) -> tuple[Any, int]:
    """Train on ``split``'s first part until its second stops improving for ``patience``
    rounds, then (``refit``) train again on every row for the best round count. Returns the
    booster and that count. ``dataset(rows, reference=None)`` builds a ``lightgbm.Dataset``."""
    import lightgbm as lgb

    train, val = split
    fitting = dataset(train)
    booster = lgb.train(
        params,
        fitting,
        num_boost_round=max_rounds,
        valid_sets=[dataset(val, reference=fitting)],
        callbacks=[lgb.early_stopping(patience, first_metric_only=True, verbose=False)],
    )
    best = max(int(booster.best_iteration or max_rounds), 1)
    if not refit:
        return booster, best
    everything = np.arange(len(train) + len(val))
    return lgb.train(params, dataset(everything), num_boost_round=best), best


def catboost_early_stopped(
    params: dict[str, Any],
    pool: Rows,
    split: tuple[np.ndarray, np.ndarray],
    patience: int,
    refit: bool = True,
    callbacks: list | None = None,
) -> tuple[Any, int]:
    """CatBoost's counterpart of :func:`lightgbm_early_stopped` (``params["iterations"]`` the
    most rounds); ``pool(rows)`` builds a ``catboost.Pool``. Returns the model and the best
    round's index (0-based, as CatBoost counts)."""
    catboost = import_catboost()
    train, val = split
    early = {**params, "od_type": "Iter", "od_wait": patience, "use_best_model": True}
    model = catboost.CatBoost(early)
    model.fit(pool(train), eval_set=pool(val), callbacks=callbacks)
    found = model.get_best_iteration()
    best = int(found) if found is not None else int(model.tree_count_) - 1
    if not refit:
        return model, best
    model = catboost.CatBoost({**params, "iterations": best + 1})
    model.fit(pool(np.arange(len(train) + len(val))), callbacks=callbacks)
    return model, best


def import_catboost() -> Any:
    """The catboost module, or a one-line error naming the extra that installs it."""
    try:
        import catboost
    except ImportError as exc:
        raise ConfigError(
            "The 'catboost' candidate needs the catboost package, which is not installed.",
            'Install it with `pip install "layerwise[catboost]"`, or leave catboost out of '
            "--candidates.",
        ) from exc
    return catboost


def load_catboost(run: Any, name: str) -> Any:
    """A CatBoost model from run folder file ``name`` (listed and hashed in its manifest: the
    RunFolder verifies it), reading at most ``MAX_CATBOOST_BYTES``."""
    catboost = import_catboost()
    blob = run.read_bytes(name, MAX_CATBOOST_BYTES)
    model = catboost.CatBoost()
    model.load_model(blob=blob)
    return model
