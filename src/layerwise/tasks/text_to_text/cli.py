"""What text-to-text adds to the ``layerwise`` command: its ``train`` options, how it recognises
a file of tab-separated pairs, its demo and the lines printed after training. Read at the
command's start-up: nothing heavy at the top (see core.cli_spec)."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

from layerwise.core.cli_spec import CommandLine, Demo, TrainOption

DEMO_PAIRS = 10_000  # generated number and date pairs
# The Transformer's training time in the demo, and its model. The six-digit numbers in words are
# the hard part (place value: "sixty-four thousand and fifteen" -> 64015). Test exact match on
# the demo's pairs (seed 0, 2 CPU cores): 3,000 pairs with the plan's defaults (dim 128, 2+2
# layers, dropout 0.3) 0.79 after 90 s, 0.91 after 180 s, 0.93 and 0.95 in two 300 s runs;
# 10,000 pairs in 300 s 0.954 with dropout 0.3 and 0.986 (500 test pairs) with dropout 0.1. The
# defaults regularise against the noise of real sentence pairs (dropout 0.3 below 50,000 pairs);
# the demo's pairs are a function without noise, so it asks for little dropout, and for the small
# model that sees them 28 times in its 5 minutes rather than a bigger one that sees them less.
DEMO_SECONDS = 300
DEMO_MODEL = {"dim": 128, "layers": 2, "dropout": 0.1}
SNIFF_LINES = 50


def looks_like_pairs(data: Any) -> bool:
    """True for a PairSet, or a .txt/.tsv file whose first non-empty lines all hold a tab
    (``source<TAB>target``: the Tatoeba/Anki layout) and whose first fields are mostly
    different (not ``label<TAB>text`` lines, which text classification reads)."""
    from layerwise.tasks.text_to_text.pairs import PairSet

    if isinstance(data, PairSet):
        return True
    if not isinstance(data, (str, os.PathLike)):
        return False
    path = Path(data)
    if path.suffix.lower() not in (".txt", ".tsv") or not path.is_file():
        return False
    try:
        with path.open("r", encoding="utf-8", errors="strict") as file:
            lines = [line for line in (file.readline() for _ in range(SNIFF_LINES)) if line.strip()]
    except (OSError, UnicodeDecodeError):
        return False
    if len(lines) < 2 or not all("\t" in line for line in lines):
        return False
    # label<TAB>text lines (text classification) repeat a few labels; sources rarely repeat
    return len({line.split("\t", 1)[0] for line in lines}) > len(lines) // 2


def read_pair_files(given: list[str] | None, data: str | None) -> tuple[Any, str | None]:
    """``--pair-files en=train.en fr=train.fr`` as {name: absolute path}, source first. The
    option takes one value a flag, so the second file arrives as DATA: a DATA of NAME=FILE
    that is no path joins them."""
    items = list(given or [])
    if items and data is not None and "=" in data and not Path(data).exists():
        items.append(data)
        data = None
    if not items:
        return None, data
    from layerwise.errors import ConfigError

    files = {}
    for item in items:
        name, _, path = item.partition("=")
        if not path:
            raise ConfigError(f"--pair-files {item!r} is not NAME=FILE.",
                              "Write e.g. --pair-files en=train.en fr=train.fr.")  # fmt: skip
        files[name] = str(Path(path).resolve())
    return files, data


COMMAND_LINE = CommandLine(
    recognises=looks_like_pairs,
    panel="Text to text",
    train_options=(
        TrainOption("--source-column", "source_column", str,
                    "Text to text from a table: the column of the source texts.",
                    selects_task=True),
        TrainOption("--target-column", "target_column", str,
                    "Text to text from a table: the column of the target texts.",
                    selects_task=True),
        TrainOption("--pair-files", "pair_files", list[str],
                    "Text to text from parallel files, line by line: en=train.en fr=train.fr",
                    selects_task=True, replaces_data=True, read=read_pair_files),
        TrainOption("--reverse/--no-reverse", "reverse", bool,
                    "Text to text: train the other direction (target to source).",
                    default=False),
        TrainOption("--beam", "beam", int,
                    "Text to text: the beam width [chosen on validation: 1 or 4]."),
    ),
)  # fmt: skip


def pairs_demo(folder: Path) -> Demo:
    """The demo: generated pairs, English numbers and dates to digits and ISO dates."""
    from layerwise.io import atomic_write
    from layerwise.tasks.text_to_text.generated import generated_pairs

    pairs = generated_pairs(DEMO_PAIRS, kind="mixed", seed=0)
    text = "".join(f"{s}\t{t}\n" for s, t in zip(pairs.sources, pairs.targets, strict=True))
    path = Path(folder) / "numbers_and_dates.txt"
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return Demo(path, None,
                f"generated pairs ({DEMO_PAIRS:,} English numbers and dates with their digits "
                "and ISO dates, one source<TAB>target a line)",
                options={"time_limit": DEMO_SECONDS,
                         "candidate_params": {"transformer": dict(DEMO_MODEL)}},
                hint="three hundred and forty-two")  # fmt: skip


def training_summary(run: Any) -> list[Any]:
    """Both models' scores, a few test outputs of the served one, and the next commands."""
    from rich.text import Text

    metrics = run.metrics
    lines: list[Any] = []
    for name, entry in metrics["candidates"].items():
        t = entry["test"]
        mark = " *" if name == metrics["chosen"] else ""
        lines.append(f"{name + mark:<20} test BLEU {t['bleu']:.1f}, chrF {t['chrf']:.1f}, "
                     f"exact {100 * t['exact_match']:.1f}% (fit {entry['fit_seconds']:.0f} s)")  # fmt: skip
    example = _first_test_source(run.path) or "your text"
    return [*lines, f"Run folder: {run.path}", "Next:",
            Text(f"  layerwise predict {run.path} {shlex.quote(example)}"),
            Text(f"  layerwise chat {run.path}"),
            Text(f"  layerwise serve {run.path}")]  # fmt: skip


def _first_test_source(folder: Any) -> str | None:
    try:
        first = json.loads((Path(folder) / "examples" / "examples.json").read_text("utf-8"))
        return str(first["first"][0]["source"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
