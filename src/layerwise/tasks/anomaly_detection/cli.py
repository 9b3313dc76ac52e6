"""What anomaly detection adds to the ``layerwise`` command: its ``train`` options and its
demo. Read at the command's start-up: nothing heavy at the top (see core.cli_spec)."""

from __future__ import annotations

from pathlib import Path

from layerwise.core.cli_spec import CommandLine, Demo, TrainOption

COMMAND_LINE = CommandLine(
    panel="Anomaly detection",
    train_options=(
        TrainOption("--alert-budget", "alert_budget", str,
                    "anomaly-detection: flag this share of rows, e.g. 0.5% [1%]."),
        TrainOption("--cost-fp", "cost_fp", float,
                    "anomaly-detection: the cost of a false alarm (with --cost-fn)."),
        TrainOption("--cost-fn", "cost_fn", float,
                    "anomaly-detection: the cost of a missed anomaly."),
        TrainOption("--target-precision", "target_precision", float,
                    "anomaly-detection: flag at this precision (labels)."),
        TrainOption("--target-recall", "target_recall", float,
                    "anomaly-detection: flag to reach this recall (labels)."),
    ),
)  # fmt: skip


def transactions(folder: Path) -> Demo:
    """The demo: generated card payments, some fraud, most rows unlabelled."""
    import numpy as np

    from layerwise.io import atomic_write
    from layerwise.tasks.anomaly_detection.sources import transactions as generated

    frame = generated(8000, fraud_rate=0.015, seed=0).rename(columns={"is_anomaly": "is_fraud"})
    hidden = np.random.default_rng(0).random(len(frame)) > 0.3  # 70% of rows never checked
    frame["is_fraud"] = frame["is_fraud"].astype("Int64").mask(hidden)
    path = folder / "transactions.csv"
    atomic_write(path, lambda p: frame.to_csv(p, index=False))
    return Demo(path, "is_fraud",
                "card payments (8,000 generated, 1.5% fraud, 30% of them labelled)")  # fmt: skip
