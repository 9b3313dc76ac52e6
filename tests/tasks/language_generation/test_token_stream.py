"""Language generation's --stream: a text file read in pieces decodes as read_corpus reads it
whole, tokenises to the same tokenizer and ids into a cache on disk (reused, or ignored when a
kill left it partial), gives the same windows, and a streamed run trains and scores as the
in-memory run does; bad files are refused before anything is written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from layerwise.errors import DataError
from layerwise.tasks.language_generation import text_stream, token_stream
from layerwise.tasks.language_generation.corpus import make_tokenizer, random_windows, read_corpus
from layerwise.tasks.language_generation.task import LanguageGeneration
from layerwise.tasks.language_generation.text_stream import text_pieces, text_stats
from layerwise.tasks.language_generation.token_stream import tokenise_file

QUICK = {"gpt": {"epochs": 2, "steps_per_epoch": 10, "batch_size": 8, "cpu_threads": 1}}


def _text(seed: int = 0, lines: int = 600) -> str:
    """Words and the whitespace a BPE's pre-tokenizer treats apart: blank lines, runs of
    spaces, tabs, trailing spaces, accents and an emoji."""
    rng = np.random.default_rng(seed)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dög", "ran", "far", "🙂", "it's"]
    seps = [" ", " ", " ", "  ", "\t", " \n", "\n\n", ", "]
    out = []
    for _ in range(lines):
        out.append("".join(w + rng.choice(seps) for w in rng.choice(words, 7)) + ".\n")
    return "".join(out)


@pytest.fixture
def small_chunks(monkeypatch):
    """Pieces of 1 KiB and BPE parts of 300 characters: many cuts in a small file."""
    monkeypatch.setattr(text_stream, "CHUNK_BYTES", 1024)
    monkeypatch.setattr(token_stream, "BPE_PART", 300)


def test_pieces_decode_as_the_whole_file_is_read(tmp_path):
    text = "naïve café\r\nline two\rthree 🙂 end\r\n" * 200
    for name, raw in [("crlf.txt", text.encode()), ("bom.txt", b"\xef\xbb\xbf" + text.encode()),
                      ("latin.txt", text.replace("🙂", "x").encode("latin-1"))]:  # fmt: skip
        path = tmp_path / name
        path.write_bytes(raw)
        whole = read_corpus(path)
        for chunk in (7, 64, 1000):  # a "\r\n" and multi-byte characters split by the chunks
            notes: list[str] = []
            assert "".join(text_pieces(path, None, notes, chunk_bytes=chunk)) == whole.text
            assert notes == whole.notes, name
    stats = text_stats(tmp_path / "crlf.txt", None, chunk_bytes=64)
    assert stats.summary() == whole.summary().replace("latin.txt", "crlf.txt")


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_streamed_ids_and_tokenizer_equal_the_in_memory_ones(tmp_path, small_chunks, kind):
    text = _text()
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    tokens = tokenise_file(path, kind, 0.1, tmp_path / ".cache")
    fit_on = text if kind == "char" else text[: int(len(text) * 0.9)]
    expected = make_tokenizer(kind, fit_on)
    assert tokens.tokenizer.to_dict() == expected.to_dict()
    assert np.array_equal(tokens.records[np.arange(len(tokens.records))], expected.encode(text))
    assert tokens.records.dtype == np.uint16 and tokens.path.name.endswith(".bin")
    assert any("whole training text" in n for n in tokens.text.notes) == (kind == "bpe")


def test_windows_read_from_disk_are_the_in_memory_draws(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(_text(1, 100), encoding="utf-8")
    tokens = tokenise_file(path, "char", 0.1, tmp_path / ".cache")
    train, val = tokens.split(0.1)
    ids = torch.from_numpy(tokens.records[np.arange(len(tokens.records))].astype(np.int64))
    for span, held in ((train, ids[: len(train)]), (val, ids[len(train) :])):
        for block, batch in ((8, 5), (64, 40)):  # the second: windows overlap and touch
            x, y = span.random_windows(block, batch, torch.Generator().manual_seed(3))
            ex, ey = random_windows(held, block, batch, torch.Generator().manual_seed(3))
            assert torch.equal(x, ex) and torch.equal(y, ey)
    pieces = val.spread(40, runs=4)
    assert [len(p) for p in pieces] == [10] * 4 and np.array_equal(pieces[0], val.read(0, 10))
    assert np.array_equal(pieces[-1], val.read(len(val) - 10, len(val)))


def test_the_cache_is_reused_and_a_partial_one_ignored(tmp_path):
    path, cache = tmp_path / "t.txt", tmp_path / ".cache"
    path.write_text(_text(2, 200), encoding="utf-8")
    first = tokenise_file(path, "char", 0.1, cache)
    assert "tokenised once" in first.text.notes[-1]
    again = tokenise_file(path, "char", 0.1, cache)
    assert "from the cache" in again.text.notes[-1] and len(again.records) == len(first.records)
    assert again.tokenizer.to_dict() == first.tokenizer.to_dict()
    (about,) = cache.glob("tokens-*[0-9a-f].json")
    described = json.loads(about.read_text())
    about.unlink()  # killed before its description was written: the ids are not trusted
    assert "tokenised once" in tokenise_file(path, "char", 0.1, cache).text.notes[-1]
    with first.path.open("r+b") as f:  # a description, and ids cut short
        f.truncate(10)
    assert "tokenised once" in tokenise_file(path, "char", 0.1, cache).text.notes[-1]
    assert json.loads(about.read_text()) == described
    path.write_text(_text(3, 200), encoding="utf-8")  # a changed file: a new cache
    assert "tokenised once" in tokenise_file(path, "char", 0.1, cache).text.notes[-1]
    assert len(list(cache.glob("tokens-*.bin"))) == 2


@pytest.mark.parametrize(
    ("raw", "match"),
    [(b"", "is empty"), (b" \n\n  \n", "only whitespace"),
     (bytes(range(256)) * 40, "binary"), (b"ok text\n" + bytes([0xFF, 0x00]) * 3000, "binary")],
)  # fmt: skip
def test_bad_files_are_refused_naming_them(tmp_path, raw, match):
    path = tmp_path / "bad.txt"
    path.write_bytes(raw)
    task = LanguageGeneration(output_dir=str(tmp_path / "runs"), verbose=False, stream=True)
    with pytest.raises(DataError, match=match) as caught:
        task.fit(path)
    assert "bad.txt" in str(caught.value)
    assert not (tmp_path / "runs").exists()


def test_a_file_not_valid_past_its_first_chunk_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(text_stream, "CHUNK_BYTES", 64)
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"plain ascii words\n" * 10 + "caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"not valid UTF-8 at byte 183.*--no-stream"):
        tokenise_file(path, "char", 0.1, tmp_path / ".cache")
    assert not list((tmp_path / ".cache").glob("*"))


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("both")
    path = folder / "words.txt"
    path.write_text(_text(4, 400), encoding="utf-8")
    runs = {}
    for stream in (False, True):
        task = LanguageGeneration(output_dir=str(folder / "runs"), verbose=False, report=False,
                                  time_limit=60, candidate_params=QUICK, max_tokens=20,
                                  stream=stream)  # fmt: skip
        runs[stream] = task.fit(path)
    return runs


def test_a_streamed_run_trains_and_scores_as_the_in_memory_one(both_runs):
    memory, streamed = (both_runs[s].metrics for s in (False, True))
    assert memory["characters"] == streamed["characters"]
    assert memory["validation_protocol"] == streamed["validation_protocol"]
    ngram = [m["candidates"]["ngram"] for m in (memory, streamed)]
    assert (
        ngram[0]["validation"] == ngram[1]["validation"] and ngram[0]["order"] == ngram[1]["order"]
    )
    gpt = [m["candidates"]["gpt"]["validation"]["loss"] for m in (memory, streamed)]
    assert gpt[1] == pytest.approx(gpt[0], abs=1e-4)  # the same windows, the same steps
    assert any("tokenised once" in n for n in streamed["notes"])
    assert both_runs[True].task.generate("the cat", max_tokens=10, seed=1).startswith("the cat")


def test_a_huge_split_is_scored_and_counted_on_bounded_samples(tmp_path, monkeypatch):
    monkeypatch.setattr(token_stream, "NGRAM_TOKENS", 2000)
    monkeypatch.setattr(token_stream, "VAL_TOKENS", 800)
    path = tmp_path / "words.txt"
    path.write_text(_text(5, 400), encoding="utf-8")
    task = LanguageGeneration(output_dir=str(tmp_path / "runs"), verbose=False, report=False,
                              candidates=["ngram"], stream=True)  # fmt: skip
    metrics = task.fit(path).metrics
    assert metrics["candidates"]["ngram"]["trained_tokens"] == 2000
    assert "800 tokens of the last 10%" in metrics["validation_protocol"]
    assert any("counted 2,000 of the" in n for n in metrics["notes"])


def test_a_file_too_large_for_memory_streams_on_its_own(tmp_path, monkeypatch):
    path = tmp_path / "t.txt"
    path.write_text("some text\n", encoding="utf-8")
    assert text_stream.should_stream(None, path) == (False, None)
    monkeypatch.setattr(text_stream, "too_big", lambda nbytes: nbytes >= 9 * 10)
    stream, why = text_stream.should_stream(None, path)
    assert stream and "t.txt" in why and "quarter" in why
    assert text_stream.should_stream(False, path) == (False, None)
    assert text_stream.should_stream(True, "a text, not a path") == (False, None)
