"""Made-up number and date pairs: deterministic, correct, and one target per source."""

from __future__ import annotations

from datetime import date

import pytest

from layerwise.errors import ConfigError
from layerwise.tasks.text_to_text.generated import (
    DATE_FORMS,
    MONTHS,
    date_text,
    generated_pairs,
    number_words,
)
from layerwise.tasks.text_to_text.pairs import references_by_source

WORDS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
SMALL = {w: i for i, w in enumerate(f"{WORDS} fifteen sixteen seventeen eighteen nineteen".split())}
TENS = {
    w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty".split(), 2)
}
TENS["ninety"] = 90


def parse_words(text: str) -> int:
    """An independent reader of English number words, to check the writer against."""
    total = current = 0
    for word in text.replace("-", " ").split():
        if word in SMALL:
            current += SMALL[word]
        elif word in TENS:
            current += TENS[word]
        elif word == "hundred":
            current *= 100
        elif word == "thousand":
            total, current = total + current * 1000, 0
        else:
            assert word == "and", word
    return total + current


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (7, "seven"),
        (15, "fifteen"),
        (40, "forty"),
        (342, "three hundred and forty-two"),
        (1005, "one thousand and five"),
        (1100, "one thousand one hundred"),
        (20_000, "twenty thousand"),
        (999_999, "nine hundred and ninety-nine thousand nine hundred and ninety-nine"),
    ],
)
def test_number_words(n, words):
    assert number_words(n) == words


def test_number_words_refuses_out_of_range():
    with pytest.raises(ConfigError):
        number_words(1_000_000)


def test_generated_pairs_are_deterministic_and_differ_by_seed():
    for kind in ("numbers", "dates", "mixed"):
        first, again = generated_pairs(300, kind, seed=5), generated_pairs(300, kind, seed=5)
        assert (first.sources, first.targets) == (again.sources, again.targets)
        assert first.sources != generated_pairs(300, kind, seed=6).sources


def test_number_pairs_round_trip_for_many_seeds():
    values = []
    for seed in range(25):
        pairs = generated_pairs(200, "numbers", seed=seed)
        for source, target in zip(pairs.sources, pairs.targets, strict=True):
            assert target.isdigit() and str(int(target)) == target
            assert parse_words(source) == int(target)
            assert number_words(int(target)) == source
            values.append(int(target))
    assert min(values) < 10 and max(values) > 500_000
    assert sum(v < 100 for v in values) > 0.1 * len(values)  # small numbers are common
    assert sum(v >= 100_000 for v in values) > 0.1 * len(values)  # and so are large ones


def test_date_pairs_round_trip_for_many_seeds():
    forms_seen = set()
    for seed in range(25):
        pairs = generated_pairs(100, "dates", seed=seed)
        for source, target in zip(pairs.sources, pairs.targets, strict=True):
            day = date.fromisoformat(target)
            form = [k for k in range(len(DATE_FORMS)) if date_text(day, k) == source]
            assert form, (source, target)
            forms_seen.update(form)
            assert str(day.year) in source and MONTHS[day.month - 1][:3] in source
    assert forms_seen == set(range(len(DATE_FORMS)))


def test_mixed_pairs_have_one_target_per_source():
    pairs = generated_pairs(3000, "mixed", seed=0)
    assert len(pairs) == 3000 and len(set(pairs.sources)) == 3000
    assert all(len(targets) == 1 for targets in references_by_source(pairs).values())
    dates = sum("-" in t for t in pairs.targets)
    assert 0.4 * 3000 < dates < 0.6 * 3000
    assert generated_pairs(3000, "mixed", seed=0).targets == pairs.targets


def test_bad_kind_and_count_are_config_errors():
    with pytest.raises(ConfigError, match="'number'"):
        generated_pairs(10, "number")
    with pytest.raises(ConfigError, match="n=0"):
        generated_pairs(0)
