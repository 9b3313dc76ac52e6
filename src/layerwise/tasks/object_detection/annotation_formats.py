"""The four annotation layouts (Pascal VOC, COCO, YOLO, CSV) parsed into one plain form.

Each parser turns annotation files into :class:`Record` s (an image path and its boxes as the
file gives them, nothing decoded yet) and counts every problem in a
:class:`.problems.Problems`.
:mod:`.annotations` then decodes the images, checks the boxes against the real image sizes
and builds the :class:`~.dataset.DetectionSet`. Nothing here trusts a size read from an
annotation to allocate memory: files are size-capped before they are read, and images are
decoded (with their own limits) only in :mod:`.annotations`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerwise.data.images import IMAGE_EXTENSIONS
from layerwise.errors import DataError
from layerwise.tasks.object_detection.problems import Problems

# Annotation files are read whole, so each is capped before reading: a COCO JSON of 50 MB
# parses to about 0.5 GB of Python objects; one image's XML or label file is a few KB.
MAX_JSON_BYTES = 50 << 20
MAX_TABLE_BYTES = 50 << 20
MAX_FILE_BYTES = 1 << 20
CSV_COLUMNS = ("filename", "class", "xmin", "ymin", "xmax", "ymax")
_VOC_ROOT = re.compile(rb"<annotation[\s>]")


@dataclass
class Record:
    """One image and its boxes as its annotation gives them (before the image is read)."""

    image: Path
    name: str  # the image path relative to the dataset root
    where: str  # the annotation file, for messages
    boxes: list[tuple[float, ...]] = field(default_factory=list)  # x1 y1 x2 y2
    labels: list[str] = field(default_factory=list)
    crowd: list[bool] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # "box 2", "line 3": which box, in messages
    size: tuple[int, int] | None = None  # (width, height) the annotation declares
    fractions: bool = False  # YOLO: boxes in fractions of the image's width and height
    dropped: int = 0  # boxes skipped while parsing: with none left, the image is no negative

    def add(self, box: tuple[float, ...], label: str, crowd: bool, tag: str) -> None:
        self.boxes.append(box)
        self.labels.append(label)
        self.crowd.append(crowd)
        self.tags.append(tag)


@dataclass
class Parsed:
    records: list[Record]
    classes: list[str] | None  # declared order (COCO, YOLO); None: the names found, sorted
    root: Path
    notes: list[str] = field(default_factory=list)


# ---- files ----------------------------------------------------------------------------------
def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def read_capped(path: Path, limit: int) -> bytes | str:
    """The file's bytes, or why not (too large, unreadable)."""
    try:
        size = path.stat().st_size
        if size > limit:
            return f"{size / 2**20:.1f} MB, over the {limit >> 20} MB allowed for it"
        return path.read_bytes()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"


def read_main(path: Path, limit: int, layout: str) -> bytes:
    """A dataset's one annotation file (COCO JSON, CSV, data.yaml); DataError if unusable."""
    data = read_capped(path, limit)
    if isinstance(data, str):
        raise DataError(
            f"The {layout} file '{path}' is {data}.",
            "Split it into smaller files (one per part of the dataset) and read each.",
        )
    return data


def the_one(found: list[Path], folder: Path, what: str) -> Path:
    if len(found) != 1:
        names = ", ".join(p.relative_to(folder).as_posix() for p in found)
        raise DataError(f"'{folder}' holds {len(found)} {what} ({names or 'none'}).",
                        "Give the path of the one to read.")  # fmt: skip
    return found[0]


def find_image(name: str, bases: list[Path], stem: str | None = None) -> Path | None:
    """The first ``base / name`` that is a file; else, an image named ``stem`` + an extension."""
    name = name.strip().replace("\\", "/")
    if name:
        given = Path(name)
        if given.is_absolute() and given.is_file():
            return given
        for base in bases:
            if (base / name).is_file():
                return base / name
    for base in bases if stem else []:
        for ext in IMAGE_EXTENSIONS:
            for candidate in (base / f"{stem}{ext}", base / f"{stem}{ext.upper()}"):
                if candidate.is_file():
                    return candidate
    return None


def finite(values: list[Any]) -> tuple[float, ...] | str:
    """The values as floats, or why not (the first bad one named)."""
    out = []
    for v in values:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            bad = str(v or "").strip()
            return f"'{bad[:20]}' is not a number" if bad else "a value is missing"
        if not math.isfinite(out[-1]):
            return f"{v} is not a finite number"
    return tuple(out)


# ---- Pascal VOC -----------------------------------------------------------------------------
def voc_folders(root: Path) -> tuple[list[Path], list[Path]]:
    """(XML files, folders the images may be in) of a VOC folder; no XML: ([], [])."""
    image_dirs = [root / d for d in ("images", "JPEGImages", "Images")] + [root]
    for ann in (root / "annotations", root / "Annotations", *image_dirs):
        xmls = sorted(p for p in ann.glob("*.xml") if p.is_file()) if ann.is_dir() else []
        if xmls and _VOC_ROOT.search(read_head(xmls[0])):
            return xmls, [d for d in [ann, *image_dirs] if d.is_dir()]
    return [], []


def read_head(path: Path, n: int = 4096) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(n).replace(b"\x00", b"")  # UTF-16 text reads as its ASCII letters
    except OSError:
        return b""


def parse_voc(root: Path, problems: Problems) -> Parsed:
    xmls, bases = voc_folders(root)
    records = [r for x in xmls if (r := _voc_file(x, root, bases, problems)) is not None]
    return Parsed(records, None, root)


def _safe_xml(data: bytes) -> ET.Element | str:
    """The parsed root, or why not. A DTD or entity declaration is refused: entities can
    expand a small file into gigabytes ("billion laughs") and nothing in VOC needs them."""
    try:
        import defusedxml.ElementTree as safe_et  # type: ignore[import-untyped]
    except ImportError:
        safe_et = None
    plain = data.replace(b"\x00", b"").upper()  # UTF-16 text reads as its ASCII letters
    if b"<!DOCTYPE" in plain or b"<!ENTITY" in plain:
        return "declares a DTD or entities, refused (entities can expand without bound)"
    try:
        return (safe_et or ET).fromstring(data)
    except Exception as exc:  # ParseError, or defusedxml's refusals
        return f"not valid XML ({str(exc)[:60] or type(exc).__name__})"


def _voc_file(xml: Path, root: Path, bases: list[Path], problems: Problems) -> Record | None:
    where = relative(xml, root)
    data = read_capped(xml, MAX_FILE_BYTES)
    tree = _safe_xml(data) if isinstance(data, bytes) else data
    if isinstance(tree, str):
        problems.add("file", where, tree)
        return None
    size = finite([tree.findtext(f"size/{k}") or "" for k in ("width", "height")])
    if isinstance(size, str) or min(size) < 1 or not all(v.is_integer() for v in size):
        why = (
            f"bad <size> ({size})" if "not" in str(size) else "no <size> with <width> and <height>"
        )
        problems.add("file", where, f"{why} (needed to tell how the boxes were drawn)")
        return None
    filename = Path((tree.findtext("filename") or "").strip().replace("\\", "/")).name
    image = find_image(filename, [xml.parent, *bases], stem=Path(filename).stem or xml.stem)
    if image is None and filename:  # a stale <filename>: the XML is named after its image
        image = find_image("", [xml.parent, *bases], stem=xml.stem)
    if image is None:
        problems.add("missing", where, f"image '{filename or xml.stem}' not found")
        return None
    record = Record(image, relative(image, root), where, size=(int(size[0]), int(size[1])))
    for k, obj in enumerate(tree.iter("object"), 1):
        label = (obj.findtext("name") or "").strip()
        coords = finite(
            [obj.findtext(f"bndbox/{t}") or "" for t in ("xmin", "ymin", "xmax", "ymax")]
        )
        if not label or isinstance(coords, str):
            record.dropped += 1
            problems.add("box", where, f"box {k}: " + ("no <name>" if not label else coords))
            continue
        # VOC marks hard boxes "difficult"; its evaluation ignores them, which crowd does here.
        difficult = (obj.findtext("difficult") or "0").strip().lower() in ("1", "true")
        record.add(coords, label, difficult, f"box {k}")
    return record


# ---- COCO -----------------------------------------------------------------------------------
def is_coco(path: Path) -> bool:
    """Whether the JSON file has COCO's three keys (a file too large to check: "images")."""
    data = read_capped(path, MAX_JSON_BYTES)
    if isinstance(data, str):  # reading it will say clearly that it is too large
        return b'"images"' in read_head(path, 1 << 20)
    return all(f'"{k}"'.encode() in data for k in ("images", "annotations", "categories"))


def coco_files(root: Path) -> list[Path]:
    """JSON files in ``root`` or ``root/annotations`` that have COCO's three keys."""
    found = []
    for folder in (root, root / "annotations"):
        jsons = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if len(jsons) <= 10:  # more: one JSON per image (LabelMe & co), not COCO's per split
            found += [p for p in jsons if is_coco(p)]
    return found


def parse_coco(path: Path, problems: Problems) -> Parsed:
    root = path if path.is_dir() else path.parent
    path = the_one(coco_files(path), path, "COCO JSON files") if path.is_dir() else path
    try:
        data = json.loads(read_main(path, MAX_JSON_BYTES, "COCO"))
        images, anns, cats = data["images"], data["annotations"], data["categories"]
        categories = {c["id"]: str(c["name"]) for c in cats}
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"'{path.name}' is not a COCO JSON ({type(exc).__name__}: {str(exc)[:60]}).",
            "COCO needs 'images' (id, file_name, width, height), 'annotations' (image_id, "
            "category_id, bbox [x, y, width, height]) and 'categories' (id, name).",
        ) from exc
    bases = [path.parent, path.parent / "images", path.parent.parent, path.parent.parent / "images"]
    if "_" in path.stem:  # COCO itself: annotations/instances_val2017.json beside val2017/
        bases.append(path.parent.parent / path.stem.split("_")[-1])
    where, by_id, declared_ids = path.name, {}, set()
    for k, img in enumerate(images if isinstance(images, list) else []):
        entry = img if isinstance(img, dict) else {}
        declared_ids.add(entry.get("id"))
        name = str(entry.get("file_name", ""))
        size = finite([entry.get("width", ""), entry.get("height", "")])
        image = find_image(name, bases) if name else None
        if image is None:
            problems.add("missing", where, f"image {entry.get('id', k)}: '{name}' not found")
            continue
        declared = None if isinstance(size, str) or min(size) < 1 else (int(size[0]), int(size[1]))
        by_id[entry.get("id")] = Record(image, relative(image, root), where, size=declared)
    for k, ann in enumerate(anns if isinstance(anns, list) else []):
        ann = ann if isinstance(ann, dict) else {}
        tag = f"annotation {ann.get('id', k)}"
        if ann.get("image_id") not in by_id:
            if ann.get("image_id") not in declared_ids:  # a missing image was counted once
                problems.add("category", where, f"{tag}: image_id {ann.get('image_id')} unknown")
            continue
        if ann.get("category_id") not in categories:
            by_id[ann["image_id"]].dropped += 1
            problems.add("category", where, f"{tag}: category_id {ann.get('category_id')} unknown")
            continue
        bbox = ann.get("bbox")
        values = finite(bbox) if isinstance(bbox, list) and len(bbox) == 4 else "no [x, y, w, h]"
        if isinstance(values, str):
            by_id[ann["image_id"]].dropped += 1
            problems.add("box", where, f"{tag}: bbox {values}")
            continue
        x, y, w, h = values
        crowd = bool(ann.get("iscrowd", 0))  # kept, then ignored by the metrics (COCO's rule)
        by_id[ann["image_id"]].add((x, y, x + w, y + h), categories[ann["category_id"]], crowd, tag)
    names = list(dict.fromkeys(categories.values()))  # declared order; a repeated name merged
    return Parsed(list(by_id.values()), names, root)


# ---- YOLO -----------------------------------------------------------------------------------
def yolo_root(path: Path) -> Path | None:
    """The YOLO dataset folder ``path`` is (or whose data.yaml it is), or None."""
    if path.is_file():
        return path.parent if path.suffix.lower() in (".yaml", ".yml") else None
    for pattern in ("labels/**/*.txt", "*/labels/*.txt"):
        if next((p for p in path.glob(pattern) if p.name != "classes.txt"), None):
            return path
    images = (p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    return path if (path / "classes.txt").is_file() and next(images, None) else None


def _yolo_names(root: Path, path: Path) -> tuple[list[str] | None, str]:
    import yaml

    yamls = [path] if path.is_file() else sorted([*root.glob("*.yaml"), *root.glob("*.yml")])
    for file in yamls:
        try:
            names = yaml.safe_load(read_main(file, MAX_FILE_BYTES, "YOLO")).get("names")
        except (yaml.YAMLError, AttributeError, UnicodeDecodeError):
            continue
        if isinstance(names, dict):
            index = {int(k): str(v) for k, v in names.items() if str(k).strip().isdigit()}
            names = [index.get(i, str(i)) for i in range(max(index, default=-1) + 1)]
        if isinstance(names, list) and names:
            return [str(n) for n in names], file.name
    for file in (root / "classes.txt", root / "labels" / "classes.txt"):
        if file.is_file():
            text = read_main(file, MAX_FILE_BYTES, "YOLO").decode("utf-8", "replace")
            return [line.strip() for line in text.splitlines() if line.strip()], file.name
    return None, ""


def parse_yolo(path: Path, problems: Problems, given: list[str] | None) -> Parsed:
    root = yolo_root(path) or (path if path.is_dir() else path.parent)
    names, names_from = _yolo_names(root, path)
    notes = []
    if names is None:
        names = list(given) if given else None
        notes.append(
            "no data.yaml or classes.txt: class numbers "
            + ("read as the given classes, in order" if given else "used as class names")
        )
    records, unlabelled = [], 0
    for image in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS):
        rel = image.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        parts = list(rel.parts)
        if "images" in parts:  # Ultralytics' rule: the last "images" folder becomes "labels"
            i = len(parts) - 1 - parts[::-1].index("images")
            parts[i] = "labels"
        label = (root / Path(*parts)).with_suffix(".txt")
        label = label if label.is_file() else image.with_suffix(".txt")
        if not label.is_file():
            unlabelled += 1
            continue
        record = Record(image, rel.as_posix(), relative(label, root), fractions=True)
        if _yolo_lines(label, record, names, problems):
            records.append(record)
    if unlabelled:
        notes.append(f"left out {unlabelled} images without a label file")
    if names is None:
        found = {int(lab) for r in records for lab in r.labels}
        names = [str(i) for i in range(max(found, default=-1) + 1)]
    elif names_from:
        notes.append(f"class names from {names_from}")
    return Parsed(records, names, root, notes)


def _yolo_lines(label: Path, record: Record, names: list[str] | None, problems: Problems) -> bool:
    data = read_capped(label, MAX_FILE_BYTES)
    if isinstance(data, str):
        problems.add("file", record.where, data)
        return False
    for k, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            got = _yolo_box(fields, names)
            if isinstance(got, str):
                record.dropped += 1
                problems.add(
                    "outside" if "over 1" in got else "line", record.where, f"line {k}: {got}"
                )
            else:
                record.add(got[0], got[1], False, f"line {k}")
    return True


def _yolo_box(fields: list[str], names: list[str] | None) -> tuple[tuple, str] | str:
    """(box in fractions, class name) of one label line, or why not."""
    # 5 numbers: a box; an odd count from 7 on: a polygon (YOLO segmentation), boxed here
    if len(fields) != 5 and (len(fields) < 7 or len(fields) % 2 == 0):
        return f"{len(fields)} fields, expected 5 (class x_center y_center width height)"
    values = finite(fields)
    if isinstance(values, str):
        return values
    if not values[0].is_integer() or values[0] < 0:
        return f"class '{fields[0]}' is not a class number"
    cls = int(values[0])
    if names is not None and cls >= len(names):
        return f"class {cls}, only {len(names)} classes named"
    if len(values) == 5:
        cx, cy, w, h = values[1:]
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    else:
        xs, ys = values[1::2], values[2::2]
        box = (min(xs), min(ys), max(xs), max(ys))
    if max(abs(v) for v in box) > 2:
        return "values over 1 (YOLO boxes are fractions of the image size, not pixels)"
    return box, names[cls] if names is not None else str(cls)


# ---- CSV ------------------------------------------------------------------------------------
def csv_tables(root: Path) -> list[Path]:
    """CSV files in ``root`` whose header has the columns of a box table."""
    found = []
    for path in sorted(root.glob("*.csv")) if root.is_dir() else [root]:
        head = read_head(path, 4096).decode("utf-8-sig", "replace").splitlines()[:1]
        columns = {c.strip().lower() for c in head[0].split(",")} if head else set()
        if set(CSV_COLUMNS) <= columns:
            found.append(path)
    return found


def parse_csv(path: Path, problems: Problems) -> Parsed:
    path = the_one(csv_tables(path), path, "CSV files with box columns") if path.is_dir() else path
    text = read_main(path, MAX_TABLE_BYTES, "CSV").decode("utf-8-sig", "replace")
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower(): c for c in reader.fieldnames or []}
    missing = [c for c in CSV_COLUMNS if c not in columns]
    if missing:
        raise DataError(
            f"'{path.name}' has no column {', '.join(missing)} (columns: "
            f"{', '.join(list(columns)[:10])}).",
            "A box table needs filename,width,height,class,xmin,ymin,xmax,ymax, one row a box.",
        )
    root, where, records = path.parent, path.name, {}
    bases = [root, root / "images"]
    for k, row in enumerate(reader, 2):  # line numbers as an editor shows them
        get = {c: (row.get(orig) or "").strip() for c, orig in columns.items()}
        name = get["filename"]
        if name not in records:
            image = find_image(name, bases)
            size = finite([get.get("width", ""), get.get("height", "")])
            declared = None if isinstance(size, str) or min(size) < 1 else tuple(map(int, size))
            records[name] = image and Record(image, relative(image, root), where, size=declared)
            if image is None:
                problems.add("missing", where, f"line {k}: image '{name}' not found")
        record = records[name]
        coords = [get[c] for c in ("xmin", "ymin", "xmax", "ymax")]
        if record is None or not any(coords):  # a row without a box: an image with none
            continue
        values = finite(coords)
        if isinstance(values, str) or not get["class"]:
            record.dropped += 1
            problems.add("box", where, f"line {k}: " + (values if isinstance(values, str)
                         else "no class"))  # fmt: skip
            continue
        record.add(values, get["class"], False, f"line {k}")
    return Parsed([r for r in records.values() if r is not None], None, root)
