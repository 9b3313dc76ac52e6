"""layerwise export RUN [--format onnx] [-o FILE]"""

from __future__ import annotations

from typing import Optional

import typer


def export(
    run_dir: str = typer.Argument(..., help="Run folder printed by `layerwise train`."),
    format: str = typer.Option("onnx", "--format", help="Export format: onnx."),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", help="File to write [RUN/model.onnx]."
    ),
) -> None:
    """Export a run's neural network to ONNX, verified against PyTorch with ONNX Runtime."""
    import json
    from pathlib import Path

    from layerwise.cli.common import out
    from layerwise.export.onnx import export_run, onnx_latency, random_inputs, run_module

    path = export_run(run_dir, format=format, output=output)
    sidecar = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
    check = sidecar["verification"]
    out.print(f"Exported: {path}", soft_wrap=True)
    out.print(f"Described by: {path}.json (inputs encoded as in preprocess.json)", soft_wrap=True)
    out.print(
        f"Verified with ONNX Runtime {check['onnxruntime']} ({sidecar['exporter']} exporter): "
        f"max abs difference vs PyTorch {check['max_abs_diff']:.2e} "
        f"(< {check['tolerance']:g}, batch sizes {', '.join(map(str, check['batch_sizes']))})"
    )
    _, module, example, names, _ = run_module(run_dir)
    latency = onnx_latency(
        path,
        lambda n: dict(zip(names, random_inputs(example, n), strict=True)),
        (1, 256),
        module=module,
    )
    for batch, row in latency.items():
        out.print(
            f"Latency per sample at batch {batch}: ONNX Runtime {row['onnx_us_per_sample']:.1f} µs, "
            f"PyTorch eager {row['eager_us_per_sample']:.1f} µs ({row['speedup']:.2f}x)"
        )
