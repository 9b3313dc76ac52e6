"""What an application can do beyond fit, predict and evaluate, asked with ``isinstance``.

The generic layers (cli, serve, api, export) never test a task's name: ``layerwise play`` asks
``isinstance(task, Plays)``, so a new application gains a command by having the methods.
``runtime_checkable`` looks only at member names, so each Protocol is told apart by its names
(both generators have ``generate``; only text has ``encode_prompt``). Methods only: a task
class can then be asked too (``issubclass(cls, Plays)``), to name the tasks that can.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class GeneratesText(Protocol):
    """Continues a prompt (``layerwise generate RUN --prompt ...``)."""

    def encode_prompt(self, prompt: str) -> tuple[Any, list[str]]:
        """The prompt's tokens and notes on what the vocabulary could not hold."""

    def generate(self, prompt: str, max_tokens: int | None = None,
                 temperature: float | None = None, top_k: int | None = None,
                 top_p: float | None = None, seed: int = 0,
                 on_text: Callable[[str], None] | None = None) -> str:  # fmt: skip
        """The continuation, streamed piece by piece to ``on_text``."""


@runtime_checkable
class Replies(Protocol):
    """Answers one text with another, a translation or a reply (``layerwise chat RUN``)."""

    def reply(self, text: str, beam: int | None = None) -> str:
        """The output for one input text."""


@runtime_checkable
class GeneratesImages(Protocol):
    """Draws images, of a requested class when it learnt classes (``layerwise generate``);
    the fitted task also has ``classes``, ``side`` and ``chosen``."""

    def label_codes(self, labels: Any, n: int) -> Any:
        """Class codes for ``n`` samples, or None for an unconditional model."""

    def generate(self, n: int = 64, label: Any = None, seed: int = 0) -> tuple[Any, Any]:
        """``n`` images ``[n, side, side, channels]`` and their class codes."""


@runtime_checkable
class Plays(Protocol):
    """An agent that records episodes (``layerwise play``)."""

    def play(self, output: str, episodes: int = 1, seed: int = 0, env: Any = None) -> dict:
        """Play ``episodes`` into the animated GIF ``output``: returns, frames, bytes."""


@runtime_checkable
class Explains(Protocol):
    """Shows what drives one prediction as files (``layerwise explain``)."""

    def explain(self, data: Any, out_dir: str | Path, prefix: str = "") -> list[Path]:
        """Write the views of ``data`` into ``out_dir``; the paths written."""


@runtime_checkable
class ExportsOnnx(Protocol):
    """Has a torch network to export (``layerwise export``, :mod:`layerwise.export.onnx`)."""

    def onnx_module(self) -> tuple[Any, tuple, list[str], list[str]]:
        """The module to export, example inputs (batch first), input names, output names."""

    def onnx_description(self) -> tuple[list[dict], dict, str]:
        """For the sidecar JSON: the inputs, the output and the candidate's name."""
