"""image-classification end to end: every input layout, the CLI, layer views and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import layerwise
from layerwise.data.image_sources import digits, scans, shapes, write_folder, write_idx, write_npz
from layerwise.runs.folder import RunFolder

FAST = {"candidate_params": {"cnn": {"epochs": 2}}, "verbose": False}
# The layout tests below check how a layout is read and what the run folder says of it; the
# CNN trains the same on whatever a layout gives (end to end on a folder in the CLI test, on
# arrays in the digits run, on an NPZ in the binary test). Without it such a run takes 0.2 s
# instead of 1.8 s, most of that spent drawing the CNN's layer views.
PIXELS = {"candidates": ["pixel-logistic"], "verbose": False}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One real training on sklearn digits, shared by the tests that read its run folder.

    A quarter of the training images validate: on the default 15% (216 images) the CNN's lead
    over the pixel model was 3 images, one standard error, and the simpler model was served."""
    out = tmp_path_factory.mktemp("digits-runs")
    images = digits()
    return layerwise.fit(
        images,
        task="image-classification",
        output_dir=str(out),
        verbose=False,
        candidate_params={"cnn": {"epochs": 12}},
        val_size=0.25,
    )


def test_digits_cnn_beats_floor_and_pixel_baseline(digits_run):
    metrics = digits_run.metrics
    cnn, pixels = metrics["candidates"]["cnn"], metrics["candidates"]["pixel-logistic"]
    assert cnn["test"]["accuracy"] >= 0.96
    assert pixels["test"]["accuracy"] >= 0.90  # the baseline is a real model, not a strawman
    assert {"accuracy", "balanced_accuracy", "macro_f1", "roc_auc"} <= set(metrics["test"])
    assert cnn["parameters"] > 1000 and cnn["epochs"] == 12


def test_run_folder_has_layer_views_report_and_both_models(digits_run):
    run = RunFolder.open(digits_run.path)
    files = set(run.manifest["files"])
    assert {
        "model.safetensors",
        "model.pixels.json",
        "history.csv",
        "test_predictions.csv",
    } <= files
    assert {"layer_views/1_gradcam.png", "layer_views/1_activations.png"} <= files
    assert "layer_views/filters.png" in files
    page = run.read_text("report.html")
    for heading in ("What each layer sees", "Per class", "Candidates", "First-layer filters"):
        assert heading in page
    assert page.count("data:image/png;base64") >= 5
    decision = run.read_text("decision.md")
    assert "pixel-logistic" in decision and "cnn" in decision


def test_load_reproduces_predictions_and_explains(digits_run, tmp_path):
    images = digits().images[:20]
    before = digits_run.predict(images)
    task = layerwise.load(digits_run.path)
    after = task.predict(images)
    pd.testing.assert_frame_equal(before, after)
    assert list(after.columns[:2]) == ["image", "prediction"]
    assert np.allclose(after.filter(like="probability_").sum(axis=1), 1.0)
    paths = task.explain(images[:1], tmp_path / "views")
    assert sorted(p.name for p in paths) == ["activations.png", "filters.png", "gradcam.png"]


def test_folder_layout_through_the_cli(cli, tmp_path):
    folder = write_folder(shapes(120, size=16, seed=1), tmp_path / "photos")
    code, out, err = cli(
        "train",
        folder,
        "--task",
        "image-classification",
        "-o",
        tmp_path / "runs",
        "--image-size",
        "16",
        "--no-report",
        "--time-limit",  # the automatic epoch count, cut to fit 1 s (60 epochs took 2.5 s)
        "1",
    )
    assert code == 0, err
    run_dir = next((tmp_path / "runs").iterdir())
    new = write_folder(shapes(10, size=24, seed=2), tmp_path / "new")  # another size: resized
    code, out, err = cli("predict", run_dir, new / "disc", "-o", tmp_path / "p.csv")
    assert code == 0, err
    predictions = pd.read_csv(tmp_path / "p.csv")
    assert len(predictions) == len(list((new / "disc").iterdir()))
    assert {"prediction", "probability_disc", "probability_stripes"} <= set(predictions.columns)
    one = next((new / "disc").iterdir())
    code, out, err = cli("explain", run_dir, one, "-o", tmp_path / "views")
    assert code == 0, err
    assert (tmp_path / "views" / "gradcam.png").stat().st_size > 1000
    code, out, err = cli("evaluate", run_dir, folder)
    assert code == 0, err and "accuracy" in out


def test_task_is_inferred_for_an_image_folder(cli, tmp_path):
    folder = write_folder(shapes(80, size=12, seed=3), tmp_path / "imgs")
    run = layerwise.fit(str(folder), output_dir=str(tmp_path / "runs"), report=False, **PIXELS)
    assert run.task.name == "image-classification"


def test_npz_binary_imbalanced_reports_sensitivity_and_specificity(tmp_path):
    images = scans(400, size=16, prevalence=0.25, seed=0)
    n = len(images)
    split = np.array(["train"] * (n - 120) + ["val"] * 60 + ["test"] * 60)
    path = write_npz(
        images, tmp_path / "scans.npz", splits={s: split == s for s in ("train", "val", "test")}
    )
    run = layerwise.fit(
        str(path), task="image-classification", output_dir=str(tmp_path / "r"), report=False, **FAST
    )
    test = run.metrics["test"]
    assert {"sensitivity", "specificity", "threshold", "roc_auc"} <= set(test)
    assert run.metrics["metric"] == "balanced_accuracy"  # imbalanced: compared by balanced accuracy
    assert "dataset's own validation split" in run.metrics["validation_protocol"]
    profile = RunFolder(run.path).read_json("profile.json")
    assert (profile["n_train"], profile["n_val"], profile["n_test"]) == (n - 120, 60, 60)
    assert run.task.evaluate(str(path))["rows"] == 60  # the test split


def test_idx_layout(tmp_path):
    images = digits()
    write_idx(images.subset(np.arange(0, 300)), tmp_path / "mnist", prefix="train", gz=True)
    write_idx(images.subset(np.arange(300, 400)), tmp_path / "mnist", prefix="t10k", gz=True)
    run = layerwise.fit(
        str(tmp_path / "mnist"),
        task="image-classification",
        output_dir=str(tmp_path / "r"),
        report=False,
        **PIXELS,
    )
    assert RunFolder(run.path).read_json("profile.json")["n_test"] == 100


def test_csv_layout_with_image_column(tmp_path, cli):
    folder = write_folder(shapes(80, size=12, seed=4), tmp_path / "imgs")
    rows = [
        {"path": str(p.relative_to(tmp_path)), "label": p.parent.name}
        for p in sorted(folder.rglob("*.png"))
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    run = layerwise.fit(
        str(tmp_path / "labels.csv"),
        task="image-classification",
        target="label",
        image_column="path",
        output_dir=str(tmp_path / "r"),
        report=False,
        **PIXELS,
    )
    assert sorted(run.task.classes) == ["disc", "square", "stripes", "triangle"]
    code, _, err = cli(
        "train",
        tmp_path / "labels.csv",
        "--task",
        "image-classification",
        "--target",
        "label",
        "--image-column",
        "pth",
    )
    assert code == 2 and "path" in err and "Traceback" not in err


def test_corrupt_images_are_skipped_and_reported(tmp_path):
    folder = write_folder(shapes(80, size=12, seed=5), tmp_path / "imgs")
    (folder / "disc" / "broken.png").write_bytes(b"not a png at all")
    run = layerwise.fit(
        str(folder),
        task="image-classification",
        output_dir=str(tmp_path / "r"),
        report=False,
        **PIXELS,
    )
    assert run.metrics["skipped_images"] == 1
    assert "broken.png" in RunFolder(run.path).read_text("decision.md")


def test_bad_inputs_exit_2_with_one_line(cli, tmp_path):
    one_class = tmp_path / "one"
    write_folder(shapes(40, size=12, seed=6).subset(np.arange(40)), tmp_path / "tmp")
    (one_class / "disc").mkdir(parents=True)
    for p in list((tmp_path / "tmp" / "disc").iterdir()):
        p.rename(one_class / "disc" / p.name)
    code, _, err = cli("train", one_class, "--task", "image-classification")
    assert code == 2 and "one class" in err.lower() and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    code, _, err = cli("train", tmp_path / "empty", "--task", "image-classification")
    assert code == 2 and "empty" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # bad input leaves no run folder


def test_explain_refuses_tabular_runs(cli, penguins_csv, tmp_path):
    run = layerwise.fit(
        str(penguins_csv),
        target="species",
        output_dir=str(tmp_path / "r"),
        verbose=False,
        report=False,
        candidates=["linear"],
    )
    code, _, err = cli("explain", run.path, penguins_csv)
    assert code == 2 and "does not apply" in err


def test_onnx_export_of_the_cnn_matches_torch(digits_run):
    pytest.importorskip("onnxruntime")
    from layerwise.export.onnx import export_run

    path = export_run(digits_run.path)  # verifies ONNX Runtime against PyTorch itself
    sidecar = RunFolder.open(digits_run.path).read_json("model.onnx.json")
    assert path.exists() and sidecar["inputs"][0]["shape"] == ["batch", 1, 8, 8]
    assert sidecar["outputs"][0]["classes"] == [str(i) for i in range(10)]


def test_advise_profiles_images_without_training(cli, tmp_path):
    folder = write_folder(shapes(60, size=12, seed=7), tmp_path / "imgs")
    code, out, err = cli("advise", folder)
    assert code == 0, err
    assert "60 images, 12x12 RGB, 4 classes" in out and "Recommendation" in out
    assert not (tmp_path / "runs").exists()


def test_a_folder_predicts_a_chunk_of_files_at_a_time_into_csv_or_parquet(tmp_path, cli):
    """`predict RUN folder -o x.parquet --batch-size N`: the rows of one whole prediction, in
    memory of one chunk; a chunk with nothing readable is skipped and said."""
    folder = write_folder(shapes(40, size=8, seed=3), tmp_path / "shapes")
    run = layerwise.fit(str(folder), task="image-classification", output_dir=str(tmp_path / "r"),
                        **PIXELS)  # fmt: skip
    whole = run.predict(str(folder)).sort_values("image").reset_index(drop=True)
    junk = folder / "zz_junk"
    junk.mkdir()
    for k in range(3):  # sorted last: the last chunk of 3 holds nothing readable
        (junk / f"{k}.png").write_bytes(b"not an image")
    code, _, err = cli("predict", run.path, folder, "-o", tmp_path / "p.parquet", "--batch-size", 3)
    assert code == 0, err
    assert "14 chunks" in err and "none readable" in err
    streamed = pd.read_parquet(tmp_path / "p.parquet").sort_values("image").reset_index(drop=True)
    pd.testing.assert_frame_equal(streamed, whole)
    code, _, err = cli("predict", run.path, folder, "-o", tmp_path / "p.csv", "--batch-size", 16)
    assert code == 0, err
    as_csv = pd.read_csv(tmp_path / "p.csv").sort_values("image").reset_index(drop=True)
    assert as_csv["prediction"].astype(str).tolist() == whole["prediction"].astype(str).tolist()
    code, _, err = cli("predict", run.path, folder / "disc" / "nothing.png", "-o",
                       tmp_path / "q.csv", "--batch-size", 3)  # fmt: skip
    assert code == 2 and "not a folder" in err and not (tmp_path / "q.csv").exists()
