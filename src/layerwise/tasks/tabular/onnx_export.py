"""What ``layerwise export`` writes for a table: the MLP as an ONNX graph and its description.

:mod:`layerwise.export.onnx` asks :class:`~layerwise.tasks.tabular.task.TabularTask` for
``onnx_module()`` and ``onnx_description()`` (the ``ExportsOnnx`` Protocol), which call these.
The graph takes ``numeric`` (float32 [batch, d], standardised) and ``categorical`` (int64
[batch, k], codes) as ``preprocess.json`` describes, and gives ``probabilities``
(classification) or ``value`` (regression), equal to ``predict``: TabM's piecewise-linear
encoding (its bin edges a constant of the graph) and the averaging of its members included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from layerwise.errors import ConfigError
from layerwise.models.tabm import ensemble_mean


class _Probabilities(nn.Module):
    """The tabular MLP with softmax: the same probabilities as ``task.predict``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        out = self.model(numeric, categorical)
        if out.dim() == 3:  # TabM: every member's logits, [batch, k, classes]
            return ensemble_mean(out, classifier=True)
        return torch.softmax(out.float(), dim=1)


class _Value(nn.Module):
    """The tabular MLP's output de-standardised: ``y * std + mean``, shape [batch]."""

    def __init__(self, model: nn.Module, mean: float, std: float):
        super().__init__()
        self.model = model
        self.mean, self.std = float(mean), float(std)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        out = self.model(numeric, categorical)
        if out.dim() == 3:  # TabM: every member's value, [batch, k, 1]
            out = ensemble_mean(out, classifier=False)
        return out[:, 0].float() * self.std + self.mean


def _not_torch(run_dir: Path, stored: dict[str, Any]) -> ConfigError:
    candidate = stored.get("candidate", "?")
    if candidate == "ensemble":
        members = stored.get("members", {})
        files = ", ".join(sorted({m.get("file", "?") for m in members.values()}))
        what = f"an ensemble of {', '.join(members)}, not a single neural network"
        portable = f"its member files ({files}) are in the run folder"
    else:
        what = f"'{candidate}', not a neural network"
        portable = f"its model file {stored.get('file', '?')} is already portable"
    return ConfigError(
        f"Run {run_dir}'s model is {what}: ONNX export covers torch models; {portable}.",
        "Train with --candidates mlp (or candidates=['mlp']) for an exportable deep model.",
    )


def tabular_module(
    task: Any, run_dir: Path | str = ""
) -> tuple[nn.Module, tuple, list[str], list[str]]:
    """The exportable module of a tabular task whose model is the MLP, with example inputs.

    Raises:
        ConfigError: the model is not the MLP (LightGBM, linear, an ensemble): what to do.
    """
    stored_model = task.model
    if getattr(stored_model, "name", None) != "mlp":
        from layerwise.runs.folder import RunFolder

        info = RunFolder(run_dir).read_json("preprocess.json")["model"]
        raise _not_torch(Path(run_dir), info)
    model = stored_model.model.eval()
    config = model.config
    if task.kind == "classification":
        wrapped: nn.Module = _Probabilities(model)
        outputs = ["probabilities"]
    else:
        wrapped = _Value(model, stored_model.y_mean, stored_model.y_std)
        outputs = ["value"]
    width = int(config.n_numeric)  # standardised columns plus missing indicators
    numeric = torch.randn(4, width, generator=torch.Generator().manual_seed(0))
    top = torch.tensor([max(k - 1, 0) for k in config.cardinalities], dtype=torch.int64)
    categorical = torch.stack([torch.zeros_like(top), top, top // 2, torch.zeros_like(top)])
    example = (numeric, categorical.reshape(4, len(config.cardinalities)))
    return wrapped.eval(), example, ["numeric", "categorical"], outputs


def tabular_description(task: Any) -> tuple[list[dict], dict, str]:
    """The sidecar's inputs, output and candidate for the MLP that ``tabular_module`` gave."""
    encoder = task.encoder
    indicators = [f"{encoder.numeric_names[j]} (missing)" for j in encoder.indicators]
    categorical = [s["name"] for s in encoder.categorical_specs]
    inputs = [
        {
            "name": "numeric",
            "dtype": "float32",
            "shape": ["batch", int(task.model.model.config.n_numeric)],
            "features": [*encoder.numeric_names, *indicators],
            "encoding": "(x - mean) / std per numeric column with NaN -> 0, clipped to "
            "[-1000, 1000], then a 0/1 missing "
            "indicator per column in 'indicators'; mean, std and indicators are in preprocess.json "
            "under 'encoder' (any piecewise-linear encoding of these values is inside the graph)",
        },
        {
            "name": "categorical",
            "dtype": "int64",
            "shape": ["batch", len(categorical)],
            "features": categorical,
            "encoding": "one code per categorical column, from preprocess.json 'encoder.specs': "
            "0 = missing, i + 1 = categories[i], len(categories) + 1 = any other value when the "
            "column has an 'other' slot (else unseen values are 0 too)",
        },
    ]
    if task.kind == "classification":
        output = {
            "name": "probabilities",
            "dtype": "float32",
            "shape": ["batch", len(task.classes)],
            "classes": task.classes,
            "meaning": "class probabilities (softmax in the graph), columns in 'classes' order",
        }
    else:
        output = {
            "name": "value",
            "dtype": "float32",
            "shape": ["batch"],
            "meaning": f"predicted {task.target}, in the target's own units",
        }
    return inputs, output, "mlp"
