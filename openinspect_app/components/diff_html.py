"""One file's unified diff as an HTML table, syntax-highlighted with Pygments: unified or split. Pure.

The diff comes from a repository we do not trust, so every character of it reaches the
page through :func:`html.escape`: Pygments only says which token each piece of text is,
and this module writes the markup itself — a ``<span>`` whose class is one of Pygments'
fixed short names (``k``, ``s2``, ...), never anything taken from the text. The table is
then shown with ``rx.html``. The colours are :data:`STYLESHEET` (a light and a dark
Pygments style, scoped to ``.oi-diff``).

Each side of a hunk is highlighted as one text (old: context and removed lines; new:
context and added lines), so a string or comment that spans lines is coloured right.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from itertools import zip_longest

from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.token import STANDARD_TYPES, _TokenType
from pygments.util import ClassNotFound

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
# Why: a very long line (minified code) would make one table row as wide as a book.
MAX_LINE_CHARS = 2000
LIGHT_STYLE, DARK_STYLE = "default", "monokai"


@dataclass(frozen=True)
class Line:
    kind: str  # hunk | context | del | add | note
    old: int | None
    new: int | None
    text: str


def parse_patch(patch: str) -> list[Line]:
    """The lines of one file's diff (from its first ``@@``), with their old and new line numbers."""
    lines: list[Line] = []
    old = new = 0
    for raw in patch.split("\n"):
        if raw.startswith("@@"):
            match = _HUNK.match(raw)
            if match:
                old, new = int(match.group(1)), int(match.group(2))
            lines.append(Line("hunk", None, None, raw))
        elif raw.startswith("+"):
            lines.append(Line("add", None, new, raw[1:]))
            new += 1
        elif raw.startswith("-"):
            lines.append(Line("del", old, None, raw[1:]))
            old += 1
        elif raw.startswith(" "):
            lines.append(Line("context", old, new, raw[1:]))
            old, new = old + 1, new + 1
        elif raw.startswith("\\"):  # "\ No newline at end of file"
            lines.append(Line("note", None, None, raw[2:] if raw.startswith("\\ ") else raw[1:]))
        elif raw:
            lines.append(Line("context", old, new, raw))  # not diff syntax: shown as it is
            old, new = old + 1, new + 1
    return lines


def lexer_for(path: str) -> Lexer:
    """Pygments' lexer for the file's name (plain text when it knows none)."""
    options = {"stripnl": False, "stripall": False, "ensurenl": False}
    try:
        return get_lexer_for_filename(path, **options)
    except ClassNotFound:
        return TextLexer(**options)


def _css_class(token: _TokenType) -> str:
    while token not in STANDARD_TYPES:
        token = token.parent
    return STANDARD_TYPES[token]


def highlight(texts: list[str], lexer: Lexer) -> list[str]:
    """``texts`` (lines of one side of a hunk) as escaped HTML with token spans, one string per line."""
    if not texts:
        return []
    out: list[list[str]] = [[]]
    for token, value in lexer.get_tokens("\n".join(texts)):
        css = _css_class(token)
        for index, part in enumerate(value.split("\n")):
            if index:
                out.append([])
            if part:
                escaped = html.escape(part)
                out[-1].append(f'<span class="{css}">{escaped}</span>' if css else escaped)
    rendered = ["".join(parts) for parts in out]
    if len(rendered) != len(texts):  # a lexer that added or dropped a line: plain, but right
        return [html.escape(text) for text in texts]
    return rendered


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS] + " …"


def _highlighted(lines: list[Line], lexer: Lexer) -> list[str]:
    """The HTML of each line's text, each hunk's two sides highlighted as wholes."""
    shown = [""] * len(lines)
    hunk: list[int] = []

    def flush() -> None:
        old_side = [i for i in hunk if lines[i].kind in ("context", "del")]
        new_side = [i for i in hunk if lines[i].kind in ("context", "add")]
        for side in (old_side, new_side):
            for i, markup in zip(side, highlight([_cut(lines[i].text) for i in side], lexer), strict=True):
                shown[i] = markup
        hunk.clear()

    for index, line in enumerate(lines):
        if line.kind in ("hunk", "note"):
            flush()
            shown[index] = html.escape(line.text)
        else:
            hunk.append(index)
    flush()
    return shown


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def unified_html(patch: str, path: str) -> str:
    """The diff as one table: old number, new number, marker, code."""
    lines = parse_patch(patch)
    shown = _highlighted(lines, lexer_for(path))
    rows = []
    for line, markup in zip(lines, shown, strict=True):
        if line.kind in ("hunk", "note"):
            rows.append(f'<tr class="{line.kind}"><td class="ln"></td><td class="ln"></td>'
                        f'<td class="code" colspan="2">{markup}</td></tr>')
            continue
        marker = {"add": "+", "del": "-"}.get(line.kind, " ")
        rows.append(f'<tr class="{line.kind}"><td class="ln">{_number(line.old)}</td>'
                    f'<td class="ln">{_number(line.new)}</td><td class="mk">{marker}</td>'
                    f'<td class="code">{markup}</td></tr>')
    return f'<table class="oi-diff unified"><tbody>{"".join(rows)}</tbody></table>'


def split_html(patch: str, path: str) -> str:
    """The diff side by side: the old file on the left, the new on the right; a change's removed and
    added lines face each other."""
    lines = parse_patch(patch)
    shown = _highlighted(lines, lexer_for(path))
    rows: list[str] = []
    dels: list[int] = []
    adds: list[int] = []

    def cell(index: int | None, side: str) -> str:
        if index is None:
            return '<td class="ln"></td><td class="code empty"></td>'
        line = lines[index]
        number = line.old if side == "old" else line.new
        return f'<td class="ln">{_number(number)}</td><td class="code {line.kind}">{shown[index]}</td>'

    def flush() -> None:
        for left, right in zip_longest(dels, adds):
            rows.append(f'<tr class="change">{cell(left, "old")}{cell(right, "new")}</tr>')
        dels.clear()
        adds.clear()

    for index, line in enumerate(lines):
        if line.kind == "del":
            if adds:
                flush()
            dels.append(index)
        elif line.kind == "add":
            adds.append(index)
        else:
            flush()
            if line.kind in ("hunk", "note"):
                rows.append(f'<tr class="{line.kind}"><td class="code" colspan="4">{shown[index]}</td></tr>')
            else:
                rows.append(f'<tr class="context">{cell(index, "old")}{cell(index, "new")}</tr>')
    flush()
    return f'<table class="oi-diff split"><tbody>{"".join(rows)}</tbody></table>'


def _stylesheet() -> str:
    light = HtmlFormatter(style=LIGHT_STYLE).get_style_defs(".oi-diff")
    dark = HtmlFormatter(style=DARK_STYLE).get_style_defs(".dark .oi-diff")
    layout = """
.oi-diff { border-collapse: collapse; width: 100%; font-family: var(--code-font-family, monospace);
  font-size: 12px; line-height: 1.45; table-layout: auto; }
.oi-diff td { padding: 0 0.5em; vertical-align: top; white-space: pre-wrap; word-break: break-all; }
.oi-diff td.ln { color: var(--gray-10); text-align: right; user-select: none; width: 1%; white-space: nowrap; }
.oi-diff td.mk { user-select: none; width: 1%; color: var(--gray-10); }
.oi-diff tr.add td, .oi-diff td.code.add { background: var(--green-a3); }
.oi-diff tr.del td, .oi-diff td.code.del { background: var(--red-a3); }
.oi-diff td.code.empty { background: var(--gray-a2); }
.oi-diff tr.hunk td { background: var(--blue-a2); color: var(--gray-11); }
.oi-diff tr.note td { color: var(--gray-10); font-style: italic; }
.oi-diff.split td.code { width: 49%; }
"""
    # Pygments' own backgrounds would paint over the diff's: only its token colours are kept.
    token_rules = "\n".join(rule for rule in (light + "\n" + dark).splitlines()
                            if rule.startswith((".oi-diff .", ".dark .oi-diff .")) and " .hll " not in rule)
    return layout + token_rules


STYLESHEET = _stylesheet()
