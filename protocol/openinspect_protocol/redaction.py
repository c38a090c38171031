"""Replacing secret values with ``[secret:NAME]`` before anything is stored, sent or logged.

One vocabulary for every process: the sandbox scrubs each event it emits (token deltas
stream-aware, because a value may arrive split across chunks), the control plane scrubs
each event it stores again, and both log formatters scrub each line with the process's
own :func:`process_redactor`.

Matching is literal and greedy in the way :mod:`re` alternation is: the leftmost
occurrence wins, and at one position the longest value wins. A value is also looked for
in its JSON-escaped forms, since a value with a quote or a newline in it reaches a log
line or a tool's JSON output escaped.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

MIN_SCRUB_CHARS = 6
"""Shorter values are not scrubbed (they would mangle ordinary text); the store refuses them."""

# The names the system's own credentials are scrubbed as (they are not repository secrets).
SANDBOX_TOKEN_NAME = "SANDBOX_TOKEN"  # the bridge token
MODEL_PROXY_KEY_NAME = "MODEL_PROXY_KEY"  # the sandbox's model-proxy credential
GIT_TOKEN_NAME = "GITHUB_TOKEN"  # an installation token the credential broker handed out

M = TypeVar("M", bound=BaseModel)


def mark(name: str) -> str:
    """What a value named ``name`` is replaced with."""
    return f"[secret:{name}]"


def _forms(value: str) -> set[str]:
    """``value`` as written and as it appears inside a JSON string (ASCII-escaped or not)."""
    forms = {value, json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1]}
    return {form for form in forms if len(form) >= MIN_SCRUB_CHARS}


class Redactor:
    """Known values and their names; replaces every occurrence of a value with its mark.

    Safe to share between threads: :meth:`add` swaps in a new immutable pattern, readers
    take whichever one is current.
    """

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}  # form of a value -> name
        self._pattern: re.Pattern[str] | None = None
        self._ordered: tuple[str, ...] = ()  # forms, longest first
        for name, value in (values or {}).items():
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        """Scrub ``value`` as ``[secret:name]`` from now on. Values under MIN_SCRUB_CHARS are ignored."""
        if len(value) < MIN_SCRUB_CHARS:
            return
        with self._lock:
            new = {form: name for form in _forms(value) if self._names.get(form) != name}
            if not new:
                return
            names = {**self._names, **new}
            ordered = tuple(sorted(names, key=lambda form: (-len(form), form)))
            pattern = re.compile("|".join(re.escape(form) for form in ordered))
            self._names, self._ordered, self._pattern = names, ordered, pattern

    def update(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self.add(name, value)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def scrub(self, text: str) -> str:
        pattern, names = self._pattern, self._names
        if pattern is None or not text:
            return text
        return pattern.sub(lambda match: mark(names[match.group()]), text)

    def scrub_data(self, value: Any) -> Any:
        """``value`` with every string inside dicts, lists and tuples scrubbed (keys too)."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub_data(key): self.scrub_data(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.scrub_data(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.scrub_data(item) for item in value)
        return value

    def contains_secret(self, text: str) -> str | None:
        """The name of the first value found in ``text``, or None."""
        pattern = self._pattern
        match = pattern.search(text) if pattern is not None and text else None
        return self._names[match.group()] if match else None

    def stream(self) -> StreamScrubber:
        """A scrubber for one streamed text (one per message part)."""
        return StreamScrubber(self)

    def _open_from(self, text: str, start: int) -> int:
        """The first position >= start where the rest of ``text`` is a proper prefix of a value.

        Text from there on may still become (part of) a value when more arrives; everything
        before it is decided. ``len(text)`` when there is no such position.
        """
        best = len(text)
        for form in self._ordered:
            first = form[0]
            index = text.find(first, max(start, len(text) - len(form) + 1))
            while 0 <= index < best:
                if form.startswith(text[index:]):
                    best = index
                    break
                index = text.find(first, index + 1)
        return best


class StreamScrubber:
    """Scrubs a text that arrives in chunks; the joined output equals ``Redactor.scrub`` of the whole.

    :meth:`feed` returns what is safe now and holds back the tail that may still turn into
    a value (or into a longer one); :meth:`flush` returns that tail, scrubbed, at the end.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._pending = ""

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def feed(self, chunk: str) -> str:
        text = self._pending + chunk
        redactor = self._redactor
        pattern, names = redactor._pattern, redactor._names
        if pattern is None:
            self._pending = ""
            return text
        out: list[str] = []
        position = 0
        while True:
            hold = redactor._open_from(text, position)
            match = pattern.search(text, position)
            if match is None or match.start() >= hold:
                # A match starting before `hold` is final even if it reaches past it: the text
                # at its start is not a prefix of anything longer, so no later chunk changes it.
                out.append(text[position:hold])
                self._pending = text[hold:]
                return "".join(out)
            out.append(text[position : match.start()])
            out.append(mark(names[match.group()]))
            position = match.end()

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return self._redactor.scrub(rest)


def scrub_message(redactor: Redactor, message: M) -> M:
    """``message`` with every string in it scrubbed (the same object when nothing changed).

    A mark may be longer than the value it replaced, so a field with a length limit is cut to
    its limit (what is cut is a mark or text after it, never a value).
    """
    if not redactor:
        return message
    data = message.model_dump(mode="json")
    scrubbed = redactor.scrub_data(data)
    if scrubbed == data:
        return message
    for _ in range(3):
        try:
            return type(message).model_validate(scrubbed)
        except ValidationError as error:
            too_long = [e for e in error.errors() if e["type"] == "string_too_long"]
            if not too_long:
                raise
            for problem in too_long:
                *path, last = problem["loc"]
                holder = scrubbed
                for step in path:
                    holder = holder[step]
                holder[last] = holder[last][: int(problem["ctx"]["max_length"])]
    return type(message).model_validate(scrubbed)


_process_redactor = Redactor()


def process_redactor() -> Redactor:
    """This process's redactor: every secret or token it decrypts or receives is added here."""
    return _process_redactor
