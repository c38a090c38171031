"""Reading a chat request's conversation: which script, step and arguments it asks for.

Every answer is decided from the request alone (so any number of agents may
share one server). The rules:

1. A request without ``tools`` is a title request (OpenCode asks for a session
   title that way): the answer is a short title made from the user's prompt
   (:func:`make_title`).
2. Otherwise the *latest user message* picks the script. A line of the form::

       #script NAME key=value key2="a value with spaces" [positional ...]

   (parsed with :func:`shlex.split`) names the script and its arguments; the
   text after that line is the script's *body* (some scripts use it as content).
   The directive must start a line; a user message without one runs ``demo``.
3. The *step* is the number of assistant messages after that user message (tool
   results come back as ``role: tool`` messages between them), so step 0 is the
   first model call of a turn, step 1 the call after the first tool results...
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from tests.fakes.script_types import ScriptContext

TITLE_MAX_WORDS = 8
TITLE_MAX_CHARS = 60

_DIRECTIVE = re.compile(r"^[ \t]*#script[ \t]+(?P<rest>\S.*)$", re.MULTILINE)
# OpenCode's system prompt carries an <env> block with "Working directory: /abs".
_WORKDIR = re.compile(r"Working directory:\s*(?P<path>/\S*)")


def message_text(message: dict[str, Any]) -> str:
    """The text of a chat message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


@dataclass(frozen=True)
class Directive:
    name: str
    args: dict[str, str]
    positional: tuple[str, ...]
    body: str
    prompt: str


def parse_directive(text: str) -> Directive | None:
    """The first ``#script`` line of ``text``, or None when there is none."""
    found = _DIRECTIVE.search(text)
    if found is None:
        return None
    try:
        tokens = shlex.split(found.group("rest"))
    except ValueError:  # unbalanced quotes: take the words as they are
        tokens = found.group("rest").split()
    name, args, positional = tokens[0], {}, []
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if sep and key.replace("_", "").replace("-", "").isalnum():
            args[key] = value
        else:
            positional.append(token)
    body = text[found.end() :].removeprefix("\n")
    prompt = (text[: found.start()] + body).strip()
    return Directive(name, args, tuple(positional), body, prompt)


def _last_user_index(messages: list[dict[str, Any]]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    return None


def _workdir(messages: list[dict[str, Any]]) -> str | None:
    for message in messages:
        if message.get("role") == "system":
            found = _WORKDIR.search(message_text(message))
            if found:
                return found.group("path")
    return None


def build_context(request: dict[str, Any]) -> ScriptContext:
    """Which script, step and arguments this chat request asks for."""
    messages = request.get("messages") or []
    user_index = _last_user_index(messages)
    text = message_text(messages[user_index]) if user_index is not None else ""
    after = messages[user_index + 1 :] if user_index is not None else []
    directive = parse_directive(text) or Directive("demo", {}, (), "", text.strip())
    return ScriptContext(
        name=directive.name,
        args=directive.args,
        positional=directive.positional,
        body=directive.body,
        prompt=directive.prompt,
        step=sum(1 for m in after if m.get("role") == "assistant"),
        workdir=_workdir(messages),
        tool_outputs=tuple(message_text(m) for m in after if m.get("role") == "tool"),
        request=request,
    )


def make_title(request: dict[str, Any]) -> str:
    """A short, deterministic title from the last user message of a title request."""
    messages = request.get("messages") or []
    user_index = _last_user_index(messages)
    text = message_text(messages[user_index]) if user_index is not None else ""
    directive = parse_directive(text)
    source = directive.prompt if directive else text
    # Title requests may wrap the prompt in tags or instructions; keep real words.
    lines = [ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("<")]
    words = " ".join(lines).split()[:TITLE_MAX_WORDS]
    if words:
        title = " ".join(words)[:TITLE_MAX_CHARS].rstrip(" .,:;")
        return title[:1].upper() + title[1:]
    return f"Scripted {directive.name}" if directive else "Scripted session"
