"""Synthetic spoken words from espeak-ng, for training word recognisers without recordings.

espeak-ng is called through ctypes (the ``espeakng-loader`` package ships the library and its
data, so no system package is needed). :func:`synthesize_words` draws a random voice, speed,
pitch, loudness and padding for every clip; :func:`write_words` lays the clips out as
``<out>/<word>/*.wav``, the folder-per-word layout ``layerwise train`` reads.

Example:
    >>> clips = synthesize_words(["yes", "no"], per_word=2)  # doctest: +SKIP
    >>> write_words(clips, "synth/")  # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from layerwise.errors import ConfigError, DataError, closest

# English accents (espeak-ng-data/lang/gmw). en-shaw is left out: it is the Shavian script,
# not an accent, and reads Latin text as plain "en".
DEFAULT_LANGUAGES: tuple[str, ...] = tuple(
    "en en-us en-029 en-gb-scotland en-gb-x-rp en-gb-x-gbclan en-gb-x-gbcwmd en-us-nyc".split()
)
# Variants (espeak-ng-data/voices/!v) that sound like a person. Left out: the robot and effect
# voices (robosoft..robosoft8, UniRobot, anikaRobot, Demonic, announcer), "fast" (a test voice
# whose speed we set ourselves) and "Mr serious" (a space in its name).
DEFAULT_VARIANTS: tuple[str, ...] = tuple(
    "m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 klatt klatt2 klatt3 klatt4 klatt5 klatt6 "
    "Alex Alicia Andrea Andy Annie AnxiousAndy Denis Diogo Gene Gene2 Henrique Hugo Jacky Lee "
    "Marco Mario Michael Mike Nguyen Reed RicishayMax RicishayMax2 RicishayMax3 Storm Tweaky "
    "adam anika antonio aunty belinda benjamin boris caleb croak david ed edward edward2 "
    "grandma grandpa gustave ian iven iven2 iven3 iven4 john kaukovalta linda marcelo max "
    "michel miguel mike2 norbert pablo paul pedro quincy rob robert sandro shelby steph steph2 "
    "steph3 travis victor whisper whisperf zac".split()
)

_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4  # espeak_PARAMETER
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_INT, _UINT, _PTR = ctypes.c_int, ctypes.c_uint, ctypes.c_void_p
_SIGNATURES: dict[str, tuple[Any, ...]] = {  # name: (restype, *argtypes)
    "espeak_Initialize": (_INT, _INT, _INT, ctypes.c_char_p, _INT),
    "espeak_SetSynthCallback": (None, _CALLBACK),
    "espeak_SetVoiceByName": (_INT, ctypes.c_char_p),
    "espeak_SetParameter": (_INT, _INT, _INT, _INT),
    "espeak_Synth": (_INT, _PTR, ctypes.c_size_t, _UINT, _INT, _UINT, _UINT, _PTR, _PTR),
    "espeak_Synchronize": (_INT,),
    "espeak_Terminate": (_INT,),
    "espeak_ng_SetRandSeed": (None, ctypes.c_long),
}
_LOCK = threading.RLock()
_INSTANCE: Synthesizer | None = None
_VOICE_HINT = "Use a language such as en-us, en or en-gb-scotland, optionally with a variant: en-us+m3, en+f2, en-us+Annie."


class Synthesizer:
    """espeak-ng through ctypes; one per process (espeak keeps global state).

    Calls are serialised by a module-level lock. espeak carries a little state from one
    utterance to the next that ``espeak_Terminate`` does not clear, so :meth:`reset` reloads
    the library (and seeds the C ``rand()`` its Klatt voices use) to make what follows
    reproducible.
    """

    def __init__(self, library_path: str, data_path: str):
        self._library_path = library_path
        self._data_path = data_path
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: espeak calls it
        self._lib: Any = None
        self._variants: list[str] | None = None
        self.sample_rate = self._load()

    def _load(self) -> int:
        lib = ctypes.CDLL(self._library_path)
        for name, (restype, *argtypes) in _SIGNATURES.items():
            if hasattr(lib, name):
                getattr(lib, name).restype, getattr(lib, name).argtypes = restype, argtypes
        rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, self._data_path.encode(), 0)
        if rate <= 0:
            raise ConfigError(
                f"espeak-ng failed to start (code {rate}) with data at '{self._data_path}'.",
                'Reinstall it: pip install --force-reinstall "layerwise[speech]".',
            )
        lib.espeak_SetSynthCallback(self._callback)
        if hasattr(lib, "espeak_ng_SetRandSeed"):  # otherwise seeded from the clock
            lib.espeak_ng_SetRandSeed(0)
        self._lib = lib
        return int(rate)

    def reset(self) -> None:
        """Unload and reload espeak-ng, so the next utterances do not depend on earlier ones."""
        import _ctypes

        with _LOCK:
            old, self._lib = self._lib, None
            old.espeak_Terminate()
            close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
            if close is not None:
                handle = old._handle
                del old
                close(handle)
            self.sample_rate = self._load()
            _seed_libc_rand(0)

    def _on_audio(self, wav: Any, n: int, _events: Any) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def check_voice(self, voice: str) -> None:
        """Raise ConfigError unless espeak-ng knows ``voice`` (``language[+variant]``).

        Also makes ``voice`` the current one. espeak-ng itself accepts an unknown variant
        silently (and its names are case-sensitive), so variants are looked up here.
        """
        language, plus, variant = voice.partition("+")
        if plus and variant not in self.variants():
            near = closest(variant, self.variants())
            hint = f"Did you mean '{language}+{near}'? " if near else ""
            raise ConfigError(
                f"Unknown espeak-ng voice '{voice}': there is no variant '{variant}'.",
                hint + _VOICE_HINT,
            )
        with _LOCK:
            code = self._lib.espeak_SetVoiceByName(voice.encode())
        if not language or code != 0:
            raise ConfigError(f"Unknown espeak-ng voice '{voice}'.", _VOICE_HINT)

    def variants(self) -> list[str]:
        """Names of the voice variants (``+m3``, ``+Annie``...) this espeak-ng has."""
        if self._variants is None:
            folder = Path(self._data_path) / "voices" / "!v"
            found = [p.name for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
            self._variants = sorted(found)
        return self._variants

    def speak(
        self,
        text: str,
        voice: str = "en-us",
        words_per_minute: int = 160,
        pitch: int = 50,
        pitch_range: int = 50,
    ) -> np.ndarray:
        """``text`` spoken by ``voice``, as float32 in [-1, 1] at :attr:`sample_rate`."""
        if not text or not text.strip():
            raise DataError("Cannot speak empty text.", "Give at least one word.")
        encoded = text.strip().encode("utf-8")
        with _LOCK:
            self.check_voice(voice)
            lib = self._lib
            lib.espeak_SetParameter(_RATE, int(np.clip(words_per_minute, 80, 450)), 0)
            lib.espeak_SetParameter(_PITCH, int(np.clip(pitch, 0, 100)), 0)
            lib.espeak_SetParameter(_RANGE, int(np.clip(pitch_range, 0, 100)), 0)
            lib.espeak_SetParameter(_VOLUME, 100, 0)
            self._chunks = []
            code = lib.espeak_Synth(
                ctypes.c_char_p(encoded), len(encoded) + 1, 0, 0, 0, 0, None, None
            )
            lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if code != 0:
            raise DataError(f"espeak-ng could not speak {text!r} (code {code}).", "Try other text.")
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return audio.astype(np.float32) / np.float32(32768.0)


def _seed_libc_rand(seed: int) -> None:
    """Seed the C library's ``rand()``, which espeak's Klatt voices draw their noise from."""
    try:
        libc = ctypes.CDLL(None)
        libc.srand.argtypes = [ctypes.c_uint]
        libc.srand(seed)
    except (OSError, AttributeError, TypeError):  # no global libc (Windows): less reproducible
        pass


def synthesizer() -> Synthesizer:
    """The process's one :class:`Synthesizer`, started on first use."""
    global _INSTANCE
    with _LOCK:
        if _INSTANCE is None:
            try:
                import espeakng_loader
            except ImportError:
                raise ConfigError(
                    "Synthetic speech needs the espeak-ng library.",
                    'pip install "layerwise[speech]" (it installs espeakng-loader; no system package needed).',
                ) from None
            _INSTANCE = Synthesizer(
                str(espeakng_loader.get_library_path()), str(espeakng_loader.get_data_path())
            )
        return _INSTANCE


@dataclass
class SynthClip:
    """One synthetic utterance of ``word``: float32 ``samples`` at ``rate`` Hz."""

    word: str
    voice: str
    words_per_minute: int
    pitch: int
    samples: np.ndarray
    rate: int


def _check_word(word: str) -> None:
    """Raise ConfigError unless ``word`` can name a folder safely."""
    bad = [c for c in ("/", "\\", "\0") if c in word]
    if bad or ".." in word or word.startswith((".", "_")):
        raise ConfigError(
            f"The word {word!r} cannot name a folder (it contains '/', '\\' or '..', "
            "or starts with '.' or '_').",
            "Use plain words such as yes,no,up,down.",
        )


def _check_words(words: Sequence[str]) -> list[str]:
    if isinstance(words, str):
        words = [words]
    cleaned = [str(w).strip() for w in words]
    if not cleaned or any(not w for w in cleaned):
        raise ConfigError(
            f"Give one or more non-empty words; got {list(words)!r}.", "E.g. --words yes,no,up,down"
        )
    seen: set[str] = set()
    for word in cleaned:
        _check_word(word)
        if word.casefold() in seen:
            raise ConfigError(f"The word {word!r} is given twice.", "List every word once.")
        seen.add(word.casefold())
    return cleaned


def _check_int(value: Any, low: int, high: int | None, what: str, hint: str) -> None:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        span = f"{low}..{high}" if high is not None else f"{low} or more"
        raise ConfigError(f"{what} must be a whole number {span}; got {value!r}.", hint)


def synthesize_words(
    words: Sequence[str],
    per_word: int,
    rate: int = 16000,
    seed: int = 0,
    voices: Sequence[str] | None = None,
    progress: bool = False,
) -> list[SynthClip]:
    """``per_word`` clips of each word, each with a random voice, speed, pitch, gain and padding.

    Voices are drawn from :data:`DEFAULT_LANGUAGES` x :data:`DEFAULT_VARIANTS` unless ``voices``
    (``language[+variant]`` names) is given. The same arguments give the same clips.
    """
    cleaned = _check_words(words)
    _check_int(per_word, 1, None, "The number of clips per word", "E.g. --per-word 200")
    _check_int(rate, 4000, 48000, "The sample rate (Hz)", "E.g. --rate 16000")
    synth = synthesizer()
    pool: list[str] | None = None
    if voices is not None:
        pool = [str(v).strip() for v in voices if str(v).strip()]
        if not pool:
            raise ConfigError("The list of voices is empty.", "E.g. --voices en-us+m3,en+f2")
        for voice in pool:
            synth.check_voice(voice)
    from rich.console import Console
    from rich.progress import track

    from layerwise.data.audio import resample

    rng = np.random.default_rng(seed)
    clips: list[SynthClip] = []
    jobs = [word for word in cleaned for _ in range(per_word)]
    console = Console(stderr=True)
    with _LOCK:
        synth.reset()
        for word in track(
            jobs, "Synthesising", console=console, transient=True, disable=not progress
        ):
            if pool is None:
                voice = f"{rng.choice(DEFAULT_LANGUAGES)}+{rng.choice(DEFAULT_VARIANTS)}"
            else:
                voice = str(rng.choice(pool))
            wpm, pitch = int(rng.integers(110, 231)), int(rng.integers(25, 86))
            pitch_range, gain = int(rng.integers(30, 91)), float(rng.uniform(0.5, 1.0))
            lead, trail = rng.uniform(0.05, 0.25, size=2)
            audio = synth.speak(word, voice, wpm, pitch, pitch_range)
            audio = _shape(audio, synth.sample_rate, gain, lead, trail, word, voice)
            samples = np.clip(resample(audio, synth.sample_rate, rate), -1.0, 1.0)
            clips.append(SynthClip(word, voice, wpm, pitch, samples.astype(np.float32), rate))
    return clips


def _shape(
    audio: np.ndarray, rate: int, gain: float, lead: float, trail: float, word: str, voice: str
) -> np.ndarray:
    """Trim espeak's own silence, scale the peak to ``gain`` and pad with silence."""
    loud = np.flatnonzero(np.abs(audio) > 1e-3)
    if loud.size == 0:
        raise DataError(
            f"espeak-ng produced silence for {word!r} with voice '{voice}'.",
            "Spell the word out in letters, or leave that voice out.",
        )
    audio = audio[loud[0] : loud[-1] + 1]
    audio = audio * (gain / float(np.max(np.abs(audio))))
    pads = (round(lead * rate), round(trail * rate))
    return np.pad(audio, pads).astype(np.float32)


def voice_tag(voice: str) -> str:
    """``voice`` with every character but letters, digits and '-' replaced by '-'."""
    return re.sub(r"[^A-Za-z0-9-]", "-", voice)


def write_words(clips: Sequence[SynthClip], out_dir: str | Path) -> list[Path]:
    """Write ``out_dir/<word>/<word>_<voice tag>_<n>.wav`` for every clip; return the paths."""
    from layerwise.data.audio import write_wav

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"'{out}' is a file, not a folder.", "Give a folder to write into.")
    counts: dict[str, int] = {}
    paths: list[Path] = []
    for clip in clips:
        _check_word(clip.word)
        n = counts.get(clip.word, 0)
        counts[clip.word] = n + 1
        folder = out / clip.word
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{clip.word}_{voice_tag(clip.voice)}_{n}.wav"
        write_wav(path, clip.samples, clip.rate)
        paths.append(path)
    return paths
