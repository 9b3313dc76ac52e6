"""What a run folder may hold, checked before anything in it is used.

A run folder is untrusted input: people email them, upload them to hubs and mount them from a
colleague's disk. Loading one reads only regular files *inside* the folder that ``manifest.json``
lists with their sha256, so the manifest itself is validated first, as a schema: a JSON object
of bounded size whose ``files`` is a non-empty object mapping relative names (no absolute
paths, no ``..``, no backslashes) to sha256 digests. Each listed file is then opened without
following symlinks, must be a regular file under the size cap, and must hash to its digest.
JSON and YAML files are parsed with caps (size; nesting and number length raise in the parser), and every
failure is a :class:`~layerwise.errors.RunFolderError`: one line, never a traceback.

>>> safe_member_name("model/weights.safetensors")
'model/weights.safetensors'
>>> safe_member_name("../etc/passwd")
Traceback (most recent call last):
...
layerwise.errors.RunFolderError: The run folder names '../etc/passwd', which is not a plain relative name inside the folder. A run folder only refers to its own files; use a run folder written by `layerwise train`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from layerwise.errors import RunFolderError

MAX_MANIFEST_BYTES = 4 << 20  # a manifest lists file names and digests: kilobytes in practice
MAX_JSON_BYTES = 256 << 20  # preprocess.json holds vocabularies and label maps
MAX_YAML_BYTES = 1 << 20  # config.yaml: options only
MAX_FILE_BYTES = 16 << 30  # one weights file; a larger one is not a layerwise run
MAX_FOLDER_BYTES = 64 << 30  # every listed file together
MAX_FILES = 10_000

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_FIX = "use a run folder written by `layerwise train`"


def safe_member_name(name: Any) -> str:
    """``name`` when it is a plain relative POSIX name inside a folder, else a RunFolderError."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 1024
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or re.match(r"^[A-Za-z]:", name)
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise RunFolderError(
            f"The run folder names {name!r}, which is not a plain relative name inside the folder.",
            f"A run folder only refers to its own files; {_FIX}.",
        )
    return name


def validate_manifest(manifest: Any, folder: Path) -> dict[str, str]:
    """The manifest's ``files`` ({name: sha256}) after checking the manifest's shape."""
    where = f"manifest.json in '{folder}'"
    if not isinstance(manifest, dict):
        raise RunFolderError(f"{where} is not a JSON object.", f"Train again, or {_FIX}.")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise RunFolderError(
            f"{where} lists no files ('files' must be a non-empty object of name: sha256).",
            f"Nothing in it can be verified; {_FIX}.",
        )
    if len(files) > MAX_FILES:
        raise RunFolderError(f"{where} lists {len(files):,} files; at most {MAX_FILES:,}.", _FIX)
    for key in ("task", "layerwise_version"):
        if key in manifest and not isinstance(manifest[key], str):
            raise RunFolderError(f"{where}: '{key}' must be text.", f"Train again, or {_FIX}.")
    for name, digest in files.items():
        safe_member_name(name)
        if name == "manifest.json":
            raise RunFolderError(f"{where} lists itself.", f"Train again, or {_FIX}.")
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise RunFolderError(
                f"{where}: the digest of '{name}' is not a sha256 (64 hex digits).", _FIX
            )
    return dict(files)


def open_member(folder: Path, name: str) -> int:
    """A read-only file descriptor of ``folder/name``: every component is opened relative to
    its parent without following symlinks, so nothing outside ``folder`` can be reached, and
    the file must be a regular file under :data:`MAX_FILE_BYTES`. The caller closes it."""
    safe_member_name(name)
    parts = name.split("/")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    directory = getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, os.O_RDONLY | directory)
    except OSError as error:
        raise RunFolderError(
            f"Cannot open run folder '{folder}': {error.strerror}.", _FIX
        ) from error
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            try:
                child = os.open(part, (flags if last else flags | directory) | os.O_NONBLOCK,
                                dir_fd=fd)  # fmt: skip
            except OSError as error:
                raise _member_error(folder, name, error) from error
            os.close(fd)
            fd = child
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RunFolderError(
                f"'{name}' in run folder '{folder}' is not a regular file.",
                f"A run folder holds plain files only; {_FIX}.",
            )
        if info.st_size > MAX_FILE_BYTES:
            raise RunFolderError(
                f"'{name}' in run folder '{folder}' is {info.st_size:,} bytes; at most "
                f"{MAX_FILE_BYTES:,} are read.",
                _FIX,
            )
        os.set_blocking(fd, True)
        opened, fd = fd, -1
        return opened
    finally:
        if fd >= 0:
            os.close(fd)


def _member_error(folder: Path, name: str, error: OSError) -> RunFolderError:
    import errno

    if error.errno == errno.ENOENT:
        return RunFolderError(
            f"Run folder '{folder}' is missing '{name}', listed in its manifest.",
            "Restore the file or train again.",
        )
    if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return RunFolderError(
            f"'{name}' in run folder '{folder}' is (or passes through) a symbolic link.",
            f"A run folder holds plain files only, never links; {_FIX}.",
        )
    return RunFolderError(f"Cannot read '{name}' in run folder '{folder}': {error.strerror}.", _FIX)


def hash_members(folder: Path, files: dict[str, str], skip: tuple[str, ...] = ()) -> None:
    """Check each listed file (but ``skip``) is a regular file inside ``folder`` with its sha256."""
    total = 0
    for name, expected in files.items():
        if name in skip:
            continue
        fd = open_member(folder, name)
        digest = hashlib.sha256()
        with os.fdopen(fd, "rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
                total += len(block)
                if total > MAX_FOLDER_BYTES:
                    raise RunFolderError(
                        f"Run folder '{folder}' holds over {MAX_FOLDER_BYTES:,} bytes.", _FIX
                    )
        if digest.hexdigest() != expected:
            raise RunFolderError(
                f"'{name}' in run folder '{folder}' does not match its sha256 in manifest.json: "
                "it was changed or corrupted after training.",
                "Restore the original file or train again.",
            )


def read_member_bytes(folder: Path, name: str, limit: int) -> bytes:
    """The bytes of ``folder/name`` (opened as :func:`open_member` does), at most ``limit``."""
    with os.fdopen(open_member(folder, name), "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise RunFolderError(
            f"'{name}' in run folder '{folder}' is over {limit:,} bytes, more than such a file holds.",
            _FIX,
        )
    return data


def parse_json(data: bytes | str, what: str) -> Any:
    """JSON text as Python values; too deep, a number too long or malformed text is one line."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text)
    except RunFolderError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise RunFolderError(
            f"{what} is not valid JSON ({short_reason(error)}).", f"Train again, or {_FIX}."
        ) from error


def parse_yaml(data: bytes | str, what: str) -> Any:
    """YAML text through the safe loader (no Python tags), with the same caps as JSON."""
    import yaml

    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if len(text) > MAX_YAML_BYTES:
            raise RunFolderError(f"{what} is over {MAX_YAML_BYTES:,} bytes.", _FIX)
        return yaml.safe_load(text)
    except RunFolderError:
        raise
    except (yaml.YAMLError, ValueError, UnicodeDecodeError, RecursionError) as error:
        raise RunFolderError(
            f"{what} is not plain YAML ({short_reason(error)}).",
            "A config holds options only (no Python tags); use a config.yaml layerwise wrote.",
        ) from error


def short_reason(error: BaseException) -> str:
    text = str(error).replace("\n", " ")
    return text if len(text) <= 160 else text[:157] + "..."
