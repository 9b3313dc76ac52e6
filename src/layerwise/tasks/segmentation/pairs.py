"""Finding each image's mask in a folder, the way public segmentation sets are laid out.

A folder holds an image folder and a mask folder, under the names people use (``images/`` +
``masks/``, ``image/`` + ``label/``, ``images/`` + ``1st_manual/``, ...), possibly under a
``train/`` folder, and optionally a region-of-interest folder (``roi/``, ``fov/``, or ``mask/``
beside another mask folder, as in the DRIVE retina set) whose zero pixels are left out of the
loss and the scores. An image and its mask are matched by file stem; failing that, by the
identifier the two names share once the words sets add (``training``, ``manual1``, ``mask``,
...) are dropped: ``21_training.tif`` goes with ``21_manual1.gif``, ``img_004.png`` with
``img_004_mask.png``. Images without a mask and masks without an image are counted and named.

Example:
    >>> identifier("21_training.tif"), identifier("21_manual1.gif"), identifier("img_004_mask.png")
    ('21', '21', '004')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from layerwise.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp")
IMAGE_FOLDERS = ("images", "image", "imgs", "img", "inputs", "input", "raw")
MASK_FOLDERS = ("masks", "labels", "label", "1st_manual", "manual", "annotations", "gt",
                "groundtruth", "ground_truth", "segmentations", "mask")  # fmt: skip
ROI_FOLDERS = ("roi", "fov", "rois")
SPLIT_FOLDERS = ("train", "training")
# Words that name a file's role rather than which image it is: dropped when matching names.
ROLE_WORDS = {"mask", "masks", "manual", "manual1", "manual2", "label", "labels", "gt", "seg",
              "segmentation", "annotation", "anno", "training", "train", "test", "testing",
              "image", "img", "roi", "fov", "groundtruth"}  # fmt: skip
MAX_FILES = 1_000_000


@dataclass
class Pairs:
    """Matched files: ``images[i]`` goes with ``masks[i]`` (and ``rois[i]``, None without one);
    ``unmatched``: names of files left out, with why."""

    images: list[Path]
    masks: list[Path]
    rois: list[Path | None]
    unmatched: list[str] = field(default_factory=list)
    layout: str = ""


def identifier(name: str) -> str:
    """The part of a file name that says which image it is: the stem without role words."""
    stem = Path(name).stem.lower()
    words = [w for w in re.split(r"[_\-.\s]+", stem) if w]
    kept = [w for w in words if w not in ROLE_WORDS]
    return "_".join(kept) if kept else stem


def _files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.iterdir()):
        if (
            path.is_file()
            and path.suffix.lower() in IMAGE_SUFFIXES
            and not path.name.startswith(".")
        ):
            files.append(path)
            if len(files) > MAX_FILES:
                raise DataError(f"'{folder}' holds over {MAX_FILES:,} images.",
                                "Split the set into smaller folders.")  # fmt: skip
    return files


def _subfolder(folder: Path, names: tuple[str, ...], exclude: Path | None = None) -> Path | None:
    present = {p.name.lower(): p for p in folder.iterdir() if p.is_dir()}
    for name in names:
        if name in present and present[name] != exclude:
            return present[name]
    return None


def find_layout(folder: Path) -> tuple[Path, Path, Path | None]:
    """The image, mask and region-of-interest folders of ``folder`` (or of its ``train/``)."""
    folder = Path(folder)
    for root in [folder] + [p for p in (_subfolder(folder, SPLIT_FOLDERS),) if p is not None]:
        images = _subfolder(root, IMAGE_FOLDERS)
        if images is None:
            continue
        masks = _subfolder(root, MASK_FOLDERS)
        roi = _subfolder(root, ROI_FOLDERS)
        if masks is not None and masks.name.lower() != "mask" and roi is None:
            # "mask/" beside a folder of manual labels is DRIVE's field of view: a region
            roi = _subfolder(root, ("mask",))
        if masks is not None:
            return images, masks, roi
    raise DataError(
        f"'{folder}' has no image folder beside a mask folder.",
        "Lay it out as images/ + masks/ (or image/ + label/, images/ + 1st_manual/), with the "
        "same file names or names that share an identifier (img_1.png, img_1_mask.png).",
    )


def pair_files(folder: str | Path) -> Pairs:
    """Every image of ``folder``'s layout matched with its mask (and region of interest)."""
    images_dir, masks_dir, roi_dir = find_layout(Path(folder))
    images, masks = _files(images_dir), _files(masks_dir)
    rois = _files(roi_dir) if roi_dir is not None else []
    by_stem = {p.stem.lower(): p for p in masks}
    by_id: dict[str, list[Path]] = {}
    for p in masks:
        by_id.setdefault(identifier(p.name), []).append(p)
    roi_by_id = {identifier(p.name): p for p in rois}
    pairs = Pairs([], [], [], layout=f"{images_dir.name}/ + {masks_dir.name}/"
                  + (f" + {roi_dir.name}/ (region of interest)" if roi_dir else ""))  # fmt: skip
    used: set[Path] = set()
    for image in images:
        mask = by_stem.get(image.stem.lower())
        if mask is None:
            candidates = by_id.get(identifier(image.name), [])
            mask = candidates[0] if len(candidates) == 1 else None
            if len(candidates) > 1:
                pairs.unmatched.append(f"{image.name}: {len(candidates)} masks share its name")
                continue
        if mask is None or mask in used:
            pairs.unmatched.append(f"{image.name}: no mask")
            continue
        used.add(mask)
        pairs.images.append(image)
        pairs.masks.append(mask)
        pairs.rois.append(roi_by_id.get(identifier(image.name)))
    pairs.unmatched += [f"{m.name}: no image" for m in masks if m not in used]
    if not pairs.images:
        raise DataError(
            f"No image in '{images_dir}' has a mask in '{masks_dir}' ({len(images)} images, "
            f"{len(masks)} masks).",
            "Give each mask its image's file name, or a name that shares its identifier "
            "(img_1.png with img_1_mask.png).",
        )
    return pairs
