"""The translation memory: retrieval, duplicates, chunking and its JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from layerwise.errors import ConfigError, DataError, RunFolderError
from layerwise.tasks.text_to_text.memory import TranslationMemory

PAIRS = [
    ("I am cold.", "J'ai froid."),
    ("I am hungry.", "J'ai faim."),
    ("Where is the station?", "Où est la gare ?"),
    ("Thank you very much.", "Merci beaucoup."),
    ("Tom saw Mary.", "Tom a vu Marie."),
    ("Mary saw Tom.", "Marie a vu Tom."),
    ("Hi.", "Salut."),
    ("Hi.", "Bonjour."),
    ("hi.", "Bonjour."),
]
SOURCES, TARGETS = [s for s, _ in PAIRS], [t for _, t in PAIRS]
WORDS = "the a cat dog sat ran on under mat house big small red quick slow over".split()


def _random_texts(rng: np.random.Generator, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 8))) for _ in range(n)]


@pytest.fixture(scope="module")
def memory() -> TranslationMemory:
    return TranslationMemory().fit(SOURCES, TARGETS)


def test_training_sources_get_their_own_target(memory):
    assert memory.predict(SOURCES[:6]) == TARGETS[:6]  # word order counts for exact matches
    index, similarity = memory.nearest(SOURCES[:6])
    assert similarity.tolist() == [1.0] * 6
    assert [memory.sources[i] for i in index] == SOURCES[:6]


def test_near_duplicate_with_a_typo_gets_the_nearest_target(memory):
    assert memory.predict(["Where is teh station?", "I am hungyr", "thank you so much!"]) == [
        "Où est la gare ?",
        "J'ai faim.",
        "Merci beaucoup.",
    ]
    _, similarity = memory.nearest(["Where is teh station?"])
    assert 0.3 < similarity[0] < 1.0


def test_duplicate_sources_keep_the_most_frequent_target(memory):
    assert memory.sources.count("Hi.") == 1 and "hi." not in memory.sources
    assert memory.predict(["HI."]) == ["Bonjour."]
    assert memory.n_pairs == len(PAIRS) and len(memory.sources) == len(PAIRS) - 2
    first = TranslationMemory(duplicates="first").fit(SOURCES, TARGETS)
    assert first.predict(["Hi."]) == ["Salut."]


def test_no_shared_ngram_falls_back_to_the_most_frequent_target():
    tm = TranslationMemory().fit(["ab", "cd", "ef"], ["x", "y", "y"])
    index, similarity = tm.nearest(["zzz"])
    assert similarity[0] == 0.0 and tm.targets[index[0]] == "y"


def test_nearest_is_the_cosine_argmax():
    from sklearn.feature_extraction.text import TfidfVectorizer

    rng = np.random.default_rng(0)
    train, queries = _random_texts(rng, 300), _random_texts(rng, 60)
    tm = TranslationMemory().fit(train, [f"t{i}" for i in range(len(train))])
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    x = vec.fit_transform(tm.sources)
    dense = (vec.transform(queries) @ x.T).toarray()
    index, similarity = tm.nearest(queries)
    exact = np.array([q.lower() in {s.lower() for s in tm.sources} for q in queries])
    rows = np.flatnonzero(~exact)
    assert np.allclose(similarity[rows], dense[rows].max(axis=1), atol=1e-5)
    assert np.allclose(dense[rows, index[rows]], dense[rows].max(axis=1), atol=1e-5)
    assert np.all(similarity[exact] == 1.0)


def test_chunked_prediction_equals_unchunked():
    rng = np.random.default_rng(1)
    train = _random_texts(rng, 200)
    tm = TranslationMemory().fit(train, [f"t{i}" for i in range(len(train))])
    queries = _random_texts(rng, 50) + train[:5]
    whole = tm.nearest(queries, chunk_size=len(queries))
    for size in (1, 7):
        index, similarity = tm.nearest(queries, chunk_size=size)
        assert np.array_equal(index, whole[0]) and np.array_equal(similarity, whole[1])


def test_json_round_trip_reproduces_predictions():
    rng = np.random.default_rng(2)
    train = _random_texts(rng, 150)
    tm = TranslationMemory(seed=3, ngram_range=(2, 5)).fit(train, _random_texts(rng, 150))
    loaded = TranslationMemory.from_dict(json.loads(json.dumps(tm.to_dict())))
    queries = _random_texts(rng, 40)
    assert loaded.predict(queries) == tm.predict(queries)
    for a, b in zip(loaded.nearest(queries), tm.nearest(queries), strict=True):
        assert np.array_equal(a, b)
    assert loaded.params == tm.params and loaded.seed == 3 and loaded.n_pairs == tm.n_pairs


def _stored(**change):
    d = TranslationMemory().fit(["Go.", "Run!"], ["Va !", "Cours !"]).to_dict()
    return {**d, **change}


@pytest.mark.parametrize(
    ("d", "message"),
    [
        ([1, 2], "expected a JSON object"),
        ({"format": "layerwise.translation-memory"}, "missing field"),
        (_stored(format="something-else"), "format is"),
        (_stored(version=99), "newer"),
        (_stored(version="1"), "version"),
        (_stored(sources="Go."), "'sources' is a str"),
        (_stored(targets=["Va !"]), "2 sources but 1 targets"),
        (_stored(targets=["Va !", 3]), "other than strings"),
        (_stored(sources=[], targets=[]), "0 entries"),
        (_stored(sources=["Go.", "  "]), "source 1 is empty"),
        (_stored(params={"analyzer": "exec"}), "analyzer"),
        (_stored(params={"ngram_range": [4, 2]}), "ngram_range"),
        (_stored(params={"vocabulary": {}}), "no option 'vocabulary'"),
        (_stored(params=[1]), "'params'"),
        (_stored(n_pairs=1), "n_pairs"),
        (_stored(seed=True), "'seed'"),
    ],
)
def test_malformed_dict_is_a_run_folder_error(d, message):
    with pytest.raises(RunFolderError, match=message):
        TranslationMemory.from_dict(d)


def test_user_errors_are_clear(memory):
    with pytest.raises(DataError, match="text 1 of 2 is empty"):
        memory.predict(["Hello", "   "])
    with pytest.raises(DataError, match="item 0 is a int"):
        memory.predict([3])
    with pytest.raises(DataError, match="one string"):
        memory.predict("Hello")
    with pytest.raises(DataError, match="2 sources but 1 targets"):
        TranslationMemory().fit(["a", "b"], ["x"])
    with pytest.raises(DataError, match="sources: text 0 of 1 is empty"):
        TranslationMemory().fit([""], ["x"])
    with pytest.raises(DataError, match="No sentence pairs"):
        TranslationMemory().fit([], [])
    with pytest.raises(ConfigError, match="not fitted"):
        TranslationMemory().predict(["Hello"])
    with pytest.raises(ConfigError, match="Did you mean 'ngram_range'"):
        TranslationMemory(ngram_rang=(2, 4))
    with pytest.raises(DataError, match="no word features"):
        TranslationMemory(analyzer="word").fit(["!", "?"], ["x", "y"])
