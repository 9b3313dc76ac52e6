import json
import re

import numpy as np
import pandas as pd
import pytest

from layerwise.runs.folder import RunFolder
from layerwise.runs.markdown import markdown_to_html
from layerwise.runs.report import build_report

DECISION_MD = """# Why this model

The profile says **1,200 rows** and 8 columns: small tabular data, where `lightgbm` usually wins.

## Rules that fired

- rows < 10,000: classical models are strong
- no text or image columns

## Measured bake-off

| model | family | validation accuracy | test accuracy | fit seconds |
|---|---|---:|---:|---:|
| **linear** | classical | 0.975 | 0.970 | 0.10 |
| lightgbm | classical | 0.968 | 0.962 | 1.40 |
| mlp | deep | 0.960 | 0.955 | 12.0 |

Chosen: **linear** (highest validation accuracy, fastest to serve).
"""


def _classification_run(root, n=240, seed=0):
    rng = np.random.default_rng(seed)
    run = RunFolder.create(root, "tabular-classification")
    run.write_json(
        "metrics.json",
        {
            "task": "tabular-classification",
            "metric": "accuracy",
            "greater_is_better": True,
            "chosen": "linear",
            "test": {"accuracy": 0.97, "macro_f1": 0.96, "roc_auc": 0.99},
            "candidates": {
                "linear": {
                    "family": "classical",
                    "validation": {"accuracy": 0.975},
                    "test": {"accuracy": 0.97, "macro_f1": 0.96},
                    "fit_seconds": 0.1,
                    "predict_ms_per_row": 0.002,
                    "size_bytes": 2048,
                },
                "lightgbm": {
                    "family": "classical",
                    "validation": {"accuracy": 0.968},
                    "test": {"accuracy": 0.962},
                    "fit_seconds": 1.4,
                    "predict_ms_per_row": 0.01,
                    "size_bytes": 204800,
                },
                "mlp": {
                    "family": "deep",
                    "validation": {"accuracy": 0.96},
                    "test": {"accuracy": 0.955},
                    "fit_seconds": 12.0,
                },
            },
        },
    )
    run.write_text("decision.md", DECISION_MD)
    epochs = np.arange(1, 21)
    pd.DataFrame(
        {
            "epoch": epochs,
            "train_loss": 1.0 / epochs,
            "val_loss": 1.0 / epochs + 0.002 * (epochs - 12) ** 2,
            "val_accuracy": 1 - 0.5 / epochs,
            "val_macro_f1": 1 - 0.6 / epochs,
            "lr": 0.001,
            "seconds": 0.5,
        }
    ).to_csv(run.file("history.csv"), index=False)
    classes = ["setosa", "versicolor", "virginica"]
    y_true = rng.integers(0, 3, size=n)
    logits = rng.normal(size=(n, 3)) + 3 * np.eye(3)[y_true]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame(
        {"y_true": np.array(classes)[y_true], "y_pred": np.array(classes)[proba.argmax(axis=1)]}
    )
    for i, c in enumerate(classes):
        frame[f"proba_{c}"] = proba[:, i]
    frame.to_csv(run.file("test_predictions.csv"), index=False)
    run.write_json(
        "importance.json",
        {
            "method": "permutation",
            "metric": "accuracy",
            "features": [
                {"feature": f"feature_{i}", "importance": 0.3 / (i + 1), "std": 0.01}
                for i in range(25)
            ],
        },
    )
    run.finalize({"task": "tabular-classification"})
    return run


def _assert_self_contained(text):
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower()
    assert 'class="error"' not in text


def test_classification_report(tmp_path):
    run = _classification_run(tmp_path)
    path = build_report(run)
    assert path == run.file("report.html") and path.exists()
    text = path.read_text(encoding="utf-8")
    _assert_self_contained(text)
    # candidates, learning curves, confusion matrix, ROC, importance
    assert text.count("data:image/png;base64,") >= 5
    assert '<table><tr><th>model</th><th>family</th><th style="text-align:right">' in text
    assert "<strong>linear</strong>" in text and "linear" in text
    assert "<code>lightgbm</code>" in text
    assert "tabular-classification" in text and run.path.name in text
    assert "Permutation importance" in text
    assert ">None<" not in text  # missing candidate fields render as a dash
    assert "layerwise predict" in text and "layerwise evaluate" in text
    assert "<td><code>metrics.json</code></td>" in text
    assert "<td><code>manifest.json</code></td>" not in text
    order = [
        text.index(s)
        for s in (
            'id="summary"',
            'id="decision',
            'id="candidates"',
            'id="learning-curves"',
            'id="classification',
            'id="feature-importance"',
            'id="files"',
        )
    ]
    assert order == sorted(order)


def test_regression_report(tmp_path):
    rng = np.random.default_rng(1)
    run = RunFolder.create(tmp_path, "tabular-regression")
    run.write_json(
        "metrics.json",
        {
            "task": "tabular-regression",
            "metric": "rmse",
            "greater_is_better": False,
            "chosen": "lightgbm",
            "test": {"rmse": 0.51, "mae": 0.4, "r2": 0.88},
            "candidates": {
                "linear": {
                    "family": "classical",
                    "validation": {"rmse": 0.8},
                    "test": {"rmse": 0.82},
                },
                "lightgbm": {
                    "family": "classical",
                    "validation": {"rmse": 0.5},
                    "test": {"rmse": 0.51},
                },
                "mlp": {"family": "deep", "validation": {"rmse": 0.6}},
            },
        },
    )
    y = rng.normal(size=300) * 3
    pd.DataFrame({"y_true": y, "y_pred": y + rng.normal(size=300) * 0.5}).to_csv(
        run.file("test_predictions.csv"), index=False
    )
    pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [3.0, 2.0, 1.5],
            "val_loss": [3.1, 2.2, 2.3],
            "val_rmse": [1.7, 1.4, 1.5],
        }
    ).to_csv(run.file("history.csv"), index=False)
    text = build_report(run).read_text(encoding="utf-8")
    _assert_self_contained(text)
    assert "Regression on the test set" in text and "Classification" not in text
    assert text.count("data:image/png;base64,") >= 3
    assert "lightgbm" in text and "(no manifest yet)" in text


def test_report_with_only_metrics(tmp_path):
    run = RunFolder.create(tmp_path, "tabular-classification")
    run.write_json("metrics.json", {"chosen": "mlp"})
    text = build_report(run).read_text(encoding="utf-8")
    _assert_self_contained(text)
    assert "mlp" in text and 'id="summary"' in text
    for absent in ('id="decision', 'id="learning-curves"', 'id="feature-importance"'):
        assert absent not in text


def test_empty_folder_and_broken_files_still_build(tmp_path):
    run = RunFolder.create(tmp_path, "text-classification")
    assert build_report(run).exists()
    run.write_text("history.csv", "")
    run.write_text("test_predictions.csv", 'y_true,y_pred\n1,2,3,4\n"')
    run.write_text("importance.json", "{not json")
    text = build_report(run).read_text(encoding="utf-8")
    assert "text-classification" in text


@pytest.mark.parametrize("n_classes", [2, 30])
def test_confusion_matrix_sizes(tmp_path, n_classes):
    rng = np.random.default_rng(0)
    classes = [f"class_{i}" for i in range(n_classes)]
    run = RunFolder.create(tmp_path, "image-classification")
    y = rng.integers(0, n_classes, size=400)
    proba = rng.dirichlet(np.ones(n_classes), size=400) + np.eye(n_classes)[y]
    proba /= proba.sum(axis=1, keepdims=True)
    frame = pd.DataFrame(
        {"y_true": np.array(classes)[y], "y_pred": np.array(classes)[proba.argmax(1)]}
    )
    for i, c in enumerate(classes):
        frame[f"proba_{c}"] = proba[:, i]
    frame.to_csv(run.file("test_predictions.csv"), index=False)
    text = build_report(run).read_text(encoding="utf-8")
    assert 'class="error"' not in text
    assert text.count("data:image/png;base64,") == 2


def test_markdown_escapes_html():
    out = markdown_to_html(
        "# Title <script>alert(1)</script>\n\nhello <script>x</script> "
        "**bold** `<b>code</b>`\n\n| a | b |\n|---|---|\n| <i>1</i> | 2 |"
    )
    assert "<script>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "<strong>bold</strong>" in out
    assert "<code>&lt;b&gt;code&lt;/b&gt;</code>" in out
    assert "<td>&lt;i&gt;1&lt;/i&gt;</td>" in out
    assert out.startswith("<h1>Title")


def test_markdown_blocks():
    out = markdown_to_html(
        "## Head\ntext one\ntext two\n\n- a\n- b\n\n1. x\n2. y\n\n```\n<raw>\n```", heading_offset=1
    )
    assert "<h3>Head</h3>" in out
    assert "<p>text one text two</p>" in out
    assert "<ul><li>a</li><li>b</li></ul>" in out
    assert "<ol><li>x</li><li>y</li></ol>" in out
    assert "<pre><code>&lt;raw&gt;</code></pre>" in out
    assert json.dumps(markdown_to_html("")) == '""'
