"""Generation benchmark (image part): layerwise image-generation with its defaults on
scikit-learn's digits (1,797 8x8 images, upsampled), conditional on the digit, the classical
pixel model (PCA + Gaussian mixtures) and the VAE trained in the same run.

Figures: the Fréchet distance (FD) of each model's samples to the real test images on the
penultimate features of the judge (a ResNet layerwise trains on the training images), the FD
of real training images (the floor), and the share of samples the judge classifies as the
digit that was asked for (target >= 90%). A second opinion on that share comes from a
logistic regression on real pixels trained here, independent of the run.

    python benchmarks/image_generation.py            # 16x16 and 28x28: results/image_generation.md
    python benchmarks/image_generation.py --quick    # 16x16 only
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, progress, write_result

PACKAGES = ("layerwise", "torch", "numpy", "scikit-learn")
TARGET_ACCURACY = 0.90


def second_opinion(task, side: int, seed: int) -> float:
    """Accuracy of a pixel logistic regression (trained on real digits at ``side``) on 100
    samples per digit from the served model."""
    from sklearn.linear_model import LogisticRegression

    from layerwise.data.image_sources import digits
    from layerwise.data.images import read_images

    real = read_images(digits(), size=side)
    x = real.images.reshape(len(real), -1) / 255.0
    judge = LogisticRegression(max_iter=2000, C=0.5).fit(x, real.labels)
    images, codes = task.generate(1000, seed=seed + 99)
    return float((judge.predict(images.reshape(len(images), -1) / 255.0) == codes).mean())


def run_side(side: int, seed: int) -> dict:
    import layerwise
    from layerwise.data.image_sources import digits

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        run = layerwise.fit(digits(), task="image-generation", image_size=side, output_dir=tmp,
                            verbose=False, report=False, seed=seed)  # fmt: skip
        wall = time.perf_counter() - started
        return {
            "metrics": run.metrics,
            "wall": wall,
            "pixels": second_opinion(run.task, side, seed),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="16x16 only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for side in [16] if args.quick else [16, 28]:
        progress(f"digits at {side}x{side} ...")
        result = run_side(side, args.seed)
        m = result["metrics"]
        cands = m["candidates"]
        accuracy = cands["gan"]["test"]["class_accuracy"]
        verdict = "met" if accuracy >= TARGET_ACCURACY else "not met"
        row = [f"{side}x{side}", f"{m['judge']['val_accuracy']:.1%}", m["floor"]["test"]]
        for name in ("gmm", "gan", "vae"):
            test = cands[name]["test"]
            row += [test["fd"], f"{test['class_accuracy']:.1%}"]
        row += [f"{m['chosen']} ({result['pixels']:.1%})", f"{cands['gan']['fit_seconds']:.0f} / "
                f"{cands['vae']['fit_seconds']:.0f}", round(result["wall"]),
                f">= 90%: {verdict}"]  # fmt: skip
        rows.append(row)
        progress(str(rows[-1]))
    head = ["size", "judge val acc", "real FD (floor)", "GMM FD", "GMM acc", "GAN FD", "GAN acc",
            "VAE FD", "VAE acc", "served (its acc by pixel logistic)", "GAN / VAE fit s",
            "whole run s", "GAN acc target"]  # fmt: skip
    text = "\n".join([
        header("Image generation: scikit-learn digits, conditional", PACKAGES),
        "FD: Fréchet distance to the real test images (270) on the judge's penultimate features "
        "of 1,000 samples (100 per digit); the floor is 1,000 real training digits' FD. acc: share "
        "of samples the judge classifies as the digit asked for; in brackets, the served model's "
        "share by a logistic regression on real pixels (a second opinion, trained here).",
        "", markdown_table(head, rows),
    ])  # fmt: skip
    path = write_result("image_generation", text, args.quick)
    print(text)
    progress(f"wrote {path}")


if __name__ == "__main__":
    main()
