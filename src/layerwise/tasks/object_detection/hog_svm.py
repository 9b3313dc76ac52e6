"""The classical detector: HOG features and one linear SVM per class over a sliding window.

Dalal & Triggs (2005), kept quick enough to train beside the deep detector in every run:

* **Features, once per level.** Grayscale HOG (skimage's definition: 8-pixel cells, 2 x 2-cell
  L2-Hys blocks; :func:`.hog_features.hog_blocks`) is computed once on each pyramid level as a block grid
  (``feature_vector=False``). Every window is a slice of that grid, one cell apart
  (:func:`.hog_features.window_features`, numpy's ``sliding_window_view``): no window's HOG is ever
  recomputed, and scoring a level is one matrix product.
* **Windows.** One per class, with the median aspect ratio of its boxes and the area of a
  64 x 64 square, down to 48 x 48 for a class of small objects (found with at most
  ``max_upscale`` times up-scaling: 2 finds objects from 18 px). The object fills the central
  ``FILL`` of the window; the rest is context, as in Dalal & Triggs' 64 x 128 person window.
* **Pyramid.** From objects as large as the image (the window fits the image) up in steps of
  ``scale_step`` to the smallest training objects (at most ``max_upscale`` times up-scaled).
* **Training.** Positives: each ground-truth box cut out (sub-pixel, one cell of extra
  context so its border gradients are those of a window in the image) and resized to the
  window, and its mirror image. Negatives: random windows of training images with IoU < 0.3
  to every box of the class; then hard negatives (windows the SVM scores above -1 on training
  images) and a refit, the pool kept at ``max_negatives`` by dropping the easiest.
* **Scores.** SVM margins become probabilities by a Platt sigmoid per class fitted on the
  detections in the validation images (true or false at IoU 0.5), so that a score means about
  the same here as for the deep detector and both can share a threshold.

A box is the central ``FILL`` of its window, so it has the class's median aspect ratio (there
is no box regression): the price of the baseline's simplicity on elongated objects.
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from typing import Any, ClassVar

import numpy as np

from layerwise.errors import ConfigError, RunFolderError
from layerwise.tasks.object_detection.boxes import box_iou, clip_boxes, nms
from layerwise.tasks.object_detection.dataset import Detections, DetectionSet
from layerwise.tasks.object_detection.hog_features import (
    hog_blocks,
    platt,
    resize,
    to_gray,
    window_features,
)

MODEL_FILE = "hog_svm.safetensors"
FILL = 0.75  # the object's share of each side of its window; the rest is context
BASE_SIDE = 64  # window side (of the square of the same area) for objects big enough
# the smallest window side (same area) in cells. On street scenes (objects from 8 px) windows
# of 6 cells gave mAP@0.5 0.32, of 4 cells 0.27 (too few cells to hold a shape), of 8 0.29
MIN_SIDE_CELLS = 6
NEGATIVE_IOU = 0.3  # a window overlapping every box of its class less than this is background
HARD_MARGIN = -1.0  # windows scored above it are inside the SVM's margin: candidates
PRE_NMS = 300  # candidates per class and image that reach the suppression (it is quadratic)
MIN_CALIBRATION_IMAGES = 10  # even past the time limit: a sigmoid from one image is noise
DEFAULTS: dict[str, Any] = {
    "cell": 8, "block": 2, "orientations": 9, "window": None, "hard_negative_rounds": 1,
    "max_positives": 4000, "max_negatives": 12000, "scale_step": 1.25, "C": 0.01,
    "time_limit": None, "max_upscale": 2.0, "nms_iou": 0.3, "max_detections": 100,
    "mining_images": 400, "calibration_images": 200,
}  # fmt: skip


def one_blas_thread() -> Any:
    """A context with BLAS on one thread: the products here are small, and on two busy cores
    BLAS threads only wait for each other (prediction was three times slower)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def rng_choice(rng: np.random.Generator, items: Any, size: int) -> np.ndarray:
    """Up to ``size`` of ``items`` (an array, or ``range(items)`` for an int), in order."""
    items = np.arange(items) if np.isscalar(items) else np.asarray(items)
    return items if len(items) <= size else items[np.sort(rng.choice(len(items), size, False))]


class HogSvmDetector:
    """HOG + linear SVM sliding-window detector (Dalal & Triggs 2005), one SVM per class.

    >>> model = HogSvmDetector(seed=0, hard_negative_rounds=0)
    >>> model.name, model.family, model.params["cell"]
    ('hog-svm', 'classical', 8)
    """

    name: ClassVar[str] = "hog-svm"
    family: ClassVar[str] = "classical"
    complexity: ClassVar[int] = 0
    description: ClassVar[str] = "HOG features, a linear SVM per class over a sliding window"

    def __init__(self, seed: int = 0, **params: Any):
        unknown = sorted(set(params) - set(DEFAULTS))
        if unknown:
            raise ConfigError(
                f"hog-svm has no option {', '.join(map(repr, unknown))}.",
                f"Its options are: {', '.join(DEFAULTS)}.",
            )
        self.seed, self.params = int(seed), {**DEFAULTS, **params}
        self.classes: list[str] = []
        self.windows = np.zeros((0, 2), np.int32)  # [k, 2] window height, width in pixels
        self.max_scale = np.zeros(0, np.float32)  # [k] the largest pyramid scale each class uses
        self.weights: list[np.ndarray] = []  # [k] of [D_c] float32
        self.bias = np.zeros(0, np.float32)
        self.calibration = np.zeros((0, 2), np.float64)  # [k, 2] Platt (a, b)
        self.notes: list[str] = []
        self.history = None
        self._groups: list[tuple] = []

    # ---- pyramid and windows ----------------------------------------------------------------
    def _blocks_of(self, window: Any) -> tuple[int, int]:
        cell, block = int(self.params["cell"]), int(self.params["block"])
        return int(window[0]) // cell - block + 1, int(window[1]) // cell - block + 1

    def _prepare(self) -> None:
        """Group the classes by window shape: one feature matrix serves a whole group."""
        self._groups = []
        for shape in sorted({tuple(w) for w in self.windows.tolist()}):
            members = np.flatnonzero((self.windows == shape).all(axis=1))
            matrix = np.stack([self.weights[c] for c in members], axis=1)
            self._groups.append((shape, members, matrix, self.bias[members]))

    def _scan(self, gray: np.ndarray, deadline: float | None = None):
        """Yield ``(classes, features [n, D], scores [n, len(classes)], boxes(index))`` for each
        pyramid level (the largest scale first) and window shape."""
        p, (height, width) = self.params, gray.shape
        cell = int(p["cell"])
        fits = np.maximum(self.windows[:, 0] / height, self.windows[:, 1] / width)
        scale = float(self.max_scale.max(initial=0.0))
        while scale >= fits.min(initial=np.inf) * (1 - 1e-6):
            active = (fits <= scale * (1 + 1e-6)) & (scale <= self.max_scale * (1 + 1e-6))
            h, w = max(1, round(height * scale)), max(1, round(width * scale))
            level = gray if (h, w) == gray.shape else resize(gray, h, w)
            blocks = hog_blocks(level, cell, int(p["block"]), int(p["orientations"]))
            for (wh, ww), members, matrix, bias in self._groups:
                on = active[members]
                x = window_features(blocks, *self._blocks_of((wh, ww))) if on.any() else None
                if x is None or x.size == 0:
                    continue
                cols, x = x.shape[1], x.reshape(-1, x.shape[2])

                def boxes(index, cols=cols, wh=wh, ww=ww, sy=h / height, sx=w / width):
                    r, c = np.divmod(np.asarray(index), cols)
                    x1 = (c * cell + ww * (1 - FILL) / 2) / sx
                    y1 = (r * cell + wh * (1 - FILL) / 2) / sy
                    out = np.stack([x1, y1, x1 + ww * FILL / sx, y1 + wh * FILL / sy], axis=1)
                    return out.astype(np.float32).reshape(-1, 4)

                yield members[on], x, x @ matrix[:, on] + bias[on], boxes
            if deadline is not None and time.monotonic() > deadline:
                return
            scale /= float(p["scale_step"])

    def _detect(self, gray: np.ndarray, calibrated: bool = True) -> tuple[np.ndarray, ...]:
        """Boxes, scores and labels after per-class suppression, the best ``max_detections``
        first. Scores are the calibrated logits (so classes are ordered by probability), or
        the raw SVM scores when not ``calibrated``."""
        found = []
        for members, _, scores, boxes in self._scan(gray):
            for j, c in enumerate(members):
                keep = np.flatnonzero(scores[:, j] > HARD_MARGIN)
                a, b = self.calibration[c] if calibrated else (1.0, 0.0)
                found.append((boxes(keep), a * scores[keep, j] + b, np.full(len(keep), c)))
        if not sum(len(part[1]) for part in found):
            return np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0, np.int64)
        boxes, scores, labels = (np.concatenate(parts) for parts in zip(*found, strict=True))
        top = [np.flatnonzero(labels == c) for c in np.unique(labels)]
        index = np.concatenate([i[np.argsort(-scores[i], kind="stable")[:PRE_NMS]] for i in top])
        boxes = clip_boxes(boxes[index], *gray.shape)
        scores, labels = scores[index], labels[index].astype(np.int64)
        iou, limit = float(self.params["nms_iou"]), int(self.params["max_detections"])
        kept = nms(boxes, scores, iou, labels=labels, max_detections=limit)
        return boxes[kept], scores[kept], labels[kept]

    # ---- training ---------------------------------------------------------------------------
    def _windows_for(self, train: DetectionSet) -> None:
        """Each class's window and largest pyramid scale, from its boxes' sizes and shapes."""
        p, k = self.params, len(self.classes)
        cell, block, upscale = int(p["cell"]), int(p["block"]), float(p["max_upscale"])
        self.windows, self.max_scale = np.zeros((k, 2), np.int32), np.zeros(k, np.float32)
        boxes = np.concatenate([b[~c] for b, c in zip(train.boxes, train.crowd, strict=True)])
        labels = np.concatenate([lb[~c] for lb, c in zip(train.labels, train.crowd, strict=True)])
        for c in range(k):
            own = boxes[labels == c].reshape(-1, 4)
            w = np.maximum(own[:, 2] - own[:, 0], 1.0) if len(own) else np.full(1, 48.0)
            h = np.maximum(own[:, 3] - own[:, 1], 1.0) if len(own) else np.full(1, 48.0)
            size, aspect = np.sqrt(w * h), float(np.clip(np.median(w / h), 1 / 3, 3))
            window = p["window"]
            if window is None:  # small objects get a small window rather than a huge pyramid
                side = np.percentile(size, 10) * upscale / FILL
                side = np.clip(side, MIN_SIDE_CELLS * cell, BASE_SIDE)
                window = (side / np.sqrt(aspect), side * np.sqrt(aspect))
            window = np.broadcast_to(np.asarray(window, np.float64), 2)
            self.windows[c] = np.maximum(np.round(window / cell), block + 1) * cell
            object_side = float(np.sqrt(self.windows[c].prod())) * FILL
            smallest = max(0.8 * float(np.percentile(size, 2)), 1.0)
            self.max_scale[c] = min(upscale, object_side / smallest)

    def _positives(self, train: DetectionSet, c: int) -> np.ndarray:
        """Features of up to ``max_positives / 2`` ground-truth boxes of class ``c`` cut out to
        the window, and of their mirror images."""
        p, cell, (wh, ww) = self.params, int(self.params["cell"]), self.windows[c].tolist()
        pairs_of = zip(train.labels, train.crowd, strict=True)
        own = [np.flatnonzero((lb == c) & ~crowd) for lb, crowd in pairs_of]
        pairs = [(i, j) for i, boxes in enumerate(own) for j in boxes]
        pairs = [pairs[i] for i in rng_choice(self._rng, len(pairs), p["max_positives"] // 2)]
        rows, cols = self._blocks_of(self.windows[c])
        features, done = [], -1
        for i, j in pairs:
            if i != done:
                gray, done = to_gray(train.images[i]), i
            x1, y1, x2, y2 = train.boxes[i][j].tolist()
            half_w = (ww / 2 + cell) * max(x2 - x1, 1) / (FILL * ww)  # one cell of context
            half_h = (wh / 2 + cell) * max(y2 - y1, 1) / (FILL * wh)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            region = np.array([cx - half_w, cy - half_h, cx + half_w, cy + half_h])
            outside = np.r_[-region[:2], region[2:] - gray.shape[::-1]]
            pad = 1 + int(np.ceil(max(0.0, outside.max())))
            padded = np.pad(gray, pad, mode="edge")  # replicated edges: no invented gradients
            patch = resize(padded, wh + 2 * cell, ww + 2 * cell, box=tuple(region + pad))
            for image in (patch, np.ascontiguousarray(patch[:, ::-1])):
                blocks = hog_blocks(image, cell, int(p["block"]), int(p["orientations"]))
                features.append(blocks[1 : 1 + rows, 1 : 1 + cols].reshape(-1))
        return np.asarray(features, np.float32).reshape(len(features), -1)

    def _negatives(
        self, train: DetectionSet, order: np.ndarray, pools: list, deadline: Any, hard: bool
    ) -> int:
        """Add background windows of the images ``order`` to each class's pool: random ones or
        (``hard``) the best-scored ones. Returns how many images were scanned."""
        k, wanted = len(self.classes), int(self.params["max_negatives"]) // 2
        quota = -(-wanted // max(len(order), 1))  # per image and class, rounded up
        for n, i in enumerate(order):
            if deadline is not None and time.monotonic() > deadline and n > 0:
                return n
            found: list[list] = [[] for _ in range(k)]
            for members, x, scores, boxes in self._scan(to_gray(train.images[i]), deadline):
                for j, c in enumerate(members):
                    if hard:
                        index = np.flatnonzero(scores[:, j] > HARD_MARGIN)
                    else:
                        index = rng_choice(self._rng, len(x), 4 * quota)
                    truth = train.boxes[i][train.labels[i] == c]
                    if len(index) and len(truth):
                        index = index[box_iou(boxes(index), truth).max(axis=1) < NEGATIVE_IOU]
                    found[c].append((scores[index, j], x[index]))
            for c in range(k):
                if found[c]:
                    s, x = (np.concatenate(parts) for parts in zip(*found[c], strict=True))
                    pick = np.argsort(-s)[:quota] if hard else rng_choice(self._rng, len(s), quota)
                    pools[c].append(x[pick])
        return len(order)

    def _fit_class(self, c: int, positives: np.ndarray, negatives: np.ndarray) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.svm import LinearSVC

        # the primal problem (dual=False): there are far more windows than features
        svm = LinearSVC(C=float(self.params["C"]), class_weight="balanced", dual=False)
        svm.set_params(tol=1e-3, max_iter=200)
        x = np.concatenate([positives, negatives])
        y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
        with warnings.catch_warnings():  # a capped solver is fine for a baseline
            warnings.simplefilter("ignore", ConvergenceWarning)
            svm.fit(x, y)
        self.weights[c], self.bias[c] = svm.coef_[0].astype(np.float32), svm.intercept_[0]

    def fit(self, train: DetectionSet, val: DetectionSet | None = None, progress: bool = False):
        """Train one SVM per class on ``train``; calibrate scores on ``val`` (else ``train``).
        ``notes`` says what was cut short by ``time_limit``.

        >>> image = np.zeros((64, 64, 3), np.uint8); image[16:48, 16:48] = 255
        >>> data = DetectionSet([image] * 4, [np.array([[16, 16, 48, 48]], np.float32)] * 4,
        ...                     [np.array([0])] * 4, ["square"])
        >>> model = HogSvmDetector(hard_negative_rounds=0); model.fit(data)
        >>> model.windows.tolist(), model.predict([image])[0].boxes[0].round().tolist()
        ([[64, 64]], [16.0, 16.0, 48.0, 48.0])
        """
        with one_blas_thread():
            self._fit(train, val, progress)

    def _fit(self, train: DetectionSet, val: DetectionSet | None, progress: bool) -> None:
        p, start = self.params, time.monotonic()
        deadline = None if p["time_limit"] is None else start + float(p["time_limit"])

        def say(text: str) -> None:
            if progress:
                print(f"hog-svm: {text} ({time.monotonic() - start:.1f}s)", file=sys.stderr)

        self._rng = np.random.default_rng(self.seed)
        self.classes, self.notes, k = list(train.classes), [], len(train.classes)
        self._windows_for(train)
        positives = [self._positives(train, c) for c in range(k)]
        say(f"{sum(map(len, positives))} positives, windows {self.windows.tolist()}")
        size = p["block"] ** 2 * p["orientations"]
        self.weights = [np.zeros(np.prod(self._blocks_of(w)) * size) for w in self.windows]
        self.weights = [w.astype(np.float32) for w in self.weights]
        self.bias = np.full(k, -1e3, np.float32)  # a class without boxes never scores
        self.calibration = np.tile([1.0, 0.0], (k, 1))
        for name, x in zip(self.classes, positives, strict=True):
            if not len(x):
                self.notes.append(f"class {name!r} has no training box: it is never found")
        self._prepare()
        pools: list[list[np.ndarray]] = [[] for _ in range(k)]
        count = min(len(train), int(p["mining_images"]))
        # random windows need fewer images than mining: a few dozen per image from half as many
        order = self._rng.permutation(len(train))[: max(1, count // 2)]
        scanned = self._negatives(train, order, pools, deadline, hard=False)
        for round_ in range(int(p["hard_negative_rounds"]) + 1):
            if round_ and deadline is not None and time.monotonic() > deadline:
                self.notes.append(f"time limit reached: {round_ - 1} hard-negative rounds")
                break
            if round_:
                order = self._rng.permutation(len(train))[:count]
                scanned = self._negatives(train, order, pools, deadline, hard=True)
                if scanned < count:
                    cut = f"hard negatives of round {round_} from {scanned} of {count} images"
                    self.notes.append(f"time limit reached: {cut}")
            for c in range(k):
                if len(positives[c]) and pools[c]:
                    negatives = np.concatenate(pools[c])
                    if len(negatives) > p["max_negatives"]:  # keep the hardest
                        hardest = np.argsort(-(negatives @ self.weights[c]))
                        negatives = negatives[hardest[: p["max_negatives"]]]
                    pools[c] = [negatives]
                    self._fit_class(c, positives[c], negatives)
            self._prepare()
            say(f"round {round_}: {[len(x[0]) if x else 0 for x in pools]} negatives")
        self._calibrate(val if val is not None and len(val) else train, deadline)
        self.notes.append(f"trained in {time.monotonic() - start:.1f}s")
        say(f"calibration {self.calibration.round(2).tolist()}")

    def _calibrate(self, images: DetectionSet, deadline: float | None) -> None:
        """Platt sigmoids from the detections on ``images``: a hit when it matches a box of its
        class not matched yet at IoU >= 0.5 (greedy by score, as average precision counts)."""
        scores, hits, labels = [], [], []
        for i in range(min(len(images), int(self.params["calibration_images"]))):
            if deadline is not None and time.monotonic() > deadline:
                if i >= MIN_CALIBRATION_IMAGES:
                    self.notes.append(f"time limit reached: scores calibrated on {i} images")
                    break
            boxes, raw, found = self._detect(to_gray(images.images[i]), calibrated=False)
            truth, crowd = images.boxes[i], images.crowd[i]
            iou = box_iou(boxes, truth) * (found[:, None] == images.labels[i][None, :])
            used, hit, keep = np.zeros(len(truth), bool), np.zeros(len(boxes), bool), []
            for d in range(len(boxes)):
                free = np.where(used | crowd, 0.0, iou[d])
                if len(truth) and free.max() >= 0.5:
                    hit[d], used[free.argmax()] = True, True
                if not (len(truth) and not hit[d] and (iou[d] * crowd).max() >= 0.5):
                    keep.append(d)  # a detection on a crowd box is neither right nor wrong
            for into, values in ((scores, raw), (hits, hit), (labels, found)):
                into.append(values[keep])
        s, h, lb = (np.concatenate(x) if x else np.zeros(0) for x in (scores, hits, labels))
        h = h.astype(bool)
        pooled = platt(s, h) if len(s) else (1.0, 0.0)
        for c in range(len(self.classes)):
            own = lb == c
            enough = min(h[own].sum(), (~h[own]).sum()) >= 5  # else the pooled sigmoid
            self.calibration[c] = platt(s[own], h[own]) if enough else pooled

    # ---- using it ---------------------------------------------------------------------------
    def predict(self, images: list[np.ndarray]) -> list[Detections]:
        """Detections per image: boxes in its pixels, probabilities in [0, 1], class indices;
        at most ``max_detections``, best first."""
        out = []
        with one_blas_thread():
            for image in images:
                boxes, logits, labels = self._detect(to_gray(image))
                probability = (1 / (1 + np.exp(-logits))).astype(np.float32)
                out.append(Detections(boxes.astype(np.float32), probability, labels))
        return out

    def save(self, run: Any) -> dict[str, Any]:
        """Write ``hog_svm.safetensors`` (arrays only, no pickle) into ``run``; return the
        JSON-able info :meth:`load` needs."""
        from safetensors.numpy import save_file

        tensors = {f"weight_{c}": w for c, w in enumerate(self.weights)}
        tensors.update(windows=self.windows.astype(np.int32), max_scale=self.max_scale)
        tensors.update(bias=self.bias, calibration=self.calibration.astype(np.float64))
        tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
        run.write_with(MODEL_FILE, lambda path: save_file(tensors, str(path)))
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.params.items()}
        info = {"file": MODEL_FILE, "seed": self.seed, "params": params}
        return {**info, "classes": list(self.classes), "notes": list(self.notes)}

    @classmethod
    def load(cls, run: Any, info: dict[str, Any]) -> HogSvmDetector:
        """The detector :meth:`save` wrote, its arrays' shapes checked against its info."""
        from layerwise.runs.weights import read_tensors

        model = cls(seed=info.get("seed", 0), **info["params"])
        model.classes, model.notes = list(info["classes"]), list(info.get("notes", []))
        arrays = {k: v.numpy() for k, v in read_tensors(run, info["file"]).items()}
        k, size = len(model.classes), model.params["block"] ** 2 * model.params["orientations"]
        try:
            model.windows = arrays["windows"].astype(np.int32).reshape(k, 2)
            model.max_scale = arrays["max_scale"].astype(np.float32).reshape(k)
            model.bias = arrays["bias"].astype(np.float32).reshape(k)
            model.calibration = arrays["calibration"].astype(np.float64).reshape(k, 2)
            sizes = [np.prod(model._blocks_of(w)) * size for w in model.windows]
            weights = [arrays[f"weight_{c}"].reshape(n) for c, n in enumerate(sizes)]
            model.weights = [w.astype(np.float32) for w in weights]
        except (KeyError, ValueError) as error:
            what = f"'{info['file']}' in '{run.path}' is not a hog-svm detector of {k} classes"
            raise RunFolderError(f"{what} ({error}).", "Train again.") from error
        model._prepare()
        return model
