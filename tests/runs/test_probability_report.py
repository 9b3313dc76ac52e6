"""reliability.json and threshold_curves.json in a classification run folder (issue 25): what
they hold, the report sections drawn from them, and folders written before them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import layerwise
from layerwise.data.image_sources import scans
from layerwise.runs.folder import RELIABILITY, THRESHOLD_CURVES, RunFolder
from layerwise.runs.probability_report import write_reliability, write_threshold_curves
from layerwise.runs.report import build_report

SAVED = Path(__file__).parent / "saved"
HONEST, CUT = "Are its probabilities honest?", "Metrics against the cut"


@pytest.fixture(scope="module")
def scans_run(tmp_path_factory):
    """A two-class image run with the pixel model alone (well under a second to train)."""
    out = tmp_path_factory.mktemp("scans-runs")
    return layerwise.fit(
        scans(300, size=12, prevalence=0.3, seed=0),
        task="image-classification",
        output_dir=str(out),
        candidates=["pixel-logistic"],
        verbose=False,
    )


def test_a_two_class_run_keeps_both_files_and_the_report_shows_them(scans_run, tmp_path):
    run = RunFolder.open(scans_run.path)  # every listed file checked against its hash
    assert {RELIABILITY, THRESHOLD_CURVES} <= set(run.manifest["files"])
    page = run.read_text("report.html")
    assert HONEST in page and CUT in page
    assert 'alt="reliability diagram"' in page and 'alt="metrics against the cut"' in page
    assert 'class="error"' not in page
    # the files agree with metrics.json: same probabilities, same cut
    test = scans_run.metrics["test"]
    reliability = run.read_json(RELIABILITY)
    assert reliability["final"]["ece"] == test["ece"]
    assert reliability["temperature"] == scans_run.metrics["calibration"]["temperature"]
    assert ("raw" in reliability) == (reliability["temperature"] != 1.0)
    curves = run.read_json(THRESHOLD_CURVES)
    assert curves["threshold"] == scans_run.task.threshold
    for name in ("accuracy", "balanced_accuracy", "macro_f1", "sensitivity", "specificity"):
        assert curves["at_cut"][name] == pytest.approx(test[name], abs=1e-6)
    assert len(curves["test"]["cut"]) == 101
    assert curves["validation"]["metric"] == curves["served"] == "macro_f1"  # imbalanced: auto
    # the report is rebuilt from the folder alone
    copy = tmp_path / "copy"
    shutil.copytree(scans_run.path, copy)
    (copy / "report.html").unlink()
    rebuilt = build_report(RunFolder.open(copy, skip=("report.html",))).read_text()
    assert HONEST in rebuilt and CUT in rebuilt


def test_a_folder_written_before_them_still_loads_and_reports(tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(SAVED / "tabular-classification", copy)
    run = RunFolder.open(copy)
    assert RELIABILITY not in run.manifest["files"]
    page = build_report(run).read_text()
    assert "Classification on the test set" in page
    assert HONEST not in page and CUT not in page and 'class="error"' not in page
    assert len(layerwise.load(copy).classes) == 2  # loads as before


def test_a_moved_cut_is_named_against_one_half(tmp_path):
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.3).astype(int)
    score = np.clip(0.25 * y + rng.random(400) * 0.6, 0, 1)
    run = RunFolder.create(tmp_path, "text-classification")
    validation = (y[:200], score[:200], "validation")
    write_threshold_curves(
        run, y, score, positive="spam", threshold=0.31, served="accuracy", validation=validation
    )
    write_reliability(run, y, np.c_[1 - score, score], model="nbsvm")
    page = build_report(run).read_text()
    assert "at the run's cut 0.310" in page
    assert "The dashed line is accuracy on validation (200 rows)" in page
    assert "<code>spam</code>" in page and HONEST in page
    assert "Temperature scaling" not in page  # none was fitted


def test_a_broken_file_is_one_line_in_its_section(tmp_path):
    run = RunFolder.create(tmp_path, "image-classification")
    run.write_text(RELIABILITY, "{not json")
    run.write_json(THRESHOLD_CURVES, {"test": {"cut": [0.0, 1.0], "accuracy": ["x", None]}})
    page = build_report(run).read_text()
    assert page.count('class="error"') == 2 and HONEST in page


@pytest.mark.parametrize(
    "name",
    ["image-classification", "text-classification", "speech-recognition", "tabular-classification"],
)
def test_every_classifier_keeps_the_reliability_of_its_test_probabilities(contract_run, name):
    """Through the contract runs the suite fits anyway (one per task and session)."""
    run = RunFolder.open(contract_run(name)[0].path)
    files = set(run.manifest["files"])
    assert RELIABILITY in files
    assert (THRESHOLD_CURVES in files) == (len(run.read_json("preprocess.json")["classes"]) == 2)
    assert HONEST in run.read_text("report.html")
