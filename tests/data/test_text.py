"""Tests of layerwise.data.text: every layout, encodings, errors and label maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layerwise.data.text import TextSet, read_class_files_arg, read_texts
from layerwise.errors import ColumnError, ConfigError, DataError

RT_POLARITY = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "rt-polarity"


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ---- tables ----------------------------------------------------------------------------
def test_csv_with_text_and_label(tmp_path):
    csv = write(
        tmp_path / "reviews.csv",
        'id,review,stars\n1,"A moving, beautifully shot film.",5\n'
        "2,Two hours I will never get back again,1\n3,An instant classic of the genre,5\n",
    )
    s = read_texts(csv, target="stars")
    assert s.texts[0] == "A moving, beautifully shot film."
    assert s.classes == ["1", "5"] and s.labels.tolist() == [1, 0, 1]
    assert s.names == ["row 1", "row 2", "row 3"]
    assert any("'review'" in n for n in s.notes)  # the guessed text column is named
    assert s.summary().startswith("3 texts, 2 classes (1 1, 5 2)")


def test_jsonl_and_tsv_and_parquet(tmp_path):
    jsonl = write(
        tmp_path / "a.jsonl",
        '{"text": "good", "label": "pos"}\n\n{"text": "bad", "label": "neg"}\n',
    )
    s = read_texts(jsonl, text_column="text", target="label")
    assert s.texts == ["good", "bad"] and s.classes == ["neg", "pos"]
    tsv = write(tmp_path / "a.tsv", "text\tlabel\nfine film\t1\nawful\t0\n")
    assert read_texts(tsv, text_column="text", target="label").labels.tolist() == [1, 0]
    pytest.importorskip("pyarrow")
    pq = tmp_path / "a.parquet"
    pd.DataFrame({"body": ["x y", "z"], "y": [2, 10]}).to_parquet(pq)
    s = read_texts(pq, text_column="body", target="y")
    assert s.classes == ["2", "10"]  # numeric order


def test_dataframe_unlabelled_and_ambiguous_text_column():
    df = pd.DataFrame({"title": ["a short one"] * 2, "n": [1, 2]})
    s = read_texts(df, text_column="title")
    assert s.labels is None and s.texts == ["a short one"] * 2
    with pytest.raises(ConfigError, match="no column holds text") as exc:
        read_texts(df)
    assert "title" in one_line(exc)
    long = "a text that is clearly longer than twenty characters"
    with pytest.raises(ConfigError, match=r"several columns look like text \(a, b\)"):
        read_texts(pd.DataFrame({"a": [long], "b": [long]}))


def test_misspelled_columns_suggest_closest(tmp_path):
    csv = write(tmp_path / "t.csv", "review,sentiment\nnice enough,pos\nnot good,neg\n")
    with pytest.raises(ColumnError, match="Did you mean 'review'") as exc:
        read_texts(csv, text_column="reveiw", target="sentiment")
    assert "'t.csv'" in one_line(exc)
    with pytest.raises(ColumnError, match="Did you mean 'sentiment'"):
        read_texts(csv, text_column="review", target="sentimnet")


def test_missing_labels_and_empty_texts_dropped_with_notes():
    df = pd.DataFrame(
        {
            "text": ["one", "two", "", "four", None, "six"],
            "label": ["a", np.nan, "b", " ", "a", "b"],
        }
    )
    s = read_texts(df, text_column="text", target="label")
    assert s.texts == ["one", "six"] and s.names == ["row 1", "row 6"]
    assert "dropped 2 rows without a label" in s.notes
    assert "dropped 2 rows with an empty text" in s.notes
    with pytest.raises(DataError, match="has no values"):
        read_texts(df.assign(label=np.nan), text_column="text", target="label")


def test_float_labels_become_integer_names():
    df = pd.DataFrame({"t": ["a", "b", "c"], "y": [1.0, 0.0, np.nan]})
    s = read_texts(df, text_column="t", target="y")
    assert s.classes == ["0", "1"] and s.labels.tolist() == [1, 0]


# ---- files per class -------------------------------------------------------------------
def test_class_files_count_empty_lines(tmp_path):
    write(tmp_path / "d" / "good.txt", "great fun\n\nloved it\r\n  \nsuperb\n")
    write(tmp_path / "d" / "bad.txt", "boring\nawful\n")
    s = read_texts(tmp_path / "d", class_files={"pos": "good.txt", "neg": "bad.txt"})
    assert s.classes == ["neg", "pos"]
    assert s.texts == ["great fun", "loved it", "superb", "boring", "awful"]
    assert s.labels.tolist() == [1, 1, 1, 0, 0]
    assert s.names[:3] == ["good.txt:1", "good.txt:3", "good.txt:5"]
    assert "skipped 2 empty lines in 'good.txt'" in s.notes
    with pytest.raises(DataError, match="'missing.txt' of class 'x' does not exist"):
        read_texts(tmp_path / "d", class_files={"x": "missing.txt"})


def test_class_files_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.pos", "yes\n")
    write(tmp_path / "a.neg", "no\n")
    s = read_texts(class_files=read_class_files_arg(["pos=a.pos", "neg=a.neg"]))
    assert s.texts == ["yes", "no"] and s.classes == ["neg", "pos"]


def test_read_class_files_arg():
    assert read_class_files_arg([" pos = a.pos", "neg=b=c"]) == {"pos": "a.pos", "neg": "b=c"}
    with pytest.raises(ConfigError, match="not of the form CLASS=FILE") as exc:
        read_class_files_arg(["pos=a.pos", "b.neg"])
    assert "pos=rt-polarity.pos neg=rt-polarity.neg" in one_line(exc)
    with pytest.raises(ConfigError, match="given twice"):
        read_class_files_arg(["a=x", "a=y"])
    with pytest.raises(ConfigError, match="No class files"):
        read_class_files_arg([])


# ---- folders and single files ----------------------------------------------------------
def test_folder_per_class(tmp_path):
    root = tmp_path / "reviews"
    write(root / "pos" / "1.txt", "  A joy.\r\nTruly.\n")
    write(root / "pos" / "deep" / "2.txt", "Fine.")
    write(root / "neg" / "1.txt", "Dull.")
    write(root / "neg" / "2.txt", "   \n")
    write(root / "neg" / "notes.md", "ignore me")
    write(root / ".hidden" / "x.txt", "hidden")
    s = read_texts(root)
    assert dict(zip(s.names, s.texts, strict=True)) == {
        "neg/1.txt": "Dull.",
        "pos/1.txt": "A joy.\nTruly.",
        "pos/deep/2.txt": "Fine.",
    }
    assert s.classes == ["neg", "pos"]
    assert [s.classes[c] for c in s.labels] == [n.split("/")[0] for n in s.names]
    assert any("skipped 1 empty files" in n for n in s.notes)
    assert any(".md" in n for n in s.notes)


def test_folder_without_classes_is_unlabelled_and_split_folders_refused(tmp_path):
    write(tmp_path / "flat" / "a.txt", "first")
    write(tmp_path / "flat" / "b.txt", "second")
    s = read_texts(tmp_path / "flat")
    assert s.labels is None and s.names == ["a.txt", "b.txt"]
    write(tmp_path / "imdb" / "train" / "pos" / "1.txt", "x")
    write(tmp_path / "imdb" / "test" / "pos" / "1.txt", "y")
    with pytest.raises(ConfigError, match="split folders"):
        read_texts(tmp_path / "imdb")
    write(tmp_path / "csvs" / "t.csv", "a,b\n1,2\n")
    with pytest.raises(DataError, match=r"No \.txt files") as exc:
        read_texts(tmp_path / "csvs")
    assert "table file" in one_line(exc)


def test_single_text_file_one_example_per_line(tmp_path):
    path = write(tmp_path / "inbox.txt", "win a prize\n\nmeeting at 3\n")
    s = read_texts(path)
    assert s.labels is None and s.texts == ["win a prize", "meeting at 3"]
    assert s.names == ["inbox.txt:1", "inbox.txt:3"]
    assert str(path) in s.source or s.source == str(path.resolve())


# ---- encodings and bad files -----------------------------------------------------------
def test_latin1_file_read_with_note(tmp_path):
    text = "café crème\ndéjà vu à la française\ngarçon, naïve résumé\n"
    path = write(tmp_path / "fr.pos", text.encode("latin-1"))
    s = read_texts(path)
    assert s.texts == text.splitlines()
    assert any(n.startswith("read 'fr.pos' as ") and "not valid UTF-8" in n for n in s.notes)
    try:
        import charset_normalizer  # noqa: F401
    except ImportError:
        assert "read 'fr.pos' as latin-1 (not valid UTF-8)" in s.notes
    assert read_texts(path, encoding="latin-1").notes == []
    with pytest.raises(DataError, match="not valid utf-8"):
        read_texts(path, encoding="utf-8")
    csv = write(tmp_path / "fr.csv", "text,label\ncafé crème,a\ndéjà vu,b\n".encode("latin-1"))
    for encoding in (None, "latin-1"):
        s = read_texts(csv, text_column="text", target="label", encoding=encoding)
        assert s.texts == ["café crème", "déjà vu"]
        assert bool(s.notes) == (encoding is None)  # the detected encoding is noted


def test_cp1252_quotes_named_cp1252(tmp_path):
    path = write(tmp_path / "q.txt", "\u201cquoted\u201d \u2013 fine\n".encode("cp1252"))
    s = read_texts(path)
    assert s.texts == ["\u201cquoted\u201d \u2013 fine"]


def test_utf8_bom_and_utf16(tmp_path):
    path = write(tmp_path / "bom.txt", "\ufeffhello\nworld\n".encode())
    s = read_texts(path)
    assert s.texts == ["hello", "world"] and s.notes == []
    csv = write(tmp_path / "bom.csv", "\ufefftext,label\nsome text,a\nmore,b\n".encode())
    assert read_texts(csv, text_column="text", target="label").texts == ["some text", "more"]
    utf16 = write(tmp_path / "u16.txt", "héllo\nwörld\n".encode("utf-16"))
    s = read_texts(utf16)
    assert s.texts == ["héllo", "wörld"] and "read 'u16.txt' as UTF-16" in s.notes[0]


def test_binary_and_empty_files_are_errors(tmp_path):
    binary = write(tmp_path / "x.bin", bytes(range(256)) * 4)
    with pytest.raises(DataError, match="'x.bin' looks like a binary file, not text") as exc:
        read_texts(binary)
    one_line(exc)
    noisy = write(tmp_path / "y.txt", bytes(range(1, 32)) * 40 + b"abc")
    with pytest.raises(DataError, match="'y.txt' looks like a binary file"):
        read_texts(noisy)
    write(tmp_path / "cls" / "a" / "img.txt", b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(DataError, match="'a/img.txt' looks like a binary file"):
        read_texts(tmp_path / "cls")
    empty = write(tmp_path / "empty.txt", b"")
    with pytest.raises(DataError, match="'empty.txt' is empty"):
        read_texts(empty)
    write(tmp_path / "blank.neg", "\n\n  \n")
    with pytest.raises(DataError, match="'blank.neg' is empty"):
        read_texts(tmp_path, class_files={"neg": "blank.neg"})


# ---- memory, label maps ----------------------------------------------------------------
def test_single_string_and_missing_path():
    s = read_texts("what a wonderful film")
    assert s.texts == ["what a wonderful film"] and s.labels is None and s.names == ["text[0]"]
    assert read_texts("great").texts == ["great"]
    with pytest.raises(DataError, match="does not exist") as exc:
        read_texts("no_such_file.csv")
    assert "in a list" in one_line(exc)
    assert read_texts(["no_such_file.csv"]).texts == ["no_such_file.csv"]


def test_list_and_pair_inputs():
    s = read_texts(["first text", "", "third"])
    assert len(s) == 3 and s.labels is None  # kept aligned with the input at predict time
    s = read_texts((["good", "", "bad", "meh"], ["pos", "pos", "neg", None]))
    assert s.texts == ["good", "bad"] and s.labels.tolist() == [1, 0]
    assert "dropped 1 texts without a label" in s.notes and "dropped 1 empty texts" in s.notes
    with pytest.raises(DataError, match="2 texts but 3 labels"):
        read_texts((["a", "b"], [0, 1, 0]))
    with pytest.raises(DataError, match="Text 1 is a float"):
        read_texts(["a", 1.5])
    with pytest.raises(DataError, match="every text is empty"):
        read_texts(["", "  "])
    with pytest.raises(DataError, match="Cannot read texts from a int"):
        read_texts(3)


def test_known_classes_map_unknown_to_minus_one(tmp_path):
    s = read_texts((["a", "b", "c"], ["pos", "neutral", "neg"]), classes=["neg", "pos"])
    assert s.classes == ["neg", "pos"] and s.labels.tolist() == [1, -1, 0]
    assert any("neutral" in n and "-1" in n for n in s.notes)
    assert "1 of unknown class" in s.summary()
    unlabelled = read_texts(["x"], classes=["neg", "pos"])
    assert unlabelled.labels is None and unlabelled.classes == ["neg", "pos"]
    again = read_texts(s, classes=["pos", "neg", "neutral"])
    assert again.labels.tolist() == [0, -1, 1] and again.classes == ["pos", "neg", "neutral"]


def test_textset_subset_and_summary():
    s = read_texts((["one two three", "four", "five six"], [3, 10, 3]))
    assert s.classes == ["3", "10"]
    sub = s.subset(s.labels == 0)
    assert isinstance(sub, TextSet) and sub.texts == ["one two three", "five six"]
    assert sub.classes == s.classes and sub.notes == s.notes and sub.source == s.source
    assert s.subset(1).texts == ["four"]
    assert s.subset(np.array([2, 0])).names == ["text[2]", "text[0]"]
    assert s.summary() == "3 texts, 2 classes (3 2, 10 1); median 2 words"
    copy = read_texts(s)
    copy.texts.append("x")
    assert len(s) == 3


# ---- the real dataset ------------------------------------------------------------------
@pytest.mark.skipif(not RT_POLARITY.is_dir(), reason="shared/datasets/rt-polarity not present")
def test_rt_polarity():
    s = read_texts(RT_POLARITY, class_files={"pos": "rt-polarity.pos", "neg": "rt-polarity.neg"})
    assert len(s) == 10_662 and s.classes == ["neg", "pos"]
    assert np.bincount(s.labels).tolist() == [5331, 5331]
    raw = (RT_POLARITY / "rt-polarity.pos").read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:  # the original release is latin-1
        assert any(n.startswith("read 'rt-polarity.pos' as ") for n in s.notes)
    assert s.summary().startswith("10,662 texts, 2 classes (neg 5,331, pos 5,331)")


def test_label_tab_text_lines_read_as_labelled(tmp_path):
    lines = ["ham\tGo until jurong point", "spam\tWINNER!! claim your prize", "ham\tOk lar..."] * 3
    (tmp_path / "SMSSpamCollection").write_text("\n".join(lines) + "\n", encoding="utf-8")
    texts = read_texts(tmp_path / "SMSSpamCollection")
    assert texts.classes == ["ham", "spam"] and texts.texts[1] == "WINNER!! claim your prize"
    assert list(texts.labels[:3]) == [0, 1, 0]
    assert any("label<TAB>text" in note for note in texts.notes)
