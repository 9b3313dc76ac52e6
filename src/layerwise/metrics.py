"""Metrics shared by the tasks, computed with scikit-learn on plain arrays."""

from __future__ import annotations

import numpy as np


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy, macro-F1, ROC-AUC (binary, or one-vs-rest macro when every class is present) and log loss.

    >>> classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]))["accuracy"]
    1.0
    """
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    n_classes = proba.shape[1]
    predicted = proba.argmax(axis=1)
    result = {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "macro_f1": float(f1_score(y_true, predicted, average="macro", labels=np.unique(y_true))),
    }
    present = np.unique(y_true)
    if len(present) == n_classes and n_classes >= 2:
        clipped = np.clip(proba, 1e-12, 1.0)
        clipped = clipped / clipped.sum(axis=1, keepdims=True)
        result["log_loss"] = float(log_loss(y_true, clipped, labels=list(range(n_classes))))
        if n_classes == 2:
            result["roc_auc"] = float(roc_auc_score(y_true, proba[:, 1]))
        else:
            result["roc_auc"] = float(
                roc_auc_score(y_true, clipped, multi_class="ovr", average="macro")
            )
    return result


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R².

    >>> regression_metrics(np.array([1.0, 2.0]), np.array([1.0, 2.0]))["rmse"]
    0.0
    """
    from sklearn.metrics import mean_absolute_error, r2_score

    y_true = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    result = {
        "rmse": float(np.sqrt(np.mean((y_true - predicted) ** 2))),
        "mae": float(mean_absolute_error(y_true, predicted)),
    }
    if len(y_true) > 1:
        result["r2"] = float(r2_score(y_true, predicted))
    return result
