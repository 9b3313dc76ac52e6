"""The text baselines: accuracy on a generated corpus, JSON round trip, explanations."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from layerwise.errors import DataError
from layerwise.runs.folder import RunFolder
from layerwise.tasks.text_classification.baselines import NBSVMCandidate, TfidfLogisticCandidate

CANDIDATES = [TfidfLogisticCandidate, NBSVMCandidate]
SUBJECTS = ["the movie", "this film", "the plot", "the acting", "the story", "the cast"]
FILLERS = ["was", "is", "felt", "seemed", "looked", "really was"]
ENDINGS = ["overall", "to me", "in the end", "honestly", "", "i think"]
WORDS = {0: ["bad", "awful", "boring", "terrible"], 1: ["good", "great", "wonderful", "fun"],
         2: ["long", "short", "slow", "quick"]}  # fmt: skip


def corpus(n: int, seed: int, n_classes: int = 2) -> SimpleNamespace:
    """Sentences built from templates; for two classes, "not <positive word>" is negative."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(n_classes))
        negated = n_classes == 2 and rng.random() < 0.3
        word = rng.choice(WORDS[1 - label] if negated else WORDS[label])
        parts = [rng.choice(SUBJECTS), rng.choice(FILLERS), "not " + word if negated else word]
        texts.append(" ".join([*parts, rng.choice(ENDINGS)]).strip())
        labels.append(label)
    return SimpleNamespace(texts=texts, labels=np.asarray(labels, dtype=np.int64))


@pytest.fixture(scope="module")
def data():
    return corpus(600, 0), corpus(200, 1), corpus(300, 2)


@pytest.fixture(scope="module", params=CANDIDATES, ids=lambda c: c.name)
def fitted(request, data):
    train, val, _ = data
    model = request.param("binary", n_classes=2, seed=0)
    model.fit(train, val)
    return model


def test_high_accuracy_with_negation(fitted, data):
    test = data[2]
    probs = fitted.predict(test.texts)
    assert probs.shape == (len(test.texts), 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.mean(probs.argmax(axis=1) == test.labels) >= 0.95
    # bigrams matter: "not good" is negative, "not bad" is positive
    assert fitted.predict(["the movie was not good"]).argmax() == 0
    assert fitted.predict(["the movie was not bad"]).argmax() == 1


def test_save_load_identical(fitted, data, tmp_path):
    run = RunFolder(tmp_path)
    info = {**fitted.save(run), "objective": "binary", "n_classes": 2, "seed": 0}
    assert info["file"].endswith(".json")
    loaded = type(fitted).load(run, info)
    texts = [*data[2].texts, "", "unseen words entirely", "GOOD!!"]
    np.testing.assert_array_equal(loaded.predict(texts), fitted.predict(texts))
    assert loaded.explain("the plot was great") == fitted.explain("the plot was great")
    assert loaded.top_ngrams(5) == fitted.top_ngrams(5)


def test_explain_weights_the_sentiment_word(fitted):
    text = "The acting was TERRIBLE overall"
    weights = fitted.explain(text)
    assert [tok for tok, _ in weights] == ["The", "acting", "was", "TERRIBLE", "overall"]
    magnitudes = [abs(w) for _, w in weights]
    assert weights[int(np.argmax(magnitudes))][0] == "TERRIBLE"
    assert weights[3][1] > 0  # it pushes towards the predicted (negative) class
    assert fitted.explain("") == []


def test_top_ngrams_hold_the_sentiment_words(fitted):
    top = fitted.top_ngrams(20)
    assert set(top) == {"0", "1"}
    negative, positive = ({t for t, _ in top[c]} for c in ("0", "1"))
    # negation makes the bare words ambiguous, so the top n-grams are often bigrams with them
    assert all(any(w in t.split() for t in negative) for w in WORDS[0])
    assert all(any(w in t.split() for t in positive) for w in WORDS[1])
    assert all(w > 0 for pairs in top.values() for _, w in pairs)


def test_empty_and_odd_strings_predict(fitted):
    probs = fitted.predict(["", "   ", "!!!", "zzz qqq"])
    assert probs.shape == (4, 2) and np.all(np.isfinite(probs))


@pytest.mark.parametrize("cls", CANDIDATES, ids=lambda c: c.name)
def test_multiclass(cls, tmp_path):
    train, test = corpus(600, 3, n_classes=3), corpus(200, 4, n_classes=3)
    model = cls("multiclass", n_classes=4, seed=0)  # class 3 never seen: probability 0
    model.fit(train, class_weights=np.ones(4))
    probs = model.predict(test.texts)
    assert probs.shape == (200, 4) and np.all(probs[:, 3] == 0)
    assert np.mean(probs.argmax(axis=1) == test.labels) >= 0.95
    assert set(model.top_ngrams(5)) == {"0", "1", "2"}
    assert max(model.explain("the plot was slow"), key=lambda p: abs(p[1]))[0] == "slow"
    run = RunFolder(tmp_path)
    info = {**model.save(run), "objective": "multiclass", "n_classes": 4}
    np.testing.assert_array_equal(cls.load(run, info).predict(test.texts), probs)


@pytest.mark.parametrize("cls", CANDIDATES, ids=lambda c: c.name)
def test_one_class_is_a_clear_error(cls):
    train = SimpleNamespace(texts=["good", "great"], labels=np.array([1, 1]))
    with pytest.raises(DataError, match="one class"):
        cls("binary", n_classes=2).fit(train)


def test_nbsvm_svm_variant(data):
    train, _, test = data
    model = NBSVMCandidate("binary", n_classes=2, classifier="svm")
    model.fit(train)
    assert np.mean(model.predict(test.texts).argmax(axis=1) == test.labels) >= 0.95


@pytest.mark.parametrize("cls", CANDIDATES, ids=lambda c: c.name)
def test_refit_learns_from_the_validation_texts_with_the_chosen_c(cls, data):
    train, val, _ = data
    val = SimpleNamespace(
        texts=[*val.texts, "zyzzyva zyzzyva", "zyzzyva indeed"], labels=np.r_[val.labels, 1, 1]
    )
    model = cls("binary", n_classes=2, seed=0)
    model.fit(train, val)
    assert "zyzzyva" not in model.terms
    labels, proba, fold_of = model.cross_validate(train, val, folds=4)
    assert len(labels) == len(proba) == len(train.texts) + len(val.texts)
    assert sorted(np.unique(fold_of)) == [0, 1, 2, 3]
    assert np.mean(proba.argmax(axis=1) == labels) >= 0.95  # out-of-fold, still accurate
    chosen = model.C  # the grid's best out-of-fold C
    assert chosen in model.grid_proba
    model.refit(train, val)
    assert model.C == chosen
    assert "zyzzyva" in model.terms  # a word only the validation texts hold
    assert model.facts() == {"C": chosen, "refit_on_validation": True, "cv_folds": 4}
    assert "4-fold cross-validation" in model.notes[0]


def test_cross_validation_shrinks_its_folds_to_the_rarest_class(data):
    train = SimpleNamespace(texts=data[0].texts[:40], labels=np.r_[np.zeros(37), np.ones(3)])
    val = SimpleNamespace(texts=["good", "bad"], labels=np.array([0, 0]))
    model = NBSVMCandidate("binary", n_classes=2, seed=0)
    model.fit(train, val)
    _, _, fold_of = model.cross_validate(train, val, folds=5)
    assert len(np.unique(fold_of)) == 3
