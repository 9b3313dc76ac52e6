"""The classical baseline of text-to-text: a translation memory (retrieval, no generation).

For each input the memory finds the training source most similar to it, by the cosine of
TF-IDF vectors of character n-grams (scikit-learn's ``char_wb`` 2-4 grams, lowercased,
sublinear tf, L2-normalised), and answers that source's target. This is what translators'
tools have done for decades, and on short, repetitive sentence pairs (phrasebooks, support
replies) it is a strong baseline: a deep model has to beat it to be worth its training.

Decisions:

- **Duplicate sources.** Sources equal after lowercasing and collapsing whitespace (they have
  the same n-gram vector) become one entry, whose target is the most frequent target of that
  source (ties: the first seen). ``duplicates="first"`` keeps the first target instead.
- **Exact matches first.** A query equal to a training source (same normalisation) returns
  that entry with similarity 1.0. ``char_wb`` n-grams never cross a space, so word order is
  invisible to them ("Tom saw Mary" and "Mary saw Tom" have the same vector); the exact
  look-up keeps a known sentence from losing a tie to its permutation.
- **No overlap.** A query sharing no n-gram with any source (similarity 0) gets the entry
  whose target is the most frequent in the memory: the best blind guess.
- **Saving.** :meth:`TranslationMemory.to_dict` holds the (deduplicated) pairs and the
  settings, plain JSON; :meth:`TranslationMemory.from_dict` refits the vectorizer on them, which
  is deterministic, so predictions after loading are identical. Nothing is pickled.

Retrieval multiplies the sparse query vectors by the sparse training matrix a chunk of queries
at a time (about 16 million similarities per chunk) and keeps each row's argmax, never a dense
queries x sources matrix.

Example:
    >>> tm = TranslationMemory().fit(["How are you?", "Thank you."], ["Ça va ?", "Merci."])
    >>> tm.predict(["how are you", "Thank you!"])
    ['Ça va ?', 'Merci.']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from layerwise.errors import ConfigError, DataError, RunFolderError, check_option_names

FORMAT = "layerwise.translation-memory"
VERSION = 1
ANALYZERS = ("char_wb", "char", "word")
DUPLICATES = ("most-frequent", "first")
DEFAULTS: dict[str, Any] = {
    "analyzer": "char_wb",
    "ngram_range": [2, 4],
    "duplicates": "most-frequent",
}
MAX_PAIRS = 5_000_000  # what from_dict accepts from a (shared, untrusted) run folder
MAX_CHARS = 500_000_000  # all sources and targets together
CHUNK_CELLS = 16_000_000  # similarities computed at once: about 200 MB at the peak
_DAMAGED = "The model file is damaged or not from layerwise: train the model again."


def normalise(text: str) -> str:
    """The key two texts must share to count as the same source: lowercased, whitespace
    collapsed (the vectorizer cannot tell such texts apart either).

    >>> normalise("  How are\\tYOU? ")
    'how are you?'
    """
    return " ".join(text.lower().split())


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    """The full, validated settings (a ConfigError naming the first bad one)."""
    check_option_names("translation-memory", params, DEFAULTS)
    out = {**DEFAULTS, **params}
    if out["analyzer"] not in ANALYZERS:
        raise ConfigError(
            f"translation-memory analyzer={out['analyzer']!r} is not known.",
            "Use one of: " + ", ".join(ANALYZERS) + ".",
        )
    if out["duplicates"] not in DUPLICATES:
        raise ConfigError(
            f"translation-memory duplicates={out['duplicates']!r} is not known.",
            "Use one of: " + ", ".join(DUPLICATES) + ".",
        )
    lo_hi = out["ngram_range"]
    ok = isinstance(lo_hi, (list, tuple)) and len(lo_hi) == 2
    ok = ok and all(isinstance(n, int) and not isinstance(n, bool) for n in lo_hi)
    if not (ok and 1 <= lo_hi[0] <= lo_hi[1] <= 8):
        raise ConfigError(
            f"translation-memory ngram_range={lo_hi!r} is not valid.",
            "Use two integers [low, high] with 1 <= low <= high <= 8, e.g. [2, 4].",
        )
    out["ngram_range"] = [int(lo_hi[0]), int(lo_hi[1])]
    return out


def _texts(texts: Any, what: str) -> list[str]:
    """``texts`` as a list of non-empty strings (a DataError naming the first bad one)."""
    if isinstance(texts, str):
        raise DataError(f"{what} is one string.", "Pass a list of strings.")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(
                f"{what}: item {i} is a {type(text).__name__}, not a string.",
                "Pass a list of strings.",
            )
        if not text.strip():
            raise DataError(
                f"{what}: text {i} of {len(texts)} is empty; the translation memory compares "
                "characters and an empty text has none.",
                "Drop the empty texts (or fill them in) before calling it.",
            )
    return texts


def _deduplicate(sources: list[str], targets: list[str], rule: str) -> tuple[list, list]:
    """One entry per normalised source, in order of first appearance; its target by ``rule``."""
    first: dict[str, str] = {}
    seen: dict[str, Counter] = {}
    for source, target in zip(sources, targets, strict=True):
        key = normalise(source)
        first.setdefault(key, source)
        seen.setdefault(key, Counter())[target] += 1
    if rule == "first":
        chosen = [next(iter(seen[k])) for k in first]
    else:  # max returns the first of equal counts, and a Counter keeps insertion order
        chosen = [max(seen[k], key=seen[k].__getitem__) for k in first]
    return list(first.values()), chosen


class TranslationMemory:
    """Nearest training source by character n-gram TF-IDF cosine; its target is the answer.

    Args:
        seed: stored for the common candidate interface (nothing here is random).
        **params: ``analyzer`` ("char_wb", "char" or "word"), ``ngram_range`` ([2, 4]) and
            ``duplicates`` ("most-frequent" or "first"); see the module docstring.

    After :meth:`fit`, ``sources`` and ``targets`` are the memory's entries (one per distinct
    source); :meth:`nearest` gives indices into them.

    Example:
        >>> tm = TranslationMemory().fit(["I am cold.", "I am hot."], ["J'ai froid.", "J'ai chaud."])
        >>> tm.predict(["I am colde."])
        ["J'ai froid."]
    """

    name: ClassVar[str] = "translation-memory"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 1
    description: ClassVar[str] = "nearest training source by character n-gram TF-IDF cosine"

    def __init__(self, seed: int = 0, **params: Any):
        self.seed = seed
        self.params = _check_params(params)
        self.sources: list[str] = []
        self.targets: list[str] = []
        self.n_pairs = 0

    def fit(self, sources: Sequence[str], targets: Sequence[str]) -> TranslationMemory:
        """Remember the pairs (deduplicated by source) and fit the vectorizer on the sources.

        Example:
            >>> TranslationMemory().fit(["Hi.", "hi.", "Hi."], ["Salut.", "Coucou.", "Coucou."]).targets
            ['Coucou.']
        """
        sources = _texts(sources, "sources")
        targets = list(targets)
        if len(sources) != len(targets):
            raise DataError(
                f"{len(sources)} sources but {len(targets)} targets.", "Pass one target per source."
            )
        if not sources:
            raise DataError(
                "No sentence pairs to fit the translation memory on.",
                "Pass at least one (source, target) pair.",
            )
        for i, target in enumerate(targets):
            if not isinstance(target, str):
                raise DataError(
                    f"targets: item {i} is a {type(target).__name__}, not a string.",
                    "Pass a list of strings.",
                )
        self.n_pairs = len(sources)
        self._build(*_deduplicate(sources, targets, self.params["duplicates"]))
        return self

    def _build(self, sources: list[str], targets: list[str]) -> None:
        """Fit the vectorizer, index the training matrix by feature, find the fallback entry."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.sources, self.targets = sources, targets
        self.vectorizer = TfidfVectorizer(
            analyzer=self.params["analyzer"],
            ngram_range=tuple(self.params["ngram_range"]),
            lowercase=True,
            sublinear_tf=True,
            dtype=np.float32,  # half the memory of float64 in the (nearly dense) products
        )
        try:
            matrix = self.vectorizer.fit_transform(sources)
        except ValueError as error:  # "empty vocabulary": word analyzer on punctuation only
            raise DataError(
                f"The {len(sources)} training sources give no {self.params['analyzer']} features "
                f"({error}).",
                'Use analyzer="char_wb" or sources with words in them.',
            ) from None
        self._by_feature = matrix.T.tocsr()  # feature x source: a query row times it
        self._exact: dict[str, int] = {}
        for i, source in enumerate(sources):
            self._exact.setdefault(normalise(source), i)
        counts = Counter(targets)
        self._fallback = max(range(len(targets)), key=lambda i: (counts[targets[i]], -i))

    def nearest(
        self, texts: Sequence[str], chunk_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each text, the index of the most similar entry and the cosine similarity.

        Args:
            texts: the inputs (non-empty strings).
            chunk_size: queries per sparse product (default: about 16 million similarities
                per chunk, at most 512 queries); it changes the memory used, not the result.

        Returns:
            ``(index, similarity)``: int64 indices into ``sources``/``targets`` and float64
            similarities in [0, 1] (1.0 for an exact match).

        Example:
            >>> tm = TranslationMemory().fit(["Go.", "Run!"], ["Va !", "Cours !"])
            >>> index, similarity = tm.nearest(["run!", "Rnu!"])
            >>> index.tolist(), float(similarity[0])
            ([1, 1], 1.0)
        """
        self._check_fitted()
        texts = _texts(texts, "texts")
        n_rows = len(texts)
        index = np.full(n_rows, -1, dtype=np.int64)
        similarity = np.zeros(n_rows, dtype=np.float64)
        for i, text in enumerate(texts):
            index[i] = self._exact.get(normalise(text), -1)
        similarity[index >= 0] = 1.0
        todo = np.flatnonzero(index < 0)
        if chunk_size is None:
            chunk_size = min(512, max(16, CHUNK_CELLS // max(len(self.sources), 1)))
        if int(chunk_size) < 1:
            raise ConfigError(f"chunk_size={chunk_size} is not valid.", "Use an integer >= 1.")
        for start in range(0, len(todo), int(chunk_size)):
            rows = todo[start : start + int(chunk_size)]
            queries = self.vectorizer.transform([texts[i] for i in rows])
            scores = (queries @ self._by_feature).toarray()  # nearly dense for char n-grams
            best = scores.argmax(axis=1)
            value = scores[np.arange(len(rows)), best].astype(np.float64)
            index[rows] = np.where(value > 0, best, self._fallback)
            similarity[rows] = np.clip(value, 0.0, 1.0)
        return index, similarity

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The target of the nearest entry for each text.

        Example:
            >>> TranslationMemory().fit(["Go.", "Run!"], ["Va !", "Cours !"]).predict(["Go!"])
            ['Va !']
        """
        index, _ = self.nearest(texts)
        return [self.targets[i] for i in index]

    def _check_fitted(self) -> None:
        if not self.sources:
            raise ConfigError(
                "The translation memory is not fitted.", "Call fit(sources, targets) first."
            )

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the memory, JSON-safe (the entries and the settings).

        Example:
            >>> import json
            >>> tm = TranslationMemory().fit(["Go."], ["Va !"])
            >>> TranslationMemory.from_dict(json.loads(json.dumps(tm.to_dict()))).predict(["go"])
            ['Va !']
        """
        self._check_fitted()
        return {
            "format": FORMAT,
            "version": VERSION,
            "seed": self.seed,
            "params": dict(self.params),
            "n_pairs": self.n_pairs,
            "sources": list(self.sources),
            "targets": list(self.targets),
        }

    @classmethod
    def from_dict(cls, d: Any) -> TranslationMemory:
        """Rebuild a memory from :meth:`to_dict`'s output, read from an untrusted run folder:
        every field is checked (types, equal lengths, sizes capped) and anything malformed is a
        RunFolderError saying what was wrong. The vectorizer is refitted on the stored sources
        (deterministic), so predictions are the same as before saving.
        """
        _check_stored(d)
        try:
            model = cls(seed=d["seed"], **d["params"])
        except ConfigError as error:
            raise RunFolderError(
                f"Translation memory settings: {error.message}", _DAMAGED
            ) from None
        model.n_pairs = d["n_pairs"]
        try:
            model._build(list(d["sources"]), list(d["targets"]))
        except DataError as error:
            raise RunFolderError(f"Translation memory: {error.message}", _DAMAGED) from None
        return model


def _bad(message: str) -> RunFolderError:
    return RunFolderError(f"Translation memory: {message}", _DAMAGED)


def _check_stored(d: Any) -> None:
    """A RunFolderError for the first thing wrong with a stored memory."""
    if not isinstance(d, dict):
        raise _bad(f"expected a JSON object, got {type(d).__name__}.")
    missing = [
        k
        for k in ("format", "version", "seed", "params", "n_pairs", "sources", "targets")
        if k not in d
    ]
    if missing:
        raise _bad("missing field(s) " + ", ".join(repr(k) for k in missing) + ".")
    if d["format"] != FORMAT:
        raise _bad(f"format is {d['format']!r}, expected {FORMAT!r}.")
    version = d["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _bad(f"version is {version!r}, expected an integer >= 1.")
    if version > VERSION:
        raise RunFolderError(
            f"Translation memory: version {version} is newer than this layerwise reads "
            f"({VERSION}).",
            "Upgrade layerwise to load this run.",
        )
    for key in ("seed", "n_pairs"):
        if not isinstance(d[key], int) or isinstance(d[key], bool) or d[key] < 0:
            raise _bad(f"{key!r} is {d[key]!r}, expected an integer >= 0.")
    if not isinstance(d["params"], dict) or not all(isinstance(k, str) for k in d["params"]):
        raise _bad(f"'params' is {d['params']!r}, expected an object of settings.")
    _check_pairs(d["sources"], d["targets"], d["n_pairs"])


def _check_pairs(sources: Any, targets: Any, n_pairs: int) -> None:
    for key, texts in (("sources", sources), ("targets", targets)):
        if not isinstance(texts, list):
            raise _bad(f"{key!r} is a {type(texts).__name__}, expected a list of strings.")
        if not all(isinstance(t, str) for t in texts):
            raise _bad(f"{key!r} holds something other than strings.")
    if len(sources) != len(targets):
        raise _bad(f"{len(sources)} sources but {len(targets)} targets; they must pair up.")
    if not 1 <= len(sources) <= MAX_PAIRS:
        raise _bad(f"{len(sources)} entries; expected between 1 and {MAX_PAIRS:,}.")
    if n_pairs < len(sources):
        raise _bad(f"'n_pairs' is {n_pairs}, fewer than the {len(sources)} entries.")
    chars = sum(map(len, sources)) + sum(map(len, targets))
    if chars > MAX_CHARS:
        raise _bad(f"{chars:,} characters of text; at most {MAX_CHARS:,} are read.")
    empty = next((i for i, s in enumerate(sources) if not s.strip()), None)
    if empty is not None:
        raise _bad(f"source {empty} is empty.")
