"""Bagged fold models: a classical candidate served as the mean of the models its
cross-validation trained, instead of one more model refitted on every row.

The k models of k-fold cross-validation each saw (k-1)/k of the rows and, between them, all of
them; their mean is at least as good as a refit on trees (it averages away some of each
model's variance, as AutoGluon's bagging does) and costs no extra training, so the final fit
disappears from the bake-off's time. Their out-of-fold outputs, which the greedy ensemble
weighs, come from the very models that are served. The deep candidates keep their refit: it
is the fit that checkpoints every epoch, so an interrupted run resumes it.

Each member is saved by its own candidate class into ``bag/<name>/fold-<i>/`` of the run
folder (through :class:`Subfolder`); ``preprocess.json`` lists them under ``"bag"``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.core.candidate import Candidate
from layerwise.errors import RunFolderError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.tabular.candidates import CANDIDATES

MAX_MEMBERS = 20  # a bag read from a run folder: more members than any protocol trains is damage


class Subfolder:
    """A run folder seen from inside one of its folders: every file name a candidate reads or
    writes is taken relative to ``prefix``, so k models of one class keep their own files.
    The folder's own checks (plain relative names, listed in the manifest when read) apply to
    the full name."""

    NAMED = frozenset(
        {"file", "exists", "write_text", "write_json", "write_yaml", "write_bytes",
         "write_with", "read_bytes", "read_text", "read_json", "read_yaml"}
    )  # fmt: skip

    def __init__(self, run: RunFolder, prefix: str):
        self._run, self._prefix = run, prefix.strip("/")

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._run, attr)
        if attr not in self.NAMED:
            return value
        return lambda name, *args, **kwargs: value(f"{self._prefix}/{name}", *args, **kwargs)


class BaggedCandidate(Candidate):
    """The mean of one candidate's fold models (class probabilities, or values).

    >>> BaggedCandidate("regression").complexity
    0
    """

    name: ClassVar[str] = "bag"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 0  # never ranked: it stands in for its members' candidate

    candidate: str
    members: list[Candidate]

    @classmethod
    def of(cls, candidate: str, members: list[Candidate]) -> BaggedCandidate:
        first = members[0]
        bag = cls(first.objective, first.n_classes, first.seed)
        bag.candidate, bag.members = candidate, list(members)
        return bag

    def fit(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("a bag is built from fitted fold models (BaggedCandidate.of)")

    def predict(self, table: Any, encoder: Any) -> np.ndarray:
        return sum(m.predict(table, encoder) for m in self.members) / len(self.members)

    def save(self, run: RunFolder) -> dict[str, Any]:
        common = {"objective": self.objective, "n_classes": self.n_classes, "seed": self.seed}
        return {
            "bag_of": self.candidate,
            "bag": [
                {**common, **m.save(Subfolder(run, _prefix(self.candidate, i)))}
                for i, m in enumerate(self.members)
            ],
        }

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> Candidate:
        return load_model(str(info.get("bag_of")), run, info)


def _prefix(candidate: str, index: int) -> str:
    return f"bag/{candidate}/fold-{index + 1}"


def load_model(name: str, run: RunFolder, info: dict[str, Any]) -> Candidate:
    """Candidate ``name`` from its ``preprocess.json`` entry: one model, or a bag of them."""
    candidate = CANDIDATES.get(name)
    if "bag" not in info:
        return candidate.load(run, info)
    members = info["bag"]
    if info.get("bag_of") != name:
        raise RunFolderError(
            f"preprocess.json says the bag of {name} models is one of {info.get('bag_of')!r}.",
            "The run folder may be damaged: train it again.",
        )
    if not isinstance(members, list) or not 1 <= len(members) <= MAX_MEMBERS:
        raise RunFolderError(
            f"The bagged {name} model in preprocess.json lists no valid fold models.",
            "The run folder may be damaged: train it again.",
        )
    if not all(isinstance(m, dict) for m in members):
        raise RunFolderError(
            f"The bagged {name} model in preprocess.json has an entry that is not an object.",
            "The run folder may be damaged: train it again.",
        )
    loaded = [candidate.load(Subfolder(run, _prefix(name, i)), m) for i, m in enumerate(members)]
    return BaggedCandidate.of(name, loaded)
