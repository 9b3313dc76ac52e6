"""Create, write and verify run folders.

Every file is written atomically (temp name, fsync, rename). ``manifest.json`` is written
last and lists every file with its sha256, so a folder without a manifest is an
interrupted run, and a file whose hash differs has been changed since: both are clear
errors at load time. Nothing here uses pickle.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from layerwise.errors import RunFolderError
from layerwise.io import atomic_write, sha256_of
from layerwise.runs.verify import (
    MAX_JSON_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_YAML_BYTES,
    hash_members,
    parse_json,
    parse_yaml,
    read_member_bytes,
    safe_member_name,
    validate_manifest,
)

MANIFEST = "manifest.json"
CONFIG = "config.yaml"
SCHEMA = "schema.json"
PREPROCESS = "preprocess.json"
METRICS = "metrics.json"
HISTORY = "history.csv"
DECISION = "decision.md"
REPORT = "report.html"
PREDICTIONS = "test_predictions.csv"
IMPORTANCE = "importance.json"
RELIABILITY = "reliability.json"  # a classifier's test confidence against its accuracy
THRESHOLD_CURVES = "threshold_curves.json"  # a two-class classifier's metrics at each cut
CHECKPOINTS = "checkpoints"


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def library_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("layerwise", "torch", "numpy", "pandas", "scikit-learn", "lightgbm", "catboost"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


class RunFolder:
    """One run folder on disk.

    >>> import tempfile
    >>> run = RunFolder.create(tempfile.mkdtemp(), "tabular-classification")
    >>> run.write_json("metrics.json", {"accuracy": 1.0})
    >>> run.finalize({"task": "tabular-classification"})
    >>> RunFolder.open(run.path).read_json("metrics.json")
    {'accuracy': 1.0}
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        # Set by open(): the manifest, the files it lists (the only ones that can be read)
        # and the folders they are in. None while a folder is being written.
        self._manifest: dict[str, Any] | None = None
        self._members: set[str] | None = None
        self._member_dirs: set[str] = set()

    # ---- creating ------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | os.PathLike, task: str) -> RunFolder:
        root = Path(root)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = root / f"{stamp}-{task}"
        suffix = 1
        while path.exists():
            suffix += 1
            path = root / f"{stamp}-{task}-{suffix}"
        path.mkdir(parents=True)
        return cls(path)

    def file(self, name: str) -> Path:
        """The path of ``name`` in this folder: a plain relative name (no ``..``, not absolute).
        In a folder opened for reading, ``name`` must also be listed in the manifest (or be a
        folder of listed files), so names read from the folder's own JSON files cannot point
        at a file nobody hashed."""
        safe_member_name(name)
        if (
            self._members is not None
            and name not in self._members
            and name not in self._member_dirs
        ):
            raise RunFolderError(
                f"Run folder '{self.path}' refers to '{name}', which its manifest does not list.",
                "A run folder reads only the files its manifest lists with their sha256; "
                "use a run folder written by `layerwise train`.",
            )
        return self.path / name

    def _target(self, name: str) -> Path:
        """Where to write ``name``: a plain relative name, listed or not (writing a report or an
        export into an opened folder adds files; finalize() lists them)."""
        return self.path / safe_member_name(name)

    def write_bytes(self, name: str, data: bytes) -> None:
        atomic_write(self._target(name), lambda p: p.write_bytes(data))

    def write_text(self, name: str, text: str) -> None:
        atomic_write(self._target(name), lambda p: p.write_text(text, encoding="utf-8"))

    def write_json(self, name: str, obj: Any) -> None:
        self.write_text(name, json.dumps(obj, indent=2, default=_json_default) + "\n")

    def write_yaml(self, name: str, obj: Any) -> None:
        self.write_text(name, yaml.safe_dump(obj, sort_keys=False))

    def write_with(self, name: str, write: Callable[[Path], None]) -> None:
        """Write a file through a library's own saver (``write(path)``), atomically."""
        atomic_write(self._target(name), write)

    def finalize(self, info: dict[str, Any]) -> None:
        """Write manifest.json last: versions, creation time, every file with its sha256."""
        previous = self._read_manifest() if (self.path / MANIFEST).is_file() else {}
        manifest = {k: v for k, v in previous.items() if k != "files"}
        manifest.update(
            layerwise_version=library_versions().get("layerwise", "0"),
            created=previous.get(
                "created", datetime.now(timezone.utc).isoformat(timespec="seconds")
            ),
            libraries=library_versions(),
            **info,
        )
        manifest["files"] = {
            rel: sha256_of(self.path / rel) for rel in sorted(self._payload_files())
        }
        self.write_json(MANIFEST, manifest)

    def _payload_files(self) -> list[str]:
        files = []
        for path in self.path.rglob("*"):
            rel = path.relative_to(self.path).as_posix()
            if path.is_symlink() or not path.is_file():
                continue  # a run folder holds plain files: links are never listed
            if rel != MANIFEST and not rel.startswith(CHECKPOINTS + "/"):
                if not path.name.startswith("."):
                    files.append(rel)
        return files

    # ---- reading -------------------------------------------------------------------
    @classmethod
    def open(
        cls, path: str | os.PathLike, verify: bool = True, skip: tuple[str, ...] = ()
    ) -> RunFolder:
        """Open a finished run folder for reading: its manifest validated (:mod:`.verify`), its
        version checked and every listed file (but ``skip``) checked to be a regular file inside
        the folder with its sha256. From then on only the files the manifest lists can be read
        through it (:meth:`file`), so a name taken from preprocess.json cannot reach elsewhere."""
        run = cls(path)
        if not run.path.is_dir():
            raise RunFolderError(
                f"Run folder '{run.path}' does not exist.",
                "Pass the folder printed by `layerwise train` (under runs/).",
            )
        if not os.path.lexists(run.path / MANIFEST):
            raise RunFolderError(
                f"'{run.path}' has no {MANIFEST}: it is not a finished run folder (training may have been interrupted).",
                f"Train again, or continue it with `layerwise train --resume {run.path}`.",
            )
        manifest = run._read_manifest()
        files = validate_manifest(manifest, run.path)
        ours = library_versions().get("layerwise", "0")
        theirs = str(manifest.get("layerwise_version", "0"))
        if _version_tuple(theirs) > _version_tuple(ours):
            raise RunFolderError(
                f"Run folder '{run.path}' was written by layerwise {theirs}, newer than this layerwise {ours}.",
                "Upgrade with `pip install -U layerwise`.",
            )
        if verify:
            hash_members(run.path, files, skip)
        run._manifest, run._members = manifest, {*files, MANIFEST}
        run._member_dirs = {n.rsplit("/", i)[0] for n in files for i in range(1, n.count("/") + 1)}
        return run

    @property
    def opened(self) -> bool:
        """Whether this folder was opened for reading (only its listed files can be read)."""
        return self._members is not None

    def _read_manifest(self) -> dict[str, Any]:
        data = read_member_bytes(self.path, MANIFEST, MAX_MANIFEST_BYTES)
        return parse_json(data, f"{MANIFEST} in '{self.path}'")

    @property
    def manifest(self) -> dict[str, Any]:
        return self._manifest if self._manifest is not None else self._read_manifest()

    def exists(self, name: str) -> bool:
        if self._members is not None:
            return name in self._members or name in self._member_dirs
        return self.file(name).exists()

    def read_bytes(self, name: str, limit: int = MAX_JSON_BYTES) -> bytes:
        """A file's bytes, opened without following links and at most ``limit`` of them."""
        self.file(name)  # listed, when the folder was opened for reading
        if self._members is None and not os.path.lexists(self.path / name):
            raise RunFolderError(f"Run folder '{self.path}' has no '{name}'.", "Train again.")
        return read_member_bytes(self.path, name, limit)

    def read_text(self, name: str) -> str:
        try:
            return self.read_bytes(name).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RunFolderError(
                f"'{name}' in '{self.path}' is not UTF-8 text.", "Train again."
            ) from exc

    def read_json(self, name: str) -> Any:
        return parse_json(self.read_bytes(name), f"'{name}' in '{self.path}'")

    def read_yaml(self, name: str) -> Any:
        return parse_yaml(self.read_bytes(name, MAX_YAML_BYTES), f"'{name}' in '{self.path}'")


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays, paths: the only non-JSON values we write."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
