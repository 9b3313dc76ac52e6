"""Text-to-text benchmark: layerwise's Transformer beside the translation memory (the target of
the most similar training source by character n-gram TF-IDF), both trained in the same run on
the same pairs, with the defaults a user gets.

Datasets:
- tatoeba: ``../shared/datasets/translation/fra.txt`` (manythings.org's Anki file of 2017,
  142,787 English-French lines). Protocol: pairs whose English has at most 10 words (134,549),
  split by distinct source sentence 90/5/5 with seed 0, so no test source is seen in training.
  English->French, and French->English with ``--reverse`` (the same file, the other way).
- generated: the demo's pairs and settings (10,000 English numbers and dates to digits and ISO
  dates; 300 s of training, the demo's small model with little dropout: see its cli.py).

Issue 29's targets: with the defaults on 2 CPU cores in 15 minutes, the Transformer at least
10 BLEU above the translation memory (>= 29; stretch >= 35); exact match >= 0.95 on the
generated demo pairs. Also: decoding speed, tokens per second greedy and with beam 5, with and
without the KV cache.

    python benchmarks/text_to_text.py                # writes benchmarks/results/text-to-text.md
    python benchmarks/text_to_text.py --quick        # 2-minute Transformer budgets
    python benchmarks/text_to_text.py --only tatoeba   # writes results/text-to-text-tatoeba.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt, header, markdown_table, progress, write_result

PACKAGES = ("layerwise", "torch", "tokenizers", "sacrebleu", "scikit-learn", "numpy")
TATOEBA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "translation" / "fra.txt"
MAX_WORDS = 10


def tatoeba(reverse: bool):
    """The protocol's pairs: English at most ``MAX_WORDS`` words (before any reversal)."""
    from layerwise.tasks.text_to_text.pairs import PairSet, read_pairs

    pairs = read_pairs(TATOEBA)
    keep = [i for i, s in enumerate(pairs.sources) if len(s.split()) <= MAX_WORDS]
    kept = pairs.subset(keep)
    if reverse:
        kept = PairSet(kept.targets, kept.sources, kept.notes)
    return kept


def datasets(quick: bool, only: str | None):
    from layerwise.tasks.text_to_text.cli import DEMO_MODEL, DEMO_PAIRS, DEMO_SECONDS
    from layerwise.tasks.text_to_text.generated import generated_pairs

    options = {"time_limit": 120} if quick else {}
    split = {"val_fraction": 0.05, "test_fraction": 0.05}
    if only in (None, "generated"):
        yield (
            "generated",
            generated_pairs(DEMO_PAIRS, kind="mixed", seed=0),  # `layerwise demo text-to-text`
            {"time_limit": DEMO_SECONDS, "candidate_params": {"transformer": dict(DEMO_MODEL)}},
        )
    if only in (None, "tatoeba", "tatoeba-fr-en"):
        if not TATOEBA.is_file():
            progress(f"tatoeba: skipped ({TATOEBA} is absent)")
            return
        if only in (None, "tatoeba"):
            yield "tatoeba en-fr", tatoeba(False), {**options, **split}
        if only in (None, "tatoeba-fr-en"):
            yield "tatoeba fr-en", tatoeba(True), {**options, **split}


def decoding_speed(run) -> list[list[str]]:
    """Output tokens per second of the served Transformer on 256 test sources: greedy and beam
    5, with and without the KV cache (the same outputs either way)."""
    import json

    import torch

    from layerwise.tasks.text_to_text.batches import pad_rows

    task = run.task
    if task.chosen != "transformer":
        return []
    examples = json.loads((Path(run.path) / "examples" / "examples.json").read_text())
    sources = [e["source"] for e in examples["first"] + examples["worst"]] * 16
    net, tok = task.model.model, task.model.tokenizer
    ids = [s for s in tok.encode(sources[:256])]
    rows = []
    for beam in (1, 5):
        for cache in (True, False):
            started, produced = time.perf_counter(), 0
            with torch.no_grad():
                for start in range(0, len(ids), 64):
                    source = pad_rows(ids[start : start + 64])
                    out = (net.greedy(source, use_cache=cache) if beam == 1
                           else net.beam_search(source, beam=beam, use_cache=cache))  # fmt: skip
                    produced += sum(len(o) + 1 for o in out)
            seconds = time.perf_counter() - started
            rows.append([f"beam {beam}" if beam > 1 else "greedy",
                         "with" if cache else "without", f"{produced / seconds:,.0f}"])  # fmt: skip
    return rows


def main() -> None:
    import layerwise

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2-minute Transformer budgets")
    parser.add_argument("--only", choices=("generated", "tatoeba", "tatoeba-fr-en"))
    parser.add_argument("--keep", help="write the run folders here (to read their reports)")
    args = parser.parse_args()
    rows, summary, speed = [], [], []
    for name, pairs, options in datasets(args.quick, args.only):
        progress(f"{name}: training both models on {len(pairs):,} pairs ...")
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            run = layerwise.fit(pairs, task="text-to-text", output_dir=args.keep or scratch,
                                verbose=False, **options)  # fmt: skip
            seconds = time.perf_counter() - started
            if name == "tatoeba en-fr":
                speed = decoding_speed(run)
        cand = run.metrics["candidates"]
        for candidate, entry in cand.items():
            t = entry["test"]
            rows.append([name, candidate, fmt(entry["validation"]["bleu"], 1), fmt(t["bleu"], 1),
                         fmt(t["chrf"], 1), fmt(t["exact_match"], 3), fmt(t.get("bleu_multi"), 1),
                         f"{entry['fit_seconds']:.0f}", fmt(entry["predict_ms_per_row"], 1),
                         "served" if candidate == run.chosen else ""])  # fmt: skip
        deep, memory = cand.get("transformer"), cand.get("translation-memory")
        gap = deep["test"]["bleu"] - memory["test"]["bleu"] if deep and memory else None
        summary.append([name, f"{len(pairs):,} pairs, {run.metrics['split']['test']:,} test",
                        f"{seconds / 60:.1f}", fmt(gap, 1)])  # fmt: skip
        progress(f"{name}: " + ", ".join(f"{c} test BLEU {fmt(e['test']['bleu'], 1)}"
                                         for c, e in cand.items()))  # fmt: skip
    text = header("Text to text: a Transformer beside a translation memory", PACKAGES)
    text += "\n" + __doc__.split("\n\n")[1] + "\n\n"
    if args.quick:
        text += "Quick run: the Transformer's training limited to 120 s.\n\n"
    text += markdown_table(["data", "model", "val BLEU", "test BLEU", "test chrF", "exact match",
                            "BLEU, all references", "fit s", "predict ms/text", ""], rows)  # fmt: skip
    text += "\n\n" + markdown_table(["data", "size", "whole run, min",
                                     "Transformer - memory, test BLEU"], summary)  # fmt: skip
    if speed:
        text += "\n\nDecoding speed of the served Transformer (tatoeba en-fr), output tokens per "
        text += "second on 256 test sources in batches of 64:\n\n"
        text += markdown_table(["decoding", "KV cache", "tokens/s"], speed)
    text += ("\n\nBLEU and chrF are sacreBLEU's defaults (13a tokenisation) with each test "
             "pair's own target as its one reference; 'all references' uses every target of the "
             "test source. Times are wall-clock on the machine above.\n")  # fmt: skip
    name = "text-to-text" + (f"-{args.only}" if args.only else "")
    path = write_result(name, text, args.quick)
    print(text)
    progress(f"wrote {path}")


if __name__ == "__main__":
    main()
