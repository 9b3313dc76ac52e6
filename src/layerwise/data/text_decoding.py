"""Text files' bytes to text: UTF-8 (a BOM dropped), UTF-16 by its BOM, or the encoding
charset_normalizer detects (cp1252 and latin-1 as fallbacks), named in a note when not UTF-8;
a file whose characters are mostly control characters is refused as binary; newlines
normalised to ``\\n``. Shared by the readers of texts to classify (:mod:`layerwise.data.text`)
and of corpora to continue (:mod:`layerwise.tasks.language_generation.corpus`)."""

from __future__ import annotations

import codecs
from pathlib import Path

from layerwise.errors import ConfigError, DataError

BINARY_SAMPLE = 8192  # characters looked at for NUL bytes and control characters
MAX_CONTROL_SHARE = 0.05
_FALLBACKS = ("cp1252", "latin-1")
_C1 = bytes(range(0x80, 0xA0))


def check_encoding(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError as exc:
        raise ConfigError(
            f"Encoding '{encoding}' is not known.",
            "Use a Python codec name such as 'utf-8', 'latin-1' or 'cp1252', or leave it out.",
        ) from exc


def read_text_file(path: Path, label: str, encoding: str | None, notes: list[str]) -> str:
    """The text of ``path``: decoded, newlines normalised; a note when not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"'{label}' could not be read ({exc.strerror or exc}).", "Check the file."
        ) from exc
    if not raw.strip():
        raise DataError(f"'{label}' is empty.", "Give a file with one text per line.")
    text, used = decode(raw, label, encoding)
    if used is not None:
        notes.append(f"read '{label}' as {used} (not valid UTF-8)")
    return text


def decode(raw: bytes, label: str, encoding: str | None) -> tuple[str, str | None]:
    """(text, the encoding used when it is not UTF-8 and was detected, else None)."""
    if encoding is not None:
        try:
            text = raw.decode("utf-8-sig" if encoding == "utf-8" else encoding)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"'{label}' is not valid {encoding} (byte {exc.start}).",
                "Leave the encoding out to detect it, or give the file's real encoding.",
            ) from exc
        return normalise(check_binary(text.removeprefix("\ufeff"), label)), None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return normalise(check_binary(raw.decode("utf-16"), label)), "UTF-16"
        except UnicodeDecodeError as exc:
            raise binary_error(label) from exc
    if b"\x00" in raw[:BINARY_SAMPLE]:
        raise binary_error(label)
    try:
        return normalise(check_binary(raw.decode("utf-8-sig"), label)), None
    except UnicodeDecodeError:
        pass
    for name in (*_detected(raw), *_FALLBACKS):
        try:
            text = check_binary(raw.decode(name), label)
        except (UnicodeDecodeError, LookupError):
            continue
        return normalise(text), _encoding_name(name, raw)
    raise binary_error(label)  # pragma: no cover - latin-1 decodes any bytes


def _detected(raw: bytes) -> list[str]:
    """charset_normalizer's best guess, when it is installed."""
    try:
        import charset_normalizer
    except ImportError:
        return []
    best = charset_normalizer.from_bytes(raw).best()
    return [] if best is None or not best.encoding else [best.encoding]


def _encoding_name(name: str, raw: bytes) -> str:
    """A readable name; cp1252 without bytes 0x80-0x9F decodes exactly as latin-1."""
    name = codecs.lookup(name).name
    if name == "iso8859-1" or (name == "cp1252" and not any(b in _C1 for b in raw)):
        return "latin-1"
    return name


def check_binary(text: str, label: str) -> str:
    """Reject text in which control characters are common (a binary file)."""
    sample = text[:BINARY_SAMPLE]
    controls = sum(
        1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or 0x7F <= ord(ch) <= 0x9F
    )
    if sample and controls / len(sample) > MAX_CONTROL_SHARE:
        raise binary_error(label)
    return text


def binary_error(label: str) -> DataError:
    return DataError(
        f"'{label}' looks like a binary file, not text.",
        "Give plain text files (UTF-8 preferred), one example per line or per file.",
    )


def normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
