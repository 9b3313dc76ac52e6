"""``layerwise predict RUN photos/ -o predictions.parquet --batch-size 4096``: a folder of any
size predicted a chunk of files at a time, in memory of one chunk (see
:func:`layerwise.serve.batch.predict_file`, which writes each chunk's rows as they come).

Files are listed once (their paths only), in sorted order, under every subfolder; each chunk is
decoded at the run's size and channels and predicted; unreadable files are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from layerwise.errors import ConfigError, DataError


class ImageChunks:
    """The image files under ``folder`` as ImageSets of ``batch_size`` files; ``done`` files
    so far and ``notes`` on the chunks that held nothing readable."""

    def __init__(self, task: Any, folder: str | Path, batch_size: int):
        from layerwise.data.images import IMAGE_EXTENSIONS

        self.task, self.folder, self.batch_size = task, Path(folder), int(batch_size)
        if not self.folder.is_dir():
            raise ConfigError(f"--batch-size on an image run predicts a folder of images; "
                              f"'{folder}' is not a folder.",
                              "Give a folder, or leave out --batch-size for one file.")  # fmt: skip
        self.paths = sorted(
            p for p in self.folder.rglob("*")
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(self.folder).parts)
        )  # fmt: skip
        if not self.paths:
            raise DataError(f"No image files under '{folder}'.", "Check the folder.")
        self.done = 0
        self.notes: list[str] = []

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Any]:
        from layerwise.data.image_files import Files, decode_files
        from layerwise.data.image_set import Options

        options = Options(tuple(self.task.size), self.task.channels, list(self.task.classes),
                          False, stream=False)  # fmt: skip
        for start in range(0, len(self.paths), self.batch_size):
            paths = self.paths[start : start + self.batch_size]
            names = [p.relative_to(self.folder).as_posix() for p in paths]
            try:
                images = decode_files(Files(paths, names), self.folder, options)
            except DataError:
                self.notes.append(f"files {start + 1:,}-{start + len(paths):,}: none readable")
                images = None
            self.done += len(paths)
            if images is not None:
                yield images
