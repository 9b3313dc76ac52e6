"""Helpers shared by the benchmarks: machine description, library versions, Markdown output.

Every benchmark prints a Markdown table and writes it to ``benchmarks/results/<name>.md``
headed by the date, the machine and the library versions (see DESIGN.md, "Conventions").

>>> markdown_table(["a", "b"], [[1, 2]]).splitlines()[0]
'| a | b |'
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_PACKAGES = ("layerwise", "torch", "numpy", "pandas")


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform's answer elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_cores() -> int:
    """CPU cores this process may use (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def gpu_name() -> str | None:
    """The first CUDA device's name, or None (also when torch is not installed)."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return f"{torch.cuda.get_device_name(0)} (x{torch.cuda.device_count()})"


def machine() -> str:
    """One line: CPU model, core count and GPU (or 'no GPU')."""
    gpu = gpu_name()
    return f"{cpu_model()}, {cpu_cores()} CPU cores, {('GPU ' + gpu) if gpu else 'no GPU'}"


def load_average() -> str:
    """The 1/5/15-minute load averages (timings on a shared machine are noisy), or 'n/a'."""
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def version(package: str) -> str:
    """Installed version of a distribution, or 'not installed'."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def library_versions(packages: Sequence[str] = DEFAULT_PACKAGES) -> dict[str, str]:
    """Python's version followed by each package's installed version."""
    out = {"python": platform.python_version()}
    out.update({name: version(name) for name in packages})
    return out


def fmt(value: Any, digits: int = 3) -> str:
    """A cell: floats to ``digits`` decimals, None/NaN as an em dash, anything else as str."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return "—" if value != value else f"{value:.{digits}f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (cells already formatted, or passed through ``fmt``)."""
    lines = [
        "| " + " | ".join(map(str, headers)) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def header(
    title: str, packages: Sequence[str] = DEFAULT_PACKAGES, command: str | None = None
) -> str:
    """The heading every result file starts with: title, date, machine, versions, command."""
    versions = ", ".join(f"{k} {v}" for k, v in library_versions(packages).items())
    command = command or "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    return "\n".join(
        [
            f"# {title}",
            "",
            f"- Date: {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
            f"- Machine: {machine()}; load average {load_average()} (1/5/15 min) when written",
            f"- Versions: {versions}",
            f"- Command: `{command}`",
            "",
        ]
    )


def write_result(name: str, text: str, quick: bool = False) -> Path:
    """Write ``results/<name>.md`` (``<name>-quick.md`` for a --quick run, so it never overwrites)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}{'-quick' if quick else ''}.md"
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return path


def progress(message: str) -> None:
    """One progress line on stderr, flushed at once."""
    print(message, file=sys.stderr, flush=True)


def child_peak(code: str, *args: str, what: str = "the run") -> dict[str, Any]:
    """Run ``python -c code args...`` in a child process and return the JSON object its last
    line of stdout prints, with ``peak_mib`` (the child's own peak resident memory, from
    ``wait4``: not the largest child's so far, as getrusage(RUSAGE_CHILDREN) gives) and
    ``wall_s``. Its stderr goes to a file: two pipes read one after the other could fill and
    stall. A child that fails stops the benchmark with its last lines."""
    import json
    import subprocess
    import tempfile
    import time

    env = {**os.environ, "PYTHONHASHSEED": "0"}
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                                stderr=errors, text=True, env=env)  # fmt: skip
        stdout = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            raise SystemExit(f"{what} failed:\n{errors.read()[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_mib"] = usage.ru_maxrss / 1024
    result["wall_s"] = time.perf_counter() - began
    return result
