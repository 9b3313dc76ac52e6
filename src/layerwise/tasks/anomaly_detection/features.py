"""The feature matrix every anomaly detector sees, and the way back to the user's columns.

A table becomes numbers with the tabular encoder (numeric columns standardised with NaN as 0
plus a missing-flag, datetime parts, one-hot categories); columns constant in training are
dropped (they cannot make a row unusual, and some detectors would divide by their zero
spread); values are clipped to +-CLIP training standard deviations so one absurd value cannot
swamp a distance. Each feature remembers the column it came from, so a row's reasons name
the user's columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from layerwise.errors import DataError

CLIP = 50.0


class AnomalyFeatures:
    """Fitted encoder + kept features + source columns.

    >>> f = AnomalyFeatures.fit(pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [5.0] * 4}))
    >>> f.transform(pd.DataFrame({"a": [2.5], "b": [5.0]})).shape, f.dropped
    ((1, 1), ['b'])
    """

    def __init__(self, encoder: Any, keep: np.ndarray, sources: list[str], dropped: list[str]):
        self.encoder = encoder
        self.keep = keep
        self.sources = sources  # the user's column behind each kept feature
        self.dropped = dropped
        self.notes: list[str] = []  # what profiling said (columns dropped and why)

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> AnomalyFeatures:
        from layerwise.data.profile import DROPPED_KINDS, profile_table
        from layerwise.data.tabular_encoder import TabularEncoder

        profile = profile_table(frame, None)
        if all(c.kind in DROPPED_KINDS for c in profile.columns.values()):
            raise DataError(
                f"No column of '{frame.attrs.get('name', 'the data')}' can be used "
                f"({', '.join(map(str, frame.columns[:8]))}: identifiers, free text or empty).",
                "Give numeric, boolean, date or categorical columns.",
            )
        encoder = TabularEncoder(profile.columns).fit(frame)
        x = encoder.one_hot(encoder.transform(frame))
        sources = _sources(encoder)
        keep = np.flatnonzero(np.ptp(x, axis=0) > 0) if len(x) else np.arange(x.shape[1])
        used = {sources[j] for j in keep}
        unused = [c.name for c in profile.columns.values() if c.kind in DROPPED_KINDS]
        dropped = unused + [c for c in dict.fromkeys(sources) if c not in used]
        if not len(keep):
            raise DataError(
                "Every row of the data is identical: there is nothing to tell apart.",
                "Give rows that differ in at least one column.",
            )
        features = cls(encoder, keep, [sources[j] for j in keep], dropped)
        features.notes = list(profile.notes)
        return features

    def transform(self, frame: pd.DataFrame, notes: list[str] | None = None) -> np.ndarray:
        """The rows as the detectors' features; ``notes`` (when given) collects what the
        encoder says of them (text in a numeric column, rows with no value)."""
        encoded = self.encoder.transform(frame)
        if notes is not None:
            notes.extend(encoded.notes)
        x = self.encoder.one_hot(encoded)[:, self.keep]
        return np.clip(x, -CLIP, CLIP).astype(np.float32)

    def columns_of(self, contributions: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Feature contributions ``[n, d]`` summed per source column: (names, ``[n, k]``)."""
        names = list(dict.fromkeys(self.sources))
        index = np.array([names.index(s) for s in self.sources])
        out = np.zeros((len(contributions), len(names)))
        np.add.at(out.T, index, contributions.T)
        return names, out

    def to_json(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder.to_json(),
            "keep": self.keep.tolist(),
            "sources": self.sources,
            "dropped": self.dropped,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AnomalyFeatures:
        from layerwise.data.tabular_encoder import TabularEncoder

        return cls(
            TabularEncoder.from_json(d["encoder"]),
            np.asarray(d["keep"], dtype=np.int64),
            list(d["sources"]),
            list(d["dropped"]),
        )


def reasons(names: list[str], shares: np.ndarray, top: int = 3) -> list[str]:
    """The ``top`` columns with the largest shares, as text: ``"amount 71%, hour 12%"``.

    >>> reasons(["a", "b", "c"], np.array([[0.1, 0.7, 0.2]]), top=2)
    ['b 70%, c 20%']
    """
    out = []
    for row in shares:
        order = np.argsort(-row, kind="stable")[:top]
        out.append(", ".join(f"{names[j]} {row[j]:.0%}" for j in order if row[j] >= 0.005))
    return out


def _sources(encoder: Any) -> list[str]:
    """The user's column behind each feature of ``encoder.one_hot``."""
    sources: list[str] = []
    for spec in encoder.specs:
        if spec["kind"] == "datetime":
            sources += [spec["name"]] * (4 + int(bool(spec["hour"])))
        elif spec["kind"] != "categorical":
            sources.append(spec["name"])
    numeric = list(sources)
    sources += [numeric[j] for j in encoder.indicators]
    for spec in encoder.categorical_specs:
        sources += [spec["name"]] * (len(spec["categories"]) + 1 + int(spec["other"]))
    return sources
