"""Vision benchmark: layerwise image-classification (CNN vs pixel logistic, advisor's choice)
with its defaults, beside classical references trained on the same split in the same run.

Datasets:
- digits: scikit-learn's 1,797 8x8 digits, fixed stratified 25% test split, seed 0 (target: CNN >= 98.5%).
- shapes: generated 32x32 RGB discs / squares / triangles / stripes with noise (the RGB path).
- scans: generated 28x28 grayscale "medical-like" binary set shaped like PneumoniaMNIST
  (about 4,700 training+validation images at 74% positives; 624 test images at 62.5%, so the
  test prevalence differs from training as it does there).

    python benchmarks/vision.py            # writes benchmarks/results/vision.md
    python benchmarks/vision.py --quick    # smaller sets, writes vision-quick.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt, header, markdown_table, progress, write_result

PACKAGES = ("layerwise", "torch", "scikit-learn", "numpy", "pillow")


def _split(images, test_size: float, seed: int = 0):
    from sklearn.model_selection import train_test_split

    index = np.arange(len(images))
    train, test = train_test_split(
        index, test_size=test_size, random_state=seed, stratify=images.labels
    )
    return images.subset(train), images.subset(test)


def datasets(quick: bool):
    from layerwise.data.image_sources import digits, scans, shapes

    yield "digits", *_split(digits(), 0.25)
    yield "shapes", *_split(shapes(1200 if quick else 4000, size=32, seed=0), 0.25)
    n_train = 1200 if quick else 4708
    train = scans(n_train, size=28, prevalence=0.742, seed=0)
    test = scans(200 if quick else 624, size=28, prevalence=0.625, seed=1)
    yield "scans", train, test


def classical_references(train, test) -> dict[str, float]:
    """Accuracy of scikit-learn models on the raw pixels: logistic regression and an RBF SVM."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    flat = lambda s: s.images.reshape(len(s), -1).astype(np.float32) / 255.0  # noqa: E731
    scaler = StandardScaler().fit(flat(train))
    x, xt = scaler.transform(flat(train)), scaler.transform(flat(test))
    out = {}
    for name, model in (
        ("logistic (raw pixels)", LogisticRegression(max_iter=500, C=0.1)),
        ("RBF SVM (raw pixels)", SVC(C=10.0, gamma="scale")),
    ):
        t0 = time.perf_counter()
        model.fit(x, train.labels)
        out[name] = (float(np.mean(model.predict(xt) == test.labels)), time.perf_counter() - t0)
    return out


def run_layerwise(train, test) -> dict:
    import layerwise

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = layerwise.fit(
            train, task="image-classification", test_data=test, output_dir=tmp, verbose=False
        )
        seconds = time.perf_counter() - t0
    metrics = run.metrics
    return {"run": metrics, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows, details = [], []
    for name, train, test in datasets(args.quick):
        progress(f"{name}: {len(train)} training, {len(test)} test images")
        result = run_layerwise(train, test)
        refs = classical_references(train, test)
        metrics = result["run"]
        cnn = metrics["candidates"].get("cnn", {})
        pixels = metrics["candidates"].get("pixel-logistic", {})
        test_metrics = metrics["test"]
        rows.append(
            [
                name,
                metrics["chosen"],
                fmt(test_metrics.get("accuracy")),
                fmt(test_metrics.get("roc_auc")),
                fmt(cnn.get("test", {}).get("accuracy")),
                fmt(pixels.get("test", {}).get("accuracy")),
                *[f"{acc:.3f} ({s:.1f} s)" for acc, s in refs.values()],
                f"{cnn.get('fit_seconds', 0):.0f} s, {cnn.get('epochs')} ep",
                f"{result['seconds']:.0f} s",
            ]
        )
        if "sensitivity" in test_metrics:
            details.append(
                f"- {name}: threshold {test_metrics['threshold']:.3f} (Youden on validation); "
                f"sensitivity {test_metrics['sensitivity']:.3f}, specificity "
                f"{test_metrics['specificity']:.3f}, balanced accuracy "
                f"{test_metrics['balanced_accuracy']:.3f}"
            )
        progress(f"  {rows[-1]}")
    headers = [
        "dataset",
        "chosen",
        "test accuracy",
        "test ROC-AUC",
        "CNN accuracy",
        "pixel-logistic accuracy",
        "sklearn logistic",
        "sklearn RBF SVM",
        "CNN fit",
        "layerwise total",
    ]
    table = markdown_table(headers, rows)
    text = header("Vision benchmark", PACKAGES) + "\n" + table + "\n\n" + "\n".join(details) + "\n"
    print(text)
    print(f"wrote {write_result('vision', text, args.quick)}", file=sys.stderr)


if __name__ == "__main__":
    main()
