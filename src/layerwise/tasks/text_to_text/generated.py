"""Sentence pairs made up on the spot, for the demo and the tests: no file needed.

- ``"numbers"``: English number words to digits, ``"three hundred and forty-two"`` ->
  ``"342"``, from 0 to 999,999 (British usage: "and" before the last tens and units);
- ``"dates"``: a date written one of several ways (:data:`DATE_FORMS`), ``"the 3rd of March
  2021"`` or ``"March 3, 2021"``, to ``"2021-03-03"``;
- ``"mixed"``: both, half each on average.

Each source has one correct target (the mapping is a function, written here without any
dependency), so a small sequence-to-sequence model learns it to near-exact match from a few
thousand pairs. Pairs are distinct while the seed's draws allow, and the same for a seed.

Example:
    >>> pairs = generated_pairs(2, "numbers", seed=1)
    >>> pairs.sources, pairs.targets
    (['five hundred and sixty', 'one'], ['560', '1'])
"""

from __future__ import annotations

import calendar
from datetime import date

import numpy as np

from layerwise.errors import ConfigError, closest
from layerwise.tasks.text_to_text.pairs import PairSet

KINDS = ("numbers", "dates", "mixed")
MAX_PAIRS = 1_000_000
ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen").split()  # fmt: skip
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)  # not calendar.month_name: it follows the locale
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# {day} 3, {ordinal} 3rd, {month} March, {mon} Mar, {year} 2021, {weekday} Wednesday
DATE_FORMS = (
    "the {ordinal} of {month} {year}",
    "{month} {day}, {year}",
    "{day} {month} {year}",
    "{month} {ordinal}, {year}",
    "{mon} {day}, {year}",
    "{weekday}, {day} {month} {year}",
)
YEARS = (1900, 2100)  # drawn from [1900, 2100)


def _below_100(n: int) -> str:
    if n < 20:
        return ONES[n]
    tens, ones = divmod(n, 10)
    return TENS[tens] + (f"-{ONES[ones]}" if ones else "")


def _below_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    if not hundreds:
        return _below_100(rest)
    words = f"{ONES[hundreds]} hundred"
    return f"{words} and {_below_100(rest)}" if rest else words


def number_words(n: int) -> str:
    """``n`` (0 to 999,999) in English words, one way only: hyphenated tens ("forty-two"),
    "and" before the tens and units of a hundred or of a thousand.

    >>> number_words(342), number_words(1005)
    ('three hundred and forty-two', 'one thousand and five')
    >>> number_words(120_045)
    'one hundred and twenty thousand and forty-five'
    """
    if not isinstance(n, (int, np.integer)) or not 0 <= n < 1_000_000:
        raise ConfigError(f"number_words({n!r}) is not valid.", "Give an integer 0 to 999,999.")
    n = int(n)
    if n == 0:
        return ONES[0]
    thousands, rest = divmod(n, 1000)
    parts = [f"{_below_1000(thousands)} thousand"] if thousands else []
    if rest:
        parts.append(("and " if thousands and rest < 100 else "") + _below_1000(rest))
    return " ".join(parts)


def ordinal(day: int) -> str:
    """``day`` with its English suffix.

    >>> [ordinal(d) for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)]
    ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '23rd', '31st']
    """
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def date_text(day: date, form: int = 0) -> str:
    """``day`` written the way of ``DATE_FORMS[form]``.

    >>> [date_text(date(2021, 3, 3), k) for k in (0, 1, 5)]
    ['the 3rd of March 2021', 'March 3, 2021', 'Wednesday, 3 March 2021']
    """
    month = MONTHS[day.month - 1]
    return DATE_FORMS[form].format(day=day.day, ordinal=ordinal(day.day), month=month,
                                   mon=month[:3], year=day.year,
                                   weekday=WEEKDAYS[day.weekday()])  # fmt: skip


def _number(rng: np.random.Generator) -> int:
    """A number whose count of digits (1 to 6) is uniform, so small ones are as common as
    large; a quarter of those over 99 rounded ("twenty thousand"), as numbers in text often are."""
    digits = int(rng.integers(1, 7))
    n = int(rng.integers(0 if digits == 1 else 10 ** (digits - 1), 10**digits))
    if digits > 2 and rng.random() < 0.25:
        n -= n % 10 ** int(rng.integers(1, digits))
    return n


def _date(rng: np.random.Generator) -> date:
    year, month = int(rng.integers(*YEARS)), int(rng.integers(1, 13))
    return date(year, month, int(rng.integers(1, calendar.monthrange(year, month)[1] + 1)))


def _pair(rng: np.random.Generator, kind: str) -> tuple[str, str]:
    if kind == "mixed":
        kind = "numbers" if rng.random() < 0.5 else "dates"
    if kind == "numbers":
        n = _number(rng)
        return number_words(n), str(n)
    day = _date(rng)
    return date_text(day, int(rng.integers(len(DATE_FORMS)))), day.isoformat()


def generated_pairs(n: int, kind: str = "numbers", seed: int = 0) -> PairSet:
    """``n`` made-up pairs of ``kind`` (one of :data:`KINDS`; see the module doc), the same for
    the same seed.

    Example:
        >>> pairs = generated_pairs(3, "dates", seed=1)
        >>> len(pairs), all(len(t) == 10 and t[4] == "-" for t in pairs.targets)
        (3, True)
    """
    if kind not in KINDS:
        near = closest(str(kind), KINDS)
        hint = f"Did you mean {near!r}?" if near else f"Use one of: {', '.join(KINDS)}."
        raise ConfigError(f"Generated pairs have no kind {kind!r}.", hint)
    if not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_PAIRS:
        raise ConfigError(f"n={n!r} generated pairs is not valid.", f"Use 1 to {MAX_PAIRS:,}.")
    rng = np.random.default_rng(seed)
    sources: list[str] = []
    targets: list[str] = []
    seen: set[str] = set()
    draws = 0
    while len(sources) < n:
        source, target = _pair(rng, kind)
        draws += 1
        if source in seen and draws < 20 * n:  # redraw a repeat, while draws are cheap
            continue
        seen.add(source)
        sources.append(source)
        targets.append(target)
    return PairSet(sources, targets, [f"generated {n:,} '{kind}' pairs (seed {seed})"])
