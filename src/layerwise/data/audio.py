"""Reading, writing and shaping mono audio as float32 numpy arrays.

:func:`read_wav` parses the RIFF chunks itself (the stdlib ``wave`` module rejects float
WAVs): PCM 8/16/24/32-bit and IEEE float 32/64, plain or WAVE_FORMAT_EXTENSIBLE, any number
of channels (averaged to mono). Every problem with a file is a :class:`DataError` naming it.
What a file decodes to is bounded by the bytes it holds, never by a size its header declares,
and only rates from :data:`MIN_RATE` to :data:`MAX_RATE` are accepted, so a tiny file cannot
make :func:`resample` (whose work is bounded by its input and output lengths) do unbounded work.

Example:
    >>> x = np.sin(np.linspace(0, 100, 8000)).astype(np.float32)
    >>> fit_length(resample(x, 8000, 16000), 20000).shape
    (20000,)
"""

from __future__ import annotations

import struct
from fractions import Fraction
from math import gcd
from pathlib import Path

import numpy as np

from layerwise.errors import DataError
from layerwise.io import atomic_write

PCM = 1
FLOAT = 3
EXTENSIBLE = 0xFFFE

# Sample rates a recording may declare: from below telephone band to studio 384 kHz. Anything
# else is a corrupt (or hostile) header, and duration limits computed from it would be wrong.
MIN_RATE = 4_000
MAX_RATE = 384_000
# resample_poly designs a filter of 20 * max(up, down) taps: the common rates need at most 640
# (11,025 -> 16,000 Hz is 640/441); past this, the ratio is approximated (see _factors).
MAX_FACTOR = 4096
MAX_RATIO = 1000  # one rate at most this many times the other

# Format tags people actually meet, so the error can say what the file holds.
_KNOWN_TAGS = {
    2: "compressed Microsoft ADPCM",
    6: "compressed A-law",
    7: "compressed mu-law",
    0x11: "compressed IMA ADPCM",
    0x31: "compressed GSM 6.10",
    0x50: "compressed MPEG",
    0x55: "compressed MP3",
}

_OTHER_FORMATS = [
    (b"ID3", "MP3", "mp3"),
    (b"\xff\xfb", "MP3", "mp3"),
    (b"\xff\xf3", "MP3", "mp3"),
    (b"\xff\xf2", "MP3", "mp3"),
    (b"fLaC", "FLAC", "flac"),
    (b"OggS", "Ogg", "ogg"),
]

_CONVERT_HINT = "Convert it to 16-bit PCM WAV, e.g. with `ffmpeg -i {src} -c:a pcm_s16le out.wav`."


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise DataError(f"'{path}' {what}.", "Give the path of a .wav file.")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(
            f"Cannot read '{path}': {error}.", "Check the file's permissions."
        ) from None
    return read_wav_bytes(data, name=path.name)


def read_wav_bytes(data: bytes, name: str = "<bytes>") -> tuple[np.ndarray, int]:
    """Like :func:`read_wav` for the bytes of a WAV file; ``name`` names it in errors."""
    _check_riff(data, name)
    fmt, data_start, data_size = _walk_chunks(data, name)
    tag, channels, rate, block_align, bits = _parse_fmt(fmt, name)
    if channels == 0:
        raise DataError(
            f"'{name}' declares {channels} channels at {rate} Hz.",
            "The header is corrupt; re-export the recording as WAV.",
        )
    check_rate(rate, f"'{name}'")
    width = block_align // channels if block_align and block_align % channels == 0 else 0
    width = width or (bits + 7) // 8
    dtype = _sample_dtype(tag, width, name)
    n_frames = data_size // (width * channels)
    if n_frames == 0:
        raise DataError(
            f"'{name}' has no audio (0 samples).", "Check the recording; it may have been cut off."
        )
    raw = data[data_start : data_start + n_frames * width * channels]
    samples = _decode(raw, dtype, width).reshape(n_frames, channels)
    mono = samples.mean(axis=1) if channels > 1 else samples[:, 0]
    if tag == FLOAT:
        mono = np.clip(np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)
    return mono.astype(np.float32), int(rate)


def check_rate(rate: int, what: str, hint: str = "") -> None:
    """Refuse a sample rate outside :data:`MIN_RATE`..:data:`MAX_RATE`; ``what`` names where
    it came from, ``hint`` replaces the advice for a WAV file.

    >>> check_rate(16000, "'clip.wav'")
    """
    if not MIN_RATE <= rate <= MAX_RATE:
        raise DataError(
            f"{what} has a sample rate of {rate:,} Hz; accepted rates are "
            f"{MIN_RATE:,} to {MAX_RATE:,} Hz.",
            hint
            or "The header may be corrupt: re-export the recording, or resample it, e.g. with "
            "`ffmpeg -i in.wav -ar 16000 out.wav`.",
        )


def _check_riff(data: bytes, name: str) -> None:
    if len(data) == 0:
        raise DataError(f"'{name}' is empty (0 bytes).", "Check the file was copied completely.")
    if data[:4] == b"RIFF" and len(data) >= 12 and data[8:12] == b"WAVE":
        return
    for magic, kind, ext in _OTHER_FORMATS:
        if data.startswith(magic):
            raise DataError(
                f"'{name}' is not a WAV file: it looks like {kind}.",
                f"Convert it to WAV, e.g. with `ffmpeg -i in.{ext} out.wav`.",
            )
    if data[:4] == b"RIFF":
        raise DataError(f"'{name}' is not a WAV file (truncated RIFF header).", "Re-export it.")
    raise DataError(
        f"'{name}' is not a WAV file (it does not start with 'RIFF'...'WAVE').",
        "Give a .wav file, or convert the audio with e.g. `ffmpeg -i in.mp3 out.wav`.",
    )


def _walk_chunks(data: bytes, name: str) -> tuple[bytes, int, int]:
    """The fmt chunk's body and the data chunk's start and (available) size."""
    fmt: bytes | None = None
    data_start = data_size = -1
    offset = 12
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt ":
            fmt = data[body : body + size]
        elif chunk_id == b"data" and data_start < 0:
            # Many recorders leave the declared size too big: read what is there.
            data_start, data_size = body, min(size, len(data) - body)
        offset = body + size + (size & 1)
    if fmt is None:
        raise DataError(
            f"'{name}' has no 'fmt ' chunk (the header is missing or truncated).",
            "Re-export the recording as WAV.",
        )
    if len(fmt) < 16:
        raise DataError(
            f"'{name}' has a truncated 'fmt ' chunk ({len(fmt)} bytes, expected 16 or more).",
            "Re-export the recording as WAV.",
        )
    if data_start < 0:
        raise DataError(
            f"'{name}' has no 'data' chunk, so no audio.", "Re-export the recording as WAV."
        )
    return fmt, data_start, data_size


def _parse_fmt(fmt: bytes, name: str) -> tuple[int, int, int, int, int]:
    """Format tag (PCM or FLOAT), channels, rate, block align and bits per sample."""
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == EXTENSIBLE:
        if len(fmt) < 26:
            raise DataError(
                f"'{name}' is WAVE_FORMAT_EXTENSIBLE but its 'fmt ' chunk is truncated.",
                "Re-export the recording as WAV.",
            )
        (tag,) = struct.unpack_from("<H", fmt, 24)  # first two bytes of the sub-format GUID
    if tag not in (PCM, FLOAT):
        what = _KNOWN_TAGS.get(tag, "an unsupported encoding")
        raise DataError(
            f"'{name}' holds {what} audio (WAV format code {tag}); only PCM and float "
            "WAVs can be read.",
            _CONVERT_HINT.format(src=name),
        )
    return tag, channels, rate, block_align, bits


def _sample_dtype(tag: int, width: int, name: str) -> str:
    dtypes = {PCM: {1: "u1", 2: "<i2", 3: "i3", 4: "<i4"}, FLOAT: {4: "<f4", 8: "<f8"}}
    if width not in dtypes[tag]:
        kind = "PCM" if tag == PCM else "float"
        raise DataError(
            f"'{name}' holds {8 * width}-bit {kind} samples, which are not supported.",
            "Use 8, 16, 24 or 32-bit PCM or 32/64-bit float. " + _CONVERT_HINT.format(src=name),
        )
    return dtypes[tag][width]


def _decode(raw: bytes, dtype: str, width: int) -> np.ndarray:
    """Samples as float64 scaled to [-1, 1] (integers) or as stored (floats)."""
    if dtype == "u1":
        return (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    if dtype == "i3":
        triples = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        values = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        values = (values ^ 0x800000) - 0x800000  # sign-extend from 24 bits
        return values.astype(np.float64) / float(1 << 23)
    values = np.frombuffer(raw, dtype).astype(np.float64)
    if dtype.endswith("f4") or dtype.endswith("f8"):
        return values
    return values / float(1 << (8 * width - 1))


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write mono ``samples`` as 16-bit PCM, clipped to [-1, 1]; atomic (no half files)."""
    x = np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if x.ndim != 1:
        raise ValueError(f"write_wav writes mono audio [n]; got shape {x.shape}.")
    if int(rate) <= 0:
        raise ValueError(f"write_wav needs a positive sample rate; got {rate}.")
    # Scale by 32768 (what reading divides by) and clip the one value that overflows.
    pcm = np.clip(np.round(np.clip(x, -1.0, 1.0) * 32768.0), -32768, 32767).astype("<i2")
    body = pcm.tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, PCM, 1, int(rate), 2 * int(rate), 2, 16)
    header += b"data" + struct.pack("<I", len(body))
    atomic_write(Path(path), lambda tmp: tmp.write_bytes(header + body))


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """``samples`` at ``to_rate`` (polyphase filtering), as float32: ``ceil(n * to / from)``
    samples, computed with work and memory proportional to the input plus output lengths.

    >>> resample(np.zeros(441), 44100, 16000).shape
    (160,)
    """
    x = np.asarray(samples, dtype=np.float32)
    from_rate, to_rate = int(from_rate), int(to_rate)
    if from_rate <= 0 or to_rate <= 0:
        raise DataError(
            f"Cannot resample audio from {from_rate} Hz to {to_rate} Hz.",
            "Sample rates must be positive whole numbers of Hz.",
        )
    if from_rate == to_rate:
        return x
    from scipy.signal import resample_poly  # scipy.signal takes ~1 s to import: only when used

    up, down = _factors(from_rate, to_rate)
    out = resample_poly(x, up, down).astype(np.float32)
    length = -(-len(x) * to_rate // from_rate)
    if len(out) == length:  # always so when the ratio is exact
        return out
    return np.pad(out[:length], (0, max(0, length - len(out))))


def _factors(from_rate: int, to_rate: int) -> tuple[int, int]:
    """The up and down factors for :func:`resample`, each at most :data:`MAX_FACTOR`.

    resample_poly's filter has 20 * max(up, down) taps, and co-prime rates make that huge
    (44,101 -> 16,000 Hz is 16,000/44,101; a header claiming 5 MHz asks for a gigabyte). Such
    ratios are replaced by the nearest one with small terms: the result's pitch and tempo are
    then off by at most ~1e-4 (0.2 cent) within the accepted rates, far below what speech or a
    listener notices, while the work stays about 20 multiply-adds per input and output sample.
    The ratios of common rates are small already and are used as they are.
    """
    g = gcd(from_rate, to_rate)
    up, down = to_rate // g, from_rate // g
    if max(up, down) <= MAX_FACTOR:
        return up, down
    if max(up, down) > MAX_RATIO * min(up, down):
        raise DataError(
            f"Cannot resample audio from {from_rate:,} Hz to {to_rate:,} Hz: one rate is over "
            f"{MAX_RATIO} times the other.",
            f"Use sample rates from {MIN_RATE:,} to {MAX_RATE:,} Hz.",
        )
    # Approximate the ratio below 1 so that both its terms are bounded by the denominator's.
    small = Fraction(min(up, down), max(up, down)).limit_denominator(MAX_FACTOR)
    p, q = small.numerator, small.denominator
    return (p, q) if up < down else (q, p)


def trim_silence(
    samples: np.ndarray,
    rate: int,
    threshold_db: float = 35.0,
    frame_s: float = 0.02,
    pad_s: float = 0.05,
) -> np.ndarray:
    """Drop leading and trailing frames quieter than ``threshold_db`` below the loudest.

    Keeps ``pad_s`` seconds either side of the first and last loud frames. A silent clip
    (max abs < 1e-4) comes back unchanged.
    """
    x = np.asarray(samples)
    if x.size == 0 or np.max(np.abs(x)) < 1e-4:
        return x
    frame = max(1, round(frame_s * rate))
    n_frames = -(-len(x) // frame)
    padded = np.zeros(n_frames * frame, dtype=np.float64)
    padded[: len(x)] = x
    rms = np.sqrt(np.mean(padded.reshape(n_frames, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10.0 ** (-threshold_db / 20.0))
    pad = round(pad_s * rate)
    start = max(0, int(loud[0]) * frame - pad)
    end = min(len(x), (int(loud[-1]) + 1) * frame + pad)
    return x[start:end]


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """``samples`` centre-padded with zeros or centre-cropped to exactly ``length``."""
    x = np.asarray(samples)
    if length < 0:
        raise ValueError(f"fit_length needs a length >= 0; got {length}.")
    if len(x) >= length:
        start = (len(x) - length) // 2
        return x[start : start + length]
    left = (length - len(x)) // 2
    return np.pad(x, (left, length - len(x) - left))
