"""What a script of the scripted model sees and what it returns.

A script is a function ``ScriptContext -> Reply``, called once per model call;
these are the only types a script (built in or registered by a test) needs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCallSpec:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class TextReply:
    """Assistant text; ``chunk_delay_seconds`` > 0 streams it slowly.

    ``chunks``: the exact streamed pieces (their concatenation must be ``text``), for a test that
    needs a value split across chunks at places it chooses (a secret the runtime must scrub while
    it streams); none: a few words per chunk."""

    text: str
    chunk_delay_seconds: float = 0.0
    chunks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.chunks and "".join(self.chunks) != self.text:
            raise ValueError("TextReply.chunks must join to TextReply.text")

    @classmethod
    def streamed(cls, *chunks: str, chunk_delay_seconds: float = 0.0) -> TextReply:
        """A reply streamed as exactly these pieces."""
        return cls("".join(chunks), chunk_delay_seconds, tuple(chunks))


@dataclass(frozen=True)
class ToolReply:
    """One assistant step calling tools (optionally saying something first)."""

    calls: tuple[ToolCallSpec, ...]
    text: str = ""


@dataclass(frozen=True)
class ErrorReply:
    """The provider refuses the request: HTTP ``status`` with ``{"error": error}``."""

    status: int
    error: dict[str, Any]


Reply = TextReply | ToolReply | ErrorReply


@dataclass(frozen=True)
class ScriptContext:
    """Everything a script may look at; all of it comes from the one request."""

    name: str
    args: dict[str, str]
    positional: tuple[str, ...]
    body: str  # text after the directive line
    prompt: str  # the user message's text without the directive line
    step: int
    workdir: str | None
    tool_outputs: tuple[str, ...]  # role=tool contents since the user message, in order
    request: dict[str, Any] = field(repr=False)

    @property
    def last_tool_output(self) -> str:
        return self.tool_outputs[-1] if self.tool_outputs else ""

    def path(self, relative_or_absolute: str) -> str:
        """An absolute path for OpenCode's file tools (they refuse relative ones)."""
        if os.path.isabs(relative_or_absolute) or self.workdir is None:
            return relative_or_absolute
        return os.path.join(self.workdir, relative_or_absolute)


Script = Callable[[ScriptContext], Reply]
