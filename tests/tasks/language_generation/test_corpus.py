"""Reading, tokenizing, splitting and windowing a language-modelling corpus."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from layerwise.errors import ConfigError, DataError
from layerwise.tasks.language_generation.corpus import (
    IGNORE_INDEX,
    BPETokenizer,
    CharTokenizer,
    all_windows,
    make_tokenizer,
    random_windows,
    read_corpus,
    split_corpus,
    tokenizer_from_dict,
)

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 5


# ---- reading ---------------------------------------------------------------------------------
def test_read_file_normalises_newlines_and_names_it(tmp_path):
    path = tmp_path / "play.txt"
    path.write_bytes(b"one\r\ntwo\r\n")
    corpus = read_corpus(path)
    assert corpus.text == "one\ntwo\n" and corpus.name == "play.txt"
    assert any("newlines" in note for note in corpus.notes)
    assert "play.txt: 8 characters" in corpus.summary()


def test_read_latin1_file_notes_the_encoding(tmp_path):
    path = tmp_path / "old.txt"
    path.write_bytes("café crème\n".encode("latin-1"))
    corpus = read_corpus(str(path))
    assert corpus.text == "café crème\n"
    assert any("latin-1" in note for note in corpus.notes)


def test_read_string_is_the_text_itself():
    assert read_corpus("to be or not to be").text == "to be or not to be"


@pytest.mark.parametrize("content", [b"", b"  \n\n\t "])
def test_empty_file_is_a_data_error_naming_it(tmp_path, content):
    path = tmp_path / "blank.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match="blank.txt.*empty"):
        read_corpus(path)


def test_binary_file_is_a_data_error_naming_it(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(DataError, match="weights.bin.*not text"):
        read_corpus(path)


def test_missing_file_and_empty_string():
    with pytest.raises(DataError, match="nowhere.txt' does not exist"):
        read_corpus("nowhere.txt")
    with pytest.raises(DataError, match="empty"):
        read_corpus("   ")


# ---- characters ------------------------------------------------------------------------------
def test_char_round_trip_and_sorted_vocabulary():
    tok = make_tokenizer("char", TEXT)
    assert tok.chars == "".join(sorted(set(TEXT))) and tok.vocab_size == len(set(TEXT))
    ids = tok.encode(TEXT)
    assert ids.dtype == np.int64 and len(ids) == len(TEXT)
    assert tok.decode(ids) == TEXT
    assert tok.decode(torch.as_tensor(ids[:5])) == TEXT[:5]


def test_unknown_characters_error_names_them_and_the_fix():
    tok = CharTokenizer.fit("hello world")
    assert tok.unknown("Héllo, wörld") == [",", "H", "é", "ö"]
    with pytest.raises(DataError, match=r"4 character.*','.*'H'.*'é'.*'ö'.*unknown='map'"):
        tok.encode("Héllo, wörld")


def test_unknown_characters_skip_and_map():
    tok = CharTokenizer.fit("hello world - 'quoted' fine\n")
    assert tok.decode(tok.encode("Héllo!", unknown="skip")) == "llo"
    mapped = tok.decode(tok.encode("Héllo — ‘wörld’\u00a0ﬁ\u2028!", unknown="map"))
    assert mapped == "hello - 'world' fi\n "
    assert tok.mapping(["é", "—"]) == {"é": "e", "—": "-"}
    with pytest.raises(ConfigError, match="unknown"):
        tok.encode("x", unknown="ignore")


def test_char_decode_rejects_foreign_ids():
    with pytest.raises(DataError, match=r"\[0, 3\)"):
        CharTokenizer.fit("abc").decode([0, 3])


# ---- byte-level BPE --------------------------------------------------------------------------
def test_bpe_round_trips_exact_text_with_newlines_and_unicode():
    tok = BPETokenizer(300).fit(TEXT)
    assert tok.vocab_size == 300
    for text in [TEXT, "naïve café 🙂 中文\n\n  indented\r\nend\t", "\n", ""]:
        assert tok.decode(tok.encode(text)) == text
        assert tok.unknown(text) == []
    assert len(tok.encode(TEXT)) < len(TEXT) / 2  # merges were learned


def test_bpe_vocab_below_bytes_is_a_config_error():
    with pytest.raises(ConfigError, match="256"):
        BPETokenizer(100)
    with pytest.raises(ConfigError, match="kind"):
        make_tokenizer("word", TEXT)


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_tokenizer_dict_is_json_and_round_trips(kind):
    tok = make_tokenizer(kind, TEXT, vocab_size=280)
    data = json.loads(json.dumps(tok.to_dict()))
    again = tokenizer_from_dict(data)
    assert type(again) is type(tok) and again.vocab_size == tok.vocab_size
    np.testing.assert_array_equal(again.encode(TEXT), tok.encode(TEXT))
    with pytest.raises(DataError, match="not a layerwise"):
        tokenizer_from_dict({"kind": kind})


# ---- splits and windows ----------------------------------------------------------------------
def test_split_keeps_the_last_fraction_for_validation():
    ids = np.arange(1000)
    train, val = split_corpus(ids, 0.1, block=16)
    assert len(train) == 900 and len(val) == 100 and val[0] == 900
    train_t, val_t = split_corpus(torch.arange(1003), 0.1)
    assert len(train_t) == int(1003 * 0.9) and len(train_t) + len(val_t) == 1003


def test_split_too_short_gives_the_minimum():
    with pytest.raises(DataError, match=r"100 tokens.*block=64.*at least 650"):
        split_corpus(np.arange(100), 0.1, block=64)
    with pytest.raises(ConfigError):
        split_corpus(np.arange(100), 1.5)


def test_random_windows_shape_targets_and_determinism():
    ids = torch.arange(100) * 3
    x, y = random_windows(ids, 16, 8, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 16) and x.dtype == torch.int64
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y, x + 3)
    x2, _ = random_windows(ids, 16, 8, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)
    with pytest.raises(DataError, match="at least 17"):
        random_windows(torch.arange(16), 16, 2)


@pytest.mark.parametrize(("n", "block"), [(101, 10), (97, 10), (11, 10), (6, 10)])
def test_all_windows_score_every_token_but_the_first_once(n, block):
    ids = torch.arange(n) + 5
    x, y = all_windows(ids, block)
    assert x.shape == y.shape and x.shape[1] == min(block, n - 1)
    scored = y[y != IGNORE_INDEX]
    assert sorted(scored.tolist()) == list(range(6, n + 5))  # each target once
    kept = y != IGNORE_INDEX
    assert torch.equal(y[kept], (x + 1)[kept])
