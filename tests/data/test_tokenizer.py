"""The subword tokenizer: training, encoding, word spans, files and errors."""

from __future__ import annotations

import json

import pytest
import torch

from layerwise.data.tokenizer import TextTokenizer
from layerwise.errors import ConfigError, DataError

torch.set_num_threads(1)

TEXTS = [
    f"The {adj} film was {adv} {verdict}, said reviewer number {i}. Café naïve!"
    for i, (adj, adv, verdict) in enumerate(
        [
            ("long", "surprisingly", "good"),
            ("short", "unbelievably", "bad"),
            ("quiet", "really", "wonderful"),
            ("loud", "truly", "unwatchable"),
        ]
        * 30
    )
]
KINDS = ("wordpiece", "bpe")


@pytest.fixture(scope="module", params=KINDS)
def tok(request) -> TextTokenizer:
    return TextTokenizer(request.param, vocab_size=120, max_length=16).fit(TEXTS)


def test_special_ids_and_vocab_size(tok):
    vocab = tok._tokenizer.get_vocab()
    assert [vocab["[PAD]"], vocab["[UNK]"], vocab["[CLS]"]] == [0, 1, 2]
    assert 30 < tok.vocab_size_actual <= 120
    big = TextTokenizer(tok.kind, vocab_size=100_000).fit(TEXTS)
    assert big.vocab_size_actual < 100_000  # small data: fewer than asked


def test_encode_pads_truncates_and_handles_empty(tok):
    ids, lengths = tok.encode(["The good film", "", TEXTS[0] * 3, "   "])
    assert ids.dtype == lengths.dtype == torch.int64
    assert ids.shape == (4, 16)  # the longest row, cut to max_length
    assert lengths[2] == 16 and lengths[1] == lengths[3] == 1
    assert ids[1, 0] == ids[3, 0] == 1 and ids[1, 1:].eq(0).all()  # '' -> [UNK]
    assert (ids[0, : lengths[0]] > 2).all() and ids[0, lengths[0] :].eq(0).all()
    short, _ = tok.encode(["good"])
    assert short.shape[1] == len(tok.tokens("good"))  # no padding beyond the longest
    empty_ids, empty_lengths = tok.encode([])
    assert empty_ids.shape[0] == 0 and empty_lengths.shape == (0,)
    assert tok.tokens("") == ["[UNK]"]


def test_lowercase_and_unknown_characters(tok):
    assert tok.encode(["THE GOOD FILM"])[0].tolist() == tok.encode(["the good film"])[0].tolist()
    assert "[UNK]" in tok.tokens("good 🙂")
    cased = TextTokenizer(tok.kind, vocab_size=120, lowercase=False).fit(TEXTS)
    assert cased.tokens("The")[0] == "The" and cased.tokens("the")[0] != "The"


def test_tokens_match_encode(tok):
    text = "Unbelievably wonderful, said reviewer 7."
    ids, lengths = tok.encode([text])
    vocab = tok._tokenizer.get_vocab()
    assert [vocab[t] for t in tok.tokens(text)] == ids[0, : lengths[0]].tolist()


def test_word_spans_cover_the_words(tok):
    text = "Unbelievably  wonderful, said reviewer 12345."
    spans = tok.word_spans(text)
    words = [text[start:end] for start, end, _ in spans]
    assert words == ["Unbelievably", "wonderful", ",", "said", "reviewer", "12345", "."]
    positions = [p for _, _, ps in spans for p in ps]
    assert positions == list(range(len(tok.tokens(text))))  # every token in exactly one word
    assert tok.word_spans("") == []
    long = " ".join(["good"] * 40)  # past max_length: the words remain, without positions
    long_spans = tok.word_spans(long)
    assert len(long_spans) == 40 and long_spans[-1][2] == []
    assert sum(len(p) for _, _, p in long_spans) == 16


@pytest.mark.parametrize("kind", KINDS)
def test_same_texts_same_vocabulary(kind):
    vocabs = [
        TextTokenizer(kind, vocab_size=90).fit(TEXTS)._tokenizer.get_vocab() for _ in range(3)
    ]
    assert vocabs[0] == vocabs[1] == vocabs[2]


def test_wordpiece_marks_continuations():
    tok = TextTokenizer("wordpiece", vocab_size=60).fit(TEXTS)
    pieces = tok.tokens("unwatchable")
    assert len(pieces) > 1 and all(p.startswith("##") for p in pieces[1:])


def test_save_load_round_trip(tok, tmp_path):
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "layerwise.text_tokenizer" and data["kind"] == tok.kind
    assert "model" in data["tokenizer"]  # the library's own JSON, inside ours
    again = TextTokenizer.load(path)
    assert (again.kind, again.max_length, again.lowercase) == (tok.kind, 16, True)
    texts = ["Unbelievably good!", "", TEXTS[5], "zzz qqq"]
    for a, b in zip(again.encode(texts), tok.encode(texts), strict=True):
        assert torch.equal(a, b)
    assert again.word_spans(texts[0]) == tok.word_spans(texts[0])


def test_errors(tmp_path):
    with pytest.raises(ConfigError, match="kind='sentencepiece'.*'wordpiece', 'bpe'"):
        TextTokenizer("sentencepiece")
    with pytest.raises(ConfigError, match="vocab_size"):
        TextTokenizer(vocab_size=3)
    with pytest.raises(ConfigError, match="max_length"):
        TextTokenizer(max_length=0)
    with pytest.raises(ConfigError, match="Call fit"):
        TextTokenizer().encode(["text"])
    with pytest.raises(DataError, match="all empty"):
        TextTokenizer().fit(["", " "])
    with pytest.raises(DataError, match="one string"):
        TextTokenizer().fit("just one text")
    with pytest.raises(DataError, match="item 1 is a float"):
        TextTokenizer().fit(["ok", float("nan")])
    (tmp_path / "other.json").write_text('{"model": {}}')
    with pytest.raises(DataError, match="not a layerwise text tokenizer"):
        TextTokenizer.load(tmp_path / "other.json")
    with pytest.raises(DataError, match="does not exist"):
        TextTokenizer.load(tmp_path / "missing.json")


def test_missing_library_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "tokenizers" or name.startswith("tokenizers."):
            raise ImportError("no tokenizers")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ConfigError, match='pip install "tokenizers>=0.15"'):
        TextTokenizer().fit(["some text"])
