"""An anomaly-detection run in two gloo processes on this CPU (engine.distributed) chooses what
one process chooses and writes one run folder: the deep models (the autoencoder, Deep SVDD,
the focal-loss MLP's folds and final fit) trained by every rank together (DDP), the classical
detectors and LightGBM by rank 0 alone (the detectors' figures, and their ensemble's, are
exactly one process's; LightGBM's inputs hold the deep detectors' scores, so it is within noise). A rank
that skipped a deep fit the other made would leave that one waiting at a collective: the
two-process run has a deadline, so such a bug fails here instead of hanging. In tests/slow:
two processes on two cores, with a gloo all-reduce every step: about 40 s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from two_ranks import one_process, two_processes

pytestmark = pytest.mark.slow

SMALL = {"epochs": 8, "patience": 3, "hidden": [16], "time_limit": 60}
ANOMALY = {"task": "anomaly-detection", "target": "y", "verbose": False, "report": False, "seed": 0, "test_size": 0.25,
           "candidates": ["isolation-forest", "robust-gaussian", "autoencoder", "deep-svdd",
                          "lightgbm", "mlp-focal"],
           "candidate_params": {"autoencoder": {**SMALL, "bottleneck": 2},
                                "deep-svdd": {**SMALL, "rep_dim": 4, "pretrain_epochs": 3},
                                "mlp-focal": {"epochs": 8}}}  # fmt: skip
CLASSICAL = ("isolation-forest", "robust-gaussian", "ensemble")
NEAR = ("autoencoder", "deep-svdd", "mlp-focal", "lightgbm")  # deep, or fed deep scores


def planted(path: Path, rows: int = 800) -> Path:
    """Normal rows near a line in 4 columns and 5% anomalies well off it but inside the normal
    rows' range, every row labelled: the Mahalanobis score finds every one (so the choice is
    its own, whatever the noise of the deep models), isolation forest not all of them."""
    rng = np.random.default_rng(0)
    t = rng.normal(size=rows)
    x = np.stack([t, 2 * t, -t, t + 1], axis=1) + 0.1 * rng.normal(size=(rows, 4))
    y = np.zeros(rows, dtype=int)
    y[rng.choice(rows, rows // 20, replace=False)] = 1
    across = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, -2.0]])  # both at right angles
    signs = rng.choice([-1.0, 1.0], size=(int(y.sum()), 2))
    x[y == 1] += 0.8 * signs @ across
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["y"] = y
    frame.to_csv(path, index=False)
    return path


def test_anomalies_in_two_processes_choose_what_one_chooses(tmp_path):
    data = planted(tmp_path / "rows.csv")
    two = two_processes(str(data), ANOMALY, tmp_path / "two")
    one = one_process(str(data), ANOMALY, tmp_path / "one")
    assert two["chosen"] == one["chosen"]
    both = [r["metrics"]["candidates"] for r in (two, one)]
    for name in CLASSICAL:  # rank 0's, as in one process
        assert both[0][name]["test"] == both[1][name]["test"], name
    for name in NEAR:  # trained together: the same model within the noise of other batches
        test = [b[name]["test"]["roc_auc"] for b in both]
        assert min(test) > 0.6 and abs(test[0] - test[1]) < 0.05, (name, test)
