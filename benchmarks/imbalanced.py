"""Thresholds on imbalanced data: the served model at its cut against itself at 0.5 and against
the plain classical baseline at 0.5 on the same split (issue 25's targets).

Sets:
- rt-polarity (shared datasets) with 85% of the negative sentences dropped (seeded), 90/10 split:
  the served text model against plain TF-IDF (words and bigrams) + logistic regression at 0.5.
- scans (generated, like PneumoniaMNIST: 74% lesions in training, 62.5% in test): the served
  image model against logistic regression on the standardised pixels at 0.5; also with
  ``--prior 0.625``, the test prevalence given as the expected share, to show the prior's effect.

For each: accuracy and macro-F1 of the served model at its cut and at 0.5, the spread the cut had
to beat (the bootstrap standard deviation of its validation gain; without a moved cut, the
fold-to-fold spread), and the baseline's. The checks, on the metric the cut serves (macro-F1
where the classes are imbalanced, else accuracy): at its cut the served model is not below
itself at 0.5 by more than that spread, and not below the baseline at 0.5. A cut chosen for
macro-F1 trades accuracy for it by design; ``--threshold accuracy`` is run beside it.

    python benchmarks/imbalanced.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt, header, markdown_table, progress, write_result

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SEED = 0


def _scores(labels: np.ndarray, called: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(labels, called)),
            "macro_f1": float(f1_score(labels, called, average="macro"))}  # fmt: skip


def _fit(data: Any, task: str, **options: Any) -> tuple[dict, float]:
    import layerwise

    with tempfile.TemporaryDirectory(prefix="lw-imbalanced-") as tmp:
        started = time.perf_counter()
        run = layerwise.fit(data, task=task, output_dir=tmp, verbose=False, report=False,
                            seed=SEED, **options)  # fmt: skip
        return run.metrics, time.perf_counter() - started


def _row(name: str, metrics: dict, baseline: dict, baseline_name: str, seconds: float) -> list:
    chosen = metrics["chosen"]
    entry = metrics["candidates"][chosen]
    at_cut = metrics["test"]
    at_half = entry.get("test_at_0.5", at_cut)  # the same as at the cut when it did not move
    point = metrics.get("threshold") or {}
    target = point.get("target") or "most probable class"
    served = target if target in ("accuracy", "macro_f1", "balanced_accuracy") else "accuracy"
    # the spread the cut had to beat: its validation gain's (bootstrap) standard deviation;
    # without a moved cut, the chosen model's fold-to-fold spread of the metric
    spread = point.get("gain_std")
    if spread is None:
        spread = (entry.get("validation") or {}).get(f"{served}_std", 0.0)
    spread = float(spread or 0.0)
    ok_self = at_cut[served] >= at_half[served] - spread - 1e-9
    ok_base = at_cut[served] >= baseline.get(served, at_cut[served]) - 1e-9
    return [name, chosen, target, fmt(point.get("value", 0.5), 3), fmt(at_cut["accuracy"], 4),
            fmt(at_cut["macro_f1"], 4), fmt(at_half["accuracy"], 4), fmt(at_half["macro_f1"], 4),
            fmt(spread, 4),
            f"{baseline_name}: {fmt(baseline['accuracy'], 4)} / {fmt(baseline['macro_f1'], 4)}",
            "yes" if ok_self else "**no**", "yes" if ok_base else "**no**",
            f"{seconds:.0f}"]  # fmt: skip


def texts(quick: bool) -> list[list]:
    folder = SHARED / "rt-polarity"
    if not (folder / "rt-polarity.pos").exists():
        progress(f"rt-polarity absent ({folder}): skipped")
        return []
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from layerwise.data.text import read_texts

    files = {"pos": str(folder / "rt-polarity.pos"), "neg": str(folder / "rt-polarity.neg")}
    data = read_texts(class_files=files)
    rng = np.random.default_rng(SEED)
    negative = data.classes.index("neg")
    drop = rng.random(len(data)) < 0.85
    keep = np.flatnonzero(~((data.labels == negative) & drop))
    if quick:
        keep = rng.choice(keep, size=min(len(keep), 3000), replace=False)
    data = data.subset(np.sort(keep))
    train, test = train_test_split(np.arange(len(data)), test_size=0.1, random_state=SEED,
                                   stratify=data.labels)  # fmt: skip
    vectoriser = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    features = vectoriser.fit_transform([data.texts[i] for i in train])
    plain = LogisticRegression(max_iter=2000).fit(features, data.labels[train])
    called = plain.predict(vectoriser.transform([data.texts[i] for i in test]))
    baseline = _scores(data.labels[test], called)
    limit = 90.0 if quick else 300.0
    share = float(np.mean(data.labels == negative))
    name = f"rt-polarity, 85% of negatives dropped ({len(data):,} sentences, {share:.0%} negative)"
    rows = []
    for threshold in ("auto", "accuracy"):
        metrics, seconds = _fit(data.subset(train), "text-classification",
                                test_data=data.subset(test), time_limit=limit,
                                threshold=threshold)  # fmt: skip
        label = name + ("" if threshold == "auto" else f", --threshold {threshold}")
        rows.append(_row(label, metrics, baseline, "TF-IDF + LR", seconds))
    return rows


def images(quick: bool) -> list[list]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from layerwise.data.image_sources import scans

    train = scans(1200 if quick else 3000, size=28, prevalence=0.742, seed=0)
    test = scans(200 if quick else 624, size=28, prevalence=0.625, seed=1)
    flat = lambda s: s.images.reshape(len(s), -1).astype(np.float64)  # noqa: E731
    scaler = StandardScaler().fit(flat(train))
    plain = LogisticRegression(max_iter=2000, C=0.1).fit(scaler.transform(flat(train)),
                                                         train.labels)  # fmt: skip
    baseline = _scores(test.labels, plain.predict(scaler.transform(flat(test))))
    limit = 60.0 if quick else 300.0
    rows = []
    for prior in (None, 0.625):
        options = {"prior": prior} if prior is not None else {}
        try:
            metrics, seconds = _fit(train, "image-classification", test_data=test,
                                    time_limit=limit, **options)  # fmt: skip
        except Exception as error:  # a layerwise without --prior: say so, go on
            progress(f"scans with prior {prior}: {error}")
            continue
        name = f"scans ({len(train)}+{len(test)}, 74% -> 62.5% lesions)" + (
            f", prior {prior}" if prior is not None else "")  # fmt: skip
        rows.append(_row(name, metrics, baseline, "pixel LR", seconds))
    return rows


HEAD = ["data", "served", "the cut serves", "cut", "accuracy at cut", "macro-F1 at cut", "accuracy at 0.5",
        "macro-F1 at 0.5", "validation spread", "baseline at 0.5 (acc / macro-F1)",
        "served metric: not below itself at 0.5 - spread", "served metric: not below baseline",
        "run s"]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sets, shorter limits")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = texts(args.quick) + images(args.quick)
    text = "\n".join([
        header("Thresholds on imbalanced data", ("layerwise", "torch", "numpy", "scikit-learn")),
        __doc__.split("\n\n")[1].strip() if __doc__ else "",
        "",
        markdown_table(HEAD, rows),
        "",
        f"- Whole benchmark: {time.perf_counter() - started:.0f} s.",
    ])  # fmt: skip
    path = write_result("imbalanced", text, args.quick)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
