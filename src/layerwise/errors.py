"""User-facing errors.

Every error a user can cause is a :class:`LayerwiseError`. Its message says what was
received, what was expected and how to fix it; the CLI prints it as one line and exits
with code 2, never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class LayerwiseError(Exception):
    """Base class of every error a user can fix. ``hint`` says how to fix it."""

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class DataError(LayerwiseError):
    """The input data cannot be used as given (empty, unreadable, wrong values)."""


class ColumnError(DataError):
    """A column is missing, misspelled or of the wrong kind."""


class RunFolderError(LayerwiseError):
    """A run folder is missing, incomplete, tampered with or from a newer version."""


class TrainingError(LayerwiseError):
    """Training cannot go on (loss became NaN, nothing could be fitted)."""


class ConfigError(LayerwiseError):
    """An option or configuration value is invalid."""


def check_fields(obj: Any, checks: Iterable[tuple[str, bool, str]]) -> None:
    """A ConfigError naming the first of ``checks`` (field, whether it holds, what is expected)
    that fails, for a configuration dataclass ``obj``.

    >>> from types import SimpleNamespace
    >>> try:
    ...     check_fields(SimpleNamespace(k=0), [("k", False, "k >= 1")])
    ... except ConfigError as error:
    ...     print(error)
    SimpleNamespace.k=0 is not valid. Use k >= 1.
    """
    for name, ok, expected in checks:
        if not ok:
            raise ConfigError(
                f"{type(obj).__name__}.{name}={getattr(obj, name)!r} is not valid.",
                f"Use {expected}.",
            )


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``name`` (case-insensitive), or None if nothing is close.

    >>> closest("chrun", ["churn", "age"])
    'churn'
    """
    choices = [str(c) for c in choices]
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered:
        return lowered[name.lower()]
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    return lowered[match[0]] if match else None


def check_option_names(owner: str, given: Iterable[str], known: Iterable[str]) -> None:
    """A ConfigError naming the first option of ``given`` that ``owner`` does not have, with
    the closest known one (or all of them).

    >>> check_option_names("unet", ["crop"], ["crop", "epochs"])
    >>> check_option_names("unet", ["epoch"], ["crop", "epochs"])
    Traceback (most recent call last):
    layerwise.errors.ConfigError: unet has no option 'epoch'. Did you mean 'epochs'?
    """
    known = list(known)
    for key in given:
        if key not in known:
            near = closest(key, known)
            raise ConfigError(f"{owner} has no option {key!r}.",
                              f"Did you mean {near!r}?" if near else "Use one of: "
                              + ", ".join(known) + ".")  # fmt: skip


def no_target(columns: Iterable[str]) -> ConfigError:
    """The error for a fit or advice asked without a target column."""
    shown = ", ".join(str(c) for c in list(columns)[:12])
    return ConfigError("No target column given.", f"Pass --target with one of: {shown}.")


def missing_column(
    name: str, columns: Iterable[str], what: str = "column", where: str = "the data"
) -> ColumnError:
    """A ColumnError for a missing column that suggests the closest existing name."""
    columns = [str(c) for c in columns]
    guess = closest(name, columns)
    shown = ", ".join(columns[:12]) + (" ..." if len(columns) > 12 else "")
    hint = f"Did you mean '{guess}'?" if guess else f"Available columns: {shown}."
    return ColumnError(f"{what} '{name}' is not in {where}.", hint)


def dataclass_from_dict(cls: type, d: dict[str, Any], what: str | None = None) -> Any:
    """``cls(**d)`` for a config dataclass; an unknown key is a ConfigError naming the
    closest field (``what`` names the thing in the message; default: the class name).

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Point:
    ...     x: int = 0
    >>> dataclass_from_dict(Point, {"x": 2})
    Point(x=2)
    """
    from dataclasses import fields

    names = [f.name for f in fields(cls)]
    unknown = [k for k in d if k not in names]
    if unknown:
        guess = closest(unknown[0], names)
        raise ConfigError(
            f"{what or cls.__name__} has no field '{unknown[0]}'.",
            f"Did you mean '{guess}'?" if guess else "Fields: " + ", ".join(names) + ".",
        )
    return cls(**d)


class LayerwiseWarning(UserWarning):
    """A note the user should see but that stops nothing (e.g. a resume that fell back to an
    older checkpoint). The CLI prints it as one ``note:`` line."""


class RunInterrupted(Exception):
    """The CLI's report of a training stopped by Ctrl-C: its one line, printed with exit code
    130. Not a KeyboardInterrupt, so that Typer passes it on instead of swallowing it."""

    def __init__(self, line: str):
        self.line = line
        super().__init__(line)
