"""Control plane -> bridge: the commands a sandbox obeys."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from openinspect_protocol.base import Author, Message, parse
from openinspect_protocol.events import MAX_BRANCH_CHARS, MAX_SEQ, MessageId, RequestId

MAX_MODEL_CHARS = 200  # message.model and session.model


class Prompt(Message):
    """Run this prompt now, for ``author`` (the commits it makes are theirs)."""

    type: Literal["prompt"] = "prompt"
    message_id: MessageId
    content: str
    author: Author
    model: str | None = Field(default=None, max_length=MAX_MODEL_CHARS)
    request_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                   description="the HTTP request that queued it (for following it in logs)")


class Stop(Message):
    """Abort the running prompt (if it is ``message_id``, or whatever runs when None)."""

    type: Literal["stop"] = "stop"
    message_id: MessageId | None = None


class Shutdown(Message):
    """Stop the agent and end the sandbox cleanly."""

    type: Literal["shutdown"] = "shutdown"
    reason: str = "requested"


class Push(Message):
    """Push the session's own branch (``branch``, made from the clone's HEAD if it does not exist yet)
    to the remote; answered by ``push_complete`` or ``push_error``. Credentials come from the broker."""

    type: Literal["push"] = "push"
    branch: str = Field(min_length=1, max_length=MAX_BRANCH_CHARS)
    message_id: MessageId | None = None


class PullRequestResult(Message):
    """The answer to the agent's ``pull_request_requested``: the PR's URL, or why there is none."""

    type: Literal["pull_request_result"] = "pull_request_result"
    request_id: RequestId
    url: str | None = None
    number: int | None = None
    error: str | None = None


class Ack(Message):
    """Every event with ``seq`` at or below this one is stored."""

    type: Literal["ack"] = "ack"
    seq: int = Field(ge=0, le=MAX_SEQ, strict=True)


class Reject(Message):
    """The control plane refused a frame the bridge sent; the reason is for logs."""

    type: Literal["reject"] = "reject"
    reason: str


Command = Annotated[Prompt | Stop | Shutdown | Push | PullRequestResult | Ack | Reject, Field(discriminator="type")]
_adapter: TypeAdapter[Command] = TypeAdapter(Command)


def parse_command(raw: str | bytes) -> Command:
    """Parse one control-plane frame, or raise :class:`~openinspect_protocol.ProtocolError` saying why not."""
    return parse(_adapter, raw, "command")
