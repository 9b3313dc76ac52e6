"""Spoken words for speech recognition: read WAV files laid out by word, or named by a pattern,
into clips of one length at one sample rate.

Layouts :func:`read_clips` understands:

- a folder per word, ``commands/<word>/*.wav`` (Google Speech Commands style: folders starting
  with ``_`` are not words, ``_background_noise_`` becomes augmentation noise, and
  ``validation_list.txt`` / ``testing_list.txt`` give the splits);
- a flat folder whose file names carry the word, read with a pattern such as
  ``{label}_{speaker}_{take}.wav`` (the Free Spoken Digit Dataset's names);
- one WAV file, a list of paths, or waveforms in memory: ``(arrays, rate)`` or
  ``(arrays, rate, labels)``.

:func:`fixed_clips` then resamples, trims silence and centres every clip in one window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from layerwise.errors import ConfigError, DataError

COMMON_RATES = (8000, 16000)  # the rates features are computed at
MAX_CLIP_S = 30.0  # longer clips are refused for word recognition (transcription chunks them)
NOISE_FOLDER = "_background_noise_"


@dataclass
class ClipSet:
    """Variable-length mono clips at one rate, with labels and provenance."""

    clips: list[np.ndarray]
    rate: int
    labels: np.ndarray | None
    classes: list[str]
    names: list[str]
    speakers: np.ndarray | None = None
    split: np.ndarray | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    noise: list[np.ndarray] = field(default_factory=list)
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.clips)

    def subset(self, index: np.ndarray) -> ClipSet:
        """The clips at ``index`` (integer positions or a boolean mask)."""
        index = np.asarray(index)
        index = np.flatnonzero(index) if index.dtype == bool else index.astype(np.int64)
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return replace(
            self,
            clips=[self.clips[i] for i in index],
            labels=pick(self.labels),
            names=[self.names[i] for i in index],
            speakers=pick(self.speakers),
            split=pick(self.split),
            classes=list(self.classes),
            notes=list(self.notes),
        )


@dataclass
class SpeechSet:
    """Clips centred in one window: ``waves`` float32 ``[N, L]`` at ``rate``; ``lengths`` holds
    each clip's voiced length in samples (at most L)."""

    waves: np.ndarray
    lengths: np.ndarray
    rate: int
    labels: np.ndarray | None
    classes: list[str]
    names: list[str]
    speakers: np.ndarray | None = None
    split: np.ndarray | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    noise: list[np.ndarray] = field(default_factory=list)
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.waves.shape[0])

    def subset(self, index: np.ndarray) -> SpeechSet:
        """The clips at ``index`` (integer positions or a boolean mask)."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        index = index.astype(np.int64, copy=False)
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return replace(
            self,
            waves=self.waves[index],
            lengths=self.lengths[index],
            labels=pick(self.labels),
            names=[self.names[i] for i in index],
            speakers=pick(self.speakers),
            split=pick(self.split),
            classes=list(self.classes),
            notes=list(self.notes),
        )

    def voiced(self, i: int) -> np.ndarray:
        """Clip ``i`` without the padding around it."""
        start = (self.waves.shape[1] - int(self.lengths[i])) // 2
        return self.waves[i, start : start + int(self.lengths[i])]

    @property
    def seconds(self) -> float:
        return self.waves.shape[1] / self.rate


# ---- reading ----------------------------------------------------------------------------
def pattern_regex(pattern: str) -> re.Pattern:
    """A file-name pattern such as ``{label}_{speaker}_{take}.wav`` as a regular expression.

    >>> pattern_regex("{label}_{speaker}_{take}.wav").match("7_jackson_32.wav")["speaker"]
    'jackson'
    """
    fields = re.findall(r"{(\w*)}", pattern)
    if "label" not in fields:
        raise ConfigError(
            f"The label pattern '{pattern}' has no {{label}} field.",
            "Mark the word in the file name, e.g. --label-pattern '{label}_{speaker}_{take}.wav'.",
        )
    parts = re.split(r"({\w*})", pattern)
    regex, seen = "", set()
    for part in parts:
        name = part[1:-1] if part.startswith("{") and part.endswith("}") else None
        if name is None:
            regex += re.escape(part).replace(r"\*", ".*")
        elif name in seen or name == "":
            regex += r"[^/]+?"
        else:
            seen.add(name)
            regex += rf"(?P<{name}>[^/]+?)"
    return re.compile(regex + "$", re.IGNORECASE)


def _wav_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".wav")


def _read_all(paths: list[Path], root: Path | None, progress: bool) -> tuple[list, list]:
    from layerwise.data.audio import read_wav
    from layerwise.engine.progress import track

    read, skipped = [], []
    for path in track(paths, "Reading audio", enabled=progress and len(paths) > 200):
        name = str(path.relative_to(root)) if root is not None else str(path)
        try:
            samples, rate = read_wav(path)
        except DataError as exc:
            skipped.append((name, exc.message))
            continue
        read.append((name, path, samples, rate))
    return read, skipped


def _speaker_of(path: Path) -> str | None:
    """Speech Commands names files ``<speaker>_nohash_<n>.wav``."""
    return path.stem.split("_nohash_")[0] if "_nohash_" in path.stem else None


def _list_split(root: Path, names: list[str]) -> np.ndarray | None:
    split = np.full(len(names), "", dtype=object)
    found = False
    for file, value in (("validation_list.txt", "val"), ("testing_list.txt", "test")):
        listed = root / file
        if listed.is_file():
            found = True
            members = {line.strip() for line in listed.read_text().splitlines() if line.strip()}
            split[[n.replace("\\", "/") in members for n in names]] = value
    return split.astype(str) if found else None


def read_clips(
    data: Any, label_pattern: str | None = None, labelled: bool = True, progress: bool = False
) -> ClipSet:
    """Read clips at their native rates (resampled to the most common one) with their words.

    With ``labelled=False`` (clips to predict or transcribe) a folder's every WAV is read,
    whatever its name or layout: ``label_pattern`` only applies to labelled data.
    """
    if isinstance(data, ClipSet):
        return data
    if isinstance(data, tuple) and len(data) in (2, 3) and not isinstance(data[0], str | Path):
        return _from_arrays(data)
    if isinstance(data, list | tuple):
        read, skipped = _read_all([Path(p) for p in data], None, progress)
        return _assemble(read, skipped, None, None, None, f"{len(data)} files", [])
    path = Path(str(data))
    if not path.exists():
        raise DataError(f"'{path}' does not exist.", "Pass a folder of WAV files or a .wav file.")
    if path.is_file():  # one file: its own error, with how to fix it, is the answer
        from layerwise.data.audio import read_wav

        samples, rate = read_wav(path)
        return _assemble([(str(path), path, samples, rate)], [], None, None, None, str(path), [])
    return _read_folder(path, label_pattern, labelled, progress)


def _read_folder(root: Path, pattern: str | None, labelled: bool, progress: bool) -> ClipSet:
    files = [p for p in _wav_files(root) if NOISE_FOLDER not in p.parts]
    if not files:
        others = sorted(p.name for p in root.rglob("*") if p.is_file())[:3]
        seen = f" (found e.g. {', '.join(others)})" if others else " (it is empty)"
        raise DataError(
            f"No .wav files in '{root}'{seen}.",
            "Put recordings in commands/<word>/*.wav, or convert other formats to WAV first.",
        )
    if not labelled:
        # Recordings to predict or transcribe carry no words: any name, any layout. The
        # training run's label pattern describes its labelled files, not these.
        read, skipped = _read_all(files, root, progress)
        return _assemble(read, skipped, None, [None] * len(read), root, str(root), [])
    noise_read, _ = _read_all(_wav_files(root / NOISE_FOLDER), root, False)
    labels: list[str] | None = None
    speakers: list[str | None] = [None] * len(files)
    if pattern:
        regex = pattern_regex(pattern)
        matches = [regex.match(p.name) for p in files]
        kept = [(p, m) for p, m in zip(files, matches, strict=True) if m]
        if not kept:
            raise DataError(
                f"The label pattern '{pattern}' matches none of the {len(files)} file names "
                f"in '{root}' (one is '{files[0].name}').",
                "Write the pattern from a real name, e.g. '{label}_{speaker}_{take}.wav' "
                "for 7_jackson_32.wav.",
            )
        files = [p for p, _ in kept]
        labels = [m["label"] for _, m in kept]
        speakers = [m.groupdict().get("speaker") for _, m in kept]
    elif any(p.parent != root for p in files):
        files = [p for p in files if p.parent != root and not p.parent.name.startswith("_")]
        labels = [p.relative_to(root).parts[0] for p in files]
        speakers = [_speaker_of(p) for p in files]
    else:
        raise DataError(
            f"The WAV files in '{root}' are not in a folder per word, and no label pattern "
            f"was given (one file is '{files[0].name}').",
            "Put each word's recordings in <folder>/<word>/, or pass --label-pattern "
            "'{label}_{speaker}_{take}.wav' to read the word from the file name.",
        )
    read, skipped = _read_all(files, root, progress)
    keep = {name for name, *_ in read}
    names = [str(p.relative_to(root)) for p in files]
    if labels is not None:
        labels = [lab for lab, n in zip(labels, names, strict=True) if n in keep]
    speakers = [s for s, n in zip(speakers, names, strict=True) if n in keep]
    notes = []
    if noise_read:
        notes.append(f"{len(noise_read)} background-noise recordings used for augmentation")
    clips = _assemble(read, skipped, labels, speakers, root, str(root), notes)
    clips.noise = [
        _to_rate(samples, rate, clips.rate) for _, _, samples, rate in noise_read if len(samples)
    ]
    return clips


def _to_rate(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    from layerwise.data.audio import resample

    return resample(samples, rate, target) if rate != target else samples


def _assemble(
    read: list, skipped: list, labels: Any, speakers: Any, root: Path | None, source: str, notes
) -> ClipSet:
    if not read:
        first = f" (first: {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise DataError(f"No readable audio in {source}{first}.", "Pass WAV files (PCM or float).")
    rates = [rate for *_, rate in read]
    rate = max(set(rates), key=rates.count)
    clips = [_to_rate(samples, r, rate) for _, _, samples, r in read]
    names = [name for name, *_ in read]
    if len(set(rates)) > 1:
        notes.append(f"clips at {len(set(rates))} sample rates resampled to {rate} Hz")
    classes = sorted(set(labels), key=_word_order) if labels is not None else []
    index = {c: i for i, c in enumerate(classes)}
    return ClipSet(
        clips=clips,
        rate=rate,
        labels=None if labels is None else np.array([index[x] for x in labels], dtype=np.int64),
        classes=classes,
        names=names,
        speakers=None if not any(speakers or []) else np.array([s or "" for s in speakers]),
        split=None if root is None else _list_split(root, names),
        skipped=skipped,
        source=source,
        notes=notes,
    )


def _word_order(word: str) -> tuple:
    """Digits in numeric order, then words alphabetically."""
    return (0, int(word), "") if word.isdigit() else (1, 0, word.lower())


def _from_arrays(data: tuple) -> ClipSet:
    from layerwise.data.audio import check_rate

    arrays, rate = data[0], int(data[1])
    check_rate(rate, "Audio given as arrays", "Pass (arrays, rate) with the rate in Hz.")
    clips = [np.asarray(a, dtype=np.float32).reshape(-1) for a in arrays]
    labels = None if len(data) == 2 else [str(x) for x in data[2]]
    if labels is not None and len(labels) != len(clips):
        raise DataError(f"{len(clips)} clips but {len(labels)} labels.", "Give one label a clip.")
    read = [(f"array[{i}]", None, c, rate) for i, c in enumerate(clips)]
    return _assemble(read, [], labels, [None] * len(clips), None, "arrays", [])


# ---- one rate, one length ---------------------------------------------------------------
def choose_rate(native: int) -> int:
    """The feature rate for clips recorded at ``native`` Hz: 8 kHz for telephone-band audio,
    16 kHz otherwise (speech carries little above 8 kHz)."""
    return COMMON_RATES[0] if native <= COMMON_RATES[0] else COMMON_RATES[1]


def choose_length(clips: list[np.ndarray], rate: int) -> int:
    """A window holding 95% of the trimmed clips whole: a multiple of 0.1 s in 0.5..2 s."""
    from layerwise.data.audio import trim_silence

    lengths = [len(trim_silence(c, rate)) for c in clips[:5000]]
    seconds = float(np.quantile(lengths, 0.95)) / rate
    return int(rate * float(np.clip(np.ceil(seconds * 10) / 10, 0.5, 2.0)))


def fixed_clips(
    clips: ClipSet, rate: int, length: int, trim: bool = True, limit_s: float = MAX_CLIP_S
) -> SpeechSet:
    """Resample to ``rate``, trim silence, and centre (pad or crop) each clip in ``length``."""
    from layerwise.data.audio import fit_length, trim_silence

    waves = np.zeros((len(clips), length), dtype=np.float32)
    lengths = np.zeros(len(clips), dtype=np.int64)
    cropped = 0
    for i, clip in enumerate(clips.clips):
        if len(clip) > limit_s * clips.rate:
            raise DataError(
                f"'{clips.names[i]}' is {len(clip) / clips.rate:.0f} s long; word recognition "
                f"takes clips up to {limit_s:.0f} s.",
                "Cut it into words, or use `layerwise predict RUN FILE --transcribe`, which "
                "reads long recordings in chunks.",
            )
        clip = _to_rate(clip, clips.rate, rate)
        clip = trim_silence(clip, rate) if trim else clip
        cropped += len(clip) > length
        waves[i] = fit_length(clip, length)
        lengths[i] = min(len(clip), length)
    notes = list(clips.notes)
    if cropped:
        notes.append(
            f"{cropped} clips longer than the {length / rate:.1f} s window were cut to its centre"
        )
    return SpeechSet(
        waves=waves,
        lengths=lengths,
        rate=rate,
        labels=clips.labels,
        classes=list(clips.classes),
        names=list(clips.names),
        speakers=clips.speakers,
        split=clips.split,
        skipped=list(clips.skipped),
        noise=[_to_rate(n, clips.rate, rate) for n in clips.noise],
        source=clips.source,
        notes=notes,
    )
