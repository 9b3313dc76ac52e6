"""WAV reading (every encoding, hand-built bytes), writing, resampling, trimming, fitting."""

from __future__ import annotations

import struct
import tracemalloc
import wave
from math import gcd
from pathlib import Path

import numpy as np
import pytest

from layerwise.data.audio import (
    MAX_RATE,
    MIN_RATE,
    fit_length,
    read_wav,
    read_wav_bytes,
    resample,
    trim_silence,
    write_wav,
)
from layerwise.errors import DataError

SUBFORMAT_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
KNOWN = np.linspace(-0.9, 0.9, 37)


def chunk(chunk_id: bytes, body: bytes, size: int | None = None) -> bytes:
    pad = b"\x00" if len(body) % 2 else b""
    return chunk_id + struct.pack("<I", len(body) if size is None else size) + body + pad


def fmt_body(tag: int, channels: int, rate: int, bits: int, extensible: bool = False) -> bytes:
    align = channels * ((bits + 7) // 8)
    byte_rate = (rate * align) & 0xFFFFFFFF  # wraps as a writer's would for absurd rates
    head = (0xFFFE if extensible else tag, channels, rate, byte_rate, align, bits)
    body = struct.pack("<HHIIHH", *head)
    if extensible:
        body += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + SUBFORMAT_TAIL
    return body


def wav(fmt: bytes, data: bytes, data_size: int | None = None, before: bytes = b"") -> bytes:
    chunks = before + chunk(b"fmt ", fmt) + chunk(b"data", data, data_size)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def encode(x: np.ndarray, kind: str) -> tuple[bytes, int, int]:
    """Bytes, format tag and bits per sample of ``x`` in one of the WAV encodings."""
    if kind == "pcm8":
        return np.round(x * 127 + 128).astype(np.uint8).tobytes(), 1, 8
    if kind == "pcm16":
        return np.round(x * 32767).astype("<i2").tobytes(), 1, 16
    if kind == "pcm24":
        ints = np.round(x * (2**23 - 1)).astype(np.int64)
        return b"".join(int(v & 0xFFFFFF).to_bytes(3, "little") for v in ints), 1, 24
    if kind == "pcm32":
        return np.round(x * (2**31 - 1)).astype("<i4").tobytes(), 1, 32
    if kind == "float32":
        return x.astype("<f4").tobytes(), 3, 32
    return x.astype("<f8").tobytes(), 3, 64


TOLERANCE = {
    "pcm8": 1.5 / 127,
    "pcm16": 1e-4,
    "pcm24": 1e-6,
    "pcm32": 1e-6,
    "float32": 1e-7,
    "float64": 1e-7,
}


@pytest.mark.parametrize("kind", list(TOLERANCE))
@pytest.mark.parametrize("extensible", [False, True])
def test_reads_every_encoding(tmp_path: Path, kind: str, extensible: bool) -> None:
    data, tag, bits = encode(KNOWN, kind)
    path = tmp_path / "clip.wav"
    path.write_bytes(wav(fmt_body(tag, 1, 22050, bits, extensible), data))
    samples, rate = read_wav(path)
    assert rate == 22050
    assert samples.dtype == np.float32 and samples.shape == KNOWN.shape
    np.testing.assert_allclose(samples, KNOWN, atol=TOLERANCE[kind])


@pytest.mark.parametrize("kind", ["pcm16", "pcm24", "float32"])
def test_stereo_is_averaged_to_mono(kind: str) -> None:
    left, right = KNOWN, -KNOWN / 2
    interleaved = np.stack([left, right], axis=1).ravel()
    data, tag, bits = encode(interleaved, kind)
    samples, rate = read_wav_bytes(wav(fmt_body(tag, 2, 8000, bits), data))
    assert rate == 8000
    np.testing.assert_allclose(samples, (left + right) / 2, atol=1e-4)


def test_skips_other_chunks_with_their_pad_byte() -> None:
    data, tag, bits = encode(KNOWN, "pcm16")
    odd = chunk(b"LIST", b"abc") + chunk(b"junk", b"12345")
    samples, _ = read_wav_bytes(wav(fmt_body(tag, 1, 16000, bits), data, before=odd))
    np.testing.assert_allclose(samples, KNOWN, atol=1e-4)


def test_nan_and_inf_in_float_wavs_become_zero() -> None:
    x = np.array([0.5, np.nan, np.inf, -np.inf, -0.5])
    samples, _ = read_wav_bytes(wav(fmt_body(3, 1, 8000, 32), x.astype("<f4").tobytes()))
    np.testing.assert_array_equal(samples, np.array([0.5, 0, 0, 0, -0.5], dtype=np.float32))


def test_truncated_data_chunk_reads_the_whole_frames_present() -> None:
    frames = np.stack([KNOWN[:5], KNOWN[:5]], axis=1).ravel()
    data, tag, bits = encode(frames, "pcm16")
    # Declares 1000 bytes; holds 5 stereo frames and half of a sixth.
    blob = wav(fmt_body(tag, 2, 8000, bits), data + b"\x01\x02", data_size=1000)
    samples, _ = read_wav_bytes(blob)
    np.testing.assert_allclose(samples, KNOWN[:5], atol=1e-4)


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-1, 1, 999), [1.0, -1.0, 0.0]]).astype(np.float32)
    path = tmp_path / "out" / "round.wav"
    write_wav(path, x, 16000)
    samples, rate = read_wav(path)
    assert rate == 16000
    np.testing.assert_allclose(samples, x, atol=1 / 32767)
    assert [p.name for p in path.parent.iterdir()] == ["round.wav"]  # no temp file left
    with wave.open(str(path)) as handle:  # the stdlib agrees with the header
        assert (handle.getnchannels(), handle.getsampwidth(), handle.getframerate()) == (
            1,
            2,
            16000,
        )
        assert handle.getnframes() == len(x)


def test_write_clips_and_zeroes_nan(tmp_path: Path) -> None:
    write_wav(tmp_path / "c.wav", np.array([2.0, -3.0, np.nan]), 8000)
    samples, _ = read_wav(tmp_path / "c.wav")
    np.testing.assert_allclose(samples, [1.0, -1.0, 0.0], atol=1 / 32767)


def valid_wav() -> bytes:
    data, tag, bits = encode(KNOWN, "pcm16")
    return wav(fmt_body(tag, 1, 8000, bits), data)


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"", "empty"),
        (b"just some text, not audio\n", "not a WAV file"),
        (b"ID3\x03\x00\x00\x00" + bytes(100), "MP3"),
        (b"fLaC" + bytes(100), "FLAC"),
        (wav(fmt_body(1, 1, 8000, 16), b""), "no audio (0 samples)"),
        (valid_wav()[:30], "fmt"),
        (valid_wav()[:12], "fmt"),
        (valid_wav()[:8], "not a WAV file"),
        (wav(fmt_body(2, 1, 8000, 4), bytes(64)), "ADPCM"),
        (wav(fmt_body(7, 1, 8000, 8), bytes(64)), "mu-law"),
        (wav(fmt_body(2, 1, 8000, 4, extensible=True), bytes(64)), "code 2"),
        (wav(fmt_body(1, 0, 8000, 16), bytes(64)), "0 channels"),
        (wav(fmt_body(1, 1, 0, 16), bytes(64)), "0 Hz"),
        (wav(fmt_body(3, 1, 8000, 16), bytes(64)), "16-bit float"),
        (valid_wav().replace(b"data", b"dat_"), "no 'data' chunk"),
    ],
)
def test_bad_files_raise_data_error_naming_the_file(
    tmp_path: Path, content: bytes, phrase: str
) -> None:
    path = tmp_path / "bad_recording.wav"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read_wav(path)
    assert "bad_recording.wav" in info.value.message
    assert phrase in info.value.message
    assert info.value.hint


def test_mp3_hint_says_how_to_convert() -> None:
    with pytest.raises(DataError, match="ffmpeg"):
        read_wav_bytes(b"\xff\xfb\x90\x00" + bytes(50), name="song.mp3")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_wav(tmp_path / "nope.wav")


def test_corrupt_bytes_only_ever_raise_data_error() -> None:
    blob = bytearray(wav(fmt_body(1, 2, 8000, 24, extensible=True), bytes(60)))
    rng = np.random.default_rng(1)
    cases = [bytes(blob[:n]) for n in range(len(blob))]
    for _ in range(300):
        broken = bytearray(blob)
        for i in rng.integers(0, 80, size=3):
            broken[i] = int(rng.integers(0, 256))
        cases.append(bytes(broken))
    for case in cases:
        try:
            samples, rate = read_wav_bytes(case, name="fuzz.wav")
        except DataError as error:
            assert "fuzz.wav" in error.message
        else:
            assert samples.ndim == 1 and samples.size > 0 and rate > 0
            assert np.all(np.abs(samples) <= 1)


@pytest.mark.parametrize("rate", [5_070_000, 5_070_001, 4_294_967_291, MIN_RATE - 1, MAX_RATE + 1])
def test_rates_outside_the_accepted_range_are_refused(rate: int) -> None:
    data, tag, bits = encode(KNOWN, "pcm16")
    with pytest.raises(DataError) as info:
        read_wav_bytes(wav(fmt_body(tag, 1, rate, bits), data), name="x.wav")
    message = info.value.one_line()
    assert "'x.wav'" in message and f"{rate:,} Hz" in message
    assert "4,000 to 384,000 Hz" in message and "\n" not in message


@pytest.mark.parametrize("rate", [MIN_RATE, MAX_RATE])
def test_the_edges_of_the_accepted_range_are_read(rate: int) -> None:
    data, tag, bits = encode(KNOWN, "pcm16")
    assert read_wav_bytes(wav(fmt_body(tag, 1, rate, bits), data))[1] == rate


def peak_bytes(call, *args):
    """What ``call(*args)`` returns and the most memory numpy and Python held meanwhile."""
    tracemalloc.start()
    try:
        result = call(*args)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_decoding_allocates_what_the_file_holds_not_what_its_header_declares() -> None:
    data, tag, bits = encode(KNOWN, "float64")
    # A junk chunk's size and the RIFF and data sizes claim 4 GB; the file holds 37 samples.
    junk = b"junk" + struct.pack("<I", 0xFFFFFFF0)
    blob = bytearray(wav(fmt_body(tag, 1, 8000, bits), data, data_size=0xFFFFFFFF))
    blob[4:8] = struct.pack("<I", 0xFFFFFFFF)
    with pytest.raises(DataError, match="no 'data' chunk"):  # the junk would swallow the rest
        read_wav_bytes(bytes(blob[:36]) + junk + bytes(blob[36:]))
    (samples, rate), peak = peak_bytes(read_wav_bytes, bytes(blob))
    np.testing.assert_allclose(samples, KNOWN, atol=1e-7)
    assert peak < 64 * len(blob)


def dominant_frequency(x: np.ndarray, rate: int) -> tuple[float, float]:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()]), rate / len(x)


@pytest.mark.parametrize(("source", "target"), [(8000, 16000), (22050, 16000)])
def test_resample_keeps_pitch_and_duration(source: int, target: int) -> None:
    t = np.arange(source) / source
    out = resample(np.sin(2 * np.pi * 440 * t).astype(np.float32), source, target)
    assert out.dtype == np.float32
    assert abs(len(out) - target) <= 1
    peak, bin_width = dominant_frequency(out, target)
    assert abs(peak - 440) <= bin_width


COMMON_RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000)


@pytest.mark.parametrize("target", [8000, 16000])
@pytest.mark.parametrize("source", COMMON_RATES)
def test_resample_of_common_rates_is_scipys_polyphase_filter(source: int, target: int) -> None:
    from scipy.signal import resample_poly

    x = np.random.default_rng(source).uniform(-1, 1, source // 20).astype(np.float32)
    g = gcd(source, target)
    expected = resample_poly(x, target // g, source // g).astype(np.float32)
    out = resample(x, source, target)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)  # trained models keep hearing the same


@pytest.mark.parametrize(
    ("source", "target"), [(44101, 16000), (16000, 44101), (383_999, 16000), (4001, 8000)]
)
def test_co_prime_rates_resample_with_memory_bounded_by_the_clip(source: int, target: int):
    """An exact ratio such as 16,000/383,999 would design a filter of 7.7 million taps
    (~370 MB at its peak, for any clip length)."""
    t = np.arange(source // 2) / source
    x = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    out, peak = peak_bytes(resample, x, source, target)
    assert len(out) == -(-len(x) * target // source) and out.dtype == np.float32
    assert peak < 16 * (len(x) + len(out)) + (4 << 20)
    frequency, bin_width = dominant_frequency(out, target)
    assert abs(frequency - 440) <= bin_width


def test_co_prime_resampling_agrees_with_the_exact_filter() -> None:
    from scipy.signal import resample_poly

    x = np.random.default_rng(0).uniform(-1, 1, 4410).astype(np.float32)
    exact = resample_poly(x, 16000, 44101)  # affordable at this rate: 0.9 million taps
    out = resample(x, 44101, 16000)
    assert out.shape == exact.shape
    assert np.sqrt(np.mean((out - exact) ** 2)) < 1e-3 * np.sqrt(np.mean(exact**2))


def test_resample_refuses_rates_a_thousand_times_apart() -> None:
    with pytest.raises(DataError, match="1000 times"):
        resample(np.zeros(10), 4_294_967_291, 16000)


def test_resample_same_rate_is_unchanged() -> None:
    x = np.linspace(-1, 1, 50)
    out = resample(x, 16000, 16000)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x.astype(np.float32))


def test_resample_rejects_zero_rate() -> None:
    with pytest.raises(DataError):
        resample(np.zeros(10), 0, 16000)


def test_trim_silence_keeps_the_tone_plus_padding() -> None:
    rate = 16000
    silence = np.zeros(rate // 2)
    tone = 0.5 * np.sin(2 * np.pi * 300 * np.arange(int(0.3 * rate)) / rate)
    out = trim_silence(np.concatenate([silence, tone, silence]), rate, pad_s=0.05)
    assert abs(len(out) / rate - (0.3 + 2 * 0.05)) <= 0.02
    assert np.max(np.abs(out)) == pytest.approx(0.5, abs=1e-3)


def test_trim_silence_drops_quiet_noise_but_not_the_tone() -> None:
    rate = 8000
    rng = np.random.default_rng(0)
    x = 1e-3 * rng.standard_normal(rate)
    x[3000:5000] += 0.8 * np.sin(2 * np.pi * 200 * np.arange(2000) / rate)
    out = trim_silence(x, rate, pad_s=0.0)
    assert abs(len(out) - 2000) <= 2 * round(0.02 * rate)


@pytest.mark.parametrize("clip", [np.zeros(4000), np.full(4000, 5e-5), np.zeros(0)])
def test_silence_comes_back_unchanged(clip: np.ndarray) -> None:
    np.testing.assert_array_equal(trim_silence(clip, 8000), clip)


def test_fit_length_pads_and_crops_centred() -> None:
    x = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(fit_length(x, 9), [0, 0, 1, 2, 3, 4, 5, 0, 0])
    np.testing.assert_array_equal(fit_length(x, 8), [0, 1, 2, 3, 4, 5, 0, 0])
    np.testing.assert_array_equal(fit_length(x, 3), [2, 3, 4])
    np.testing.assert_array_equal(fit_length(x, 5), x)
    assert fit_length(x, 0).shape == (0,)
    assert fit_length(x, 8).dtype == np.float32
