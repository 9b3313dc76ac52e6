"""object-detection end to end: train on a VOC folder from the command line, predict boxes in
the photo's own pixels, draw them, evaluate, and refuse bad input with one line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import layerwise
from layerwise.tasks.object_detection.scenes import street_scenes, write_voc

FAST = {"centernet": {"epochs": 3}, "hog-svm": {"hard_negative_rounds": 0}}


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes") / "street"
    write_voc(folder, street_scenes(80, size=64, seed=3))
    return folder


@pytest.fixture(scope="module")
def trained(voc, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return layerwise.fit(str(voc), candidate_params=FAST, output_dir=str(out), verbose=False,
                         seed=0)  # fmt: skip


def test_the_task_is_inferred_and_the_run_is_complete(trained):
    assert trained.task.name == "object-detection"
    metrics = trained.metrics
    assert metrics["metric"] == "map50"
    assert set(metrics["candidates"]) == {"hog-svm", "centernet"}
    for entry in metrics["candidates"].values():
        for split in ("validation", "test"):
            assert 0.0 <= entry[split]["map50"] <= 1.0
            assert entry[split]["map"] <= entry[split]["map50"] + 1e-9
    decision = (trained.path / "decision.md").read_text()
    assert "HOG + linear SVM" in decision and "mAP@0.5" in decision
    report = (trained.path / "report.html").read_text()
    assert "Boxes on test images" in report and "data:image/png;base64" in report
    # a detector this weak misses objects: the report shows where
    assert (trained.path / "examples" / "misses.png").exists() and "Most objects missed" in report


def test_boxes_come_back_in_the_photos_pixels(trained, voc, tmp_path):
    photo = sorted((voc / "images").iterdir())[0]
    image = np.asarray(Image.open(photo).convert("RGB"))
    big = tmp_path / "big.png"
    Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 2)).save(big)
    small = trained.task.predict(str(photo), score_threshold=0.0)
    large = trained.task.predict(str(big), score_threshold=0.0)
    assert list(small.columns) == ["image", "label", "score", "x1", "y1", "x2", "y2"]
    assert len(small) and len(large)
    # the same detections at twice the coordinates (the resampling moves scores a little, so
    # each of the strongest boxes is matched to its nearest twin, not by rank)
    from layerwise.tasks.object_detection.boxes import box_iou

    coords = ["x1", "y1", "x2", "y2"]
    overlap = box_iou(small[coords].to_numpy()[:10], large[coords].to_numpy() / 2)
    assert np.median(overlap.max(axis=1)) > 0.8
    assert (small["x2"] <= image.shape[1] + 0.1).all() and (small["x1"] >= -0.1).all()


def test_the_score_threshold_drops_weak_boxes(trained, voc):
    photo = sorted((voc / "images").iterdir())[1]
    every = trained.task.predict(str(photo), score_threshold=0.0)
    strong = trained.task.predict(str(photo), score_threshold=0.5)
    assert len(strong) <= len(every)
    assert (strong["score"] >= 0.5).all()


def test_evaluate_and_load_agree(trained, voc):
    loaded = layerwise.load(trained.path)
    metrics = loaded.evaluate(str(voc))
    assert metrics["rows"] == 80
    assert 0.0 <= metrics["map50"] <= 1.0
    photo = str(sorted((voc / "images").iterdir())[2])
    pd.testing.assert_frame_equal(trained.predict(photo), loaded.predict(photo))


def test_cli_predicts_json_and_draws(trained, voc, tmp_path, cli):
    photos = voc / "images"
    code, _, err = cli("predict", trained.path, photos, "-o", tmp_path / "boxes.json",
                       "--score-threshold", "0.05", "--draw", tmp_path / "drawn")  # fmt: skip
    assert code == 0, err
    records = json.loads((tmp_path / "boxes.json").read_text())
    assert records and set(records[0]) == {"image", "label", "score", "x1", "y1", "x2", "y2"}
    assert len(list((tmp_path / "drawn").glob("*_boxes.png"))) == 80


def test_a_folder_without_boxes_is_refused_in_one_line(tmp_path, cli):
    (tmp_path / "empty").mkdir()
    code, out, err = cli("train", tmp_path / "empty", "--task", "object-detection",
                         "--output-dir", tmp_path / "runs")  # fmt: skip
    assert code == 2, err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) <= 2
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_onnx_export_gives_the_detectors_boxes(voc, tmp_path, cli):
    ort = pytest.importorskip("onnxruntime")
    import torch

    from layerwise.export.onnx import export_run
    from layerwise.tasks.object_detection.augment import letterbox

    run = layerwise.fit(str(voc), candidates=["centernet"], output_dir=str(tmp_path),
                        candidate_params={"centernet": {"epochs": 2}}, verbose=False)  # fmt: skip
    path = export_run(run.path)
    detector = run.task.model
    image = np.asarray(Image.open(sorted((voc / "images").iterdir())[0]).convert("RGB"))
    frame, _, scale, pad = letterbox(image, np.zeros((0, 4)), detector.side)
    feed = {"image": frame.transpose(2, 0, 1)[None].astype(np.float32) / 255}
    scores, boxes = ort.InferenceSession(str(path)).run(None, feed)
    # the strongest peak of the dense outputs is the detector's best box
    pooled = torch.nn.functional.max_pool2d(torch.from_numpy(scores), 3, 1, 1).numpy()
    peaks = np.where(pooled == scores, scores, 0)[0]
    label, y, x = np.unravel_index(np.argmax(peaks), peaks.shape)
    box = (boxes[0, :, y, x] * detector.side - np.array([*pad, *pad])) / scale
    best = detector.predict([image], score_threshold=0.0)[0]
    assert int(best.labels[0]) == label
    assert float(best.scores[0]) == pytest.approx(float(peaks[label, y, x]), abs=1e-4)
    np.testing.assert_allclose(np.clip(box, 0, 64), best.boxes[0], atol=0.05)
    # the network's layers are shown in the report and by `layerwise explain`
    assert (run.path / "layer_views" / "1_gradcam.png").exists()
    photo = sorted((voc / "images").iterdir())[0]
    code, _, err = cli("explain", run.path, photo, "-o", tmp_path / "views")
    assert code == 0, err
    assert {p.name for p in (tmp_path / "views").iterdir()} >= {"gradcam.png", "filters.png"}


def test_a_hog_run_refuses_export_in_one_line(trained, cli):
    if trained.chosen != "hog-svm":
        pytest.skip("the module's run served the network")
    code, _, err = cli("export", trained.path, "--format", "onnx")
    assert code == 2 and "not a neural network" in err


def test_an_interrupted_run_resumes_from_the_detectors_checkpoint(voc, tmp_path, cli,
                                                                  monkeypatch):  # fmt: skip
    from layerwise.engine.checkpoint import has_checkpoint
    from layerwise.tasks.object_detection import outputs

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "write_detection_run", killed)
    with pytest.raises(KeyboardInterrupt):
        layerwise.fit(str(voc), output_dir=str(tmp_path / "runs"), verbose=False,
                      candidate_params={"centernet": {"epochs": 3}, **{"hog-svm": FAST["hog-svm"]}})  # fmt: skip
    monkeypatch.undo()
    (folder,) = list((tmp_path / "runs").iterdir())
    assert has_checkpoint(folder / "checkpoints" / "centernet")
    code, _, err = cli("train", "--resume", folder)
    assert code == 0, err
    assert (folder / "manifest.json").exists() and not (folder / "checkpoints").exists()
    history = pd.read_csv(folder / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3]  # continued from the checkpoint, not retrained


def test_a_bad_backbone_is_refused_before_anything_trains(voc, tmp_path, cli):
    (tmp_path / "resnet.pt").write_bytes(b"\x80\x04 a pickle, not safetensors")
    code, out, err = cli("train", voc, "--backbone", tmp_path / "resnet.pt",
                         "--output-dir", tmp_path / "runs")  # fmt: skip
    assert code == 2, err
    assert "not a safetensors file" in err and "Traceback" not in out + err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_served_threshold_is_the_best_f1_on_validation(trained):
    from types import SimpleNamespace

    from layerwise.tasks.object_detection.dataset import Detections, DetectionSet
    from layerwise.tasks.object_detection.fit import f1_threshold

    box, elsewhere = np.array([[10.0, 10, 30, 30]]), np.array([[40.0, 40, 60, 60]])
    images = DetectionSet([np.zeros((64, 64, 3), np.uint8)] * 2, [box, box],
                          [np.array([0]), np.array([0])], ["car"])  # fmt: skip
    found = [
        Detections(np.concatenate([box, elsewhere]), np.array([0.9, 0.8]), np.array([0, 0])),
        Detections(np.concatenate([box, elsewhere]), np.array([0.4, 0.1]), np.array([0, 0])),
    ]
    # F1 at 0.9: 2/3, at 0.8: 1/2, at 0.4: 4/5 (two found, one false alarm), at 0.1: 2/3
    assert f1_threshold(SimpleNamespace(classes=["car"]), found, images) == 0.4
    chosen = trained.task.option("score_threshold")
    assert 0.02 <= chosen <= 0.95
    assert layerwise.load(trained.path).option("score_threshold") == chosen
