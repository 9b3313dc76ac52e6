"""Splitting molecules into train, validation and test sets: by scaffold or at random.

A random split puts close analogues of every test molecule in training and so flatters every
model; a scaffold split keeps each Bemis-Murcko ring system in one set, so the test molecules'
scaffolds are new to the model, which is the honest question for new chemistry. The scaffold
split is balanced as chemprop's is: scaffold sets too big to fit in half of the validation or
test set go to training first, the rest are shuffled by the seed, so the smaller sets are not
always the same molecules.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from layerwise.errors import ConfigError, DataError
from layerwise.tasks.molecules.chemistry import murcko_scaffold

PARTS = ("train", "val", "test")
SPLITS = ("scaffold", "random")  # the kinds of split a run can ask for


def check_fractions(fractions: Any) -> tuple[float, float, float]:
    """The three split fractions as floats, or a ConfigError.

    Example:
        >>> check_fractions([0.8, 0.1, 0.1])
        (0.8, 0.1, 0.1)
    """
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or min(values) <= 0 or abs(sum(values) - 1.0) > 1e-6:
        raise ConfigError(
            f"Split fractions {fractions!r} are not valid.",
            "Give three positive fractions for train, validation and test that add up to 1, "
            "e.g. 0.8,0.1,0.1.",
        )
    return values  # type: ignore[return-value]


def random_split(n: int, fractions: Any = (0.8, 0.1, 0.1), seed: int = 0) -> dict[str, np.ndarray]:
    """Molecules split at random; every part gets at least one molecule.

    Args:
        n: the number of molecules (at least 3).
        fractions: train, validation and test fractions (positive, adding up to 1).
        seed: the same seed gives the same split.

    Returns:
        ``{"train", "val", "test"}`` -> sorted index arrays.

    Example:
        >>> parts = random_split(10, seed=0)
        >>> [len(parts[p]) for p in ("train", "val", "test")]
        [8, 1, 1]
    """
    fractions = check_fractions(fractions)
    _check_size(n)
    n_val = max(1, round(fractions[1] * n))
    n_test = max(1, round(fractions[2] * n))
    while n - n_val - n_test < 1:  # tiny sets: keep one for training
        n_val, n_test = (n_val - 1, n_test) if n_val >= n_test else (n_val, n_test - 1)
    order = np.random.default_rng(seed).permutation(n)
    cut = [n - n_val - n_test, n - n_test]
    return {p: np.sort(part) for p, part in zip(PARTS, np.split(order, cut), strict=True)}


def scaffold_split(
    mols_or_scaffolds: Any, fractions: Any = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, np.ndarray]:
    """Molecules split so that all molecules of one Bemis-Murcko scaffold are in one part.

    Scaffold sets larger than half the validation or the test size go to training first,
    largest first; the others are shuffled by ``seed``; then training, validation and test are
    filled in turn up to their sizes. When a part would be empty, the smallest scaffold set of
    the part with the most sets moves there. With fewer than three scaffolds the scaffolds
    cannot be kept apart, and the molecules are split at random (:func:`random_split`).

    Args:
        mols_or_scaffolds: RDKit molecules, or their scaffold SMILES (strings).
        fractions: train, validation and test fractions (positive, adding up to 1).
        seed: the same seed gives the same split.

    Returns:
        ``{"train", "val", "test"}`` -> sorted index arrays.

    Example:
        >>> scaffolds = ["c1ccccc1"] * 6 + ["C1CCCCC1", "C1CC1", "c1ccncc1", "C1CCNC1"]
        >>> parts = scaffold_split(scaffolds, seed=0)
        >>> parts["train"][:6].tolist(), len(parts["val"]) + len(parts["test"])
        ([0, 1, 2, 3, 4, 5], 2)
    """
    fractions = check_fractions(fractions)
    items = list(mols_or_scaffolds)
    _check_size(len(items))
    scaffolds = [s if isinstance(s, str) else murcko_scaffold(s) for s in items]
    groups: dict[str, list[int]] = {}
    for i, scaffold in enumerate(scaffolds):
        groups.setdefault(scaffold, []).append(i)
    if len(groups) < 3:
        return random_split(len(items), fractions, seed)
    n = len(items)
    sizes = [f * n for f in fractions]
    sets = list(groups.values())
    big = [g for g in sets if len(g) > sizes[1] / 2 or len(g) > sizes[2] / 2]
    small = [g for g in sets if not (len(g) > sizes[1] / 2 or len(g) > sizes[2] / 2)]
    big.sort(key=len, reverse=True)  # stable: equal sizes keep their first appearance
    order = np.random.default_rng(seed).permutation(len(small))
    parts: list[list[list[int]]] = [[], [], []]
    counts = [0, 0, 0]
    for group in big + [small[i] for i in order]:
        k = next((k for k in (0, 1) if counts[k] + len(group) <= sizes[k]), 2)
        parts[k].append(group)
        counts[k] += len(group)
    _fill_empty(parts)
    return {p: np.sort(np.asarray([i for g in part for i in g], dtype=np.int64))
            for p, part in zip(PARTS, parts, strict=True)}  # fmt: skip


def _fill_empty(parts: list[list[list[int]]]) -> None:
    """Move the smallest scaffold set of the part with the most sets into each empty part."""
    for empty in range(3):
        if parts[empty]:
            continue
        donor = max(range(3), key=lambda k: len(parts[k]))
        smallest = min(range(len(parts[donor])), key=lambda j: len(parts[donor][j]))
        parts[empty].append(parts[donor].pop(smallest))


def _check_size(n: int) -> None:
    if n < 3:
        raise DataError(
            f"{n} molecule(s) cannot be split into training, validation and test sets.",
            "Give at least 3 molecules (a useful model needs many more).",
        )


def split_table(molecules: Any, parts: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per molecule: ``smiles``, ``split`` (train/val/test) and ``scaffold``, for the
    run folder.

    Args:
        molecules: the MoleculeSet that was split.
        parts: ``{"train", "val", "test"}`` -> index arrays into it.

    Example:
        >>> from layerwise.tasks.molecules.molecule_set import read_molecules
        >>> s = read_molecules(pd.DataFrame({"smiles": ["CCO", "c1ccccc1C", "C1CC1N"], "y": [0.5, 2.0, 1.5]}))
        >>> split_table(s, random_split(3)).split.tolist()
        ['val', 'test', 'train']
    """
    n = len(molecules)
    labels = np.full(n, "", dtype=object)
    for name, index in parts.items():
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= n):
            raise ConfigError(
                f"Split '{name}' refers to molecule {int(index.max())} of {n}.",
                "Give index arrays into the set that was split.",
            )
        labels[index] = name
    scaffolds = [murcko_scaffold(m) for m in molecules.mols]
    return pd.DataFrame({"smiles": list(molecules.smiles), "split": labels, "scaffold": scaffolds})
