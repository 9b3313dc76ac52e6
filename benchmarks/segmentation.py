"""Segmentation benchmark: layerwise's U-Net beside the pixel forest (LightGBM on multiscale pixel
features, the way ilastik segments), both trained in the same run on the same images, with the
defaults a user gets.

Datasets:
- membrane: ``../shared/datasets/segmentation/membrane`` (ISBI 2012, 30 electron-microscopy
  images of 512x512 px; 0 = membrane, about 22% of the pixels, 255 = cell interior); 6 images
  held out for test by seed 0 (``test_fraction`` 0.2), 4 for validation.
- cells: generated cell-like microscopy (``cells.generated_masks``), 120 images of 128 px.
- lesions: generated lesion-like colour photos with hairs (three classes), 120 images of 128 px.

Issue 28's targets: on membrane, the U-Net's Dice of the membrane class >= the pixel forest's
+ 0.05 within 15 minutes on 2 CPU cores with the defaults; on any set, the served model never
worse than the pixel forest on test by more than 0.01 Dice. Also: tiled prediction of a
2048x2048 image (time and peak memory), and the whole run's time.

    python benchmarks/segmentation.py            # writes benchmarks/results/segmentation.md
    python benchmarks/segmentation.py --quick    # 2-minute U-Net budgets
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

PACKAGES = ("layerwise", "torch", "lightgbm", "scikit-image", "numpy", "onnxruntime")
MEMBRANE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "segmentation" / "membrane"


def datasets(quick: bool, only: str | None = None):
    from layerwise.tasks.segmentation.cells import generated_masks
    from layerwise.tasks.segmentation.readers import from_arrays

    options = {"time_limit": 120} if quick else {}
    if only not in (None, "membrane"):
        pass
    elif MEMBRANE.is_dir():
        yield "membrane", str(MEMBRANE), {**options, "classes": "membrane,interior"}
    else:
        progress(f"membrane: skipped ({MEMBRANE} is absent)")
    for kind in ("cells", "lesions"):
        if only not in (None, kind):
            continue
        images, masks, classes = generated_masks(120, size=128, seed=0, kind=kind)
        yield kind, from_arrays(images, masks, classes), dict(options)


PEAK_CODE = """
import sys, time, numpy as np
from pathlib import Path

def rss(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024

def measure(predict, image):
    predict(image[:64, :64])  # the first call's one-time allocations are not the tiling's
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from now
    before = rss("VmRSS:")
    start = time.perf_counter()
    predict(image)
    print(time.perf_counter() - start, rss("VmHWM:") - before)
"""


def _peak(setup: str, *args: str) -> dict[str, float]:
    """Seconds and the growth of the peak resident memory (MiB, /proc's VmHWM reset just
    before) of one 2048x2048 prediction, in a child process so the peak is its own."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", PEAK_CODE + setup, *args], capture_output=True,
                         text=True, check=True)  # fmt: skip
    seconds, mib = out.stdout.split()[-2:]
    return {"seconds": float(seconds), "mib": float(mib)}


def tiled_2048(run) -> dict[str, float]:
    """The served model of ``run`` on one 2048x2048 image (the U-Net in 512-pixel windows, the
    forest's features in 512-pixel tiles)."""
    return _peak(
        "import layerwise\n"
        "task = layerwise.load(sys.argv[1])\n"
        "shape = (2048, 2048) if task.channels == 1 else (2048, 2048, 3)\n"
        "image = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)\n"
        "measure(lambda im: task.masks([im]), image)\n",
        str(run.path),
    )


def measure(name: str, data, options: dict, keep: str | None) -> dict:
    import layerwise

    progress(f"{name}: training both segmenters ...")
    with tempfile.TemporaryDirectory() as scratch:
        out = keep or scratch
        start = time.perf_counter()
        run = layerwise.fit(data, task="segmentation", output_dir=out, verbose=False,
                            **options)  # fmt: skip
        seconds = time.perf_counter() - start
        result = {"run": run.metrics, "seconds": seconds, "chosen": run.chosen}
        result["tiled"] = tiled_2048(run)
    cand = run.metrics["candidates"]
    progress(f"{name}: " + ", ".join(
        f"{c} test Dice {fmt(e['test']['mean_dice'])}" for c, e in cand.items()))  # fmt: skip
    return result


def unet_tiling() -> dict[str, float]:
    """The U-Net alone with the membrane run's CPU architecture (untrained: time and memory do
    not depend on the weights) on a 2048x2048 grey image."""
    return _peak(
        "import torch\n"
        "from layerwise.models.unet import UNet, unet_config_for\n"
        "from layerwise.tasks.segmentation.unet_train import UNetSegmenter\n"
        "segmenter = UNetSegmenter(seed=0)\n"
        "config = unet_config_for(256, 30, 2, in_channels=1, on_cpu=True)\n"
        "segmenter.model = UNet(config).eval()\n"
        "image = np.random.default_rng(0).integers(0, 256, (2048, 2048)).astype(np.uint8)\n"
        "measure(lambda im: segmenter.predict([im]), image)\n"
    )


def _line(entry: dict) -> str:
    """Where a two-class model draws its line: the cut chosen on validation, or the argmax."""
    if "cut" not in entry:
        return "argmax"
    return "argmax" if entry["cut"] is None else f"p >= {entry['cut']:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2-minute U-Net budgets")
    parser.add_argument("--keep", help="write the run folders here (to look at their reports)")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the runs' seed (the membrane split's too): its noise is large",
    )
    parser.add_argument(
        "--tiling",
        action="store_true",
        help="only the U-Net's 2048x2048 tiling: time and peak memory",
    )
    parser.add_argument("--only", choices=("membrane", "cells", "lesions"),
                        help="one data set (results/segmentation-<set>.md)")  # fmt: skip
    args = parser.parse_args()
    if args.tiling:
        unet = unet_tiling()
        text = header("Segmentation: tiled prediction of a 2048x2048 image", PACKAGES)
        text += (f"\nThe U-Net with the membrane run's CPU architecture (widths 8 to 128, five "
                 f"stages), untrained, on a 2048x2048 grey image in 512-pixel windows that "
                 f"overlap by a quarter: {unet['seconds']:.1f} s, peak resident memory "
                 f"+{unet['mib']:.0f} MiB over the process before the call (16.8 MB of "
                 "float32 input; the probabilities are summed window by window).\n")  # fmt: skip
        print(text)
        progress(f"wrote {write_result('segmentation-tiling', text)}")
        return
    rows, summary = [], []
    for name, data, options in datasets(args.quick, args.only):
        result = measure(name, data, {**options, "seed": args.seed}, args.keep)
        metrics = result["run"]
        cand = metrics["candidates"]
        classes = metrics["classes"]
        for candidate, entry in cand.items():
            test = entry["test"]
            per_class = " / ".join(fmt(test["dice"].get(c)) for c in classes)
            rows.append([name, candidate, fmt(entry["validation"]["mean_dice"]),
                         fmt(test["mean_dice"]), fmt(test["mean_iou"]), per_class,
                         fmt(test.get("boundary_f1")), fmt(test.get("worst_image_dice")),
                         _line(entry), f"{entry['fit_seconds']:.0f}",
                         f"{entry['predict_ms_per_image']:.0f}",
                         "served" if candidate == metrics["chosen"] else ""])  # fmt: skip
        deep, forest = cand.get("unet"), cand.get("pixel-forest")
        first = classes[0]  # membrane's class 0 is the membrane: the class the target names
        gap = (deep["test"]["dice"][first] - forest["test"]["dice"][first]
               if deep and forest and name == "membrane" else None)  # fmt: skip
        served_gap = (cand[metrics["chosen"]]["test"]["mean_dice"] - forest["test"]["mean_dice"]
                      if forest else None)  # fmt: skip
        tiled = result["tiled"]
        summary.append([name, f"{metrics['images']} images, {metrics['largest_image'][1]}x"
                        f"{metrics['largest_image'][0]} px, {len(classes)} classes",
                        f"{result['seconds'] / 60:.1f}", fmt(gap), fmt(served_gap),
                        f"{tiled['seconds']:.1f} s, +{tiled['mib']:.0f} MiB"])  # fmt: skip
    progress("2048x2048 tiling with the membrane U-Net's architecture ...")
    unet = unet_tiling()
    text = header("Segmentation: U-Net beside the pixel forest", PACKAGES)
    text += "\n" + (__doc__.split("\n\n")[1]) + "\n\n"
    if args.quick:
        text += "Quick run: the U-Net's training limited to 120 s.\n\n"
    text += markdown_table(["data", "model", "val Dice", "test Dice", "test IoU",
                            "test Dice per class", "boundary F1", "worst image Dice", "line", "fit s",
                            "predict ms/image", ""], rows) + "\n\n"  # fmt: skip
    text += markdown_table(["data", "size", "whole run, min",
                            "U-Net - forest, membrane-class Dice",
                            "served - forest, test Dice", "served model on 2048x2048"],
                           summary) + "\n\n"  # fmt: skip
    text += (f"The U-Net alone (the membrane run's architecture) on a 2048x2048 grey image in "
             f"512-pixel windows: {unet['seconds']:.1f} s, peak memory +{unet['mib']:.0f} MiB.\n"
             "\nDice is over all test pixels pooled; the mean is over the foreground classes "
             "(class 0 is reported apart: on membrane class 0 is the membrane itself, which is "
             "why its own column is the target's). Times are wall-clock on the machine above.\n")  # fmt: skip
    path = write_result("segmentation" + (f"-{args.only}" if args.only else ""), text, args.quick)
    print(text)
    progress(f"wrote {path}")


if __name__ == "__main__":
    main()
