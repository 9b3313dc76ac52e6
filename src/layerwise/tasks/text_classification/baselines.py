"""The classical baselines for text: TF-IDF + logistic regression, and NB-SVM.

Both are linear models over sparse n-gram features, fitted with scikit-learn. Nothing of
scikit-learn is pickled: the run folder holds compact JSON (vocabularies as term lists whose
position is the column index, idf weights, r vectors, coefficients), and ``load`` rebuilds the
vectorizers from them, so predictions after loading are identical.

Word tokens are runs of word characters or single punctuation marks (``TOKEN_PATTERN``),
lowercased; ``explain`` uses the same tokens.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from typing import Any, ClassVar, NamedTuple

import numpy as np

from layerwise.core.candidate import Candidate
from layerwise.errors import DataError
from layerwise.runs.folder import RunFolder

TOKEN_PATTERN = r"(?u)\b\w+\b|[^\w\s]"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)


def _vectorizer(kind: str, **kwargs: Any) -> Any:
    """A scikit-learn vectorizer: "tfidf-word", "tfidf-char" (char_wb) or "binary-word"."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    if kind == "binary-word":
        return CountVectorizer(
            ngram_range=WORD_NGRAMS, token_pattern=TOKEN_PATTERN, binary=True, **kwargs
        )
    common = {"lowercase": True, "sublinear_tf": True, "dtype": np.float64}
    if kind == "tfidf-word":
        return TfidfVectorizer(
            ngram_range=WORD_NGRAMS, token_pattern=TOKEN_PATTERN, **common, **kwargs
        )
    return TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, **common, **kwargs)


def _fit_vectorizer(kind: str, texts: list[str], min_df: int, max_features: int) -> Any:
    """Fit a vectorizer; a corpus too small for ``min_df`` falls back to min_df=1."""
    for df in dict.fromkeys((min_df, 1)):
        vectorizer = _vectorizer(kind, min_df=df, max_features=max_features)
        try:
            vectorizer.fit(texts)
            return vectorizer
        except ValueError:  # "empty vocabulary" / "no terms remain": try the laxer setting
            continue
    raise DataError(
        f"The training texts give no {kind.split('-')[1]} features ({len(texts)} texts).",
        "Pass texts with words in them.",
    )


def _char_wb_ngrams(chunk: str) -> list[str]:
    """scikit-learn's char_wb n-grams of one whitespace-free chunk (same order, same grams)."""
    word, grams = f" {chunk} ", []
    for n in range(CHAR_NGRAMS[0], CHAR_NGRAMS[1] + 1):
        offset = 0
        grams.append(word[:n])
        while offset + n < len(word):
            offset += 1
            grams.append(word[offset : offset + n])
        if offset == 0:  # a short word is counted once
            break
    return grams


def _terms(vectorizer: Any) -> list[str]:
    return [t for t, _ in sorted(vectorizer.vocabulary_.items(), key=lambda kv: kv[1])]


class _Texts(NamedTuple):
    texts: list[str]
    labels: np.ndarray


def _joined(train: Any, val: Any) -> _Texts:
    labels = np.concatenate([_labels_of(train), _labels_of(val)])
    return _Texts(list(train.texts) + list(val.texts), labels)


def _labels_of(data: Any) -> np.ndarray:
    labels = np.asarray(data.labels, dtype=np.int64)
    if len(labels) != len(data.texts):
        raise DataError(
            f"{len(data.texts)} texts but {len(labels)} labels.", "Pass one label per text."
        )
    return labels


class _LinearText(Candidate):
    """Shared parts: margins -> probabilities, top n-grams and per-token explanations.

    Subclasses set ``self.classes`` (sorted observed classes), ``self.weights`` ``[m, d]`` and
    ``self.intercept`` ``[m]`` over the columns of ``_features``: m = 1 (log-odds of
    ``classes[1]``) for two classes, else one row per class.
    """

    softmax: ClassVar[bool] = True
    refits: ClassVar[bool] = True  # see refit

    def cross_validate(
        self, train: Any, val: Any, class_weights: np.ndarray | None = None, folds: int = 5
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Out-of-fold probabilities over the training and validation texts together: each
        fold fits every C of the grid, the C with the best out-of-fold accuracy becomes the
        model's (unless the user fixed it). Returns (labels, probabilities at that C, fold of
        each text). With fewer texts of a class than folds, the folds shrink; below two it is
        the one holdout.
        """
        from sklearn.model_selection import StratifiedKFold

        both = _joined(train, val)
        folds = min(folds, int(np.bincount(both.labels)[self.classes].min()))
        if folds < 2:
            return _labels_of(val), self.predict(list(val.texts)), None
        oof: dict[float, np.ndarray] = {}
        fold_of = np.zeros(len(both.labels), dtype=np.int64)
        split = StratifiedKFold(folds, shuffle=True, random_state=self.seed)
        for k, (inside, outside) in enumerate(split.split(both.labels, both.labels)):
            model = type(self)(self.objective, self.n_classes, self.seed, **self.params)
            held = _Texts([both.texts[i] for i in outside], both.labels[outside])
            model.fit(
                _Texts([both.texts[i] for i in inside], both.labels[inside]), held, class_weights
            )
            for c, proba in (model.grid_proba or {model.C: model.predict(held.texts)}).items():
                oof.setdefault(c, np.zeros((len(both.labels), proba.shape[1])))[outside] = proba
            fold_of[outside] = k
        self.C = max(oof, key=lambda c: float(np.mean(oof[c].argmax(axis=1) == both.labels)))
        self.folds = folds
        return both.labels, oof[self.C], fold_of

    def refit(self, train: Any, val: Any, class_weights: np.ndarray | None = None) -> None:
        """Fit again on the training and validation texts together, with the chosen C
        (by cross-validation when it ran, else on the holdout): about 10% more data is worth 0.5-1 point of accuracy on rt-polarity, and these
        models take seconds. Records a note saying so."""
        both = _joined(train, val)
        self.params = self._fixed_params()
        self.fit(both, None, class_weights)
        self.refitted = True
        how = f"by {self.folds}-fold cross-validation over" if getattr(self, "folds", 0) else "on"
        self.notes = [
            f"{self.name}: C={self.C:g} chosen {how} the training and validation texts, then "
            f"refit on all {len(both.labels):,} of them; its test figures are those of the refit model."
        ]

    def _fixed_params(self) -> dict[str, Any]:
        return {**self.params, "C": self.C}

    def facts(self) -> dict[str, Any]:
        """What metrics.json records of this model besides its scores."""
        facts = {"C": self.C, "refit_on_validation": getattr(self, "refitted", False)}
        return facts | ({"cv_folds": self.folds} if getattr(self, "folds", 0) else {})

    def _features(self, texts: list[str]) -> Any:
        raise NotImplementedError

    def _ngram_columns(self, text: str) -> list[tuple[int, list[int]]]:
        """(column, indices of the word tokens it covers) for every n-gram occurrence."""
        raise NotImplementedError

    def _margins(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._features(list(texts)) @ self.weights.T) + self.intercept

    def predict(self, texts: list[str]) -> np.ndarray:
        """Class probabilities ``[n, k]``; a class never seen in training gets 0."""
        margins = self._margins(texts)
        k = max(self.n_classes, int(self.classes[-1]) + 1, 2)
        probs = np.zeros((len(margins), k))
        if margins.shape[1] == 1:
            p1 = 1.0 / (1.0 + np.exp(-margins[:, 0]))
            probs[:, self.classes[0]], probs[:, self.classes[1]] = 1.0 - p1, p1
            return probs
        z = np.exp(margins - margins.max(axis=1, keepdims=True))
        probs[:, self.classes] = z / z.sum(axis=1, keepdims=True)
        return probs

    def _class_vector(self, label: int) -> np.ndarray:
        """Feature weights of the score of class ``label`` (binary: its log-odds)."""
        if self.weights.shape[0] == 1:
            return self.weights[0] if label == self.classes[1] else -self.weights[0]
        return self.weights[list(self.classes).index(label)]

    def _display_terms(self) -> list[str]:
        return self.terms

    def top_ngrams(self, k: int = 20) -> dict[str, list[tuple[str, float]]]:
        """Per class (key: the class code as a string), the ``k`` n-grams with the largest
        positive weights towards it. For two classes the weights are the log-odds', so class
        "0" lists the most negative and class "1" the most positive n-grams.
        """
        names, out = self._display_terms(), {}
        for label in self.classes:
            vector = self._class_vector(int(label))
            order = np.argsort(-vector, kind="stable")[:k]
            out[str(int(label))] = [(names[j], float(vector[j])) for j in order if vector[j] > 0]
        return out

    def explain(self, text: str) -> list[tuple[str, float]]:
        """Each word token of ``text`` with its contribution to the predicted class's score:
        the weight x feature value of every n-gram it is part of (a bigram's is split between
        its two words), so the contributions add up to the score less the intercept.
        """
        tokens = [m.group() for m in _TOKEN_RE.finditer(text)]
        if not tokens:
            return []
        label = int(self.predict([text])[0].argmax())
        vector = self._class_vector(label)
        row = self._features([text]).tocsr()
        value = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        occurrences = self._ngram_columns(text)
        counts = Counter(col for col, _ in occurrences)
        contrib = np.zeros(len(tokens))
        for col, covered in occurrences:
            if covered and col in value:
                share = vector[col] * value[col] / counts[col] / len(covered)
                contrib[covered] += share
        return [(tok, float(c)) for tok, c in zip(tokens, contrib, strict=True)]

    def _check_classes(self, labels: np.ndarray) -> None:
        self.classes = np.unique(labels)
        if len(self.classes) < 2:
            raise DataError(
                f"The training texts hold one class only ({self.classes.tolist()}).",
                "Pass texts of at least two classes.",
            )

    def _write(self, run: RunFolder, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Compact JSON (no indentation: the arrays are long)."""
        run.write_text(name, json.dumps(payload, separators=(",", ":")))
        return {"file": name}


def _word_columns(text: str, index: dict[str, int], offset: int = 0) -> list[tuple[int, list[int]]]:
    tokens = [t.lower() for t in _TOKEN_RE.findall(text)]
    out = []
    for n in range(WORD_NGRAMS[0], WORD_NGRAMS[1] + 1):
        for i in range(len(tokens) - n + 1):
            col = index.get(" ".join(tokens[i : i + n]))
            if col is not None:
                out.append((col + offset, list(range(i, i + n))))
    return out


class TfidfLogisticCandidate(_LinearText):
    """TF-IDF of word 1-2 grams and char_wb 2-5 grams (sublinear tf, min_df 2), then a logistic
    regression whose C comes from a small grid (1-30) scored on the validation split when given.

    Params: ``C`` (fixes it), ``max_word_features`` (50 000), ``max_char_features`` (100 000).

    >>> TfidfLogisticCandidate("binary", n_classes=2).name
    'tfidf-logistic'
    """

    name: ClassVar[str] = "tfidf-logistic"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 1
    description: ClassVar[str] = "logistic regression on TF-IDF of word 1-2 and char 2-5 grams"
    model_file: ClassVar[str] = "model.tfidf.json"

    def fit(self, train: Any, val: Any = None, class_weights: np.ndarray | None = None) -> None:
        """Train on ``train`` (``.texts``, ``.labels``); ``val`` picks C from [1, 3, 10, 30]."""
        labels = _labels_of(train)
        self._check_classes(labels)
        self.grid_proba: dict[float, np.ndarray] = {}  # validation probabilities for each C
        texts = list(train.texts)
        self.word = _fit_vectorizer(
            "tfidf-word", texts, 2, int(self.params.get("max_word_features", 50_000))
        )
        self.char = _fit_vectorizer(
            "tfidf-char", texts, 2, int(self.params.get("max_char_features", 100_000))
        )
        self._index(_terms(self.word), _terms(self.char))
        x = self._features(texts)
        weight = None if class_weights is None else np.asarray(class_weights)[labels]
        grid = [float(self.params["C"])] if "C" in self.params else [1.0, 3.0, 10.0, 30.0]
        best = None
        for c in grid:
            self._fit_lr(x, labels, weight, c)
            if val is None or len(grid) == 1:
                break
            self.grid_proba[c] = self.predict(val.texts)
            score = float(np.mean(self.grid_proba[c].argmax(axis=1) == _labels_of(val)))
            if best is None or score > best[0]:
                best = (score, c, self.weights, self.intercept)
        if best is not None:
            _, self.C, self.weights, self.intercept = best

    def _fit_lr(self, x: Any, labels: np.ndarray, weight: Any, c: float) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=c, max_iter=1000, tol=1e-4, random_state=self.seed)
        with warnings.catch_warnings():  # a capped solver is fine for a baseline
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, labels, sample_weight=weight)
        self.C, self.weights, self.intercept = c, model.coef_.astype(np.float64), model.intercept_

    def _index(self, word_terms: list[str], char_terms: list[str]) -> None:
        self.word_index = {t: i for i, t in enumerate(word_terms)}
        self.char_index = {t: i for i, t in enumerate(char_terms)}
        self.terms = word_terms + char_terms

    def _features(self, texts: list[str]) -> Any:
        from scipy.sparse import hstack

        return hstack([self.word.transform(texts), self.char.transform(texts)], format="csr")

    def _display_terms(self) -> list[str]:
        n_word = len(self.word_index)
        return self.terms[:n_word] + ["char:" + t.replace(" ", "_") for t in self.terms[n_word:]]

    def _ngram_columns(self, text: str) -> list[tuple[int, list[int]]]:
        out = _word_columns(text, self.word_index)
        spans = [m.span() for m in _TOKEN_RE.finditer(text)]
        offset = len(self.word_index)
        for chunk in re.finditer(r"\S+", text):  # char_wb n-grams live inside one chunk
            covered = [
                i for i, (a, b) in enumerate(spans) if a >= chunk.start() and b <= chunk.end()
            ]
            for gram in _char_wb_ngrams(chunk.group().lower()):
                col = self.char_index.get(gram)
                if col is not None:
                    out.append((col + offset, covered))
        return out

    def save(self, run: RunFolder) -> dict[str, Any]:
        payload = {
            "C": self.C,
            "classes": self.classes.tolist(),
            "word_terms": self.terms[: len(self.word_index)],
            "word_idf": self.word.idf_.tolist(),
            "char_terms": self.terms[len(self.word_index) :],
            "char_idf": self.char.idf_.tolist(),
            "coef": self.weights.tolist(),
            "intercept": self.intercept.tolist(),
        }
        return self._write(run, self.model_file, payload)

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> TfidfLogisticCandidate:
        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        stored = run.read_json(info["file"])
        for attr, kind in (("word", "tfidf-word"), ("char", "tfidf-char")):
            terms = stored[f"{attr}_terms"]
            vectorizer = _vectorizer(kind, vocabulary={t: i for i, t in enumerate(terms)})
            vectorizer.idf_ = np.asarray(stored[f"{attr}_idf"], dtype=np.float64)
            setattr(model, attr, vectorizer)
        model._index(stored["word_terms"], stored["char_terms"])
        model.C, model.classes = stored["C"], np.asarray(stored["classes"], dtype=np.int64)
        model.weights = np.asarray(stored["coef"], dtype=np.float64)
        model.intercept = np.asarray(stored["intercept"], dtype=np.float64)
        return model


class NBSVMCandidate(_LinearText):
    """NB-SVM (Wang & Manning 2012): binarized word 1-2 gram features scaled by the naive
    Bayes log-count ratio r (alpha 1), then a linear classifier; more than two classes are
    one-vs-rest, one r per class.

    Params: ``classifier`` "logistic" (the default: logistic regression on the scaled
    features, C 1 unless ``C`` is given or the validation split picks it from 0.1-3; it
    scored best on rt-polarity, about 79 vs 78.6 for the SVM) or "svm" (the paper's L2-loss
    linear SVM, C 1, weights interpolated towards their mean magnitude, ``beta`` 0.25);
    ``max_features`` (no cap by default). Probabilities are the sigmoid of the margin for two
    classes and the softmax of the one-vs-rest margins otherwise (for "svm" they are scores,
    not calibrated probabilities).

    >>> NBSVMCandidate("binary", n_classes=2).name
    'nbsvm'
    """

    name: ClassVar[str] = "nbsvm"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 1
    description: ClassVar[str] = "NB-SVM: naive Bayes log-count ratios x binarized word 1-2 grams"
    model_file: ClassVar[str] = "model.nbsvm.json"

    def fit(self, train: Any, val: Any = None, class_weights: np.ndarray | None = None) -> None:
        """Train on ``train`` (``.texts``, ``.labels``); ``val`` picks C for "logistic"."""
        labels = _labels_of(train)
        self._check_classes(labels)
        self.grid_proba: dict[float, np.ndarray] = {}  # validation probabilities for each C
        texts = list(train.texts)
        cap = self.params.get("max_features")
        self.vectorizer = _fit_vectorizer(
            "binary-word", texts, 1, None if cap is None else int(cap)
        )
        self.terms = _terms(self.vectorizer)
        self.index = dict(self.vectorizer.vocabulary_)
        x = self._features(texts)
        weight = None if class_weights is None else np.asarray(class_weights)[labels]
        self.kind = str(self.params.get("classifier", "logistic"))
        if "C" in self.params:
            grid = [float(self.params["C"])]
        else:
            grid = [1.0] if self.kind == "svm" or val is None else [0.1, 0.3, 1.0, 3.0]
        targets = [self.classes[1]] if len(self.classes) == 2 else list(self.classes)
        self.r = np.stack([self._ratio(x, labels == c) for c in targets])
        best = None
        for c in grid:
            self._fit_all(x, labels, targets, weight, c)
            if len(grid) == 1:
                break
            self.grid_proba[c] = self.predict(val.texts)
            score = float(np.mean(self.grid_proba[c].argmax(axis=1) == _labels_of(val)))
            if best is None or score > best[0]:
                best = (score, c, self.coef, self.intercept)
        if best is not None:
            _, self.C, self.coef, self.intercept = best
        self.weights = self.coef * self.r

    @staticmethod
    def _ratio(x: Any, positive: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        p = alpha + np.asarray(x[positive].sum(axis=0)).ravel()
        q = alpha + np.asarray(x[~positive].sum(axis=0)).ravel()
        return np.log((p / p.sum()) / (q / q.sum()))

    def _fit_all(self, x: Any, labels: np.ndarray, targets: list, weight: Any, c: float) -> None:
        coefs, intercepts = [], []
        for row, target in enumerate(targets):
            w, b = self._fit_one(x.multiply(self.r[row]).tocsr(), labels == target, weight, c)
            coefs.append(w)
            intercepts.append(b)
        self.C, self.coef, self.intercept = c, np.stack(coefs), np.asarray(intercepts)
        self.weights = self.coef * self.r

    def _fit_one(self, x: Any, y: np.ndarray, weight: Any, c: float) -> tuple[np.ndarray, float]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        if self.kind == "svm":
            model = LinearSVC(C=c, max_iter=5000, random_state=self.seed)
        elif self.kind == "logistic":
            model = LogisticRegression(
                C=c, solver="liblinear", max_iter=1000, random_state=self.seed
            )
        else:
            raise DataError(
                f"NB-SVM classifier {self.kind!r} is not known.", 'Use "logistic" or "svm".'
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, y.astype(np.int64), sample_weight=weight)
        w, b = model.coef_[0].astype(np.float64), float(model.intercept_[0])
        if self.kind == "svm":  # the paper's interpolation w' = (1 - beta) mean|w| + beta w
            beta = float(self.params.get("beta", 0.25))
            w = (1 - beta) * np.abs(w).mean() + beta * w
        return w, b

    def _features(self, texts: list[str]) -> Any:
        return self.vectorizer.transform(texts).astype(np.float64)

    def _ngram_columns(self, text: str) -> list[tuple[int, list[int]]]:
        return _word_columns(text, self.index)

    def save(self, run: RunFolder) -> dict[str, Any]:
        payload = {
            "classifier": self.kind,
            "C": self.C,
            "classes": self.classes.tolist(),
            "terms": self.terms,
            "r": self.r.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
        }
        return self._write(run, self.model_file, payload)

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> NBSVMCandidate:
        model = cls(info["objective"], info.get("n_classes", 0), info.get("seed", 0))
        stored = run.read_json(info["file"])
        model.terms = stored["terms"]
        model.index = {t: i for i, t in enumerate(model.terms)}
        model.vectorizer = _vectorizer("binary-word", vocabulary=model.index)
        model.kind, model.C = stored["classifier"], stored["C"]
        model.classes = np.asarray(stored["classes"], dtype=np.int64)
        model.r = np.asarray(stored["r"], dtype=np.float64)
        model.coef = np.asarray(stored["coef"], dtype=np.float64)
        model.intercept = np.asarray(stored["intercept"], dtype=np.float64)
        model.weights = model.coef * model.r
        return model
