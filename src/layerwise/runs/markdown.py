"""A small Markdown renderer for the report page: headings, paragraphs, bullet and numbered
lists, pipe tables, and inline ``code`` and **bold**; everything else is escaped as text,
so a decision.md from a run folder someone sent cannot put HTML or script into the page."""

from __future__ import annotations

import html
import re

_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_BULLET = re.compile(r"^\s*[-*]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _inline(text: str) -> str:
    """Escape HTML, then `code` spans and **bold** (never inside code)."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if len(part) > 1 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        else:
            escaped = html.escape(part)
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped))
    return "".join(out)


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line.removeprefix("|")
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]


def _table(lines: list[str]) -> str:
    head, align_row, body = _cells(lines[0]), _cells(lines[1]), [_cells(x) for x in lines[2:]]
    aligns = []
    for spec in align_row:
        right, left = spec.endswith(":"), spec.startswith(":")
        aligns.append("center" if left and right else "right" if right else "")

    def row(cells: list[str], tag: str) -> str:
        cells = (cells + [""] * len(head))[: len(head)]
        out = []
        for i, cell in enumerate(cells):
            style = f' style="text-align:{aligns[i]}"' if i < len(aligns) and aligns[i] else ""
            out.append(f"<{tag}{style}>{_inline(cell)}</{tag}>")
        return "<tr>" + "".join(out) + "</tr>"

    return "<table>" + row(head, "th") + "".join(row(r, "td") for r in body) + "</table>"


def markdown_to_html(text: str, heading_offset: int = 0) -> str:
    """Render the small Markdown subset layerwise writes; everything else is escaped.

    Supports headings (``#`` to ``######``, shifted down by ``heading_offset``), paragraphs,
    ``- `` and ``1. `` lists, pipe tables, fenced code blocks, `` `code` `` and ``**bold**``.

    Example:
        >>> markdown_to_html("# Why\\n\\n- **fast** `lgbm` <b>")
        '<h1>Why</h1>\\n<ul><li><strong>fast</strong> <code>lgbm</code> &lt;b&gt;</li></ul>'
    """
    lines = text.replace("\r\n", "\n").split("\n")
    blocks: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.strip().startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            code = html.escape("\n".join(lines[i + 1 : j]))
            blocks.append(f"<pre><code>{code}</code></pre>")
            i = j + 1
        elif match := _HEADING.match(line):
            level = min(6, len(match.group(1)) + heading_offset)
            blocks.append(f"<h{level}>{_inline(match.group(2))}</h{level}>")
            i += 1
        elif "|" in line and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]):
            j = i + 2
            while j < len(lines) and lines[j].strip() and "|" in lines[j]:
                j += 1
            blocks.append(_table(lines[i:j]))
            i = j
        elif _BULLET.match(line) or _NUMBERED.match(line):
            pattern, tag = (_BULLET, "ul") if _BULLET.match(line) else (_NUMBERED, "ol")
            items = []
            while i < len(lines) and (m := pattern.match(lines[i])):
                items.append(_inline(m.group(1)))
                i += 1
                while (
                    i < len(lines)
                    and lines[i].startswith("  ")
                    and lines[i].strip()
                    and not pattern.match(lines[i])
                ):
                    items[-1] += " " + _inline(lines[i].strip())  # continuation line
                    i += 1
            blocks.append(f"<{tag}>" + "".join(f"<li>{x}</li>" for x in items) + f"</{tag}>")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not _starts_block(lines, i):
                para.append(lines[i].strip())
                i += 1
            blocks.append("<p>" + _inline(" ".join(para)) + "</p>")
    return "\n".join(blocks)


def _starts_block(lines: list[str], i: int) -> bool:
    line = lines[i]
    return bool(
        _HEADING.match(line)
        or _BULLET.match(line)
        or _NUMBERED.match(line)
        or line.strip().startswith("```")
        or ("|" in line and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]))
    )
