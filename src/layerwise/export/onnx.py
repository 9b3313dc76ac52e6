"""ONNX export of torch models and of run folders, verified with ONNX Runtime.

Every export has a dynamic batch dimension on each input and output, is written
atomically, and is checked before it is returned: ``onnx.checker`` accepts it and ONNX
Runtime agrees with eager PyTorch (max abs difference < 1e-4) on random inputs at batch
sizes 1 and 7. The exporter is ``torch.export`` (``dynamo=True``), the one PyTorch
develops; the legacy TorchScript exporter is the fallback for a module it cannot trace.

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
    >>> export_onnx(model, (torch.randn(2, 4),), "mlp.onnx")  # doctest: +SKIP
    PosixPath('mlp.onnx')
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from layerwise.core.capabilities import ExportsOnnx
from layerwise.errors import ConfigError, LayerwiseError
from layerwise.io import atomic_write

FORMATS = ("onnx",)
OPSET = 18
TOLERANCE = 1e-4
CHECK_BATCHES = (1, 7)
MODEL_ONNX = "model.onnx"
INSTALL = 'pip install "layerwise[onnx]"'


class OnnxExportError(LayerwiseError):
    """The model could not be exported, or the exported graph disagrees with PyTorch."""


# ---------------------------------------------------------------------------- helpers
def _require_onnx() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ConfigError(
            f"ONNX export needs the onnx and onnxruntime packages ({exc.name} is not installed).",
            f"Install them with: {INSTALL}",
        ) from exc
    return onnx, onnxruntime


def random_inputs(example_inputs: Sequence[torch.Tensor], batch: int, seed: int = 0) -> tuple:
    """Random tensors shaped like ``example_inputs`` but with ``batch`` rows.

    Floating inputs are standard normal; integer inputs (codes, token ids) are drawn between
    the smallest and largest value of the example at each position, so embedding indices
    stay in range; booleans are random.

    Example:
        >>> random_inputs((torch.zeros(2, 3), torch.tensor([[0], [4]])), 5)[1].shape
        torch.Size([5, 1])
    """
    generator = torch.Generator().manual_seed(seed)
    out = []
    for example in example_inputs:
        shape = (batch, *example.shape[1:])
        if example.dtype.is_floating_point:
            out.append(torch.randn(shape, generator=generator).to(example.dtype))
        elif example.dtype == torch.bool:
            out.append(torch.rand(shape, generator=generator) < 0.5)
        else:
            low = example.amin(dim=0).double() if len(example) else torch.zeros(shape[1:])
            high = example.amax(dim=0).double() if len(example) else torch.zeros(shape[1:])
            draw = torch.rand(shape, generator=generator, dtype=torch.float64)
            out.append(
                (low + torch.floor(draw * (high - low + 1))).clamp(max=high).to(example.dtype)
            )
    return tuple(out)


def _at_least_two(example_inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """torch.export specialises a dimension of size 0 or 1: trace with a batch of 2 or more."""
    if all(len(t) >= 2 for t in example_inputs):
        return example_inputs
    return random_inputs(example_inputs, 2, seed=1)


@contextlib.contextmanager
def _quiet() -> Any:
    """The exporters print progress and warn about unrelated ops (torchvision); hide that."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _export_dynamo(module, inputs, path, input_names, output_names) -> None:
    batch = torch.export.Dim("batch")
    torch.onnx.export(
        module,
        inputs,
        str(path),
        dynamo=True,
        input_names=input_names,
        output_names=output_names,
        dynamic_shapes=tuple({0: batch} for _ in inputs),
        opset_version=OPSET,
        external_data=False,
        verbose=False,
    )


def _export_torchscript(module, inputs, path, input_names, output_names) -> None:
    axes = {name: {0: "batch"} for name in [*input_names, *output_names]}
    torch.onnx.export(
        module,
        inputs,
        str(path),
        dynamo=False,
        input_names=input_names,
        output_names=output_names,
        dynamic_axes=axes,
        opset_version=OPSET,
    )


def _write(module, inputs, path, input_names, output_names) -> str:
    """Export with torch.export, or the TorchScript exporter if that fails; the one used."""
    failures = []
    for name, exporter in (("dynamo", _export_dynamo), ("torchscript", _export_torchscript)):
        try:
            with _quiet():
                atomic_write(
                    path,
                    lambda p, export=exporter: export(module, inputs, p, input_names, output_names),
                )
            return name
        except Exception as exc:  # any exporter failure means: try the other one
            failures.append(
                f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            )
    raise OnnxExportError(
        f"Could not export {type(module).__name__} to ONNX ({'; '.join(failures)}).",
        "The module must be traceable by torch.export or torch.jit.trace: avoid Python "
        "control flow that depends on tensor values.",
    )


def _names(given: Sequence[str] | None, count: int, stem: str) -> list[str]:
    names = (
        list(given)
        if given is not None
        else [f"{stem}{i}" if count > 1 else stem for i in range(count)]
    )
    if len(names) != count:
        raise ConfigError(
            f"{len(names)} {stem} name(s) given ({', '.join(names)}) for {count} {stem}(s).",
            f"Pass one name per {stem}.",
        )
    return names


def _outputs(module: nn.Module, inputs: tuple) -> list[np.ndarray]:
    with torch.no_grad():
        result = module(*inputs)
    if isinstance(result, torch.Tensor):
        result = (result,)
    return [r.detach().float().numpy() if r.dtype.is_floating_point else r.numpy() for r in result]


def _session(path: Path) -> Any:
    _, ort = _require_onnx()
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _feed(session: Any, inputs: Any) -> dict[str, np.ndarray]:
    """ONNX Runtime's feed from a tuple (graph input order) or a dict of inputs by name.

    The graph may have dropped an input it never reads (an empty categorical block)."""
    declared = [i.name for i in session.get_inputs()]
    if isinstance(inputs, dict):
        named = inputs
    else:
        named = dict(zip(declared, inputs, strict=True)) if len(inputs) == len(declared) else {}
    return {
        name: (value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value))
        for name, value in named.items()
        if name in declared
    }


def verify_onnx(
    path: str | os.PathLike,
    module: nn.Module,
    example_inputs: tuple,
    input_names: Sequence[str],
    batch_sizes: Sequence[int] = CHECK_BATCHES,
) -> float:
    """Check the graph and compare ONNX Runtime with eager PyTorch; the max abs difference.

    Raises:
        OnnxExportError: the graph is invalid, or the difference is ``TOLERANCE`` or more.
    """
    onnx, _ = _require_onnx()
    path = Path(path)
    try:
        onnx.checker.check_model(str(path))
        session = _session(path)
    except Exception as exc:  # onnx and onnxruntime raise several unrelated types
        raise OnnxExportError(
            f"The exported file '{path}' is not a valid ONNX model ({exc}).",
            "Report this with the model's definition.",
        ) from exc
    worst = 0.0
    for seed, batch in enumerate(batch_sizes):
        inputs = random_inputs(example_inputs, batch, seed=seed)
        expected = _outputs(module, inputs)
        got = session.run(None, _feed(session, dict(zip(input_names, inputs, strict=True))))
        for want, have in zip(expected, got, strict=False):
            if want.shape != have.shape:
                raise OnnxExportError(
                    f"ONNX Runtime gives an output of shape {have.shape} at batch {batch}, "
                    f"PyTorch {want.shape}: the batch dimension is not dynamic.",
                    "Avoid reshapes that hard-code the batch size (use x.flatten(1)).",
                )
            if want.size:
                worst = max(worst, float(np.max(np.abs(want.astype(np.float64) - have))))
    if not worst < TOLERANCE:
        raise OnnxExportError(
            f"ONNX Runtime and PyTorch disagree on '{path}': max abs difference {worst:.3g}, "
            f"expected < {TOLERANCE:g}.",
            "Check for ops whose ONNX version differs (e.g. custom numerics).",
        )
    return worst


def _export(
    module: nn.Module,
    example_inputs: tuple,
    path: Path,
    input_names: Sequence[str] | None,
    output_names: Sequence[str] | None,
) -> dict[str, Any]:
    """Export and verify; the facts for a sidecar (exporter, difference, names)."""
    _require_onnx()
    example_inputs = tuple(example_inputs)
    inputs_named = _names(input_names, len(example_inputs), "input")
    was_training = module.training
    module.eval()
    try:
        traced = _at_least_two(example_inputs)
        outputs_named = _names(output_names, len(_outputs(module, traced)), "output")
        exporter = _write(module, traced, Path(path), inputs_named, outputs_named)
        try:
            difference = verify_onnx(path, module, example_inputs, inputs_named)
        except OnnxExportError:
            Path(path).unlink(missing_ok=True)  # a graph that disagrees is not left behind
            raise
    finally:
        module.train(was_training)
    return {
        "exporter": exporter,
        "max_abs_diff": difference,
        "inputs": inputs_named,
        "outputs": outputs_named,
    }


def export_onnx(
    module: nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    path: str | os.PathLike,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> Path:
    """Export ``module`` to ONNX with a dynamic batch dimension, verified by ONNX Runtime.

    Args:
        module: any ``torch.nn.Module`` (put in eval mode for the export, then restored).
        example_inputs: one tensor per forward argument, batch first.
        path: the ``.onnx`` file to write (atomically).
        input_names: graph input names (default ``input`` / ``input0``, ``input1``, ...).
        output_names: graph output names (default ``output`` / ``output0``, ...).

    Returns:
        The path written.

    Raises:
        ConfigError: onnx or onnxruntime is not installed.
        OnnxExportError: the export failed or ONNX Runtime disagrees with PyTorch (>= 1e-4).

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2))
        >>> export_onnx(net, (torch.randn(3, 4),), "net.onnx").name  # doctest: +SKIP
        'net.onnx'
    """
    path = Path(path)
    _export(module, example_inputs, path, input_names, output_names)
    return path


# --------------------------------------------------------------------------- latency
def onnx_latency(
    path: str | os.PathLike,
    inputs_factory: Callable[[int], Any],
    batch_sizes: Sequence[int] = (1, 256),
    module: nn.Module | None = None,
    repeats: int = 20,
) -> dict[int, dict[str, float]]:
    """Median latency per sample (µs) of ONNX Runtime, and of eager PyTorch if ``module`` is given.

    ``inputs_factory(batch)`` returns the inputs: a tuple in the graph's input order, or a
    dict by input name (its values in the module's argument order).

    Example:
        >>> onnx_latency("net.onnx", lambda n: (torch.randn(n, 4),), module=net)  # doctest: +SKIP
        {1: {'onnx_us_per_sample': 9.1, 'eager_us_per_sample': 21.3, 'speedup': 2.3}, 256: {...}}
    """
    session = _session(Path(path))
    results: dict[int, dict[str, float]] = {}
    for batch in batch_sizes:
        inputs = inputs_factory(batch)
        feed = _feed(session, inputs)
        run = lambda feed=feed: session.run(None, feed)  # noqa: E731
        row = {"onnx_us_per_sample": _median_us(run, repeats) / batch}
        if module is not None:
            args = tuple(inputs.values()) if isinstance(inputs, dict) else tuple(inputs)
            args = tuple(torch.as_tensor(a) for a in args)
            module.eval()
            with torch.no_grad():
                call = lambda args=args: module(*args)  # noqa: E731
                row["eager_us_per_sample"] = _median_us(call, repeats) / batch
            row["speedup"] = row["eager_us_per_sample"] / max(row["onnx_us_per_sample"], 1e-9)
        results[batch] = row
    return results


def _median_us(call: Callable[[], Any], repeats: int) -> float:
    for _ in range(3):  # warm up
        call()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e6 * statistics.median(times)


# ------------------------------------------------------------------------- run folders
def _sidecar(task: Any, run_dir: Path, onnx_path: Path, facts: dict[str, Any]) -> dict:
    _, ort = _require_onnx()
    inputs, output, candidate = task.onnx_description()  # the task describes its graph
    return {
        "format": "onnx",
        "file": onnx_path.name,
        "run": str(run_dir),
        "task": task.name,
        "target": task.target,
        "candidate": candidate,
        "preprocess": "preprocess.json",
        "opset": OPSET,
        "exporter": facts["exporter"],
        "inputs": inputs,
        "outputs": [output],
        "verification": {
            "max_abs_diff": facts["max_abs_diff"],
            "tolerance": TOLERANCE,
            "batch_sizes": list(CHECK_BATCHES),
            "onnxruntime": ort.__version__,
            "torch": torch.__version__,
        },
    }


def run_module(run_dir: str | os.PathLike) -> tuple[Any, nn.Module, tuple, list[str], list[str]]:
    """Load a run (verifying it) and return (task, module, example inputs, input/output names).

    The task says what to export: :class:`~layerwise.core.capabilities.ExportsOnnx`."""
    import layerwise

    run_dir = Path(run_dir)
    task = layerwise.load(run_dir)  # RunFolder.open checks every file's sha256
    if not isinstance(task, ExportsOnnx):
        raise ConfigError(
            f"Run {run_dir} ({task.name}) has no ONNX export yet.",
            "ONNX export covers runs whose model is a torch network.",
        )
    return (task, *task.onnx_module())


def export_run(
    run_dir: str | os.PathLike, format: str = "onnx", output: str | os.PathLike | None = None
) -> Path:
    """Export a run folder's torch model; writes ``model.onnx`` and ``model.onnx.json``.

    The task gives the module and describes its inputs and outputs for the sidecar (e.g. a
    tabular MLP's ``numeric`` and ``categorical`` inputs, encoded as ``preprocess.json``
    describes, giving ``probabilities`` or ``value``, equal to ``predict``).
    Exports into the run folder refresh its manifest, so the run still verifies.

    Raises:
        ConfigError: unknown format, onnx missing, or the run's model is not a torch model.
        RunFolderError: the run folder is missing, incomplete or corrupted.
        OnnxExportError: export failed or ONNX Runtime disagrees with PyTorch.

    Example:
        >>> export_run("runs/20240101-120000-tabular-classification")  # doctest: +SKIP
        PosixPath('runs/20240101-120000-tabular-classification/model.onnx')
    """
    if format not in FORMATS:
        raise ConfigError(
            f"Unknown export format '{format}'.", f"Valid formats: {', '.join(FORMATS)}."
        )
    _require_onnx()
    run_dir = Path(run_dir)
    task, module, example, input_names, output_names = run_module(run_dir)
    path = Path(output) if output is not None else run_dir / MODEL_ONNX
    if path.suffix != ".onnx":
        path = path / MODEL_ONNX if path.is_dir() else path.with_suffix(".onnx")
    facts = _export(module, example, path, input_names, output_names)
    sidecar = _sidecar(task, run_dir, path, facts)
    sidecar_path = path.with_name(path.name + ".json")
    atomic_write(sidecar_path, lambda p: p.write_text(json.dumps(sidecar, indent=2) + "\n"))
    if _inside(path, run_dir):
        from layerwise.runs.folder import RunFolder

        RunFolder(run_dir).finalize({})
    return path


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
