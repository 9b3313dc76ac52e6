"""Average precision of detections: the COCO metrics (as pycocotools computes them) and
Pascal VOC's AP at IoU 0.5, in vectorised numpy.

COCO (``map``, ``map50``, ``map75``, ``map_small/medium/large``, ``ap_per_class``) follows
``pycocotools.cocoeval.COCOeval`` for ``iouType="bbox"`` step by step, and agrees with it to
floating-point rounding:

* detections are capped at ``max_detections`` per image *and class* (what pycocotools' maxDets
  does; detectors cap per image themselves), best score first, ties in input order;
* each detection, best score first, takes the unmatched truth box it overlaps most (IoU at least
  the threshold, later box on ties), preferring boxes that count over ignored ones; a crowd
  box can take any number of detections and its IoU divides by the detection's area; a
  detection matched to an ignored box (crowd, or outside the area range) counts for nothing;
* an unmatched detection whose own area is outside the area range is ignored too;
* per class: precision made monotone, read at 101 recall points (0 where recall never gets
  there), averaged; ``map`` averages over the ten IoU thresholds 0.50:0.05:0.95 and over the
  classes with truth (pycocotools' -1 entries are left out of its means).

Areas: pycocotools reads a truth box's area from the annotation's ``area`` field, which in the
COCO instances files is the *segmentation mask's* area, and computes a detection's as box
``w * h``. With boxes only, truth areas here are box ``w * h`` too (the small / medium / large
split is at 32² and 96², both ends inclusive as in pycocotools), so on real COCO annotations
``map_small/medium/large`` can differ a little from the official numbers; the other metrics
do not depend on areas.

VOC (``voc_map50``): the 2010+ devkit's all-point interpolated AP at IoU > 0.5, every
detection used (no cap), each one judged against the truth box it overlaps most; crowd boxes
play VOC's "difficult" (plain IoU, neither counted nor penalised). Boxes are continuous
(``w = x2 - x1``), not the devkit's ``+ 1`` pixel convention.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from layerwise.tasks.object_detection.boxes import box_area
from layerwise.tasks.object_detection.dataset import Detections

# The same arrays as pycocotools.cocoeval.Params, built the same way: exact float equality
# with its thresholds matters where a recall lands on a threshold.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
AREA_RANGES = {
    "all": (0.0, 1e5**2),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}

Truth = tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray | None]


def evaluate_detections(
    truth: Sequence[Truth],
    predictions: Sequence[Detections],
    n_classes: int,
    max_detections: int = 100,
) -> dict[str, Any]:
    """COCO and VOC average precision of ``predictions`` against ``truth``, image by image.

    Args:
        truth: one ``(boxes [n, 4], labels [n], crowd [n] bool)`` per image (``crowd`` may be
            left out or ``None``); from a :class:`.DetectionSet` ``s``:
            ``list(zip(s.boxes, s.labels, s.crowd))``.
        predictions: one :class:`.Detections` per image, same order and box coordinates.
        n_classes: labels are ``0 .. n_classes - 1``.
        max_detections: COCO's maxDets, per image and class.

    Returns:
        ``map``, ``map50``, ``map75``, ``map_small``, ``map_medium``, ``map_large`` (COCO),
        ``voc_map50``: floats, NaN where no class has truth (for the area ones: truth of that
        size). ``ap_per_class``, ``ap50_per_class`` (COCO), ``voc_ap50_per_class``: one float
        per class, ``None`` for a class without truth. ``pr_curves``: per class (``None``
        without truth) a dict of numpy arrays ``recall``, ``precision``, ``scores`` along the
        detections best first, at IoU 0.5 with COCO matching, ignored detections left out.
        Counts ``n_images``, ``n_truth`` (non-crowd boxes), ``n_crowd``, ``n_predictions``.

    >>> box = np.array([[10.0, 10, 50, 50]])
    >>> found = Detections(box, np.array([0.9]), np.array([0]))
    >>> r = evaluate_detections([(box, np.array([0]))], [found], n_classes=2)
    >>> round(r["map"], 6), r["voc_map50"], r["ap_per_class"][1], r["n_truth"]
    (1.0, 1.0, None, 1)
    """
    if len(truth) != len(predictions):
        raise ValueError(f"{len(truth)} images of truth but {len(predictions)} of predictions")
    gt = _stack_truth(truth, n_classes)
    dt = _stack_predictions(predictions, n_classes)
    # Group by (image, class). Truth keeps its order inside a group and detections go best
    # score first (stable): the orders pycocotools walks them in, which decide ties.
    gt_key = gt["image"] * n_classes + gt["label"]
    gt = {name: values[np.argsort(gt_key, kind="stable")] for name, values in gt.items()}
    gt_key = np.sort(gt_key, kind="stable")
    order = np.lexsort((-dt["score"], dt["label"], dt["image"]))
    dt = {name: values[order] for name, values in dt.items()}
    dt_key = dt["image"] * n_classes + dt["label"]
    rank = np.arange(len(dt_key)) - np.searchsorted(dt_key, dt_key, side="left")
    pairs = _overlapping_pairs(dt["box"], dt_key, gt["box"], gt_key, gt["crowd"])

    precision, curves = _coco(dt, gt, pairs, rank, n_classes, max_detections)
    ap = _mean_where_defined(precision, axis=3)  # [area, iou, class]
    voc = _voc(dt, gt, pairs, n_classes)
    areas = list(AREA_RANGES)
    return {
        "map": _nanmean(ap[0]),
        "map50": _nanmean(ap[0, 0]),
        "map75": _nanmean(ap[0, 5]),
        "voc_map50": _nanmean(voc),
        **{f"map_{name}": _nanmean(ap[areas.index(name)]) for name in areas[1:]},
        "ap_per_class": _listed(_mean_where_defined(ap[0], axis=0)),
        "ap50_per_class": _listed(ap[0, 0]),
        "voc_ap50_per_class": _listed(voc),
        "pr_curves": curves,
        "n_images": len(truth),
        "n_truth": int((~gt["crowd"]).sum()),
        "n_crowd": int(gt["crowd"].sum()),
        "n_predictions": len(dt["score"]),
    }


def _stack_truth(truth: Sequence[Truth], n_classes: int) -> dict[str, np.ndarray]:
    boxes, labels, crowd, image = [], [], [], []
    for i, item in enumerate(truth):
        b = np.asarray(item[0], np.float64).reshape(-1, 4)
        c = item[2] if len(item) > 2 else None
        boxes.append(b)
        labels.append(np.asarray(item[1], np.int64).reshape(-1))
        crowd.append(np.zeros(len(b), bool) if c is None else np.asarray(c, bool).reshape(-1))
        image.append(np.full(len(b), i, np.int64))
        if not len(b) == len(labels[-1]) == len(crowd[-1]):
            raise ValueError(f"image {i}: {len(b)} truth boxes, {len(labels[-1])} labels")
    stacked = _concatenate(boxes, labels, image, n_classes, "truth")
    stacked["crowd"] = np.concatenate(crowd) if crowd else np.zeros(0, bool)
    return stacked


def _stack_predictions(predictions: Sequence[Detections], n_classes: int) -> dict[str, np.ndarray]:
    boxes, labels, scores, image = [], [], [], []
    for i, found in enumerate(predictions):
        boxes.append(np.asarray(found.boxes, np.float64).reshape(-1, 4))
        labels.append(np.asarray(found.labels, np.int64).reshape(-1))
        scores.append(np.asarray(found.scores, np.float64).reshape(-1))
        image.append(np.full(len(boxes[-1]), i, np.int64))
        if not len(boxes[-1]) == len(labels[-1]) == len(scores[-1]):
            raise ValueError(
                f"image {i}: {len(boxes[-1])} predicted boxes, {len(scores[-1])} scores"
            )
    stacked = _concatenate(boxes, labels, image, n_classes, "predictions")
    stacked["score"] = np.concatenate(scores) if scores else np.zeros(0)
    return stacked


def _concatenate(boxes: list, labels: list, image: list, n_classes: int, what: str) -> dict:
    out = {
        "box": np.concatenate(boxes) if boxes else np.zeros((0, 4)),
        "label": np.concatenate(labels) if labels else np.zeros(0, np.int64),
        "image": np.concatenate(image) if image else np.zeros(0, np.int64),
    }
    if len(out["label"]) and (out["label"].min() < 0 or out["label"].max() >= n_classes):
        raise ValueError(f"{what}: labels outside 0..{n_classes - 1}")
    # A detection's area as pycocotools' loadRes computes it (w * h); truth's the same way.
    out["area"] = (out["box"][:, 2] - out["box"][:, 0]) * (out["box"][:, 3] - out["box"][:, 1])
    return out


def _overlapping_pairs(
    dt_box: np.ndarray,
    dt_key: np.ndarray,
    gt_box: np.ndarray,
    gt_key: np.ndarray,
    crowd: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every (detection, truth) pair of the same image and class that could match at IoU 0.5,
    ordered by detection then truth. ``iou`` is COCO's (crowd: over the detection's area),
    ``plain`` the ordinary IoU (VOC's)."""
    # Each detection meets the contiguous run of its group in the sorted truth: build all the
    # pairs at once with repeat / cumsum instead of a loop over images.
    start = np.searchsorted(gt_key, dt_key, side="left")
    count = np.searchsorted(gt_key, dt_key, side="right") - start
    det = np.repeat(np.arange(len(dt_key)), count)
    first = np.cumsum(count) - count
    gt = np.repeat(start - first, count) + np.arange(int(count.sum()))
    a, b = dt_box[det], gt_box[gt]
    w = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    h = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    area_a, area_b = box_area(a), box_area(b)
    union = area_a + area_b - inter
    plain = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    over_det = np.divide(inter, area_a, out=np.zeros_like(inter), where=area_a > 0)
    iou = np.where(crowd[gt], over_det, plain)
    # COCO's IoU is never below the plain one, so this keeps every pair either metric needs.
    keep = iou >= IOU_THRESHOLDS[0]
    return {"det": det[keep], "gt": gt[keep], "iou": iou[keep], "plain": plain[keep]}


def _coco(
    dt: dict, gt: dict, pairs: dict, rank: np.ndarray, n_classes: int, max_detections: int
) -> tuple[np.ndarray, list]:
    """pycocotools' precision array ``[area, iou, class, recall]`` (NaN for its -1) and the
    IoU-0.5 precision-recall curves."""
    n_iou = len(IOU_THRESHOLDS)
    # One "scenario" per (area range, IoU threshold): s = area * n_iou + iou.
    low, high = np.array(list(AREA_RANGES.values())).T
    gt_ignored = gt["crowd"] | (gt["area"] < low[:, None]) | (gt["area"] > high[:, None])
    dt_outside = (dt["area"] < low[:, None]) | (dt["area"] > high[:, None])
    gt_ignored = np.repeat(gt_ignored, n_iou, axis=0)
    dt_outside = np.repeat(dt_outside, n_iou, axis=0)
    threshold = np.tile(IOU_THRESHOLDS, len(AREA_RANGES))[:, None]

    capped = rank < max_detections
    matched, ignored = _greedy_match(pairs, rank, capped, gt_ignored, gt["crowd"], threshold)
    ignored |= ~matched & dt_outside

    precision = np.full((len(AREA_RANGES), n_iou, n_classes, len(RECALL_THRESHOLDS)), np.nan)
    curves: list[dict[str, np.ndarray] | None] = [None] * n_classes
    for k in range(n_classes):
        in_class = gt["label"] == k
        n_counted = (~gt_ignored[:, in_class]).sum(axis=1)  # pycocotools' npig, per scenario
        if not n_counted.any():
            continue
        # This class's detections in image order, each image's best first; a stable sort by
        # score then orders them exactly as pycocotools' concatenate + mergesort does.
        mine = np.flatnonzero(capped & (dt["label"] == k))
        mine = mine[np.argsort(-dt["score"][mine], kind="stable")]
        tp = np.cumsum(matched[:, mine] & ~ignored[:, mine], axis=1, dtype=np.float64)
        fp = np.cumsum(~matched[:, mine] & ~ignored[:, mine], axis=1, dtype=np.float64)
        q = _interpolated_precision(tp, fp, n_counted)
        precision[:, :, k] = q.reshape(len(AREA_RANGES), n_iou, -1)
        kept = ~ignored[0, mine]  # area "all", IoU 0.5
        tp0, fp0 = tp[0, kept], fp[0, kept]
        curves[k] = {
            "recall": tp0 / n_counted[0] if n_counted[0] else np.zeros(len(tp0)),
            "precision": tp0 / np.maximum(tp0 + fp0, 1.0),
            "scores": dt["score"][mine][kept],
        }
    return precision, curves


def _greedy_match(
    pairs: dict,
    rank: np.ndarray,
    capped: np.ndarray,
    gt_ignored: np.ndarray,
    crowd: np.ndarray,
    threshold: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """COCO's matching for every scenario at once: ``matched`` and ``ignored`` ``[S, n_dt]``.

    The matching is sequential only within an (image, class) group, best detection first. So
    the loop runs over ranks (at most ``max_detections`` steps): step r matches the r-th
    detection of every group together, vectorised over groups and scenarios, as no two of
    them can compete for the same truth box.
    """
    n_scenarios, n_dt = threshold.shape[0], len(rank)
    matched = np.zeros((n_scenarios, n_dt), bool)
    ignored = np.zeros((n_scenarios, n_dt), bool)
    taken = np.zeros_like(gt_ignored)
    keep = capped[pairs["det"]]
    det, gt, iou = pairs["det"][keep], pairs["gt"][keep], pairs["iou"][keep]
    by_rank = np.argsort(rank[det], kind="stable")  # still by detection then truth within
    det, gt, iou = det[by_rank], gt[by_rank], iou[by_rank]
    bounds = np.searchsorted(rank[det], np.arange(int(rank.max(initial=0)) + 2))
    for lo, hi in itertools.pairwise(bounds):
        if lo == hi:
            continue
        d, g, v = det[lo:hi], gt[lo:hi], iou[lo:hi]
        new = np.r_[True, d[1:] != d[:-1]]  # a detection's pairs are contiguous
        starts, segment = np.flatnonzero(new), np.cumsum(new) - 1
        # Free truth over the threshold (a crowd box is never used up).
        valid = (v >= threshold) & (~taken[:, g] | crowd[g])
        counted = valid & ~gt_ignored[:, g]
        # Boxes that count win over ignored ones; then the highest IoU; then the later box.
        any_counted = np.logical_or.reduceat(counted, starts, axis=1)
        candidate = counted | (valid & ~any_counted[:, segment])
        key = np.where(candidate, v, -1.0)
        best = np.maximum.reduceat(key, starts, axis=1)
        position = np.where(candidate & (key == best[:, segment]), np.arange(hi - lo), -1)
        chosen = np.maximum.reduceat(position, starts, axis=1)
        s, c = np.nonzero(chosen >= 0)
        dd, gg = d[chosen[s, c]], g[chosen[s, c]]
        matched[s, dd] = True
        ignored[s, dd] = gt_ignored[s, gg]
        taken[s, gg] = True
    return matched, ignored


def _interpolated_precision(tp: np.ndarray, fp: np.ndarray, n_counted: np.ndarray) -> np.ndarray:
    """pycocotools' 101-point precision ``[S, R]`` from cumulative TP / FP ``[S, n]``; NaN rows
    where nothing counts."""
    q = np.full((len(tp), len(RECALL_THRESHOLDS)), np.nan)
    n = tp.shape[1]
    if n == 0:
        q[n_counted > 0] = 0.0
        return q
    recall = tp / np.maximum(n_counted, 1)[:, None]
    precision = tp / (fp + tp + np.spacing(1))  # pycocotools' own guard, kept for equality
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    for s in np.flatnonzero(n_counted > 0):
        at = np.searchsorted(recall[s], RECALL_THRESHOLDS, side="left")
        q[s] = np.where(at < n, envelope[s, np.minimum(at, n - 1)], 0.0)
    return q


def _voc(dt: dict, gt: dict, pairs: dict, n_classes: int) -> np.ndarray:
    """VOC 2010+ AP at IoU 0.5 per class (NaN without non-crowd truth)."""
    det, gt_index, plain = pairs["det"], pairs["gt"], pairs["plain"]
    best_iou = np.zeros(len(dt["score"]))
    best_gt = np.full(len(dt["score"]), -1)
    if len(det):
        # The truth box each detection overlaps most (the first on ties, as np.argmax).
        new = np.r_[True, det[1:] != det[:-1]]
        starts, segment = np.flatnonzero(new), np.cumsum(new) - 1
        top = np.maximum.reduceat(plain, starts)
        at = np.where(plain == top[segment], np.arange(len(det)), len(det))
        first = np.minimum.reduceat(at, starts)
        best_iou[det[starts]], best_gt[det[starts]] = top, gt_index[first]
    hits = best_iou > 0.5
    difficult = np.zeros(len(hits), bool)
    difficult[hits] = gt["crowd"][best_gt[hits]]
    claims = hits & ~difficult
    # Best first within each class: the first detection to claim a box is the true positive,
    # later claims of it are duplicates (false positives).
    order = np.lexsort((-dt["score"], dt["label"]))
    claimed = order[claims[order]]
    true = np.zeros(len(order), bool)
    true[claimed[np.unique(best_gt[claimed], return_index=True)[1]]] = True
    ap = np.full(n_classes, np.nan)
    for k in range(n_classes):
        n_positive = int((~gt["crowd"] & (gt["label"] == k)).sum())
        if n_positive == 0:
            continue
        mine = order[(dt["label"][order] == k) & ~difficult[order]]
        tp = np.cumsum(true[mine], dtype=np.float64)
        fp = np.cumsum(~true[mine], dtype=np.float64)
        recall = np.concatenate([[0.0], tp / n_positive, [1.0]])
        precision = np.concatenate([[0.0], tp / np.maximum(tp + fp, 1e-12), [0.0]])
        precision = np.maximum.accumulate(precision[::-1])[::-1]
        step = np.flatnonzero(recall[1:] != recall[:-1])
        ap[k] = float(np.sum((recall[step + 1] - recall[step]) * precision[step + 1]))
    return ap


def _mean_where_defined(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean along ``axis`` ignoring NaN, NaN (without a warning) where all are NaN."""
    defined = ~np.isnan(values)
    total = np.where(defined, values, 0.0).sum(axis=axis)
    count = defined.sum(axis=axis)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def _nanmean(values: np.ndarray) -> float:
    return float(_mean_where_defined(np.ravel(values), axis=0))


def _listed(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]
