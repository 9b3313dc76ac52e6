"""Object-detection benchmark: layerwise's CenterNet beside HOG + linear SVM, both trained in the
same run on the same images, with the defaults a user gets.

Datasets:
- scenes: generated street scenes (cars, pedestrians, signs), 128 px, seed 0: 2,000 training,
  250 validation and 500 test images.
- raccoon: ``../shared/datasets/raccoon`` (200 photos, one class, Pascal-VOC XML), 20% of the
  images held out for test by seed 0 (10% for validation), as the datasets README asks.

Issue 27's targets: raccoon mAP@0.5 >= 0.50 within 15 minutes on 2 CPU cores with the
defaults and at least 0.15 above HOG + SVM; generated scenes mAP@0.5 >= 0.90. Inference per
image: the detector in PyTorch (eager) and in ONNX Runtime, HOG + SVM beside them.

    python benchmarks/detection.py            # writes benchmarks/results/detection.md
    python benchmarks/detection.py --quick    # smaller scenes, 2-minute budgets
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

PACKAGES = ("layerwise", "torch", "scikit-learn", "numpy", "onnxruntime")
RACCOON = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "raccoon"


def datasets(quick: bool):
    from layerwise.tasks.object_detection.scenes import street_scenes

    train, val, test = (400, 100, 200) if quick else (2000, 250, 500)
    total = train + val + test
    options = {"val_fraction": val / total, "test_fraction": test / total}
    if quick:
        options["time_limit"] = 120
    yield "scenes", street_scenes(total, size=128, seed=0), options
    if RACCOON.is_dir():
        yield "raccoon", str(RACCOON), {"time_limit": 120} if quick else {}
    else:
        progress(f"raccoon: skipped ({RACCOON} is absent)")


def inference_ms(run, images: list[np.ndarray]) -> dict[str, float]:
    """Milliseconds per image: the served CenterNet in PyTorch and in ONNX Runtime (one image
    a call, the letterboxing included in both), and HOG + SVM when the run has it."""
    import onnxruntime as ort

    from layerwise.export.onnx import export_run
    from layerwise.tasks.object_detection.augment import letterbox

    detector = run.task.model
    start = time.perf_counter()
    for image in images:
        detector.predict([image])
    eager = 1000 * (time.perf_counter() - start) / len(images)
    session = ort.InferenceSession(str(export_run(run.path)))
    start = time.perf_counter()
    for image in images:
        frame = letterbox(image, np.zeros((0, 4)), detector.side)[0]
        session.run(None, {"image": frame.transpose(2, 0, 1)[None].astype(np.float32) / 255})
    onnx = 1000 * (time.perf_counter() - start) / len(images)
    return {"eager": eager, "onnx": onnx}


def measure(name: str, data, options: dict) -> dict:
    import layerwise

    progress(f"{name}: training both detectors ...")
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run = layerwise.fit(data, task="object-detection", output_dir=out, verbose=False,
                            seed=0, **options)  # fmt: skip
        seconds = time.perf_counter() - start
        test = run.task.read(data)
        images = [test.images[i] for i in range(min(20, len(test)))]
        candidates = run.metrics["candidates"]
        result = {"run": run.metrics, "seconds": seconds, "side": run.task.model.side
                  if run.chosen == "centernet" else run.task.long_side}  # fmt: skip
        if "centernet" in candidates and run.chosen == "centernet":
            try:
                result["latency"] = inference_ms(run, images)
            except Exception as error:  # a failed export must not lose the training figures
                progress(f"{name}: no inference timing: {error}")
    progress(f"{name}: " + ", ".join(
        f"{c} test mAP@0.5 {e['test']['map50']:.3f}" for c, e in candidates.items()))  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller scenes, 2-minute budgets")
    args = parser.parse_args()
    rows, latency = [], []
    for name, data, options in datasets(args.quick):
        result = measure(name, data, options)
        metrics = result["run"]
        cand = metrics["candidates"]
        for candidate, entry in cand.items():
            test = entry["test"]
            rows.append([name, candidate, fmt(entry["validation"]["map50"]), fmt(test["map50"]),
                         fmt(test["map"]), fmt(test.get("map_small")), fmt(test.get("map_medium")),
                         fmt(test.get("map_large")), f"{entry['fit_seconds']:.0f}",
                         f"{entry['predict_ms_per_image']:.1f}",
                         "served" if candidate == metrics["chosen"] else ""])  # fmt: skip
        deep, hog = cand.get("centernet"), cand.get("hog-svm")
        gap = deep["test"]["map50"] - hog["test"]["map50"] if deep and hog else None
        lat = result.get("latency")
        latency.append([name, f"{metrics['images']:,} images, {metrics['boxes']:,} boxes",
                        f"{result['seconds'] / 60:.1f}", fmt(gap),
                        f"{lat['eager']:.1f}" if lat else "—", f"{lat['onnx']:.1f}" if lat else "—",
                        f"{lat['eager'] / lat['onnx']:.2f}x" if lat else "—",
                        f"{hog['predict_ms_per_image']:.1f}" if hog else "—"])  # fmt: skip
    text = header("Object detection: CenterNet beside HOG + linear SVM", PACKAGES)
    text += "\n" + (__doc__.split("\n\n")[1]) + "\n\n"
    if args.quick:
        text += ("Quick run: 400 training, 100 validation and 200 test scenes; each detector's "
                 "training limited to 120 s.\n\n")  # fmt: skip
    text += markdown_table(["data", "detector", "val mAP@0.5", "test mAP@0.5",
                            "test mAP@0.5:0.95", "AP small", "AP medium", "AP large", "fit s",
                            "predict ms/image", ""], rows) + "\n\n"  # fmt: skip
    text += markdown_table(["data", "size", "whole run, min", "deep - HOG test mAP@0.5",
                            "CenterNet eager ms/image", "ONNX Runtime ms/image", "ONNX speed-up",
                            "HOG + SVM ms/image"], latency) + "\n"  # fmt: skip
    text += ("\nTimes are wall-clock on the machine above; predict ms/image in the first table is "
             "the bake-off's scoring of the test images (batched); the second table's are one "
             "image a call, letterboxing included.\n")  # fmt: skip
    path = write_result("detection", text, args.quick)
    print(text)
    progress(f"wrote {path}")


if __name__ == "__main__":
    main()
