"""Export trained models to portable formats (ONNX), verified against PyTorch.

>>> from layerwise.export import export_onnx, export_run, onnx_latency  # doctest: +SKIP
"""

from __future__ import annotations

from layerwise.export.onnx import (
    FORMATS,
    OnnxExportError,
    export_onnx,
    export_run,
    onnx_latency,
    random_inputs,
)

__all__ = [
    "FORMATS",
    "OnnxExportError",
    "export_onnx",
    "export_run",
    "onnx_latency",
    "random_inputs",
]
