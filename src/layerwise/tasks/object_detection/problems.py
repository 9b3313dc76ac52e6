"""What a reader skipped, by kind: every problem counted, the first few named in the notes."""

from __future__ import annotations

FIRST_NAMED = 3  # problems named in a note
MAX_LISTED = 1000  # problems of one kind kept in DetectionSet.skipped (all are counted)

# What each kind of problem is called in the notes ("skipped 3 boxes outside their image").
KINDS = {
    "file": "annotation files that could not be used",
    "missing": "annotations naming a missing image",
    "image": "images that could not be read",
    "size": "images whose annotated size does not match the file",
    "line": "YOLO lines that are not 'class x_center y_center width height'",
    "box": "boxes with a missing or bad value",
    "category": "COCO annotations with an unknown category_id or image_id",
    "empty": "boxes with zero or negative area",
    "outside": "boxes outside their image",
    "class": "boxes of a class not in the given classes",
}


class Problems:
    """Skipped files, images and boxes, by kind: all counted, the first ones named."""

    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}

    def add(self, kind: str, where: str, why: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        items = self.found.setdefault(kind, [])
        if len(items) < MAX_LISTED:
            items.append(f"{where}: {why}")

    def skipped(self) -> list[str]:
        return [item for items in self.found.values() for item in items]

    def notes(self) -> list[str]:
        return [
            f"skipped {self.counts[kind]} {KINDS[kind]} (first: {'; '.join(items[:FIRST_NAMED])})"
            for kind, items in self.found.items()
        ]

    def first(self) -> str:
        """The first few problems, for an error message."""
        items = self.skipped()[:FIRST_NAMED]
        return "; ".join(items) if items else "no annotated image found"
