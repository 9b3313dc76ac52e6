"""What the tabular applications add to the ``layerwise`` command: its ``train`` options and
the demos. Read at the command's start-up: nothing heavy at the top (see core.cli_spec)."""

from __future__ import annotations

from pathlib import Path

from layerwise.core.cli_spec import CommandLine, Demo, TrainOption

COMMAND_LINE = CommandLine(
    panel="Tables",
    train_options=(
        TrainOption("--interpretable", "interpretable", bool,
                    "Only models whose reasoning can be read.", default=False),
        TrainOption("--model", "model_file", str,
                    "A YAML model file: your network competes in the MLP's place."),
        TrainOption("--metric", "metric", str,
                    "What the run is chosen by: accuracy, balanced-accuracy, macro-f1, roc-auc, "
                    "log-loss (classes), rmse, mae (values) [the advisor's: macro-F1 or ROC-AUC "
                    "where classes are imbalanced, with class-weighted losses]."),
        TrainOption("--bag/--no-bag", "bag", bool,
                    "Serve each tree ensemble as the mean of the models its cross-validation "
                    "trained [bag]; --no-bag refits one model on every row instead.",
                    default=True),
        TrainOption("--tune", "tune", int,
                    "After the bake-off, search the chosen model's hyperparameters with Optuna "
                    "for up to N trials on the same folds (pruned fold by fold, within "
                    "--time-limit); the best competes as <model>-tuned, its optimism taken out "
                    'on a fresh split. Needs `pip install "layerwise[tune]"`.'),
        TrainOption("--stream/--no-stream", "stream", bool,
                    "Read a Parquet/CSV table by batches: statistics in one pass, the MLP trained "
                    "on every row from an encoded copy on disk, the other models on a 200,000-row "
                    "sample (data larger than memory) [when over a quarter of the memory]."),
    ),
)  # fmt: skip


def _write(frame, folder: Path, name: str) -> Path:
    from layerwise.io import atomic_write

    path = folder / name
    atomic_write(path, lambda p: frame.to_csv(p, index=False))
    return path


def breast_cancer(folder: Path) -> Demo:
    """The classification demo: scikit-learn's breast cancer table."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns={"target": "diagnosis"})
    frame["diagnosis"] = frame["diagnosis"].map({0: "malignant", 1: "benign"})
    return Demo(_write(frame, folder, "breast_cancer.csv"), "diagnosis",
                "breast cancer diagnosis (569 tumours, 30 measurements)")  # fmt: skip


def diabetes(folder: Path) -> Demo:
    """The regression demo: scikit-learn's diabetes table."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(
        columns={"target": "progression"}
    )
    return Demo(_write(frame, folder, "diabetes.csv"), "progression",
                "diabetes progression (442 patients, 10 measurements)")  # fmt: skip
