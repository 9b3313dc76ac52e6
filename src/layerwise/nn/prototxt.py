"""The protobuf text format (a Caffe ``.prototxt``) parsed without a protobuf dependency:
``name: value`` fields (quoted strings, numbers, bare enum identifiers, booleans), nested
messages ``name { ... }``, repeated fields and ``#`` comments. Every message keeps the line it
starts on (under ``LINE``) so that :mod:`layerwise.nn.caffe` can name it in an error."""

from __future__ import annotations

import re
from typing import Any

from layerwise.errors import ConfigError

LINE = "__line__"  # key under which every parsed message keeps the line it starts on
_TOKEN = re.compile(
    r"""(?P<space>[ \t\r\f\v]+)|(?P<newline>\n)|(?P<comment>\#[^\n]*)
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<punct>[{}:;,\[\]<>])|(?P<word>[A-Za-z0-9_.+\-]+)""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}
_CLOSING = {"{": "}", "<": ">"}


def _tokenize(text: str, source: str) -> list[tuple[str, str, int]]:
    """(kind, text, line) for every token; kind is 'string', 'punct' or 'word'."""
    tokens, line, pos = [], 1, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "\"'":
                raise ConfigError(
                    f"{source}, line {line}: unterminated string (no closing {char} on the line).",
                    f"Close the string with {char}.",
                )
            raise ConfigError(
                f"{source}, line {line}: unexpected character {char!r}.",
                "Expected `name: value` fields and `name { ... }` messages.",
            )
        kind = match.lastgroup
        if kind == "newline":
            line += 1
        elif kind in ("string", "punct", "word"):
            tokens.append((kind, match.group(), line))
        pos = match.end()
    return tokens


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), token[1:-1])


def _scalar(kind: str, token: str) -> Any:
    if kind == "string":
        return _unquote(token)
    if token in ("true", "True"):
        return True
    if token in ("false", "False"):
        return False
    try:
        return int(token, 0)
    except ValueError:
        pass
    try:
        return float(token.rstrip("fF")) if token[0] in "0123456789.+-" else token
    except ValueError:
        return token  # an enum such as MAX or TRAIN


class Parser:
    def __init__(self, text: str, source: str):
        self.source = source
        self.tokens = _tokenize(text, source)
        self.pos = 0

    def error(self, line: int, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"{self.source}, line {line}: {message}", hint)

    def peek(self, offset: int = 0) -> tuple[str, str, int] | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def message(self, opened: tuple[str, int] | None) -> dict[str, Any]:
        """Fields up to the closing brace of ``opened`` (or the end of the text)."""
        fields: dict[str, Any] = {LINE: opened[1] if opened else 1}
        while True:
            token = self.peek()
            if token is None:
                if opened:
                    raise self.error(
                        opened[1],
                        f"'{opened[0]}' opened here is never closed (unbalanced braces).",
                        f"Add the missing '{_CLOSING[opened[0]]}'.",
                    )
                return fields
            kind, text, line = token
            self.pos += 1
            if kind == "punct" and text in (";", ","):
                continue
            if kind == "punct" and text in ("}", ">"):
                if opened and text == _CLOSING[opened[0]]:
                    return fields
                raise self.error(
                    line, f"unexpected '{text}' with no matching opening brace (unbalanced braces)."
                )
            if kind != "word" or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
                raise self.error(line, f"expected a field name, found {text!r}.")
            fields.setdefault(text, []).extend(self.value(text, line))

    def value(self, name: str, line: int) -> list[Any]:
        token = self.peek()
        colon = token is not None and token[1] == ":"
        if colon:
            self.pos += 1
            token = self.peek()
        if token is not None and token[0] == "punct" and token[1] in _CLOSING:
            self.pos += 1
            return [self.message((token[1], token[2]))]
        missing = self.error(line, f"field '{name}' has no value.", f"Write `{name}: <value>`.")
        if not colon or token is None:
            raise missing
        if token[1] == "[":
            self.pos += 1
            return self.list_value(name, line)
        following = self.peek(1)
        if token[0] == "punct" or (token[0] == "word" and following and following[1] in ":{"):
            raise missing
        self.pos += 1
        return [_scalar(token[0], token[1])]

    def list_value(self, name: str, line: int) -> list[Any]:
        values = []
        while True:
            token = self.peek()
            if token is None:
                raise self.error(line, f"'[' of field '{name}' is never closed.", "Add ']'.")
            self.pos += 1
            if token[1] == "]":
                return values
            if token[1] != ",":
                values.append(_scalar(token[0], token[1]))


def parse_prototxt(text: str, source: str = "<prototxt>") -> dict[str, Any]:
    """Parse protobuf text format into a tree of dicts.

    Every field maps to a *list* of its values (fields may repeat); nested messages are
    dicts of the same shape, and each message keeps the line it starts on under ``"__line__"``.

    Example:
        >>> tree = parse_prototxt('name: "LeNet"  layer { type: "ReLU" }  # comment')
        >>> tree["name"], tree["layer"][0]["type"], tree["layer"][0]["__line__"]
        (['LeNet'], ['ReLU'], 1)
    """
    return Parser(text, source).message(None)


def field(message: dict[str, Any], key: str, default: Any = None) -> Any:
    """The last value of a field (protobuf semantics for a non-repeated field)."""
    values = message.get(key)
    return values[-1] if values else default
