"""segmentation end to end: train from a folder of images and masks on the command line,
predict mask files and overlays, evaluate, load and predict the same, train from a CSV of pairs
and an NPZ with its own splits, export to ONNX, and refuse bad input with one line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import layerwise
from layerwise.tasks.segmentation.cells import generated_masks

FAST = {"unet": {"epochs": 3}, "pixel-forest": {"n_estimators": 30}}


def write_folder(folder, n=24, size=48, seed=0, mask_suffix=""):
    images, masks, _ = generated_masks(n, size=size, seed=seed)
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        Image.fromarray(image).save(folder / "images" / f"img_{i:03d}.png")
        Image.fromarray(mask * 255).save(folder / "masks" / f"img_{i:03d}{mask_suffix}.png")
    return folder


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("cells") / "cells", mask_suffix="_mask")


@pytest.fixture(scope="module")
def trained(cells, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return layerwise.fit(str(cells), candidate_params=FAST, output_dir=str(out), verbose=False,
                         classes="background,cell")  # fmt: skip


def test_the_task_is_recognised_and_the_run_is_complete(trained):
    assert trained.task.name == "segmentation"
    metrics = trained.metrics
    assert metrics["metric"] == "mean_dice" and metrics["classes"] == ["background", "cell"]
    assert set(metrics["candidates"]) == {"pixel-forest", "unet"}
    for entry in metrics["candidates"].values():
        test = entry["test"]
        assert 0 <= test["mean_iou"] <= test["mean_dice"] <= 1
        assert set(test["dice"]) == {"background", "cell"} and 0 <= test["boundary_f1"] <= 1
        assert len(test["per_image_dice"]) == 5  # 20% of 24 images held out
        assert np.asarray(test["confusion"]).sum() == 5 * 48 * 48
    for entry in metrics["candidates"].values():  # two classes: the line drawn on validation
        assert entry["cut"] is None or 0 < entry["cut"] < 1
    loaded = layerwise.load(trained.path)
    assert loaded.model.cut == metrics["candidates"][trained.chosen]["cut"]
    # the generated cells are easy for multiscale pixel features: the forest finds them
    assert metrics["candidates"]["pixel-forest"]["test"]["mean_dice"] > 0.8
    decision = (trained.path / "decision.md").read_text()
    assert "pixel forest" in decision and "Dice" in decision
    report = (trained.path / "report.html").read_text()
    for section in ("Masks on test images", "Dice and IoU by class", "Pixel confusion",
                    "Dice of each test image"):  # fmt: skip
        assert section in report
    assert (trained.path / "examples" / "best_median_worst.png").stat().st_size > 1000


def test_predict_writes_masks_and_overlays_that_a_loaded_run_reproduces(trained, cells, tmp_path,
                                                                       cli):  # fmt: skip
    code, _, err = cli("predict", trained.path, cells / "images", "-o", f"{tmp_path}/out/",
                       "--overlay")  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert len(table) == 24 and {"area_background", "area_cell", "mask"} <= set(table.columns)
    np.testing.assert_allclose(table["area_background"] + table["area_cell"], 1.0, atol=1e-5)
    first = tmp_path / "out" / "img_000_mask.png"
    written = np.asarray(Image.open(first))
    assert Image.open(first).mode == "P" and written.shape == (48, 48)
    assert (tmp_path / "out" / "img_000_overlay.png").exists()
    # the file's pixel values are the class indices the loaded run predicts
    loaded = layerwise.load(trained.path)
    image = np.asarray(Image.open(cells / "images" / "img_000.png"))
    np.testing.assert_array_equal(written, loaded.masks([image])[0])
    frame = loaded.predict(str(cells / "images" / "img_000.png"))
    assert frame["area_cell"].iloc[0] == pytest.approx(table["area_cell"].iloc[0])
    assert frame["mask_png"].iloc[0]  # base64 without -o


def test_evaluate_scores_held_out_images_with_the_trained_encoding(trained, tmp_path):
    other = write_folder(tmp_path / "other", n=4, seed=7)
    scores = trained.task.evaluate(str(other))
    assert scores["rows"] == 4 and 0 <= scores["mean_dice"] <= 1
    assert set(scores["dice"]) == {"background", "cell"}


def test_a_colour_image_is_read_as_the_grey_run_was_trained(trained, cells):
    grey = np.asarray(Image.open(cells / "images" / "img_001.png"))
    colour = np.repeat(grey[..., None], 3, axis=2)
    np.testing.assert_array_equal(trained.task.masks([grey])[0],
                                  layerwise.load(trained.path).predict([colour]).pipe(
                                      lambda f: _decoded(f["mask_png"].iloc[0])))  # fmt: skip


def _decoded(b64: str) -> np.ndarray:
    import base64
    import io

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def test_a_csv_of_pairs_and_an_npz_with_splits_train_from_the_command_line(tmp_path, cli):
    images, masks, _ = generated_masks(14, size=32, seed=1)
    (tmp_path / "data").mkdir()
    rows = []
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        Image.fromarray(image).save(tmp_path / "data" / f"{i}.tif")
        Image.fromarray(mask).save(tmp_path / "data" / f"{i}_gt.png")  # class indices 0/1
        rows.append({"scan": f"data/{i}.tif", "outline": f"data/{i}_gt.png"})
    pd.DataFrame(rows).to_csv(tmp_path / "pairs.csv", index=False)
    # --mask-column names the task; the CSV's paths are read relative to its folder
    code, _, err = cli("train", tmp_path / "pairs.csv", "--image-column", "scan",
                       "--mask-column", "outline", "--candidates", "pixel-forest",
                       "--output-dir", tmp_path / "csv")  # fmt: skip
    assert code == 0, err
    (folder,) = (tmp_path / "csv").iterdir()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["task"] == "segmentation" and metrics["images"] == 14
    np.savez(tmp_path / "scans.npz", images=images[:8], masks=masks[:8], val_images=images[8:11],
             val_masks=masks[8:11], test_images=images[11:], test_masks=masks[11:])  # fmt: skip
    code, _, err = cli("train", tmp_path / "scans.npz", "--candidates", "pixel-forest",
                       "--output-dir", tmp_path / "npz")  # fmt: skip
    assert code == 0, err  # an NPZ holding masks is recognised
    (folder,) = (tmp_path / "npz").iterdir()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert len(metrics["test"]["per_image_dice"]) == 3  # its own test split
    predicted = layerwise.load(folder).predict(images[11:])
    assert len(predicted) == 3 and predicted["width"].tolist() == [32, 32, 32]


def test_the_onnx_export_gives_the_unets_probabilities(trained, cells, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from layerwise.export.onnx import export_run
    from layerwise.tasks.segmentation.onnx_parts import EXPORT_SIDE

    run = layerwise.fit(str(cells), candidates=["unet"], output_dir=str(tmp_path),
                        candidate_params={"unet": {"epochs": 1}}, verbose=False)  # fmt: skip
    path = export_run(run.path)
    image = np.asarray(Image.open(cells / "images" / "img_002.png"))
    image = np.pad(image, [(0, EXPORT_SIDE - 48), (0, EXPORT_SIDE - 48)], mode="reflect")
    (proba,) = ort.InferenceSession(str(path)).run(None, {
        "image": image[None, None].astype(np.float32) / 255})  # fmt: skip
    assert proba.shape == (1, 2, EXPORT_SIDE, EXPORT_SIDE)
    run.task.model.tta = False  # the graph is the plain network: no test-time flips
    expected = run.task.model.predict_proba([image])[0]  # one window of the same size
    np.testing.assert_allclose(proba[0].transpose(1, 2, 0), expected, atol=1e-4)
    # a U-Net run shows what its encoder's layers respond to, in the report and on demand
    assert "What each layer sees" in (run.path / "report.html").read_text()
    files = run.task.explain(str(cells / "images" / "img_002.png"), tmp_path / "why")
    assert files and all(f.exists() for f in files)


@pytest.mark.parametrize("case", ["no masks", "no column", "too few"])
def test_bad_input_is_one_line_and_leaves_no_run(case, tmp_path, cli):
    if case == "no masks":
        (tmp_path / "d" / "images").mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "d" / "images" / "a.png")
        args, expected = (tmp_path / "d", "--task", "segmentation"), "no image folder beside"
    elif case == "no column":
        pd.DataFrame({"image": ["a.png"], "label": ["b.png"]}).to_csv(tmp_path / "p.csv")
        args, expected = (tmp_path / "p.csv", "--task", "segmentation"), "no column 'mask'"
    else:
        write_folder(tmp_path / "d", n=2, size=32)
        args, expected = (tmp_path / "d",), "at least 3"
    code, out, err = cli("train", *args, "--output-dir", tmp_path / "runs")
    assert code == 2, out + err
    assert expected in err and "Traceback" not in out + err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_served_masks_are_palette_pngs_with_the_class_areas(trained, cells):
    pytest.importorskip("fastapi")
    import base64

    from fastapi.testclient import TestClient

    from layerwise.serve.app import create_app

    client = TestClient(create_app(trained.path), base_url="http://localhost")
    png = (cells / "images" / "img_003.png").read_bytes()
    answer = client.post("/predict", files={"file": ("a.png", png, "image/png")})
    assert answer.status_code == 200, answer.text
    (record,) = answer.json()["predictions"]
    mask = _decoded(record["mask_png"])
    assert mask.shape == (48, 48) and record["width"] == 48
    assert record["area_cell"] == pytest.approx((mask == 1).mean(), abs=1e-6)
    info = client.get("/info").json()
    assert info["output"]["kind"] == "mask" and "mask_png" in info["output"]["fields"]
    assert "masks(rows)" in client.get("/").text  # the page draws the mask over the upload
    assert json.loads(json.dumps(record)) == record
    assert base64.b64decode(record["mask_png"])[:4] == b"\x89PNG"


def test_an_interrupted_run_resumes_from_the_unets_checkpoint(cells, tmp_path, cli, monkeypatch):
    from layerwise.engine.checkpoint import has_checkpoint
    from layerwise.tasks.segmentation import outputs

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "write_segmentation_run", killed)
    with pytest.raises(KeyboardInterrupt):
        layerwise.fit(str(cells), output_dir=str(tmp_path / "runs"), verbose=False,
                      candidate_params=FAST)  # fmt: skip
    monkeypatch.undo()
    (folder,) = list((tmp_path / "runs").iterdir())
    assert has_checkpoint(folder / "checkpoints" / "unet")
    code, _, err = cli("train", "--resume", folder)
    assert code == 0, err
    assert (folder / "manifest.json").exists() and not (folder / "checkpoints").exists()
    history = pd.read_csv(folder / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3]  # continued from the checkpoint, not retrained


def test_a_resumed_unet_keeps_the_epochs_it_planned(tmp_path):
    from layerwise.tasks.segmentation.unet_plan import PLAN_FILE, planned_before
    from layerwise.tasks.segmentation.unet_train import UNetSegmenter

    images, masks, classes = generated_masks(6, size=32, seed=0)
    folder = tmp_path / "checkpoints"
    first = UNetSegmenter(seed=0, time_limit=2, crop=32, checkpoint_dir=str(folder))
    first.fit(list(images[:4]), list(masks[:4]), classes, list(images[4:]), list(masks[4:]))
    planned = json.loads((folder / PLAN_FILE).read_text())["epochs"]
    (folder / PLAN_FILE).write_text(json.dumps({"epochs": planned + 1}))
    again = UNetSegmenter(seed=0, time_limit=2, crop=32, checkpoint_dir=str(folder), resume=True)
    assert planned_before(again.params) == planned + 1
    (folder / PLAN_FILE).write_text('{"epochs": 1e9}')  # a crafted plan is not believed
    assert planned_before(again.params) is None
