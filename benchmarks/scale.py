"""Data-parallel throughput: the engine's models trained in one process and in a world of
several (DistributedDataParallel over gloo on a CPU, NCCL on GPUs), the same steps of the same
whole batch, side by side in one run; examples a second and the ratio.

    python benchmarks/scale.py                   # 1 vs 2 processes, CNN and tabular MLP
    python benchmarks/scale.py --processes 4 --steps 200

On a machine of 2 CPU cores expect little gain or a loss: the two processes share the cores
one process already used, and every step adds an all-reduce of the gradients. The point here
is that the path works and what it costs; the gain is on machines with a device per process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, progress, write_result
from gpu import train_once

PACKAGES = ("layerwise", "torch", "numpy")
CHECKS = ("image CNN (ResNet, 32x32 RGB)", "tabular MLP (32 numeric + 1 categorical)")


def _rank(out: str, name: str, steps: int, batch: int) -> None:
    from layerwise.engine.distributed import current_world

    row = train_once(name, "auto", steps, batch)
    if current_world().main:
        Path(out).write_text(json.dumps(row))


def in_world(processes: int, name: str, steps: int, batch: int) -> dict[str, Any]:
    """``train_once`` in a world of ``processes`` (rank 0's timing: every rank takes the
    same steps, and the whole batch's examples count once)."""
    from layerwise.engine.distributed import run_local

    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "row.json")
        run_local(processes, _rank, out, name, steps, batch)
        return json.loads(Path(out).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=128, help="the whole batch of a step")
    args = parser.parse_args()
    cells = []
    for name in CHECKS:
        one = train_once(name, "auto", args.steps, args.batch)
        several = in_world(args.processes, name, args.steps, args.batch)
        ratio = several["per_second"] / one["per_second"]
        progress(f"{name}: {one['per_second']:,.0f} vs {several['per_second']:,.0f} "
                 f"{one['unit']} ({ratio:.2f}x)")  # fmt: skip
        cells.append([name, one["device"], f"{args.steps} x {args.batch}",
                      f"{one['per_second']:,.0f} {one['unit']}",
                      f"{several['per_second']:,.0f} {several['unit']}", f"{ratio:.2f}x"])  # fmt: skip
    text = header("Data-parallel throughput: one process against a world of several", PACKAGES)
    text += "\n" + markdown_table(["model", "device", "steps x whole batch", "1 process",
                                   f"{args.processes} processes (DDP)", "ratio"], cells) + "\n"  # fmt: skip
    text += ("\nThe same steps of the same whole batch (each of the processes takes its share "
             "of it); wall-clock from the first to the last step after a warm-up.\n")  # fmt: skip
    print(text)
    progress(f"wrote {write_result('scale', text)}")


if __name__ == "__main__":
    main()
