"""Text benchmark: layerwise text-classification on rt-polarity (Pang & Lee 2005, 10,662
sentences), every candidate measured in one run with the defaults.

Protocol: a fixed stratified 90/10 split with seed 0 (10-fold CV of the deep models would take
over an hour on 2 CPU cores); inside the 90%, layerwise validates on its own 10% holdout and
never sees the test 10%. Published 10-fold figures: NB-SVM bigrams 79.4, CNN with random
embeddings 76.1, CNN with word2vec 81.5 (target: the advisor's choice >= 80.0).

    python benchmarks/text.py            # needs ../shared/datasets/rt-polarity; writes results/text.md
    python benchmarks/text.py --quick    # 3,000 sentences
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt, header, markdown_table, progress, write_result

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "rt-polarity"
PACKAGES = ("layerwise", "torch", "scikit-learn", "tokenizers", "numpy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from sklearn.model_selection import train_test_split

    import layerwise
    from layerwise.data.text import read_texts

    data = read_texts(
        class_files={"pos": str(DATA / "rt-polarity.pos"), "neg": str(DATA / "rt-polarity.neg")}
    )
    if args.quick:
        keep, _ = train_test_split(
            np.arange(len(data)), train_size=3000, random_state=0, stratify=data.labels
        )
        data = data.subset(keep)
    train, test = train_test_split(
        np.arange(len(data)), test_size=0.1, random_state=0, stratify=data.labels
    )
    progress(f"rt-polarity: {len(train)} training, {len(test)} test sentences")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = layerwise.fit(
            data.subset(train),
            task="text-classification",
            test_data=data.subset(test),
            output_dir=tmp,
            verbose=True,
        )
        total = time.perf_counter() - t0
    rows = []
    for name, entry in run.metrics["candidates"].items():
        rows.append(
            [
                name + (" (chosen)" if name == run.chosen else ""),
                entry["family"],
                fmt(entry["validation"]["accuracy"]),
                fmt(entry["test"]["accuracy"]),
                fmt(entry["test"].get("macro_f1")),
                f"{entry['fit_seconds']:.1f}",
                fmt(entry.get("epochs")),
            ]
        )
    table = markdown_table(
        ["candidate", "family", "validation acc", "test acc", "test macro-F1", "fit s", "epochs"],
        rows,
    )
    text = (
        header("Text benchmark (rt-polarity, fixed 90/10 split, seed 0)", PACKAGES)
        + "\n"
        + table
        + f"\n\nAdvisor's choice: {run.chosen}, test accuracy {run.metrics['test']['accuracy']:.4f}; "
        f"whole run {total:.0f} s. Published (10-fold): NB-SVM bigrams 79.4, CNN-rand 76.1, "
        "CNN-word2vec 81.5.\n"
    )
    print(text)
    print(f"wrote {write_result('text', text, args.quick)}", file=sys.stderr)


if __name__ == "__main__":
    main()
