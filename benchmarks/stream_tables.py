"""Training on a table larger than memory: peak memory of a streamed run as the rows grow.

Writes generated Parquet tables (18 numeric and 2 categorical columns and a two-class label,
row groups of 100,000 rows) of each size asked for, then trains tabular classification on each
in a fresh process with ``stream=True``: the file read by row groups twice (statistics and
samples, then the training rows encoded into a record file), LightGBM on a 200,000-row sample,
the MLP on every training row read from disk (60 s of training: the point is memory and
throughput, not accuracy). Reported per run: the process's peak resident memory (``wait4``'s
ru_maxrss), the whole run's time, the rows a second of the two passes over the file, the MLP's
training rows a second, and the test accuracy of both. A second run on the largest file reuses
the cache.

    python benchmarks/stream_tables.py --sizes 1000000 4000000
    python benchmarks/stream_tables.py --sizes 100000 --work /tmp/t  # a quick check

Results: benchmarks/results/stream-tables.md.
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

NUMERIC, CATEGORICAL, GROUP = 18, 2, 100_000

CHILD = """
import json, sys, time
import layerwise
from layerwise.data import table_batches
from layerwise.engine import trainer as engine
path, out = sys.argv[1], sys.argv[2]
reading, batches = engine.Trainer._batches, table_batches.batches
seen = {"rows": 0, "seconds": 0.0, "file_rows": 0, "file_seconds": 0.0}

def counted(self, data, train):  # the MLP's training passes: rows and seconds, steps included
    if not train:
        yield from reading(self, data, train)
        return
    began = time.perf_counter()
    for batch in reading(self, data, train):
        seen["rows"] += len(batch[0])
        yield batch
    seen["seconds"] += time.perf_counter() - began

def passes(*args, **kwargs):  # the passes over the file: rows and seconds, their work included
    began = time.perf_counter()
    for frame in batches(*args, **kwargs):
        seen["file_rows"] += len(frame)
        yield frame
    seen["file_seconds"] += time.perf_counter() - began

engine.Trainer._batches = counted
table_batches.batches = passes
began = time.perf_counter()
run = layerwise.fit(path, target="label", stream=True, output_dir=out, verbose=False, seed=0,
                    report=False, candidates=["lightgbm", "mlp"],
                    candidate_params={"mlp": {"time_limit": 60},
                                      "lightgbm": {"num_threads": 1}})
m = run.metrics
print(json.dumps({"seconds": time.perf_counter() - began, "chosen": m["chosen"],
                  "accuracy": {n: e["test"]["accuracy"] for n, e in m["candidates"].items()},
                  "mlp_rows_per_s": seen["rows"] / max(seen["seconds"], 1e-9),
                  "mlp_rows": seen["rows"], "file_rows": seen["file_rows"],
                  "file_rows_per_s": seen["file_rows"] / max(seen["file_seconds"], 1e-9),
                  "run": str(run.path)}))
"""


def write_table(path: Path, n: int) -> float:
    """``n`` rows of a generated two-class table, written a row group at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists():
        return 0.0
    began = time.perf_counter()
    weights = np.random.default_rng(99).normal(size=NUMERIC)
    partial = path.with_suffix(".partial")
    writer = None
    for start in range(0, n, GROUP):
        rng = np.random.default_rng(start)
        rows = min(GROUP, n - start)
        x = rng.normal(size=(rows, NUMERIC))
        x[rng.random((rows, NUMERIC)) < 0.02] = np.nan
        cats = [rng.integers(0, 50 * (j + 1), rows) for j in range(CATEGORICAL)]
        signal = np.nan_to_num(x) @ weights / 3 + np.sin(2 * np.nan_to_num(x[:, 0]))
        signal += (cats[0] % 3 == 0) * 1.0
        label = np.where(signal + rng.normal(scale=0.7, size=rows) > 0, "yes", "no")
        columns = {f"x{j}": x[:, j] for j in range(NUMERIC)}
        columns.update({f"c{j}": [f"k{v}" for v in cats[j]] for j in range(CATEGORICAL)})
        columns["label"] = label
        table = pa.table(columns)
        writer = writer or pq.ParquetWriter(partial, table.schema)
        writer.write_table(table)
    writer.close()
    partial.rename(path)
    return time.perf_counter() - began


def measured(path: Path, out: Path) -> dict:
    """One run in a child process and its own peak resident memory (``_common.child_peak``)."""
    return child_peak(CHILD, str(path), str(out), what=f"the run on {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/layerwise-stream-tables"))
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "stream-tables.md"
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        path = args.work / f"table{n}.parquet"
        written = write_table(path, n)
        if written:
            print(f"wrote {n:,} rows in {written:.0f} s", flush=True)
        labels = ["streamed, first run (encodes)"]
        labels += ["streamed, cache reused"] if n == max(args.sizes) else []
        for label in labels:
            result = measured(path, args.work / "runs")
            result["file_mib"] = path.stat().st_size / 2**20
            rows.append((n, label, result))
            shown = ("peak_mib", "wall_s", "file_rows_per_s", "mlp_rows_per_s", "accuracy")
            print(n, label, json.dumps({k: result[k] for k in shown}), flush=True)
    write_report(args.out, rows)


def write_report(path: Path, rows: list) -> None:
    lines = [
        "# Tables larger than memory: a streamed run's peak memory",
        "",
        f"`python benchmarks/stream_tables.py` on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}. Generated Parquet tables of "
        f"{NUMERIC} numeric (2% missing) and {CATEGORICAL} categorical columns and a two-class "
        "label; `layerwise.fit(path, stream=True, candidates=[lightgbm, mlp])` with 60 s of MLP "
        "training and LightGBM on one thread; each run in a fresh process, peak resident memory from wait4. Other work "
        "shared the 2 cores, so the speeds are indicative; the memory is not affected.",
        "",
        "| rows | run | Parquet file (MiB) | decoded (MiB, rows x columns x 8) | peak memory (MiB) "
        "| whole run (s) | file passes (rows/s) | MLP training (rows/s) | test accuracy LightGBM / MLP |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, label, r in rows:
        acc = r["accuracy"]
        decoded = n * (NUMERIC + CATEGORICAL + 1) * 8 / 2**20
        lines.append(f"| {n:,} | {label} | {r['file_mib']:,.0f} | {decoded:,.0f} | "
                     f"{r['peak_mib']:,.0f} | {r['wall_s']:.0f} | {r['file_rows_per_s']:,.0f} | "
                     f"{r['mlp_rows_per_s']:,.0f} | {acc.get('lightgbm', float('nan')):.4f} / "
                     f"{acc.get('mlp', float('nan')):.4f} |")  # fmt: skip
    lines += [
        "",
        "LightGBM trains on a 200,000-row sample whatever the file's size; the MLP on every "
        "training row, read from the record file a batch at a time (it sees as many rows as "
        "its 60 s allow). What still grows with the rows: the trainer's shuffled order of the "
        "training rows and the MLP's index of them (8 bytes a row each).",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())


if __name__ == "__main__":
    main()
