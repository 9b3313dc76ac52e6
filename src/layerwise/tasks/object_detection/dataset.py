"""The one structure every part of object detection passes around: images with their boxes.

Readers (:mod:`.annotations`) and the scene generator (:mod:`.scenes`) build a
:class:`DetectionSet`; the candidates train on one and predict :class:`Detections` for its
images; the metrics (:mod:`.average_precision`) compare the two. Boxes are ``[x1, y1, x2, y2]``
in pixels of the image as stored here (already resized to the reading size): x1 < x2, y1 < y2,
inside ``[0, width] x [0, height]``. ``scales[i]`` maps them back to the original photo:
``original = box / scales[i]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class DetectionSet:
    """Images (``uint8``, ``[height, width, 3]`` RGB, sizes may differ) and their boxes.

    >>> image = np.zeros((20, 30, 3), np.uint8)
    >>> s = DetectionSet([image], [np.array([[1, 2, 10, 12]], np.float32)], [np.array([0])], ["car"])
    >>> len(s), s.n_boxes, s.subset([0]).classes
    (1, 1, ['car'])
    """

    images: list[np.ndarray]
    boxes: list[np.ndarray]  # each [n, 4] float32, x1 y1 x2 y2 in this image's pixels
    labels: list[np.ndarray]  # each [n] int64, indices into ``classes``
    classes: list[str]
    names: list[str] = field(default_factory=list)  # file names (or generated ids), one per image
    scales: list[float] = field(default_factory=list)  # stored size / original size
    crowd: list[np.ndarray] = field(default_factory=list)  # each [n] bool: COCO iscrowd boxes
    source: str = ""
    skipped: list[str] = field(default_factory=list)  # "name: reason", one per dropped image/box
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.images)
        if not self.names:
            self.names = [f"image-{i}" for i in range(n)]
        if not self.scales:
            self.scales = [1.0] * n
        if not self.crowd:
            self.crowd = [np.zeros(len(b), bool) for b in self.boxes]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def n_boxes(self) -> int:
        return int(sum(len(b) for b in self.boxes))

    def subset(self, index: list[int] | np.ndarray) -> DetectionSet:
        """The images at ``index`` with their boxes (same classes, source and notes)."""
        index = [int(i) for i in index]
        return DetectionSet(
            [self.images[i] for i in index],
            [self.boxes[i] for i in index],
            [self.labels[i] for i in index],
            list(self.classes),
            [self.names[i] for i in index],
            [self.scales[i] for i in index],
            [self.crowd[i] for i in index],
            self.source,
            list(self.skipped),
            list(self.notes),
        )


@dataclass
class Detections:
    """What a detector found in one image: boxes ``[n, 4]`` (same coordinates as the image it
    was given), scores ``[n]`` in [0, 1], labels ``[n]`` (class indices), best score first."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.scores)

    def scaled(self, factor: float) -> Detections:
        """The same detections with boxes multiplied by ``factor`` (1 / scale: to the original)."""
        return Detections(self.boxes * factor, self.scores, self.labels)
