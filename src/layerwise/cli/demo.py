"""layerwise demo [TASK]: the main job on bundled data, no files and no network needed."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    task: str = typer.Argument("tabular-classification", help="Which application to demonstrate."),
    output_dir: str = typer.Option("runs", "--output-dir", "-o"),
) -> None:
    """Train on bundled data (breast cancer for tables), print the ML-vs-DL table and the report."""
    from layerwise.cli.common import out, print_run_summary
    from layerwise.errors import ConfigError

    demos = {"tabular-classification": _breast_cancer, "tabular-regression": _diabetes}
    if task not in demos:
        raise ConfigError(f"No demo for '{task}'.", f"Demos: {', '.join(demos)}.")
    data_path, target, title = demos[task](Path(output_dir) / "demo-data")
    out.rule(f"layerwise demo: {title}")
    out.print(f"Data: {data_path} (target '{target}')")
    from layerwise.api import fit

    run = fit(str(data_path), target=target, output_dir=output_dir)
    print_run_summary(run, data_hint=str(data_path))


def _write(frame, folder: Path, name: str) -> Path:
    from layerwise.runs.folder import atomic_write

    path = folder / name
    atomic_write(path, lambda p: frame.to_csv(p, index=False))
    return path


def _breast_cancer(folder: Path) -> tuple[Path, str, str]:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns={"target": "diagnosis"})
    frame["diagnosis"] = frame["diagnosis"].map({0: "malignant", 1: "benign"})
    return (
        _write(frame, folder, "breast_cancer.csv"),
        "diagnosis",
        "breast cancer diagnosis (569 tumours, 30 measurements)",
    )


def _diabetes(folder: Path) -> tuple[Path, str, str]:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(
        columns={"target": "progression"}
    )
    return (
        _write(frame, folder, "diabetes.csv"),
        "progression",
        "diabetes progression (442 patients, 10 measurements)",
    )
