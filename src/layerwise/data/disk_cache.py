"""What every ``--stream`` cache shares: the memory that decides streaming, the fingerprint that
names a cache, and a cache that is complete or absent, written by one process of a machine.

A set too large for memory is written once (decoded images, encoded table rows, token ids)
into ``<output dir>/.cache`` under a name made from a fingerprint of its source files (path,
size, modification time) and of how it was made, so a later run on unchanged files reuses it
and a changed file gets a new one. Its description (a JSON file) is written last, through a
temporary name (:func:`publish`): a run killed while writing leaves no description, and the
next run writes the cache again. In a world of several processes the first process of each
machine writes (:func:`writes_here`) and the others wait for the description
(:func:`wait_for`).

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "a.txt").write_text("x")
    1
    >>> key = fingerprint([folder / "a.txt"], "tokens", 1)
    >>> len(key), key == fingerprint([folder / "a.txt"], "tokens", 2)
    (20, False)
    >>> publish(folder / "about.json", {"rows": 3})
    >>> wait_for(lambda: read_description(folder / "about.json"), "the cache", 1.0)
    {'rows': 3}
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from layerwise.errors import DataError

STREAM_SHARE = 0.25  # of physical memory: a set that would take more streams on its own
WAIT_S = 6 * 3600.0  # how long a process waits for another to write a cache (the DDP timeout)


def physical_memory() -> int | None:
    """Bytes of memory on this machine, None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def too_big(nbytes: float) -> bool:
    """Whether a set taking ``nbytes`` in memory is over :data:`STREAM_SHARE` of this machine's.

    >>> too_big(1), too_big(2**70)
    (False, True)
    """
    memory = physical_memory()
    return memory is not None and nbytes > STREAM_SHARE * memory


def fingerprint(paths: Iterable[Path], *how: Any) -> str:
    """A hash of every file's path, byte size and modification time, and of ``how`` (what the
    cache holds and the settings that made it: a change of either names a new cache)."""
    digest = hashlib.sha256("|".join(map(str, how)).encode())
    for path in paths:
        try:
            stat = Path(path).stat()
            digest.update(f"|{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        except OSError:
            digest.update(f"|{path}|missing".encode())
    return digest.hexdigest()[:20]


def writes_here() -> bool:
    """The first process of a machine writes a cache; the others of a world wait for it."""
    from layerwise.engine.distributed import current_world

    world = current_world()
    return not world.distributed or world.local_rank == 0


def publish(about: Path, described: dict[str, Any]) -> None:
    """Write a cache's description last and whole (a temporary name, then a rename)."""
    about = Path(about)
    partial = about.with_name(f".{about.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(described), encoding="utf-8")
    os.replace(partial, about)


def read_description(about: Path) -> dict[str, Any] | None:
    """The description :func:`publish` wrote, or None (absent, unreadable, not an object)."""
    try:
        described = json.loads(Path(about).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return described if isinstance(described, dict) else None


def wait_for(found: Callable[[], Any], what: str, seconds: float | None = None) -> Any:
    """Poll ``found`` (None until the cache is complete) for up to ``seconds`` (None:
    :data:`WAIT_S`)."""
    seconds = WAIT_S if seconds is None else seconds
    began = time.monotonic()
    while True:
        result = found()
        if result is not None:
            return result
        if time.monotonic() - began >= seconds:
            raise DataError(f"{what} did not appear in {seconds / 3600:g} h.",
                            "Check that the first process of this machine is running.")  # fmt: skip
        time.sleep(min(1.0, seconds / 10))
