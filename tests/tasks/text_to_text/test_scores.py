"""The text-to-text scores against sacreBLEU itself."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sacrebleu.metrics import BLEU, CHRF

from layerwise.errors import DataError
from layerwise.tasks.text_to_text.scores import (
    length_bucket,
    scores_by_length,
    sentence_scores,
    text_scores,
)

HYPS = [
    "the cat sat on the mat",
    "il fait très froid ce matin .",
    "je ne sais pas",
    "",
    "Tom est parti hier soir avec sa sœur et son frère pour Paris.",
]
REFS = [
    "the cat is on the mat",
    "il fait très froid ce matin .",
    "je ne sais pas nager",
    "Bonjour.",
    "Tom est parti pour Paris hier soir avec son frère.",
]


def test_identical_texts_score_perfectly():
    refs = ["Il fait très froid ce matin.", "Je ne sais pas nager du tout."]
    s = text_scores(refs, refs)
    assert s["bleu"] == pytest.approx(100.0)
    assert s["chrf"] == pytest.approx(100.0)
    assert s["exact_match"] == 1.0 and s["count"] == 2


def test_bleu_by_hand_and_against_sacrebleu():
    s = text_scores(["the cat sat on the mat"], ["the cat is on the mat"])
    # 1- to 4-gram matches 5/6, 3/5, 1/4, 0/3; exp smoothing makes the last 1 / (2 * 3)
    by_hand = math.exp(np.mean(np.log([5 / 6, 3 / 5, 1 / 4, 1 / 6]))) * 100
    assert s["bleu"] == pytest.approx(by_hand)
    assert s["bleu_precisions"] == pytest.approx([500 / 6, 60.0, 25.0, 100 / 6])
    assert s["brevity_penalty"] == 1.0
    assert s["hypothesis_length"] == s["reference_length"] == 6

    s = text_scores(HYPS, REFS)
    assert s["bleu"] == pytest.approx(BLEU().corpus_score(HYPS, [REFS]).score)
    assert s["chrf"] == pytest.approx(CHRF().corpus_score(HYPS, [REFS]).score)
    assert s["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
    assert s["chrf_signature"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no")
    json.dumps(s)  # plain values only


def test_exact_match_collapses_whitespace_only():
    s = text_scores(["Merci  beaucoup. ", "merci.", "Oui"], ["Merci beaucoup.", "Merci.", "Oui"])
    assert s["exact_match"] == pytest.approx(2 / 3)


def test_multi_reference_scores_when_the_hypothesis_is_one_of_them():
    multi = [[r, h] for h, r in zip(HYPS, REFS, strict=True)]
    multi[1] = [REFS[1]]  # a variable number of references per source
    s = text_scores(HYPS, REFS, multi)
    assert s["bleu_multi"] >= s["bleu"] and s["chrf_multi"] >= s["chrf"]
    assert s["exact_match_multi"] == 1.0
    assert s["references_per_source"] == pytest.approx(9 / 5)
    assert s["bleu_multi_signature"].startswith("nrefs:var|")
    streams = [REFS, [h if i != 1 else None for i, h in enumerate(HYPS)]]
    assert s["bleu_multi"] == pytest.approx(BLEU().corpus_score(HYPS, streams).score)
    assert s["chrf_multi"] == pytest.approx(CHRF().corpus_score(HYPS, streams).score)


def test_multi_references_pad_with_none_not_empty_strings():
    hyps = ["a b c d", "e f g h"]
    refs = ["a b c d e f g h", "e f g h"]
    s = text_scores(hyps, refs, [[refs[0]], [refs[1], "x y"]])
    padded_none = BLEU().corpus_score(hyps, [refs, [None, "x y"]]).score
    padded_empty = BLEU().corpus_score(hyps, [refs, ["", "x y"]]).score
    assert s["bleu_multi"] == pytest.approx(padded_none)
    # "" would be a real, empty reference: the closest length for the short hypothesis
    assert padded_empty > padded_none + 10


def test_own_reference_is_added_to_the_multi_references():
    s = text_scores(HYPS, REFS, [[] for _ in HYPS])
    assert s["bleu_multi"] == pytest.approx(s["bleu"])
    assert s["bleu_multi_signature"].startswith("nrefs:1|")


def test_edge_cases():
    s = text_scores(["", ""], ["a b", "c"])
    assert s["bleu"] == 0.0 and s["chrf"] == 0.0 and s["exact_match"] == 0.0
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in s.values())
    with pytest.raises(DataError, match="No hypotheses"):
        text_scores([], [])
    with pytest.raises(DataError, match="2 hypotheses but 1 references"):
        text_scores(["a", "b"], ["a"])
    with pytest.raises(DataError, match="item 1 is a NoneType"):
        text_scores(["a", None], ["a", "b"])
    with pytest.raises(DataError, match="lists of references"):
        text_scores(["a"], ["a"], [["a"], ["b"]])


def test_length_buckets_partition_the_pairs_in_order():
    sources = [
        "Go.",
        "one two three four five",
        "a " * 12,
        "x " * 30,
        "I see.",
        "one two three four",
    ]
    hyps = ["Va !", "un deux trois", "a", "x", "Je vois.", "un deux"]
    refs = ["Va !", "un deux trois quatre cinq", "a", "y", "Je vois.", "un deux trois quatre"]
    rows = scores_by_length(sources, hyps, refs)
    assert [r["bucket"] for r in rows] == ["1-3", "4-6", "11-20", "21+"]
    assert [r["count"] for r in rows] == [2, 2, 1, 1]
    assert sum(r["count"] for r in rows) == len(sources)
    assert rows[0]["exact_match"] == 1.0 and rows[-1]["exact_match"] == 0.0
    subset = text_scores([hyps[1], hyps[5]], [refs[1], refs[5]])
    assert rows[1]["bleu"] == pytest.approx(subset["bleu"])
    assert rows[1]["chrf"] == pytest.approx(subset["chrf"])
    by_letter = scores_by_length(sources, hyps, refs, bucket=lambda t: t.strip()[0].lower())
    assert [r["bucket"] for r in by_letter] == ["a", "g", "i", "o", "x"]


def test_length_bucket_edges():
    labels = [length_bucket(" ".join(["w"] * n)) for n in (0, 1, 3, 4, 6, 7, 10, 11, 20, 21)]
    assert labels == ["0", "1-3", "1-3", "4-6", "4-6", "7-10", "7-10", "11-20", "11-20", "21+"]


def test_sentence_scores_are_chrf_per_sentence():
    scores = sentence_scores(HYPS, REFS)
    assert scores.shape == (5,) and scores.dtype == np.float64
    assert scores[1] == 100.0
    assert scores[0] == pytest.approx(CHRF().sentence_score(HYPS[0], [REFS[0]]).score)
    assert scores[3] == 0.0
    assert sentence_scores([""], [" "])[0] == 100.0  # both empty: a perfect match
    assert np.all((scores >= 0) & (scores <= 100))
