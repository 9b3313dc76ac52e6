"""scikit-learn trees as flat arrays in one safetensors file: no pickle, walked in numpy.

A fitted sklearn forest is Python objects that only pickle can store, and a run folder must
hold data, not code. So the trees are exported to a few flat arrays (children by global node
index, split column and threshold, where a missing value goes, each node's output row) that
:func:`check` validates on load (every path must end, every index be in range) and
:func:`walk` follows in numpy. Shared by the tables' forests (``tasks/tabular/forest.py``) and
the molecules' fingerprint forest (``tasks/molecules/baselines.py``).

>>> from sklearn.ensemble import RandomForestRegressor
>>> x = np.arange(40, dtype=np.float32).reshape(20, 2)
>>> forest = RandomForestRegressor(5, random_state=0).fit(x, x[:, 0])
>>> arrays = flatten([e.tree_ for e in forest.estimators_], 1, None)
>>> check(arrays, n_features=2, n_outputs=1, where="example")
>>> bool(np.allclose(walk(arrays, x)[:, 0], forest.predict(x), atol=1e-5))
True
>>> walk_trees(arrays, x[:3]).shape  # [rows, trees, outputs]
(3, 5, 1)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from layerwise.errors import RunFolderError

CELLS = 1 << 22  # rows x trees walked at once (bounds the walk's memory to ~100 MB)
ARRAY_NAMES = ("left", "right", "feature", "threshold", "missing_left", "value", "roots")
FIX = "Use the run folder as `layerwise train` wrote it, or train again."


def flatten(trees: list[Any], n_classes: int, classes: np.ndarray | None) -> dict[str, np.ndarray]:
    """The fitted sklearn trees as flat arrays: children by global node index (-1 at leaves),
    split column and threshold, where a missing value goes, and each node's output row
    (class fractions over all ``n_classes`` columns, or the mean)."""
    offsets = np.concatenate([[0], np.cumsum([t.node_count for t in trees])]).astype(np.int64)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("left", "right", "feature", "value")}
    threshold, missing = [], []
    for tree, start in zip(trees, offsets[:-1], strict=True):
        leaf = tree.children_left < 0
        parts["left"].append(np.where(leaf, -1, tree.children_left + start))
        parts["right"].append(np.where(leaf, -1, tree.children_right + start))
        parts["feature"].append(np.where(leaf, -1, tree.feature))
        threshold.append(np.where(leaf, 0.0, tree.threshold))
        missing.append(np.asarray(tree.missing_go_to_left, dtype=np.uint8))
        value = tree.value[:, 0, :]  # [nodes, classes seen] fractions, or [nodes, 1] means
        if classes is not None:  # a fold that lacks a class still gives every column
            full = np.zeros((len(value), n_classes))
            full[:, classes] = value
            value = full
        parts["value"].append(value)
    arrays = {k: np.concatenate(v).astype(np.int32) for k, v in parts.items() if k != "value"}
    arrays.update(
        roots=offsets[:-1].astype(np.int32),
        threshold=np.concatenate(threshold).astype(np.float64),
        missing_left=np.concatenate(missing),
        value=np.concatenate(parts["value"]).astype(np.float32),
    )
    return arrays


def check(arrays: dict[str, np.ndarray], n_features: int, n_outputs: int, where: str) -> None:
    """Refuse arrays that do not make a forest a walk can finish: every split's children come
    after it (so every path ends within the node count), indices and columns in range."""
    problem = None
    if set(arrays) != set(ARRAY_NAMES):
        problem = f"arrays {sorted(arrays)} instead of {list(ARRAY_NAMES)}"
    else:
        n = len(arrays["left"])
        left, right, feature = (arrays[k].astype(np.int64) for k in ("left", "right", "feature"))
        inner, node = left >= 0, np.arange(n)
        roots = arrays["roots"].astype(np.int64)
        if any(arrays[k].dtype.kind not in "iu" for k in ("left", "right", "feature", "roots")):
            problem = "node indices that are not integers"
        elif any(
            arrays[k].shape != (n,) for k in ("right", "feature", "threshold", "missing_left")
        ):
            problem = "node arrays of different lengths"
        elif arrays["value"].shape != (n, n_outputs):
            problem = f"node values of shape {list(arrays['value'].shape)}"
        elif roots.ndim != 1 or not len(roots) or roots.min() < 0 or roots.max() >= n:
            problem = "tree roots out of range"
        elif not np.array_equal(inner, right >= 0) or np.any(left[~inner] != -1):
            problem = "a node with one child"
        elif np.any(left[inner] <= node[inner]) or np.any(right[inner] <= node[inner]):
            problem = "a split whose child does not come after it"
        elif np.any(left >= n) or np.any(right >= n):
            problem = "a child out of range"
        elif np.any((feature[inner] < 0) | (feature[inner] >= n_features)):
            problem = f"a split on a column outside 0..{n_features - 1}"
        elif not np.all(np.isfinite(arrays["value"])):
            problem = "a leaf value that is not finite"
    if problem:
        raise RunFolderError(f"The forest in '{where}' is not valid ({problem}).", FIX)


def _leaves(arrays: dict[str, np.ndarray], x: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Row blocks of ``x`` (first row, each tree's leaf value ``[rows, trees, outputs]``),
    CELLS rows x trees at a time.

    sklearn grows trees on float32 copies of the inputs, so the comparison is made in float32
    too (a float64 value between two float32 neighbours would otherwise go the other way)."""
    x = np.asarray(x, dtype=np.float32)
    left, right, feature = arrays["left"], arrays["right"], arrays["feature"]
    threshold, missing_left = arrays["threshold"], arrays["missing_left"].astype(bool)
    roots, value = arrays["roots"], arrays["value"]
    n_trees = len(roots)
    step = max(1, CELLS // n_trees)
    for start in range(0, len(x), step):
        rows = np.repeat(np.arange(start, min(len(x), start + step)), n_trees)
        node = np.tile(roots, len(rows) // n_trees).astype(np.int64)
        active = np.flatnonzero(left[node] >= 0)
        while active.size:  # children come after parents (checked): every path ends
            at = node[active]
            seen = x[rows[active], feature[at]]
            go_left = np.where(np.isnan(seen), missing_left[at], seen <= threshold[at])
            node[active] = np.where(go_left, left[at], right[at])
            active = active[left[node[active]] >= 0]
        yield start, value[node].reshape(-1, n_trees, value.shape[1])


def walk(arrays: dict[str, np.ndarray], x: np.ndarray, spread: bool = False) -> Any:
    """The mean over the trees of the leaf each row of ``x`` reaches: ``[n, outputs]``; with
    ``spread``, also the standard deviation over the trees (``(mean, std)``), in the same
    bounded memory."""
    outputs = arrays["value"].shape[1]
    out = np.zeros((len(x), outputs))
    std = np.zeros((len(x), outputs)) if spread else None
    for start, leaves in _leaves(arrays, x):
        out[start : start + len(leaves)] = leaves.mean(axis=1)
        if std is not None:
            std[start : start + len(leaves)] = leaves.astype(np.float64).std(axis=1)
    return (out, std) if spread else out


def walk_trees(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Each tree's leaf value for each row of ``x``: ``[n, trees, outputs]`` float32 (the walk
    itself in bounded memory; the result is n x trees x outputs)."""
    n_trees, outputs = len(arrays["roots"]), arrays["value"].shape[1]
    out = np.zeros((len(x), n_trees, outputs), dtype=np.float32)
    for start, leaves in _leaves(arrays, x):
        out[start : start + len(leaves)] = leaves
    return out
