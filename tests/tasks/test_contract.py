"""Every registered task goes through fit -> save -> load -> predict -> evaluate on tiny data."""

from __future__ import annotations

import pandas as pd
import pytest

import layerwise
from layerwise.core.registry import TASKS
from layerwise.runs.folder import RunFolder


@pytest.mark.parametrize("name", TASKS.names())
def test_task_contract(name, contract_run):
    run, data, inputs = contract_run(name)

    # the run folder is complete and verifies
    folder = RunFolder.open(run.path)
    for required in (
        "manifest.json",
        "config.yaml",
        "schema.json",
        "preprocess.json",
        "metrics.json",
        "decision.md",
        "report.html",
    ):
        assert folder.exists(required), required
    assert set(folder.manifest["files"]) >= {"metrics.json", "schema.json"}

    # load reproduces the predictions exactly
    before = run.predict(inputs)
    loaded = layerwise.load(run.path)
    after = loaded.predict(inputs)
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))
    assert len(after) == loaded.prediction_rows(inputs)

    # the output schema names the fields a prediction has
    schema = folder.read_json("schema.json")
    assert set(schema["output"]["fields"]) <= set(after.columns)

    metrics = loaded.evaluate(data)
    assert metrics["rows"] == loaded.evaluation_rows(data)
    assert run.metrics["metric"] in metrics
