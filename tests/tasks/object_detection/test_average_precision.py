"""Average precision: hand cases, COCO semantics (crowd, areas, caps), and agreement with
pycocotools (the COCO reference) and a plain loop of the VOC devkit."""

from __future__ import annotations

import contextlib
import io
import math
import time

import numpy as np
import pytest

from layerwise.tasks.object_detection.average_precision import evaluate_detections
from layerwise.tasks.object_detection.dataset import Detections

COCO_KEYS = ["map", "map50", "map75", "map_small", "map_medium", "map_large"]


def found(boxes, scores, labels) -> Detections:
    return Detections(
        np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores), np.asarray(labels)
    )


def random_case(seed: int, n_images: int = 30, n_classes: int = 4, ties: bool = False):
    """Truth of all sizes (some crowd, some images empty) and detections: jittered truth, some
    missed, relabelled or duplicated, plus false positives."""
    rng = np.random.default_rng(seed)
    truth, predictions = [], []
    for _ in range(n_images):
        n = 0 if rng.uniform() < 0.15 else int(rng.integers(1, 12))
        side = np.exp(rng.uniform(np.log(8), np.log(200), n))  # areas from 64 to 40 000
        aspect = np.exp(rng.uniform(-0.5, 0.5, n))
        wh = np.stack([side * aspect, side / aspect], axis=1)
        xy = rng.uniform(0, 400, (n, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        labels = rng.integers(0, n_classes, n)
        truth.append((boxes, labels, rng.uniform(size=n) < 0.08))
        seen = rng.uniform(size=n) < 0.85
        jitter = rng.normal(0, 0.05, (int(seen.sum()), 4)) * np.tile(wh[seen], 2)
        got, got_labels = boxes[seen] + jitter, labels[seen].copy()
        relabel = rng.uniform(size=len(got_labels)) < 0.1
        got_labels[relabel] = rng.integers(0, n_classes, int(relabel.sum()))
        twice = rng.uniform(size=len(got)) < 0.2
        got = np.concatenate([got, got[twice] + rng.normal(0, 3, (int(twice.sum()), 4))])
        got_labels = np.concatenate([got_labels, got_labels[twice]])
        m = int(rng.integers(0, 8))
        fp_side = np.exp(rng.uniform(np.log(6), np.log(150), m))
        fp_xy = rng.uniform(0, 400, (m, 2))
        fp = np.concatenate([fp_xy, fp_xy + fp_side[:, None] * rng.uniform(0.5, 2, (m, 2))], 1)
        got = np.concatenate([got, fp])
        got[:, 2:] = np.maximum(got[:, 2:], got[:, :2] + 1)
        got_labels = np.concatenate([got_labels, rng.integers(0, n_classes, m)])
        scores = rng.uniform(size=len(got))
        predictions.append(found(got, np.round(scores, 1) if ties else scores, got_labels))
    return truth, predictions


def test_perfect_predictions_score_one():
    truth, predictions = [], []
    rng = np.random.default_rng(0)
    for side in (10, 50, 150):  # small, medium and large objects
        boxes = np.array([[0, 0, side, side], [200, 200, 200 + side, 200 + side]], float)
        truth.append((boxes, np.array([0, 2]), np.zeros(2, bool)))
        predictions.append(found(boxes, rng.uniform(size=2), [0, 2]))
    r = evaluate_detections(truth, predictions, n_classes=3)
    for key in [*COCO_KEYS, "voc_map50"]:
        assert r[key] == pytest.approx(1.0, abs=1e-12), key
    assert r["ap_per_class"][1] is None and r["ap50_per_class"][1] is None
    assert r["ap_per_class"][0] == pytest.approx(1.0)
    assert r["pr_curves"][1] is None
    np.testing.assert_allclose(r["pr_curves"][0]["recall"], [1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(r["pr_curves"][0]["precision"], 1.0)
    assert (r["n_images"], r["n_truth"], r["n_crowd"], r["n_predictions"]) == (3, 6, 0, 6)


def test_hand_computed_case():
    """Two objects; detections: hit (0.9), miss (0.8), hit (0.7).

    Precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1. COCO reads the monotone precision at 101
    recall points: 1 for the 51 points up to 0.5, 2/3 for the 50 above. VOC integrates it:
    0.5 * 1 + 0.5 * 2/3.
    """
    boxes = np.array([[0, 0, 40, 40], [100, 100, 140, 150]], float)
    detections = found(
        [[0, 0, 40, 40], [300, 300, 320, 320], [100, 100, 140, 150]], [0.9, 0.8, 0.7], [0, 0, 0]
    )
    r = evaluate_detections([(boxes, np.array([0, 0]))], [detections], n_classes=1)
    coco = (51 * 1 + 50 * 2 / 3) / 101
    for key in ["map", "map50", "map75"]:
        assert r[key] == pytest.approx(coco, abs=1e-12), key
    # The miss is small (area 400) and matches nothing: ignored for the medium range.
    assert r["map_medium"] == pytest.approx(1.0)
    assert math.isnan(r["map_small"]) and math.isnan(r["map_large"])  # no truth of those sizes
    assert r["voc_map50"] == pytest.approx(5 / 6)
    curve = r["pr_curves"][0]
    np.testing.assert_allclose(curve["recall"], [0.5, 0.5, 1.0])
    np.testing.assert_allclose(curve["precision"], [1, 0.5, 2 / 3])
    np.testing.assert_allclose(curve["scores"], [0.9, 0.8, 0.7])


def test_iou_thresholds_and_duplicates():
    """A box at IoU 0.58 counts for the thresholds 0.50 and 0.55 only; a duplicate is a miss."""
    truth = [(np.array([[0, 0, 100, 100]], float), np.array([0]))]
    shifted = [[0, 0, 100, 58], [0, 0, 100, 100]]  # IoU 0.58, then a perfect but later box
    r = evaluate_detections(truth, [found(shifted, [0.9, 0.5], [0, 0])], n_classes=1)
    # Thresholds 0.50, 0.55: first hit, AP 1. Above: the perfect box hits at rank 2 after a
    # miss: precision 1/2 at every recall point.
    assert r["map50"] == pytest.approx(1.0) and r["map75"] == pytest.approx(0.5)
    assert r["map"] == pytest.approx((2 * 1 + 8 * 0.5) / 10)
    assert r["voc_map50"] == pytest.approx(1.0)  # the second is a duplicate, after the hit


def test_crowd_regions_are_ignored():
    """Detections inside a crowd region neither count nor hurt, whatever their IoU."""
    boxes = np.array([[0, 0, 30, 30], [100, 100, 400, 400]], float)
    truth = [(boxes, np.array([0, 0]), np.array([False, True]))]
    inside = [[120, 120, 150, 150], [200, 200, 260, 250]]  # small next to the crowd box
    detections = found([*inside, [0, 0, 30, 30]], [0.95, 0.9, 0.5], [0, 0, 0])
    r = evaluate_detections(truth, [detections], n_classes=1)
    assert r["map"] == pytest.approx(1.0) and r["n_crowd"] == 1 and r["n_truth"] == 1
    assert len(r["pr_curves"][0]["recall"]) == 1  # the two ignored detections are left out
    # VOC's "difficult" uses the plain IoU: the small boxes overlap the crowd box too little.
    assert r["voc_map50"] == pytest.approx(1 / 3)
    # Only crowd truth: no class has anything to find.
    alone = evaluate_detections([(boxes[1:], np.array([0]), np.array([True]))], [detections], 1)
    assert math.isnan(alone["map"]) and alone["ap_per_class"] == [None]


def test_area_ranges():
    boxes = np.array([[0, 0, 20, 20], [0, 0, 200, 200]], float)  # a small and a large object
    truth = [(boxes, np.array([0, 0]))]
    r = evaluate_detections(truth, [found(boxes[1:], [0.9], [0])], n_classes=1)
    assert r["map_large"] == pytest.approx(1.0) and r["map_small"] == 0.0
    assert math.isnan(r["map_medium"])
    # A small false positive is ignored for the large range (outside it and unmatched).
    small_fp = found([[300, 300, 310, 310], [0, 0, 200, 200]], [0.99, 0.5], [0, 0])
    r = evaluate_detections(truth, [small_fp], n_classes=1)
    assert r["map_large"] == pytest.approx(1.0) and r["map_small"] == 0.0


def test_empty_predictions_and_truth():
    truth = [(np.array([[0, 0, 10, 10]], float), np.array([1])), (np.zeros((0, 4)), np.zeros(0))]
    nothing = [Detections.empty(), Detections.empty()]
    r = evaluate_detections(truth, nothing, n_classes=2)
    assert r["map"] == 0.0 and r["voc_map50"] == 0.0 and r["n_predictions"] == 0
    assert r["ap_per_class"] == [None, 0.0]
    no_truth = [(np.zeros((0, 4)), np.zeros(0))] * 2
    r = evaluate_detections(no_truth, [found([[0, 0, 5, 5]], [0.5], [0]), Detections.empty()], 2)
    assert math.isnan(r["map"]) and math.isnan(r["voc_map50"]) and r["pr_curves"] == [None] * 2
    r = evaluate_detections([], [], n_classes=3)
    assert math.isnan(r["map"]) and r["n_truth"] == r["n_predictions"] == 0
    # A false positive in an image without truth, scored above the hit: precision 1/2 at
    # every recall point.
    fp = [found([[0, 0, 10, 10]], [0.8], [1]), found([[0, 0, 10, 10]], [0.9], [1])]
    assert evaluate_detections(truth, fp, n_classes=2)["map"] == pytest.approx(0.5)


def test_detections_are_capped_per_image_and_class():
    truth = [(np.array([[0, 0, 50, 50]], float), np.array([0]))]
    misses = [[100 + i, 100, 130 + i, 130] for i in range(5)]
    late_hit = found([*misses, [0, 0, 50, 50]], [0.9] * 5 + [0.1], [0] * 6)
    assert evaluate_detections(truth, [late_hit], 1, max_detections=5)["map"] == 0.0
    assert evaluate_detections(truth, [late_hit], 1, max_detections=6)["map"] > 0.0
    # Another class's detections do not use up the cap.
    other = found([*misses, [0, 0, 50, 50]], [0.9] * 5 + [0.1], [1] * 5 + [0])
    assert evaluate_detections(truth, [other], 2, max_detections=5)["map"] == pytest.approx(1.0)


def test_bad_input_is_refused():
    truth = [(np.array([[0, 0, 10, 10]], float), np.array([3]))]
    with pytest.raises(ValueError, match="labels"):
        evaluate_detections(truth, [Detections.empty()], n_classes=2)
    with pytest.raises(ValueError, match="images"):
        evaluate_detections(truth, [], n_classes=4)


def coco_reference(truth, predictions, n_classes: int, max_detections: int = 100):
    """pycocotools' COCOeval on the same boxes (truth area = box w * h, given explicitly)."""
    coco_module = pytest.importorskip("pycocotools.coco")
    from pycocotools.cocoeval import COCOeval

    annotations = []
    for i, (boxes, labels, crowd) in enumerate(truth):
        for (x1, y1, x2, y2), label, is_crowd in zip(boxes, labels, crowd, strict=True):
            w, h = float(x2 - x1), float(y2 - y1)
            annotations.append(
                {
                    "id": len(annotations) + 1,  # pycocotools reads id 0 as "unmatched"
                    "image_id": i + 1,
                    "category_id": int(label) + 1,
                    "bbox": [float(x1), float(y1), w, h],
                    "area": w * h,
                    "iscrowd": int(is_crowd),
                }
            )
    results = [
        {
            "image_id": i + 1,
            "category_id": int(label) + 1,
            "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
            "score": float(score),
        }
        for i, d in enumerate(predictions)
        for (x1, y1, x2, y2), score, label in zip(
            np.asarray(d.boxes, np.float64), d.scores, d.labels, strict=True
        )
    ]
    reference = coco_module.COCO()
    reference.dataset = {
        "images": [{"id": i + 1} for i in range(len(truth))],
        "annotations": annotations,
        "categories": [{"id": k + 1} for k in range(n_classes)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        reference.createIndex()
        evaluation = COCOeval(reference, reference.loadRes(results), "bbox")
        evaluation.params.maxDets = [1, 10, max_detections]  # stats[0:6] use the last
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


def from_precision(evaluation) -> dict[str, float]:
    """The six COCO numbers from pycocotools' precision array at its last maxDets."""
    precision = evaluation.eval["precision"][..., -1]  # [iou, recall, class, area]
    out = {}
    for key, iou, area in [
        ("map", slice(None), 0),
        ("map50", 0, 0),
        ("map75", 5, 0),
        ("map_small", slice(None), 1),
        ("map_medium", slice(None), 2),
        ("map_large", slice(None), 3),
    ]:
        entries = precision[iou, :, :, area]
        out[key] = float(entries[entries > -1].mean()) if (entries > -1).any() else math.nan
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_agrees_with_pycocotools(seed: int):
    truth, predictions = random_case(seed, ties=seed % 2 == 1)
    r = evaluate_detections(truth, predictions, n_classes=4)
    evaluation = coco_reference(truth, predictions, n_classes=4)
    for key, reference in zip(COCO_KEYS, evaluation.stats[:6], strict=True):
        if reference == -1:  # pycocotools' "undefined"
            assert math.isnan(r[key]), key
        else:
            assert r[key] == pytest.approx(reference, abs=1e-9), key
    precision = evaluation.eval["precision"][:, :, :, 0, 2]  # area all, maxDets 100
    for k in range(4):
        entries = precision[:, :, k]
        expected = entries[entries > -1].mean() if (entries > -1).any() else None
        assert r["ap_per_class"][k] == pytest.approx(expected, abs=1e-9)
        expected50 = precision[0, :, k].mean() if (precision[0, :, k] > -1).any() else None
        assert r["ap50_per_class"][k] == pytest.approx(expected50, abs=1e-9)


def test_hand_cases_agree_with_pycocotools():
    """The crowd, area and threshold cases above, through pycocotools too."""
    big = np.array([[0, 0, 30, 30], [100, 100, 400, 400], [0, 0, 200, 100]], float)
    truth = [(big, np.array([0, 0, 1]), np.array([False, True, False]))]
    detections = found(
        [[120, 120, 150, 150], [200, 200, 260, 250], [0, 0, 30, 30], [0, 0, 200, 58], [5, 5, 9, 9]],
        [0.95, 0.9, 0.5, 0.8, 0.99],
        [0, 0, 0, 1, 1],
    )
    r = evaluate_detections(truth, [detections], n_classes=2)
    evaluation = coco_reference(truth, [detections], n_classes=2)
    for key, reference in zip(COCO_KEYS, evaluation.stats[:6], strict=True):
        expected = math.nan if reference == -1 else reference
        assert r[key] == pytest.approx(expected, abs=1e-9, nan_ok=True), key


def test_agrees_with_pycocotools_on_exact_ties_and_caps():
    """Integer boxes (equal IoUs with two truth boxes), rounded scores, many crowd boxes, and
    more detections in an image than the cap."""
    rng = np.random.default_rng(7)
    truth, predictions = [], []
    for _ in range(15):
        n = int(rng.integers(0, 8))
        xy, wh = rng.integers(0, 100, (n, 2)), rng.integers(4, 80, (n, 2))
        boxes = np.concatenate([xy, xy + wh], 1).astype(float)
        labels = rng.integers(0, 2, n)
        truth.append((boxes, labels, rng.uniform(size=n) < 0.3))
        m = int(rng.integers(0, 60))
        xy, wh = rng.integers(0, 100, (m, 2)), rng.integers(4, 80, (m, 2))
        got = np.concatenate(
            [np.concatenate([xy, xy + wh], 1), boxes + rng.integers(-2, 3, (n, 4))]
        )
        scores = np.round(rng.uniform(size=m + n), 1)
        predictions.append(found(got, scores, np.concatenate([rng.integers(0, 2, m), labels])))
    for cap in (100, 20):
        r = evaluate_detections(truth, predictions, n_classes=2, max_detections=cap)
        evaluation = coco_reference(truth, predictions, n_classes=2, max_detections=cap)
        # summarize() reads maxDets=100 for stats[0]: read its precision array instead.
        for key, reference in from_precision(evaluation).items():
            if math.isnan(reference):
                assert math.isnan(r[key]), key
            else:
                assert r[key] == pytest.approx(reference, abs=1e-9), (cap, key)


def voc_loop(truth, predictions, n_classes: int, k: int) -> float:
    """The VOC devkit's voc_eval for class k, loop by loop (continuous boxes, crowd = difficult)."""
    from layerwise.tasks.object_detection.boxes import box_iou

    n_positive = sum(int(((labels == k) & ~crowd).sum()) for _, labels, crowd in truth)
    taken = [np.zeros(len(labels), bool) for _, labels, _ in truth]
    found_k = [
        (s, i, b)
        for i, d in enumerate(predictions)
        for b, s, c in zip(d.boxes, d.scores, d.labels, strict=True)
        if c == k
    ]
    found_k.sort(key=lambda item: -item[0])
    tp, fp = [], []
    for _, i, box in found_k:
        boxes, labels, crowd = truth[i]
        iou = np.where(labels == k, box_iou(box[None], boxes)[0], -1.0) if len(boxes) else []
        j = int(np.argmax(iou)) if len(iou) else -1
        if j >= 0 and iou[j] > 0.5:
            if crowd[j]:
                continue
            tp.append(not taken[i][j])
            fp.append(taken[i][j])
            taken[i][j] = True
        else:
            tp.append(False)
            fp.append(True)
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    recall = np.concatenate([[0], tp / n_positive, [1]])
    precision = np.concatenate([[0], tp / np.maximum(tp + fp, 1e-12), [0]])
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    step = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[step + 1] - recall[step]) * precision[step + 1]))


def test_voc_agrees_with_the_devkit_loop():
    truth, predictions = random_case(11, n_images=20, n_classes=3)
    r = evaluate_detections(truth, predictions, n_classes=3)
    expected = [voc_loop(truth, predictions, 3, k) for k in range(3)]
    np.testing.assert_allclose(r["voc_ap50_per_class"], expected, atol=1e-12)
    assert r["voc_map50"] == pytest.approx(np.mean(expected))


def test_fast_on_500_images_of_100_detections():
    rng = np.random.default_rng(0)
    truth, predictions = [], []
    for _ in range(500):
        xy = rng.uniform(0, 500, (10, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(10, 150, (10, 2))], 1)
        labels = rng.integers(0, 10, 10)
        truth.append((boxes, labels, np.zeros(10, bool)))
        xy = rng.uniform(0, 500, (90, 2))
        noise = np.concatenate([xy, xy + rng.uniform(10, 150, (90, 2))], 1)
        got = np.concatenate([boxes + rng.normal(0, 4, (10, 4)), noise])
        predictions.append(
            found(got, rng.uniform(size=100), np.r_[labels, rng.integers(0, 10, 90)])
        )
    start = time.perf_counter()
    r = evaluate_detections(truth, predictions, n_classes=10)
    assert time.perf_counter() - start < 2.0  # about 0.1 s; generous for a shared machine
    assert r["n_predictions"] == 50_000 and 0 < r["map"] < 1
