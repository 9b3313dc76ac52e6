"""Reading a detection dataset (images and their boxes) into one :class:`DetectionSet`.

Layouts :func:`read_detection_set` recognises (:func:`detect_format` tells which a path is):

* ``"voc"``, Pascal VOC: one XML per image (``<filename>``, ``<size>``, ``<object>`` with
  ``<name>`` and ``<bndbox>``) in ``annotations/`` (or ``Annotations/``) beside ``images/``
  (or ``JPEGImages/``), or next to the images;
* ``"coco"``: one JSON with ``images``, ``annotations`` (``bbox`` = ``[x, y, width,
  height]``) and ``categories``; the images beside it or in ``images/``;
* ``"yolo"``: ``images/`` and ``labels/*.txt`` (one ``class x_center y_center width height``
  line a box, in fractions of the image), possibly under ``train/``/``val/`` folders, with the
  class names in ``data.yaml`` (a list or a dict) or ``classes.txt``;
* ``"csv"``: one table with columns ``filename,width,height,class,xmin,ymin,xmax,ymax`` (one
  row a box), the images beside it or in its ``images/`` folder.

What is skipped (an unreadable image, a box outside its image, a bad line...) is counted and
the first cases named, in ``skipped`` and ``notes``. Two conventions are kept from the
formats' own evaluations: COCO's ``iscrowd`` boxes and VOC's ``difficult`` boxes are read with
``crowd=True``, so the metrics ignore them instead of counting them as missed.

A photo's EXIF rotation is applied, as annotation tools show it, except where the annotation
declares the image's size (VOC, COCO, CSV) as the unrotated one: its boxes were then drawn on
the pixels as stored, and the rotation is left out (a note says so).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from layerwise.data.image_decoding import (  # the image reader's own steps, shared
    DECODE_ERRORS,
    EmptyFile,
    _draft,
    _to_l_or_rgb,
    checked_size,
    reason,
)
from layerwise.errors import ConfigError, DataError, closest
from layerwise.tasks.object_detection import annotation_formats as fmt
from layerwise.tasks.object_detection.dataset import DetectionSet
from layerwise.tasks.object_detection.problems import Problems

FORMATS = ("voc", "coco", "yolo", "csv")
ALIASES = {"pascal": "voc", "pascal_voc": "voc", "pascal-voc": "voc", "ultralytics": "yolo"}
EXPECTED = {
    "voc": "Pascal VOC: one XML per image (<filename>, <size>, <object> with <name> and "
    "<bndbox>) in annotations/ beside images/ (or Annotations/ and JPEGImages/).",
    "coco": "COCO: one JSON with 'images', 'annotations' (bbox [x, y, width, height]) and "
    "'categories', the images beside it or in images/.",
    "yolo": "YOLO: images/ and labels/*.txt (one 'class x_center y_center width height' line a "
    "box, fractions of the image) with data.yaml or classes.txt naming the classes.",
    "csv": "CSV: columns filename,width,height,class,xmin,ymin,xmax,ymax (one row a box), the "
    "images beside it or in images/.",
}
OUTSIDE_TOLERANCE = 0.1  # a box may cross the border by 10% of the side (+2 px): clipped
ASPECT_TOLERANCE = 0.02  # an annotated size this close in shape: same photo, another scale
MAX_TOTAL_BYTES = 4 << 30  # decoded images held at once, before long_side is required
PROGRESS_MIN_FILES = 200
CHUNK = 32
_SWAPS = (5, 6, 7, 8)  # EXIF orientations that turn the image a quarter


def detect_format(path: str | os.PathLike) -> str:
    """Which annotation layout ``path`` holds: "voc", "coco", "yolo" or "csv".

    Raises:
        DataError: the path is missing or none of the layouts fits.

    Example:
        >>> import tempfile
        >>> from layerwise.tasks.object_detection.scenes import street_scenes, write_yolo
        >>> detect_format(write_yolo(tempfile.mkdtemp(), street_scenes(2, size=32)))
        'yolo'
    """
    path = _existing(path)
    suffix = path.suffix.lower()
    if path.is_file():
        if suffix == ".json" and fmt.is_coco(path):
            return "coco"
        if suffix in (".yaml", ".yml"):
            return "yolo"
        if fmt.csv_tables(path):
            return "csv"
    elif fmt.voc_folders(path)[0]:
        return "voc"
    elif fmt.coco_files(path):
        return "coco"
    elif fmt.yolo_root(path) is not None:
        return "yolo"
    elif fmt.csv_tables(path):
        return "csv"
    what = "file" if path.is_file() else "folder"
    raise DataError(
        f"'{path}' is not a detection dataset this reader knows ({what}: {_found(path)}).",
        "Expected one of: " + " ".join(EXPECTED[f] for f in FORMATS),
    )


def read_detection_set(
    path: str | os.PathLike,
    format: str | None = None,
    long_side: int | None = None,
    classes: list[str] | None = None,
    progress: bool = False,
) -> DetectionSet:
    """Read a VOC, COCO, YOLO or CSV detection dataset: RGB images and their boxes.

    Args:
        path: the dataset folder, or its COCO JSON / YOLO data.yaml / CSV file.
        format: "voc", "coco", "yolo" or "csv"; None detects it (:func:`detect_format`).
        long_side: resize each image so its longer side is this many pixels (boxes scaled
            with it, ``scales`` records the factor); None keeps the native size.
        classes: the class list to use (the trained classes, at prediction time): boxes of
            another class are skipped and counted. None: the classes found, sorted by name
            (COCO and YOLO: their declared order).
        progress: show a progress bar while reading more than 200 images.

    Returns:
        The images with their boxes (``[x1, y1, x2, y2]`` in the stored image's pixels).
        Images whose annotation lists no box are kept as negatives.

    Raises:
        DataError: an unknown layout, an unreadable main annotation file, or nothing usable.
        ConfigError: an unknown ``format`` or a bad ``long_side``.

    Example:
        >>> import tempfile
        >>> from layerwise.tasks.object_detection.scenes import street_scenes, write_voc
        >>> folder = write_voc(tempfile.mkdtemp(), street_scenes(4, size=64))
        >>> s = read_detection_set(folder, long_side=32)
        >>> len(s), s.images[0].shape, s.scales[0]
        (4, (32, 32, 3), 0.5)
    """
    path = _existing(path)
    layout = detect_format(path) if format is None else _check_format(format)
    if long_side is not None and not (isinstance(long_side, (int, np.integer)) and long_side >= 8):
        raise ConfigError(
            f"long_side={long_side!r} is not valid.", "Give an integer >= 8, e.g. 640."
        )
    problems = Problems()
    given = None if classes is None else [str(c) for c in classes]
    parsed = {
        "voc": lambda: fmt.parse_voc(path, problems),
        "coco": lambda: fmt.parse_coco(path, problems),
        "yolo": lambda: fmt.parse_yolo(path, problems, given),
        "csv": lambda: fmt.parse_csv(path, problems),
    }[layout]()
    names = given or parsed.classes or sorted({lab for r in parsed.records for lab in r.labels})
    out = DetectionSet([], [], [], list(names), source=str(path.resolve()))
    counts = _read_all(parsed.records, out, long_side, problems, progress)
    _finish(out, parsed, problems, counts, layout, path)
    return out


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(
            f"'{path}' does not exist.", "Check the path (relative paths start from here)."
        )
    return path


def _check_format(format: str) -> str:
    name = ALIASES.get(str(format).lower(), str(format).lower())
    if name not in FORMATS:
        guess = closest(str(format), FORMATS)
        raise ConfigError(
            f"Unknown annotation format '{format}'.",
            f"Did you mean '{guess}'?" if guess else f"Use one of: {', '.join(FORMATS)}.",
        )
    return name


def _found(path: Path) -> str:
    """What is there, in a few words, for the error message of an unknown layout."""
    if path.is_file():
        return f"'{path.suffix or path.name}'"
    kinds: dict[str, int] = {}
    for p in list(path.iterdir())[:1000]:
        kind = "folder" if p.is_dir() else (p.suffix.lower() or p.name)
        kinds[kind] = kinds.get(kind, 0) + 1
    shown = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:6])
    return f"found {shown}" if shown else "empty"


# ---- images ---------------------------------------------------------------------------------
def _read_all(
    records: list[fmt.Record],
    out: DetectionSet,
    long_side: int | None,
    problems: Problems,
    progress: bool,
) -> dict[str, int]:
    """Decode every record's image and add it with its checked boxes to ``out``."""
    from layerwise.engine.progress import track

    counts = dict.fromkeys(("clipped", "rotation kept", "rescaled", "negatives", "all skipped"), 0)
    chunks = [records[i : i + CHUNK] for i in range(0, len(records), CHUNK)]
    # Pillow releases the GIL while decoding and resizing: threads pay on big photos.
    workers = min(4, os.cpu_count() or 1)
    held = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        show = progress and len(records) > PROGRESS_MIN_FILES
        for chunk in track(chunks, f"reading {len(records):,} images", enabled=show):
            loads = pool.map(lambda r: _decode(r.image, long_side, r.size), chunk)
            for record, loaded in zip(chunk, loads, strict=True):
                if isinstance(loaded, str):
                    problems.add("image", record.name, loaded)
                    continue
                if _add(out, record, *loaded, problems, counts):
                    held += out.images[-1].nbytes
            if held > MAX_TOTAL_BYTES:
                at = "their native size" if long_side is None else f"a long side of {long_side}"
                raise DataError(
                    f"The images of '{out.source}' take over {MAX_TOTAL_BYTES >> 30} GiB at {at}.",
                    "Pass a smaller long_side (e.g. 640) to read them resized.",
                )
    return counts


def decode_photo(path: str | os.PathLike, long_side: int | None = None) -> np.ndarray | str:
    """One photo as RGB ``uint8`` (EXIF rotation applied, resized to ``long_side`` when
    given), or why it could not be read, in a few words (prediction reads plain photos so).

    Example:
        >>> decode_photo("nowhere.png")
        'file not found'
    """
    decoded = _decode(Path(path), long_side, None)
    return decoded if isinstance(decoded, str) else decoded[0]


def _decode(
    path: Path, long_side: int | None, declared: tuple[int, int] | None
) -> tuple[np.ndarray, tuple[int, int], bool] | str:
    """``(RGB array, (width, height) before resizing, EXIF rotation ignored)``, or why not.

    The EXIF rotation is applied (what annotation tools show) unless the annotation declares
    the unrotated size: then its boxes were drawn on the image as stored.
    """
    from PIL import Image, ImageOps

    if not path.is_file():
        return "file not found"
    try:
        if path.stat().st_size == 0:
            raise EmptyFile
        with Image.open(path) as img:
            raw = checked_size(img)  # from the header: nothing is decoded yet
            orientation = img.getexif().get(0x0112, 1)
            turned = orientation in _SWAPS
            size = (raw[1], raw[0]) if turned else raw
            ignore = turned and declared == raw and declared != size
            size = raw if ignore else size
            target = _target(size, long_side)
            _draft(img, (target[1], target[0]))  # JPEG: decode at 1/2, 1/4, 1/8 when smaller
            img.load()
            if orientation != 1 and not ignore:
                img = ImageOps.exif_transpose(img)
            img = _to_l_or_rgb(img, 3)
            if img.size != target:
                img = img.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)
            return np.array(img), size, ignore  # a writable copy (asarray's is read-only)
    except (*DECODE_ERRORS, Image.DecompressionBombError) as exc:
        return reason(exc)


def _target(size: tuple[int, int], long_side: int | None) -> tuple[int, int]:
    """(width, height) with the longer side ``long_side`` (None: unchanged)."""
    if long_side is None:
        return size
    f = long_side / max(size)
    return max(1, round(size[0] * f)), max(1, round(size[1] * f))


# ---- boxes ----------------------------------------------------------------------------------
def _add(
    out: DetectionSet,
    record: fmt.Record,
    array: np.ndarray,
    size: tuple[int, int],
    ignored: bool,
    problems: Problems,
    counts: dict[str, int],
) -> bool:
    """Check ``record``'s boxes against the image's real size and append the image (True),
    unless every box it listed was skipped (then it is no negative: False)."""
    width, height = size
    boxes = np.asarray(record.boxes, np.float64).reshape(-1, 4)
    if record.fractions:
        boxes = boxes * [width, height, width, height]
    elif record.size is not None and record.size != size:
        w0, h0 = record.size
        if abs((w0 / h0) / (width / height) - 1) > ASPECT_TOLERANCE:
            why = f"annotated as {w0}x{h0}, the image is {width}x{height}"
            problems.add("size", record.name, why)
            return False
        boxes = boxes * [width / w0, height / h0] * 2  # same photo at another resolution
        counts["rescaled"] += 1
    counts["rotation kept"] += ignored
    index = {c: i for i, c in enumerate(out.classes)}
    ids = np.array([index.get(label, -1) for label in record.labels], np.int64)
    keep = ids >= 0
    for i in np.flatnonzero(~keep):
        problems.add("class", record.where, f"{record.tags[i]}: class '{record.labels[i]}'")
    limit = np.array([width, height, width, height], np.float64)
    slack = limit * OUTSIDE_TOLERANCE + 2
    far = ((boxes[:, :2] < -slack[:2]) | (boxes[:, 2:] > limit[2:] + slack[2:])).any(1)
    clipped = np.clip(boxes, 0, limit)
    empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    gone = (clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1])
    for i in np.flatnonzero(keep & (empty | far | gone)):
        shown = ", ".join(f"{v:g}" for v in np.round(boxes[i], 1))
        if empty[i]:
            problems.add("empty", record.where, f"{record.tags[i]} [{shown}]")
        else:
            why = f"{record.tags[i]} [{shown}] outside the {width}x{height} image"
            problems.add("outside", record.where, why)
    keep &= ~(empty | far | gone)
    if not keep.any() and (len(keep) or record.dropped):
        counts["all skipped"] += 1
        return False
    counts["clipped"] += int((keep & (clipped != boxes).any(1)).sum())
    stored = (array.shape[1] / width, array.shape[0] / height)
    out.images.append(array)
    out.boxes.append((clipped[keep] * [*stored, *stored]).astype(np.float32))
    out.labels.append(ids[keep])
    out.crowd.append(np.array(record.crowd, bool).reshape(-1)[keep])
    out.names.append(record.name)
    out.scales.append(max(array.shape[:2]) / max(width, height))
    counts["negatives"] += not len(keep)
    return True


def _finish(
    out: DetectionSet,
    parsed: fmt.Parsed,
    problems: Problems,
    counts: dict[str, int],
    layout: str,
    path: Path,
) -> None:
    """Notes and skips on ``out``; DataError when nothing usable remains."""
    out.skipped = problems.skipped()
    listed = sum(len(r.boxes) + r.dropped for r in parsed.records)
    if not out.images or (out.n_boxes == 0 and listed):
        what = "no image could be used" if not out.images else "every box was skipped"
        raise DataError(
            f"Nothing usable in '{path}' read as {layout.upper()}: {what} "
            f"({sum(problems.counts.values())} problems, first: {problems.first()}).",
            f"Expected {EXPECTED[layout]}",
        )
    out.notes = [f"read {len(out):,} images with {out.n_boxes:,} boxes as {layout.upper()}"]
    out.notes += parsed.notes + problems.notes()
    if counts["all skipped"]:
        out.notes.append(f"left out {counts['all skipped']} images whose every box was skipped")
    if counts["negatives"]:
        out.notes.append(f"{counts['negatives']} images have no boxes (kept as negatives)")
    if counts["clipped"]:
        out.notes.append(f"clipped {counts['clipped']} boxes that crossed their image's border")
    if counts["rescaled"]:
        out.notes.append(
            f"{counts['rescaled']} images are stored at another resolution than annotated: "
            "their boxes were scaled to match"
        )
    if counts["rotation kept"]:
        out.notes.append(
            f"{counts['rotation kept']} images kept as stored, their EXIF rotation not applied: "
            "their annotated size is the unrotated one, so the boxes were drawn on that"
        )
