"""Reading sentence pairs from untrusted files, and splitting them by source sentence."""

from __future__ import annotations

import pandas as pd
import pytest

from layerwise.errors import ColumnError, ConfigError, DataError
from layerwise.tasks.text_to_text.pairs import (
    PairSet,
    normalise_text,
    read_pairs,
    read_parallel,
    references_by_source,
    split_by_source,
)

ANKI = (
    "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM) & #1158250 (Wittydev)\n"
    "Hi.\tSalut !\tCC-BY 2.0 (France) Attribution: tatoeba.org #538123 (CM) & #509819 (Aiji)\n"
    "Run!\tCours\u202f!\tCC-BY 2.0 (France) Attribution: tatoeba.org #906328 (papabear)\n"
)


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


# ---- lines ----------------------------------------------------------------------------------
def test_anki_lines_ignore_the_attribution_column(tmp_path):
    pairs = read_pairs(write(tmp_path / "fra.txt", ANKI))
    assert pairs.sources == ["Go.", "Hi.", "Run!"]
    assert pairs.targets == ["Va !", "Salut !", "Cours !"]  # the narrow no-break space: a space
    assert pairs.notes[0] == (
        "read 'fra.txt' as source<TAB>target lines (ignored column 3, such as an attribution)"
    )
    assert len(pairs) == 3


def test_reverse_swaps_the_sides(tmp_path):
    pairs = read_pairs(write(tmp_path / "fra.txt", ANKI), reverse=True)
    assert pairs.sources[0] == "Va !" and pairs.targets[0] == "Go."
    assert "reverse" in pairs.notes[-1]


def test_file_without_a_tab_is_an_error_naming_it_and_the_layout(tmp_path):
    path = write(tmp_path / "sentences.txt", "Hello there.\nHow are you?\n")
    with pytest.raises(DataError, match="sentences.txt") as error:
        read_pairs(path)
    assert "source<TAB>target" in str(error.value)
    assert "--source-column" in str(error.value)


def test_lines_without_a_tab_blank_and_overlong_pairs_are_counted(tmp_path):
    long = "x" * 30
    text = (
        "a\tA\n\n"  # line 2 blank: ignored, not counted
        "no tab here\n"  # line 3
        "b\t  \n"  # line 4: empty target
        f"c\t{long}\n"  # line 5: overlong
        "also no tab\n"  # line 6
        "d  \t D \t\n"  # line 7: an empty third column; whitespace stripped
    )
    pairs = read_pairs(write(tmp_path / "p.tsv", text), max_chars=20)
    assert pairs.sources == ["a", "d"] and pairs.targets == ["A", "D"]
    assert "skipped 2 lines without a tab (first: line 3)" in pairs.notes
    assert "dropped 1 pair with an empty side (first: line 4)" in pairs.notes
    assert "dropped 1 pair with a side over 20 characters (first: line 5)" in pairs.notes


def test_texts_are_nfc_with_single_spaces(tmp_path):
    decomposed = "cafe\u0301"  # e + combining acute
    pairs = read_pairs(write(tmp_path / "p.txt", f"  a   {decomposed}\t b\u00a0\u00a0c \n"))
    assert pairs.sources == ["a café"] and pairs.targets == ["b c"]
    assert normalise_text(decomposed) == "café"


def test_a_header_line_is_recognised(tmp_path):
    pairs = read_pairs(write(tmp_path / "p.tsv", "english\tfrench\nHi.\tSalut.\n"))
    assert pairs.sources == ["Hi."]
    assert any("header" in note for note in pairs.notes)


def test_tatoeba_id_text_id_text_export(tmp_path):
    text = (
        "1276\tLet's try something.\t77\tEssayons quelque chose.\n"
        "1277\tI have to go.\t78\tJe dois partir.\n"
    )
    pairs = read_pairs(write(tmp_path / "pairs.tsv", text))
    assert pairs.sources == ["Let's try something.", "I have to go."]
    assert pairs.targets == ["Essayons quelque chose.", "Je dois partir."]


def test_undecodable_bytes_name_the_file_and_line(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("a\tb\ncaf\u00e9\tcoffee\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.txt' line 2 is not valid UTF-8"):
        read_pairs(path)


def test_no_pairs_left_and_missing_files_are_errors(tmp_path):
    with pytest.raises(DataError, match="No pairs are left.*empty side"):
        read_pairs(write(tmp_path / "p.txt", "a\t \n\tb\n"))
    with pytest.raises(DataError, match="does not exist"):
        read_pairs(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="empty"):
        read_pairs(write(tmp_path / "empty.txt", ""))
    with pytest.raises(DataError, match="extension '.xlsx'"):
        read_pairs(write(tmp_path / "p.xlsx", "a\tb\n"))


def test_an_oversized_file_is_refused_before_reading(tmp_path, monkeypatch):
    from layerwise.tasks.text_to_text import pair_files as module

    monkeypatch.setattr(module, "MAX_BYTES", 10)
    with pytest.raises(DataError, match="big.txt.*GiB"):
        read_pairs(write(tmp_path / "big.txt", "a\tb\n" * 10))


# ---- tables ---------------------------------------------------------------------------------
def test_csv_with_named_columns(tmp_path):
    df = pd.DataFrame({"id": [1, 2], "en": ["Hello, you.", "NA"], "fr": ['Salut, "toi".', "ND"]})
    df.to_csv(tmp_path / "t.csv", index=False)
    pairs = read_pairs(tmp_path / "t.csv", source_column="en", target_column="fr")
    assert pairs.sources == ["Hello, you.", "NA"]  # "NA" is a sentence, not a missing value
    assert pairs.targets == ['Salut, "toi".', "ND"]
    assert pairs.notes[0] == "read columns 'en' (sources) and 'fr' (targets) of 't.csv'"


def test_a_missing_column_is_named_with_the_columns(tmp_path):
    pd.DataFrame({"en": ["a"], "fr": ["b"]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ColumnError, match="'german'.*en, fr") as error:
        read_pairs(tmp_path / "t.csv", source_column="en", target_column="german")
    assert "t.csv" in str(error.value)
    with pytest.raises(ConfigError, match="both 'en'"):
        read_pairs(tmp_path / "t.csv", source_column="en", target_column="en")


def test_two_text_columns_are_picked_in_order_numbers_left_out(tmp_path):
    df = pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "question": ["Hi?", "", "Why?"],
            "answer": ["Hello.", "Ok.", "Because."],
            "score": [0.5, 1.0, 2.0],
        }
    )
    df.to_csv(tmp_path / "chat.csv", index=False)
    pairs = read_pairs(tmp_path / "chat.csv")
    assert pairs.sources == ["Hi?", "Why?"] and pairs.targets == ["Hello.", "Because."]
    assert "dropped 1 pair with an empty side (first: row 2)" in pairs.notes


def test_three_text_columns_name_them_and_the_options(tmp_path):
    df = pd.DataFrame({"en": ["a"], "fr": ["b"], "de": ["c"]})
    df.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(DataError, match="3 text columns.*en, fr, de") as error:
        read_pairs(tmp_path / "t.parquet")
    assert "--source-column" in str(error.value) and "--target-column" in str(error.value)
    pairs = read_pairs(tmp_path / "t.parquet", source_column="de", target_column="en")
    assert (pairs.sources, pairs.targets) == (["c"], ["a"])


def test_tsv_with_named_columns_is_a_table_and_quotes_are_text(tmp_path):
    write(tmp_path / "t.tsv", 'src\tnotes\ttgt\n"Hi"\tx\tSalut\n')
    pairs = read_pairs(tmp_path / "t.tsv", source_column="src", target_column="tgt")
    assert (pairs.sources, pairs.targets) == (['"Hi"'], ["Salut"])


def test_jsonl_with_one_named_column_picks_the_other(tmp_path):
    write(tmp_path / "c.jsonl", '{"prompt": "Hi", "reply": "Hello", "n": 3}\n')
    pairs = read_pairs(tmp_path / "c.jsonl", source_column="prompt")
    assert (pairs.sources, pairs.targets) == (["Hi"], ["Hello"])


# ---- parallel files -------------------------------------------------------------------------
def test_parallel_files_pair_line_by_line(tmp_path):
    en = write(tmp_path / "train.en", "Hello.\nThanks.\n\n")  # a trailing blank line
    fr = write(tmp_path / "train.fr", "Bonjour.\nMerci.\n")
    pairs = read_parallel(en, fr)
    assert (pairs.sources, pairs.targets) == (["Hello.", "Thanks."], ["Bonjour.", "Merci."])
    back = read_parallel(en, fr, reverse=True)
    assert back.sources == ["Bonjour.", "Merci."]


def test_parallel_files_split_on_newlines_only(tmp_path):
    en = write(tmp_path / "a.en", "one\u2028still one\ntwo\n")
    fr = write(tmp_path / "a.fr", "un\ndeux\n")
    assert read_parallel(en, fr).targets == ["un", "deux"]


def test_parallel_files_with_different_line_counts_name_both(tmp_path):
    en = write(tmp_path / "train.en", "a\nb\nc\n")
    fr = write(tmp_path / "train.fr", "A\nB\n")
    with pytest.raises(DataError) as error:
        read_parallel(en, fr)
    message = str(error.value)
    assert "train.en' has 3 lines" in message and "train.fr' has 2" in message


# ---- splitting ------------------------------------------------------------------------------
def repeated_sources(n: int = 300) -> PairSet:
    sources = [f"sentence {i % 37}" for i in range(n)]
    return PairSet(sources, [f"target {i}" for i in range(n)])


def test_split_keeps_every_occurrence_of_a_source_on_one_side():
    pairs = repeated_sources()
    parts = split_by_source(pairs, val_fraction=0.1, test_fraction=0.2, seed=4)
    sides = {name: set(part.sources) for name, part in parts.items()}
    assert not sides["train"] & sides["val"] and not sides["train"] & sides["test"]
    assert not sides["val"] & sides["test"]
    assert sum(len(p) for p in parts.values()) == len(pairs)
    assert sorted(t for p in parts.values() for t in p.targets) == sorted(pairs.targets)
    assert abs(len(parts["test"]) - 60) <= 10 and abs(len(parts["val"]) - 30) <= 10


def test_split_is_deterministic_for_a_seed():
    pairs = repeated_sources()
    first = split_by_source(pairs, 0.1, 0.1, seed=7)
    again = split_by_source(pairs, 0.1, 0.1, seed=7)
    other = split_by_source(pairs, 0.1, 0.1, seed=8)
    assert all(first[k].targets == again[k].targets for k in first)
    assert first["test"].targets != other["test"].targets


def test_split_gives_each_side_a_source_or_an_error():
    parts = split_by_source(PairSet(["a", "b", "c"], ["A", "B", "C"]), 0.01, 0.01, seed=0)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [1, 1, 1]
    with pytest.raises(DataError, match="2 distinct source"):
        split_by_source(PairSet(["a", "b", "a"], ["A", "B", "C"]), 0.1, 0.1, seed=0)
    no_val = split_by_source(PairSet(["a", "b"], ["A", "B"]), 0.0, 0.5, seed=0)
    assert len(no_val["val"]) == 0 and len(no_val["test"]) == 1
    with pytest.raises(ConfigError, match="val_fraction"):
        split_by_source(repeated_sources(), 0.6, 0.5)


def test_references_and_subsets():
    pairs = PairSet(["Hi.", "Go.", "Hi."], ["Salut.", "Va.", "Bonjour."])
    assert references_by_source(pairs) == {"Hi.": ["Salut.", "Bonjour."], "Go.": ["Va."]}
    assert pairs.subset([True, False, True]).targets == ["Salut.", "Bonjour."]


def test_split_does_not_spend_a_dominant_source_on_a_small_side():
    pairs = PairSet(["Hi."] * 50 + ["a", "b", "c", "d"], [f"t{i}" for i in range(54)])
    for seed in range(10):
        parts = split_by_source(pairs, 0.05, 0.05, seed=seed)
        assert parts["train"].sources.count("Hi.") == 50
        assert parts["val"].sources and parts["test"].sources  # about 5% each: 1 to 3 pairs
        assert len(parts["val"]) + len(parts["test"]) + len(parts["train"]) == 54


def test_malformed_tables_are_errors_naming_the_file(tmp_path):
    write(tmp_path / "ragged.csv", "en,fr\na,b,c,d\n")
    with pytest.raises(DataError, match="ragged.csv' has more fields"):
        read_pairs(tmp_path / "ragged.csv")
    write(tmp_path / "header.csv", "en,fr\n")
    with pytest.raises(DataError, match="header.csv' has no rows"):
        read_pairs(tmp_path / "header.csv")
    write(tmp_path / "broken.csv", "en,fr\na,b\nc,d,e\n")
    with pytest.raises(DataError, match="broken.csv' could not be read.*line 3"):
        read_pairs(tmp_path / "broken.csv")
