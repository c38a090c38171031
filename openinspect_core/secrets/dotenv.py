"""Reading a pasted ``.env`` file: ``NAME=value`` lines, as most tools write them.

Accepted: blank lines, ``#`` comments (a whole line, or after an unquoted value following a
space), an ``export `` prefix, spaces around the name and ``=``, values unquoted, in single
quotes (literal) or in double quotes (``\\n``, ``\\t``, ``\\r``, ``\\"`` and ``\\\\`` escapes); a
quoted value may span lines (a PEM key). No variable expansion: ``$OTHER`` is kept as written,
since a secret's value is what the person pasted.

Anything else is an error naming its line, and nothing is imported: a half-applied paste
would leave the person guessing which secrets changed. The same name twice is an error too.
Names and values are checked by :mod:`openinspect_core.secrets.names` (the error says the line).
"""

from __future__ import annotations

import re

from openinspect_core.secrets import names
from openinspect_core.services.errors import InvalidInput, ServiceError

_ASSIGNMENT = re.compile(r"\s*(?:export\s+)?([^=\s]*)\s*=\s*(.*)", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


class DotenvError(InvalidInput):
    code = "invalid_dotenv"


def parse(text: str) -> dict[str, str]:
    """The name -> value pairs of ``text``, in order; every name and value checked."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found: dict[str, str] = {}
    where: dict[str, int] = {}
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ASSIGNMENT.fullmatch(line)
        if match is None:
            why = "found no '='" if "=" not in line else "the name before '=' has spaces in it"
            raise DotenvError(f"line {number}: expected NAME=value; {why}")
        name, rest = match.group(1), match.group(2)
        if rest[:1] in ("'", '"'):
            value, index = _quoted(lines, index - 1, rest, number)
        else:
            value = _unquoted(rest)
        try:
            names.check_name(name)
            names.check_value(name, value)
        except ServiceError as error:
            raise type(error)(f"line {number}: {error.message}", code=error.code) from None
        if name in found:
            raise DotenvError(f"line {number}: {name} is already set on line {where[name]}; keep one of them")
        found[name], where[name] = value, number
    return found


def _unquoted(rest: str) -> str:
    comment = re.search(r"\s#", rest)
    return (rest[:comment.start()] if comment else rest).strip()


def _quoted(lines: list[str], index: int, rest: str, number: int) -> tuple[str, int]:
    """The value of a quoted assignment starting on ``lines[index]`` and the index after its last line."""
    quote, text = rest[0], rest[1:]
    value: list[str] = []
    while True:
        position = 0
        while position < len(text):
            char = text[position]
            if char == quote:
                _only_comment_after(text[position + 1:], index + 1)
                return "".join(value), index + 1
            if char == "\\" and quote == '"' and position + 1 < len(text):
                following = text[position + 1]
                value.append(_ESCAPES.get(following, "\\" + following))
                position += 2
                continue
            value.append(char)
            position += 1
        index += 1
        if index >= len(lines):
            raise DotenvError(f"line {number}: the {quote} quote opened here is never closed")
        value.append("\n")
        text = lines[index]


def _only_comment_after(tail: str, number: int) -> None:
    tail = tail.strip()
    if tail and not tail.startswith("#"):
        raise DotenvError(f"line {number}: unexpected text after the closing quote")
