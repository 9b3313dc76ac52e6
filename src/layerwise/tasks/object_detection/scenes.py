"""Street-like scenes with boxed cars, pedestrians and signs, and writers for the layouts
:mod:`.annotations` reads (Pascal VOC, COCO, YOLO): data for demos, tests and benchmarks.

* :func:`street_scenes`: a seeded generator. Sky and buildings above a horizon, a road with
  lane marks below, coloured shapes for the objects (a car is a body, a cabin with dark
  windows and two wheels; a pedestrian a head, a torso, arms and legs; a sign a pole with a
  round, triangular or octagonal plate), from 8 px to half the image, nearer ones lower and
  larger, occluding each other; distractors that are no object (bushes, bins, cones, lamp
  posts, posters) and brightness, colour cast and noise that vary by image.
* :func:`write_voc`, :func:`write_coco`, :func:`write_yolo`: write a DetectionSet as PNG
  images with its boxes in that layout.

Everything is drawn with numpy slices and masks over each shape's own rectangle (no loop
over pixels): 2,000 scenes of 128 px take about 3 s on two shared CPU cores.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path, PurePosixPath

import numpy as np

from layerwise.errors import ConfigError
from layerwise.tasks.object_detection.dataset import DetectionSet

SCENE_CLASSES = ("car", "pedestrian", "sign")
MIN_SIDE = 8  # the longer side of an object, in pixels: from 8 to size // 2
MIN_BOX = 6  # a visible box with a shorter longer side is dropped (too hidden to learn)
MIN_VISIBLE = 0.4  # an object more than 60% hidden by others is dropped (it stays drawn)
_SHAPE = {"car": (1.0, 0.6), "pedestrian": (0.35, 1.0), "sign": (0.45, 1.0)}  # width, height
_CAR_COLOURS = np.array([[0.75, 0.1, 0.1], [0.1, 0.2, 0.6], [0.9, 0.9, 0.88], [0.1, 0.1, 0.1],
                         [0.6, 0.62, 0.65], [0.1, 0.4, 0.2], [0.9, 0.75, 0.1]], np.float32)  # fmt: skip
_TROUSERS = np.array([[0.1, 0.15, 0.35], [0.08, 0.08, 0.08], [0.35, 0.25, 0.15], [0.4, 0.4, 0.4]])


def street_scenes(
    n: int,
    size: int = 128,
    seed: int = 0,
    classes: tuple[str, ...] | list[str] = SCENE_CLASSES,
    max_objects: int = 6,
) -> DetectionSet:
    """``n`` square RGB street scenes of ``size`` pixels with their boxes.

    Each scene holds 1 to ``max_objects`` objects of ``classes`` (any of "car",
    "pedestrian", "sign", in the order given: labels index it). An object's longer side is
    8 px to ``size // 2``; its box is the extent of what is left visible, an object more than
    60% hidden is dropped (and stays drawn, as an unlabelled partial object would in a photo),
    so every box's longer side lies between 6 and ``size // 2``. Scene ``i`` depends only on
    ``(seed, i)``: the first scenes of a larger ``n`` are the same.

    Raises:
        ConfigError: an unknown class, ``size`` under 32, ``n`` or ``max_objects`` under 1.

    Example:
        >>> s = street_scenes(3, size=64, seed=1)
        >>> len(s), s.images[0].shape, s.classes
        (3, (64, 64, 3), ['car', 'pedestrian', 'sign'])
    """
    classes = _check(n, size, classes, max_objects)
    # Pixel noise is the costliest draw (0.5 ms an image): drawn once, each scene a crop of it.
    noise = np.random.default_rng([seed, 1 << 40]).standard_normal((2 * size,) * 2 + (3,), "f4")
    images, boxes, labels = [], [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        image, box, label = _scene(rng, size, classes, max_objects, noise)
        images.append(image)
        boxes.append(box)
        labels.append(label)
    return DetectionSet(
        images,
        boxes,
        labels,
        classes,
        names=[f"scene-{i:05d}" for i in range(n)],
        source=f"<street_scenes(n={n}, size={size}, seed={seed})>",
    )


def _check(n: int, size: int, classes: tuple[str, ...] | list[str], max_objects: int) -> list:
    unknown = [c for c in classes if c not in SCENE_CLASSES]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise ConfigError(
            f"classes={list(classes)!r} cannot be drawn.",
            f"Give distinct classes among {', '.join(SCENE_CLASSES)}.",
        )
    for name, value, low in (("n", n, 1), ("size", size, 32), ("max_objects", max_objects, 1)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"{name}={value!r} is not valid.", f"Give an integer >= {low}.")
    return list(classes)


# ---- one scene ------------------------------------------------------------------------------
def _scene(
    rng: np.random.Generator, s: int, classes: list[str], max_objects: int, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene: (image, boxes [n, 4], labels [n])."""
    canvas, horizon = _background(rng, s)
    owner = np.full((s, s), -1, np.int16)  # which object each pixel shows (-1: none)
    items = []  # (bottom, kind, x0, y0, w, h, label)
    low, high = math.log(MIN_SIDE), math.log(s // 2)
    for label in rng.integers(0, len(classes), rng.integers(1, max_objects + 1)):
        name = classes[label]
        t = rng.uniform()
        side = math.exp(low + t * (high - low))
        w = max(3, round(side * _SHAPE[name][0]))
        h = max(3, round(side * _SHAPE[name][1]))
        # perspective: larger objects stand nearer, lower in the image
        lowest = min(s, max(h, horizon + 2))
        bottom = lowest + round((s - lowest) * min(1.0, max(0.0, t + rng.normal(0, 0.25))))
        x0 = int(rng.integers(0, s - w + 1))
        items.append((bottom, name, x0, bottom - h, w, h, int(label)))
    for _ in range(rng.integers(1, 5)):
        w = int(rng.integers(3, s // 5))
        bottom = int(rng.integers(horizon + 2, s + 1))
        kind = str(rng.choice(["bush", "bin", "cone", "lamp"]))
        h = max(2, {"bush": w * 2 // 3, "bin": w, "cone": w, "lamp": min(bottom, 4 * w)}[kind])
        items.append((bottom, kind, int(rng.integers(0, s - w + 1)), bottom - h, w, h, -1))
    items.sort(key=lambda item: item[0])  # farther (higher) first: nearer ones occlude them
    drawn = []  # (object id, region, pixels drawn, label)
    for bottom, kind, x0, y0, w, h, label in items:
        oid = len(drawn) if label >= 0 else -2
        paint = _Paint(canvas, owner, oid, x0, y0, w, h)
        DRAW[kind](paint, rng)
        if label >= 0:
            region = (slice(y0, bottom), slice(x0, x0 + w))
            drawn.append((oid, region, int((owner[region] == oid).sum()), label))
    boxes, labels = [], []
    for oid, region, pixels, label in drawn:
        mine = owner[region] == oid
        if pixels == 0 or mine.sum() < MIN_VISIBLE * pixels:
            continue
        rows, cols = np.flatnonzero(mine.any(1)), np.flatnonzero(mine.any(0))
        box = [region[1].start + cols[0], region[0].start + rows[0]]
        box += [region[1].start + cols[-1] + 1, region[0].start + rows[-1] + 1]
        if max(box[2] - box[0], box[3] - box[1]) >= MIN_BOX:
            boxes.append(box)
            labels.append(label)
    light = rng.uniform(0.6, 1.25) * rng.uniform(0.92, 1.08, 3) * 255  # brightness, colour cast
    canvas *= light.astype(np.float32)
    dy, dx = rng.integers(0, s, 2)
    canvas += noise[dy : dy + s, dx : dx + s] * np.float32(rng.uniform(2.5, 10))
    image = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
    return image, np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64)


def _background(rng: np.random.Generator, s: int) -> tuple[np.ndarray, int]:
    """Sky, buildings with windows, a sidewalk and a road with a dashed lane mark."""
    canvas = np.empty((s, s, 3), np.float32)
    horizon = int(s * rng.uniform(0.3, 0.5))
    top, low = rng.uniform([0.3, 0.45, 0.7], [0.6, 0.75, 1.0]), rng.uniform(0.6, 0.9, 3)
    t = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
    canvas[:horizon] = top * (1 - t) + low * t
    for _ in range(rng.integers(2, 6)):
        x0, x1 = np.sort(rng.integers(0, s, 2))
        y0 = int(rng.integers(horizon // 5, max(horizon // 5 + 1, horizon - 3)))
        wall = canvas[y0:horizon, x0 : x1 + 1]
        wall[:] = rng.uniform(0.25, 0.75) * rng.uniform(0.8, 1.1, 3)
        step = int(rng.integers(4, 9))
        yy, xx = np.ogrid[: wall.shape[0], : wall.shape[1]]
        wall[((yy % step) < step // 2) & ((xx % step) < step // 2)] *= rng.uniform(0.4, 1.4)
    walk = horizon + max(2, s // 16)
    canvas[horizon:walk] = rng.uniform(0.55, 0.75)
    depth = np.linspace(0.85, 1.1, s - walk, dtype=np.float32)[:, None, None]
    canvas[walk:] = rng.uniform(0.25, 0.45) * depth * rng.uniform(0.95, 1.05, 3)
    lane, period = walk + int((s - walk) * rng.uniform(0.4, 0.7)), int(rng.integers(8, 20))
    dashes = ((np.arange(s) + rng.integers(0, period)) % period) < period // 2
    colour = [0.95, 0.95, 0.9] if rng.uniform() < 0.7 else [0.95, 0.8, 0.2]
    canvas[lane : lane + max(1, s // 64), dashes] = colour
    # blotchy texture (coarse noise, upsampled by repetition)
    coarse = rng.standard_normal((s // 8 + 1, s // 8 + 1, 1), np.float32) * 0.015
    canvas += np.repeat(np.repeat(coarse, 8, 0), 8, 1)[:s, :s]
    return canvas, horizon


class _Paint:
    """Draws shapes of one item in its box ``(x0, y0, w, h)``; fractions are of that box."""

    def __init__(self, canvas: np.ndarray, owner: np.ndarray, oid: int, *box: int):
        self.canvas, self.owner, self.oid = canvas, owner, oid
        self.x0, self.y0, self.w, self.h = box

    def _region(self, fx0: float, fy0: float, fx1: float, fy1: float) -> tuple[slice, slice]:
        # never past the item's box: its box is where its pixels are looked for
        right, low = self.x0 + self.w, self.y0 + self.h
        x0 = min(round(self.x0 + fx0 * self.w), right - 1)
        y0 = min(round(self.y0 + fy0 * self.h), low - 1)
        x1 = min(max(x0 + 1, round(self.x0 + fx1 * self.w)), right)
        y1 = min(max(y0 + 1, round(self.y0 + fy1 * self.h)), low)
        s = self.owner.shape[0]
        return slice(max(0, y0), min(s, y1)), slice(max(0, x0), min(s, x1))

    def _fill(self, region: tuple[slice, slice], colour, mask: np.ndarray | None = None) -> None:
        if mask is None:
            self.canvas[region] = colour
            self.owner[region] = self.oid
        else:
            self.canvas[region][mask] = colour
            self.owner[region][mask] = self.oid

    def rect(self, fx0: float, fy0: float, fx1: float, fy1: float, colour) -> None:
        self._fill(self._region(fx0, fy0, fx1, fy1), colour)

    def polygon(self, fx0: float, fy0: float, fx1: float, fy1: float, corners: int, colour,
                turn: float = 0.0) -> None:  # fmt: skip
        """A regular polygon (0 corners: an ellipse) filling the given part of the box."""
        region = self._region(fx0, fy0, fx1, fy1)
        yy, xx = np.ogrid[region[0], region[1]]
        cx, cy = self.x0 + (fx0 + fx1) / 2 * self.w, self.y0 + (fy0 + fy1) / 2 * self.h
        rx, ry = max(0.5, (fx1 - fx0) * self.w / 2), max(0.5, (fy1 - fy0) * self.h / 2)
        u, v = (xx + 0.5 - cx) / rx, (yy + 0.5 - cy) / ry
        if corners == 0:
            self._fill(region, colour, u * u + v * v <= 1)
            return
        angles = turn + 2 * np.pi * np.arange(corners) / corners
        inside = np.ones(np.broadcast_shapes(u.shape, v.shape), bool)
        for a in angles + np.pi / corners:  # inside every edge's half-plane (a convex polygon)
            inside &= u * np.cos(a) + v * np.sin(a) <= np.cos(np.pi / corners)
        self._fill(region, colour, inside)


def _jitter(rng: np.random.Generator, colour, amount: float = 0.06) -> np.ndarray:
    # minimum/maximum: np.clip costs 10x more on three values
    return np.minimum(np.maximum(np.asarray(colour) + rng.uniform(-amount, amount, 3), 0), 1)


def _car(p: _Paint, rng: np.random.Generator) -> None:
    body = _jitter(rng, _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))])
    p.rect(0.18, 0.0, 0.82, 0.45, body * 0.9)  # cabin
    p.rect(0.0, 0.4, 1.0, 0.85, body)
    glass = _jitter(rng, [0.15, 0.2, 0.3])
    p.rect(0.25, 0.08, 0.47, 0.4, glass)
    p.rect(0.53, 0.08, 0.75, 0.4, glass)
    front = rng.uniform() < 0.5
    p.rect(0.0 if front else 0.93, 0.5, 0.07 if front else 1.0, 0.62, [0.95, 0.85, 0.4])
    for fx in (0.1, 0.66):
        p.polygon(fx, 0.6, fx + 0.24, 1.0, 0, [0.05, 0.05, 0.05])


def _pedestrian(p: _Paint, rng: np.random.Generator) -> None:
    skin = _jitter(rng, np.array([0.95, 0.8, 0.65]) * rng.uniform(0.4, 1.0), 0.03)
    clothes = rng.uniform(0.05, 0.95, 3)
    p.rect(0.12, 0.18, 0.88, 0.6, clothes)
    p.rect(0.0, 0.2, 0.14, 0.55, clothes * 0.85)  # arms
    p.rect(0.86, 0.2, 1.0, 0.55, clothes * 0.85)
    trousers = _jitter(rng, _TROUSERS[rng.integers(len(_TROUSERS))])
    p.rect(0.15, 0.58, 0.46, 1.0, trousers)
    p.rect(0.54, 0.58, 0.85, 1.0, trousers)
    p.polygon(0.2, 0.0, 0.8, 0.2, 0, skin)  # head


def _sign(p: _Paint, rng: np.random.Generator) -> None:
    p.rect(0.42, 0.3, 0.58, 1.0, _jitter(rng, [0.55, 0.55, 0.58]))  # pole
    plate = p.w / p.h  # the plate is as tall as the sign is wide
    shape = rng.integers(3)
    if shape == 0:  # round: blue, or white with a red ring
        outer = [0.1, 0.3, 0.8] if rng.uniform() < 0.5 else [0.85, 0.1, 0.1]
        p.polygon(0, 0, 1, plate, 0, _jitter(rng, outer))
        p.polygon(0.2, 0.2 * plate, 0.8, 0.8 * plate, 0, _jitter(rng, [0.95, 0.95, 0.95]))
    elif shape == 1:  # warning triangle, red with a white inside
        p.polygon(0, 0, 1, plate, 3, _jitter(rng, [0.85, 0.1, 0.1]), -np.pi / 2)
        p.polygon(0.25, 0.3 * plate, 0.75, 0.8 * plate, 3, [0.95, 0.95, 0.9], -np.pi / 2)
    else:  # stop octagon
        p.polygon(0, 0, 1, plate, 8, _jitter(rng, [0.8, 0.08, 0.08]), np.pi / 8)
        p.rect(0.2, 0.44 * plate, 0.8, 0.56 * plate, [0.95, 0.95, 0.95])


def _bush(p: _Paint, rng: np.random.Generator) -> None:
    p.polygon(0, 0, 1, 1, 0, _jitter(rng, [0.15, 0.45, 0.15], 0.1))


def _bin(p: _Paint, rng: np.random.Generator) -> None:
    p.rect(0.1, 0.1, 0.9, 1.0, _jitter(rng, [0.35, 0.3, 0.25], 0.15))
    p.rect(0.0, 0.0, 1.0, 0.12, _jitter(rng, [0.2, 0.2, 0.2]))


def _cone(p: _Paint, rng: np.random.Generator) -> None:
    p.polygon(0, 0, 1, 1.3, 3, _jitter(rng, [0.95, 0.45, 0.1]), -np.pi / 2)


def _lamp(p: _Paint, rng: np.random.Generator) -> None:
    p.rect(0.4, 0.05, 0.6, 1.0, _jitter(rng, [0.3, 0.3, 0.32]))
    p.rect(0.2, 0.0, 0.8, 0.06, _jitter(rng, [0.95, 0.9, 0.6]))


DRAW = {"car": _car, "pedestrian": _pedestrian, "sign": _sign, "bush": _bush, "bin": _bin,
        "cone": _cone, "lamp": _lamp}  # fmt: skip


# ---- writers --------------------------------------------------------------------------------
def _stems(scenes: DetectionSet) -> list[str]:
    """A safe, distinct file stem per image, from its name."""
    stems, seen = [], set()
    for i, name in enumerate(scenes.names):
        stem = re.sub(r"[^\w.-]+", "_", PurePosixPath(name).with_suffix("").as_posix())
        stem = stem.strip("._") or f"image-{i}"
        stem = f"{stem}-{i}" if stem in seen else stem
        seen.add(stem)
        stems.append(stem)
    return stems


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, compress_level=1)  # fast: these are test data


def _pixels(box: np.ndarray) -> list[int]:
    """A box as whole pixels (VOC's convention), never empty."""
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    return [x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)]


def write_voc(folder: str | os.PathLike, scenes: DetectionSet) -> Path:
    """Write ``scenes`` as Pascal VOC: ``images/*.png`` and ``annotations/*.xml`` (boxes in
    whole pixels; crowd boxes as ``difficult``). Returns the folder.

    Example:
        >>> import tempfile
        >>> folder = write_voc(tempfile.mkdtemp(), street_scenes(2, size=32))
        >>> sorted(p.name for p in folder.iterdir())
        ['annotations', 'images']
    """
    import xml.etree.ElementTree as ET

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(_stems(scenes)):
        image = scenes.images[i]
        _save_png(folder / "images" / f"{stem}.png", image)
        root = ET.Element("annotation")
        ET.SubElement(root, "folder").text = "images"
        ET.SubElement(root, "filename").text = f"{stem}.png"
        size = ET.SubElement(root, "size")
        for key, value in (("width", image.shape[1]), ("height", image.shape[0]), ("depth", 3)):
            ET.SubElement(size, key).text = str(value)
        for box, label, crowd in zip(
            scenes.boxes[i], scenes.labels[i], scenes.crowd[i], strict=True
        ):
            obj = ET.SubElement(root, "object")
            ET.SubElement(obj, "name").text = scenes.classes[int(label)]
            ET.SubElement(obj, "difficult").text = str(int(crowd))
            bndbox = ET.SubElement(obj, "bndbox")
            for key, value in zip(("xmin", "ymin", "xmax", "ymax"), _pixels(box), strict=True):
                ET.SubElement(bndbox, key).text = str(value)
        ET.indent(root)
        ET.ElementTree(root).write(folder / "annotations" / f"{stem}.xml", encoding="utf-8")
    return folder


def write_coco(
    path_json: str | os.PathLike, images_folder: str | os.PathLike, scenes: DetectionSet
) -> Path:
    """Write ``scenes`` as one COCO JSON (``file_name`` relative to the JSON's folder) and its
    PNG images in ``images_folder``. Returns the JSON's path.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> write_coco(root / "train.json", root / "images", street_scenes(2, size=32)).name
        'train.json'
    """
    path_json, images_folder = Path(path_json), Path(images_folder)
    images_folder.mkdir(parents=True, exist_ok=True)
    path_json.parent.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i, stem in enumerate(_stems(scenes)):
        file = images_folder / f"{stem}.png"
        _save_png(file, scenes.images[i])
        name = Path(os.path.relpath(file, path_json.parent)).as_posix()
        height, width = scenes.images[i].shape[:2]
        images.append({"id": i + 1, "file_name": name, "width": width, "height": height})
        for box, label, crowd in zip(
            scenes.boxes[i], scenes.labels[i], scenes.crowd[i], strict=True
        ):
            x1, y1, x2, y2 = (round(float(v), 2) for v in box)
            annotations.append({
                "id": len(annotations) + 1, "image_id": i + 1, "category_id": int(label) + 1,
                "bbox": [x1, y1, round(x2 - x1, 2), round(y2 - y1, 2)],
                "area": round((x2 - x1) * (y2 - y1), 2), "iscrowd": int(crowd),
            })  # fmt: skip
    categories = [{"id": k + 1, "name": c} for k, c in enumerate(scenes.classes)]
    data = {"images": images, "annotations": annotations, "categories": categories}
    path_json.write_text(json.dumps(data), encoding="utf-8")
    return path_json


def write_yolo(folder: str | os.PathLike, scenes: DetectionSet) -> Path:
    """Write ``scenes`` as YOLO: ``images/*.png``, ``labels/*.txt`` (``class x_center
    y_center width height``, fractions of the image) and ``data.yaml`` with the class names.
    YOLO has no crowd flag: crowd boxes are written as ordinary ones. Returns the folder.

    Example:
        >>> import tempfile
        >>> folder = write_yolo(tempfile.mkdtemp(), street_scenes(2, size=32))
        >>> sorted(p.name for p in folder.iterdir())
        ['data.yaml', 'images', 'labels']
    """
    import yaml

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(_stems(scenes)):
        _save_png(folder / "images" / f"{stem}.png", scenes.images[i])
        height, width = scenes.images[i].shape[:2]
        lines = []
        for box, label in zip(scenes.boxes[i], scenes.labels[i], strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            centre = ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height)
            lines.append(f"{int(label)} {centre[0]:.6f} {centre[1]:.6f} "
                         f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")  # fmt: skip
        (folder / "labels" / f"{stem}.txt").write_text("".join(f"{x}\n" for x in lines))
    data = {"path": ".", "train": "images", "val": "images", "nc": len(scenes.classes),
            "names": list(scenes.classes)}  # fmt: skip
    (folder / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder
