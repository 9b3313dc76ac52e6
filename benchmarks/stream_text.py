"""A text corpus larger than memory: peak memory of a streamed tokenisation and run as the text grows.

Writes generated corpora of each size asked for (lines of 4 to 14 words drawn with Zipf
frequencies from 5,000 made-up words, so that the BPE and the n-gram model have something to
learn and the distinct words stay bounded), then, each in a fresh process whose own peak
resident memory is read with ``wait4``:

* tokenises each corpus once to disk (``token_stream.tokenise_file``: character and BPE
  tokens), and once more to show the cache reused; the smallest also in memory
  (``read_corpus`` + ``encode``, what a run without ``--stream`` does) for comparison;
* trains language generation on the smallest corpus in memory and streamed, and streamed on
  the largest (reusing the cache tokenised above): the GPT takes a fixed number of steps (the same windows in both runs on the same
  corpus), so its losses differ only by what is scored (streamed: 1M validation tokens in 16
  runs) and the n-gram's by what it counts (streamed: 10M training tokens in 16 runs).

    python benchmarks/stream_text.py --sizes 50 200 --bpe 10 40 --runs 12 200    # sizes in MB
    python benchmarks/stream_text.py --sizes 2 4 --bpe 2 --runs 2 4 --work /tmp/t  # a quick check

Results: benchmarks/results/stream-text.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from _common import child_peak

CHILD = """
import json, sys, time
began = time.perf_counter()
what, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
if what.startswith("tokenise"):
    from layerwise.tasks.language_generation.token_stream import tokenise_file
    tokens = tokenise_file(path, what.split("-")[1], 0.1, out + "/.cache")
    result = {"tokens": len(tokens.records), "notes": tokens.text.notes}
elif what == "memory-char":
    import numpy as np
    from layerwise.tasks.language_generation.corpus import make_tokenizer, read_corpus
    corpus = read_corpus(path)
    ids = np.asarray(make_tokenizer("char", corpus.text).encode(corpus.text), dtype=np.int64)
    result = {"tokens": len(ids), "notes": []}
else:
    import layerwise
    gpt = {"epochs": 3, "steps_per_epoch": 20, "max_steps": 60, "batch_size": 16}
    run = layerwise.fit(path, task="language-generation", output_dir=out, verbose=False,
                        report=False, stream=what == "run-stream", time_limit=3600,
                        candidate_params={"gpt": gpt})
    m = run.metrics
    result = {"losses": {n: e["validation"]["loss"] for n, e in m["candidates"].items()},
              "fit_seconds": {n: e["fit_seconds"] for n, e in m["candidates"].items()},
              "protocol": m["validation_protocol"], "notes": m["notes"]}
result["seconds"] = time.perf_counter() - began
print(json.dumps(result))
"""


def write_corpus(path: Path, megabytes: int, seed: int = 0) -> None:
    """About ``megabytes`` MB of generated lines, written a block at a time."""
    if path.exists() and path.stat().st_size >= megabytes * 10**6:
        return
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlucmfwypvbgkjqxz"))
    weights = 1 / np.arange(1, 27) ** 0.8
    vocab = np.array(["".join(rng.choice(letters, rng.integers(1, 9), p=weights / weights.sum()))
                      for _ in range(5000)], dtype=object)  # fmt: skip
    words_p = 1 / np.arange(1, len(vocab) + 1) ** 1.1
    words_p /= words_p.sum()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as file:
        while file.tell() < megabytes * 10**6:
            lengths = rng.integers(4, 15, 20_000)
            words = vocab[rng.choice(len(vocab), int(lengths.sum()), p=words_p)]
            ends = np.cumsum(lengths)
            lines = [" ".join(words[a:b]) for a, b in zip(np.r_[0, ends[:-1]], ends, strict=True)]
            file.write(".\n".join(lines) + ".\n")


def measured(what: str, path: Path, out: Path) -> dict:
    """One child process and its own peak resident memory (``_common.child_peak``)."""
    result = child_peak(CHILD, what, str(path), str(out), what=f"{what} on {path}")
    print(
        what, path.name, json.dumps({k: v for k, v in result.items() if k != "notes"}), flush=True
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200],
                        help="MB tokenised to characters")  # fmt: skip
    parser.add_argument("--bpe", type=int, nargs="*", default=[10, 40], help="MB tokenised to BPE")
    parser.add_argument("--runs", type=int, nargs=2, default=[12, 200],
                        help="MB of the run in memory and streamed, and of the streamed one only")  # fmt: skip
    parser.add_argument("--work", type=Path, default=Path("/tmp/layerwise-stream-text"))
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "stream-text.md"
    )
    args = parser.parse_args()
    tokenised, runs = [], []
    for mb in sorted({*args.sizes, *args.bpe, *args.runs}):
        write_corpus(args.work / f"text{mb}.txt", mb)
    todo = [(mb, "char") for mb in args.sizes] + [(mb, "bpe") for mb in args.bpe]
    for mb, kind in todo:
        path, out = args.work / f"text{mb}.txt", args.work / f"tok{mb}"
        tokenised.append((mb, kind, "streamed, first run", measured(f"tokenise-{kind}", path, out)))
        if kind == "char" and mb == max(args.sizes):
            tokenised.append(
                (mb, kind, "streamed, cache reused", measured("tokenise-char", path, out))
            )
        if kind == "char" and mb == min(args.sizes):
            tokenised.append((mb, kind, "in memory", measured("memory-char", path, out)))
    small, large = args.runs
    for mb, what in ((small, "run-memory"), (small, "run-stream"), (large, "run-stream")):
        out = args.work / (f"tok{mb}" if mb in args.sizes else f"run{mb}")  # its cache, if made
        runs.append((mb, what, measured(what, args.work / f"text{mb}.txt", out)))
    write_report(args.out, tokenised, runs)


def write_report(path: Path, tokenised: list, runs: list) -> None:
    load = os.getloadavg()[0]
    lines = [
        "# Text corpora larger than memory: a streamed tokenisation's and run's peak memory",
        "",
        f"`python benchmarks/stream_text.py` on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (shared with other work: load {load:.1f} when written), "
        f"{time.strftime('%Y-%m-%d')}. Generated corpora (Zipf-distributed made-up words, lines "
        "of 4 to 14); each step in a fresh process, its peak resident memory from wait4 "
        "(about 350 MiB of it is importing torch and layerwise).",
        "",
        "## Tokenising once to disk",
        "",
        "| text (MB) | tokens | how | peak memory (MiB) | seconds | tokens/s |",
        "|---|---|---|---|---|---|",
    ]
    for mb, kind, how, r in tokenised:
        lines.append(f"| {mb} | {kind} | {how} | {r['peak_mib']:,.0f} | {r['seconds']:.1f} | "
                     f"{r['tokens'] / max(r['seconds'], 1e-9):,.0f} |")  # fmt: skip
    lines += [
        "",
        "## Whole runs (GPT tiny: 60 steps of 16 windows; n-gram orders 2-8 chosen on validation)",
        "",
        "| text (MB) | run | peak memory (MiB) | whole run (s) | n-gram loss | GPT loss | scored on |",
        "|---|---|---|---|---|---|---|",
    ]
    for mb, what, r in runs:
        losses = r["losses"]
        how = "streamed" if what == "run-stream" else "in memory"
        lines.append(f"| {mb} | {how} | {r['peak_mib']:,.0f} | {r['wall_s']:.0f} | "
                     f"{losses['ngram']:.4f} | {losses['gpt']:.4f} | {r['protocol']} |")  # fmt: skip
    notes = [n for _, what, r in runs if what == "run-stream" for n in r["notes"]]
    lines += ["", "Notes of the streamed runs:", "", *[f"- {n}" for n in dict.fromkeys(notes)], ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())


if __name__ == "__main__":
    main()
