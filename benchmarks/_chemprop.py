"""Chemprop run beside layerwise's molecular models, on the same splits (issue 30's "Measure").

Chemprop (v2, the reference D-MPNN) pins its own torch and Lightning, so it lives in its own
environment and is driven through its command line in a subprocess; layerwise never imports it:

    python -m venv .venv-chemprop && .venv-chemprop/bin/pip install "torch==2.13.0" chemprop
    python benchmarks/_chemprop.py --smoke      # ESOL and BBBP, random 80/10/10 split, seed 0

The benchmark hands ``run_chemprop`` its own train/val/test frames, so chemprop sees exactly the
molecules the other models see: ``chemprop train`` gets the three files (``--data-path`` with
three paths takes them as train, val and test as they are; with fewer it would split again) and
chemprop's defaults otherwise, on the CPU with the given number of threads; then
``chemprop predict`` scores the test molecules with the saved model(s).

``fit_seconds`` is the wall clock of the whole ``chemprop train`` process: it includes starting
Python and importing chemprop (a few seconds), featurising the molecules, and the scoring of the
test file that chemprop does at the end of training (it cannot be told to skip it when the
validation set is given).

>>> roc_auc(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.3]))  # used by the smoke check
1.0
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets" / "molecules"
INSTALL = 'python -m venv .venv-chemprop && .venv-chemprop/bin/pip install "torch==2.13.0" chemprop'
HINT = f"Create chemprop's environment at the repository root: {INSTALL}"
KINDS = ("regression", "classification")  # chemprop's --task-type of the same names


def chemprop_python(path: str | os.PathLike | None = None) -> str | None:
    """The Python of an environment where chemprop is installed, or None when there is none.

    Looked for in order: ``path`` (the benchmark's ``--chemprop-python``), the environment
    variable ``CHEMPROP_PYTHON``, then ``.venv-chemprop/bin/python`` at the repository root.

    Args:
        path: An explicit interpreter; it must exist.

    Returns:
        The interpreter's path, or None when none was given and the default is absent (the
        caller then prints ``HINT``).

    Raises:
        FileNotFoundError: ``path`` or ``CHEMPROP_PYTHON`` names a file that does not exist.
    """
    for given, where in (
        (path, "--chemprop-python"),
        (os.environ.get("CHEMPROP_PYTHON"), "$CHEMPROP_PYTHON"),
    ):
        if given:
            if not Path(given).is_file():
                raise FileNotFoundError(f"{where} {given} does not exist. {HINT}")
            return str(given)
    default = ROOT / ".venv-chemprop" / "bin" / "python"
    return str(default) if default.is_file() else None


def _environment(threads: int) -> dict[str, str]:
    """The child's environment: CPU only, ``threads`` threads for every math library."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):  # fmt: skip
        env[name] = str(threads)
    env["CUDA_VISIBLE_DEVICES"] = ""  # chemprop is measured on the CPU, as layerwise is
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONPATH", None)  # nothing of layerwise's environment leaks into chemprop's
    return env


def _tail(log: Path, lines: int = 30) -> str:
    """The last lines of a log (progress bars' carriage returns count as line ends)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    kept = [line for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _call(argv: list[str], log: Path, env: dict[str, str], timeout: float | None) -> float:
    """Run ``argv`` with its output in ``log``; its wall-clock seconds, or RuntimeError."""
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        try:
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                  cwd=log.parent, timeout=timeout, check=False)  # fmt: skip
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(
                f"{shlex.join(argv)} ran past {timeout} s; the end of {log}:\n{_tail(log)}"
            ) from error
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(argv)} exited with {done.returncode}; the end of {log}:\n{_tail(log)}"
        )
    return seconds


def _chemprop_command(python: str) -> list[str]:
    """chemprop's console script beside ``python``, else the same entry point through it."""
    script = Path(python).parent / "chemprop"  # not resolved: a venv's python is a link
    if script.is_file():
        return [str(script)]
    entry = "import sys; from chemprop.cli.main import main; sys.argv[0] = 'chemprop'; main()"
    return [python, "-c", entry]


def chemprop_version(python: str) -> str:
    """The installed chemprop's version, read from its metadata (chemprop is not imported)."""
    code = "import importlib.metadata as m; print(m.version('chemprop'))"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"chemprop is not installed for {python} ({last}). {HINT}")
    return done.stdout.strip()


def run_chemprop(python: str, train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame,
                 smiles_column: str, targets: list[str], kind: str, seed: int,
                 workdir: str | os.PathLike, epochs: int | None = None, threads: int = 2,
                 timeout: float | None = None) -> dict:  # fmt: skip
    """Train chemprop on ``train`` (choosing its epoch on ``val``) and predict ``test``.

    Args:
        python: chemprop's interpreter (``chemprop_python()``); its ``bin/chemprop`` is run.
        train: Training rows: ``smiles_column`` and every column of ``targets`` (NaN where a
            value is missing; chemprop masks it in the loss).
        val: Validation rows, same columns (chemprop keeps the epoch with the best val loss).
        test: Rows to predict (their targets are written too; chemprop scores them in its log).
        smiles_column: The SMILES column.
        targets: The target columns, in the order of the returned predictions.
        kind: "regression" or "classification" (0/1 targets).
        seed: ``--pytorch-seed`` (weights) and ``--data-seed`` (batch order).
        workdir: A folder for the CSVs, the saved model and the logs ``train.log`` and
            ``predict.log``; created when absent.
        epochs: ``--epochs``; None keeps chemprop's default.
        threads: CPU threads for torch (OMP_NUM_THREADS and the like).
        timeout: Seconds each subprocess may take; None for no limit.

    Returns:
        ``predictions`` (float64 [n_test, n_targets]: values, or P(class 1)), ``fit_seconds``,
        ``predict_seconds`` (wall clock of each subprocess), ``version`` (chemprop's) and
        ``command`` (the two command lines).

    Raises:
        ValueError: A column is missing or ``kind`` is unknown.
        RuntimeError: chemprop failed; the message ends with the last lines of its log.
    """
    if kind not in KINDS:
        raise ValueError(f"kind is {kind!r}; expected one of {sorted(KINDS)}.")
    targets = list(targets)
    columns = [smiles_column, *targets]
    for name, frame in (("train", train), ("val", val), ("test", test)):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"the {name} frame has no column {missing}; it has {list(frame)}.")
        if len(frame) == 0:
            raise ValueError(f"the {name} frame is empty.")
    work = Path(workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    paths = {name: work / f"{name}.csv" for name in ("train", "val", "test")}
    for name, frame in (("train", train), ("val", val), ("test", test)):
        frame[columns].to_csv(paths[name], index=False)
    smiles_only = work / "test_smiles.csv"  # predict writes its columns beside the input's
    test[[smiles_column]].to_csv(smiles_only, index=False)

    chemprop = _chemprop_command(python)
    device = ["--accelerator", "cpu", "--devices", "1"]
    model_dir = work / "model"  # predict averages every .pt under it: none left from before
    shutil.rmtree(model_dir, ignore_errors=True)
    fit = [*chemprop, "train", "--data-path", *map(str, paths.values()),
           "--smiles-columns", smiles_column, "--target-columns", *targets,
           "--task-type", kind, "--save-dir", str(model_dir),
           "--pytorch-seed", str(seed), "--data-seed", str(seed), *device]  # fmt: skip
    if epochs is not None:
        fit += ["--epochs", str(int(epochs))]
    preds_path = work / "test_preds.csv"
    predict = [*chemprop, "predict", "--test-path", str(smiles_only),
               "--smiles-columns", smiles_column, "--model-paths", str(model_dir),
               "--preds-path", str(preds_path), *device]  # fmt: skip

    env = _environment(threads)
    version = chemprop_version(python)
    fit_seconds = _call(fit, work / "train.log", env, timeout)
    predict_seconds = _call(predict, work / "predict.log", env, timeout)

    scored = pd.read_csv(preds_path)
    absent = [c for c in targets if c not in scored.columns]
    if absent or len(scored) != len(test):
        raise RuntimeError(
            f"chemprop's predictions {preds_path} have {len(scored)} rows and columns "
            f"{list(scored)}; expected {len(test)} rows and {targets}.\n{_tail(work / 'predict.log')}"
        )
    predictions = scored[targets].to_numpy(dtype=np.float64)
    return {"predictions": predictions, "fit_seconds": fit_seconds,
            "predict_seconds": predict_seconds, "version": version,
            "command": shlex.join(fit) + " && " + shlex.join(predict)}  # fmt: skip


# ----------------------------------------------------------------------------- smoke check

PARSABLE = """
import json, sys
from rdkit import Chem, RDLogger
RDLogger.DisableLog("rdApp.*")
print(json.dumps([Chem.MolFromSmiles(s) is not None for s in json.load(sys.stdin)]))
"""


def parsable(python: str, smiles: list[str]) -> np.ndarray:
    """Which SMILES the RDKit of chemprop's environment parses (the one chemprop will use)."""
    done = subprocess.run([python, "-c", PARSABLE], input=json.dumps(smiles), text=True,
                          capture_output=True, check=True)  # fmt: skip
    return np.array(json.loads(done.stdout), dtype=bool)


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half)."""
    y = np.asarray(y, dtype=bool)
    _, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # average rank of tied scores
    positives, negatives = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


ESOL = "measured log solubility in mols per litre"
SETS = {  # name: file, SMILES column, target, kind
    "esol": ("delaney-processed.csv", "smiles", ESOL, "regression"),
    "bbbp": ("BBBP.csv", "smiles", "p_np", "classification"),
}


def smoke(python: str, names: list[str], workdir: Path, epochs: int | None, threads: int) -> None:
    """One chemprop run per set on a random 80/10/10 split (numpy's default_rng(0))."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import load_average, markdown_table, progress

    rows = []
    for name in names:
        file, smiles, target, kind = SETS[name]
        frame = pd.read_csv(DATASETS / file)
        frame[smiles] = frame[smiles].astype(str).str.strip()
        ok = parsable(python, frame[smiles].tolist())
        dropped = int((~ok).sum())
        frame = frame[ok].reset_index(drop=True)
        order = np.random.default_rng(0).permutation(len(frame))
        n_train, n_val = int(0.8 * len(frame)), int(0.1 * len(frame))
        parts = np.split(order, [n_train, n_train + n_val])
        train, val, test = (frame.iloc[p] for p in parts)
        progress(f"{name}: {len(frame)} molecules ({dropped} unparsable dropped), "
                 f"{len(train)}/{len(val)}/{len(test)}; chemprop training...")  # fmt: skip
        out = run_chemprop(python, train, val, test, smiles, [target], kind, seed=0,
                           workdir=workdir / name, epochs=epochs, threads=threads)  # fmt: skip
        y, p = test[target].to_numpy(dtype=float), out["predictions"][:, 0]
        if kind == "regression":
            metric, value = "RMSE", float(np.sqrt(np.mean((p - y) ** 2)))
        else:
            metric, value = "ROC-AUC", roc_auc(y, p)
        rows.append([name, len(frame), dropped, f"{len(train)}/{len(val)}/{len(test)}", metric,
                     value, out["fit_seconds"], out["predict_seconds"]])  # fmt: skip
        progress(f"{name}: {metric} {value:.3f}, fit {out['fit_seconds']:.1f} s, "
                 f"load average {load_average()}")  # fmt: skip
    print(f"chemprop {out['version']}, {threads} threads, CPU; command of the last run:")
    print(out["command"])
    headers = ["set", "molecules", "unparsable dropped", "train/val/test", "metric", "test",
               "fit s", "predict s"]  # fmt: skip
    print(markdown_table(headers, rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="run chemprop on ESOL and BBBP")
    parser.add_argument("--chemprop-python", help="Python of an environment with chemprop")
    parser.add_argument("--sets", default="esol,bbbp", help="comma-separated: esol, bbbp")
    parser.add_argument("--epochs", type=int, help="chemprop's --epochs (default: its own)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", help="keep chemprop's files here (default: a temp folder)")
    args = parser.parse_args(argv)
    python = chemprop_python(args.chemprop_python)
    if python is None:
        print(f"chemprop is not installed. {HINT}", file=sys.stderr)
        return 2
    if not args.smoke:
        print(f"chemprop {chemprop_version(python)} at {python}; --smoke runs it.")
        return 0
    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        parser.error(f"unknown set(s) {unknown}; choose from {sorted(SETS)}")
    if args.workdir:
        smoke(python, names, Path(args.workdir), args.epochs, args.threads)
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="chemprop-") as tmp:
            smoke(python, names, Path(tmp), args.epochs, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
