"""The small interface every coding agent sits behind.

A harness owns one agent server process and translates its native stream into
protocol events. It knows nothing of git, the bridge or the control plane: the
supervisor hands it a prompt and an ``emit`` callback and gets back how the turn
ended. Adding a second agent means one more module beside ``opencode.py``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import openinspect_protocol as protocol

Emit = Callable[[protocol.SandboxEvent], object]
"""Hands one event to the outbox (which numbers and sends it); never blocks."""


class AgentStartError(RuntimeError):
    """The agent server did not come up; the message says why (shown to users)."""


@dataclass(frozen=True)
class ProviderConfig:
    """Where the model lives. ``kind`` picks how the agent is configured for it."""

    kind: str = "openai_compatible"  # or "anthropic"
    base_url: str | None = None
    api_key: str | None = None


@dataclass(frozen=True)
class AgentConfig:
    workdir: Path  # the cloned repository; the agent works (and runs tools) here
    state_dir: Path  # the agent's own config/data/cache; never inside workdir
    model: str  # "provider/model", e.g. "openinspect/scripted"
    provider: ProviderConfig
    binary: str  # path of the agent's executable
    env: Mapping[str, str] = field(default_factory=dict)  # passed to the agent process
    # The session's own branch (pushed for the agent); None: the session pushes nothing.
    work_branch: str | None = None
    # The runtime's socket behind the agent's pull-request tool; None: no such tool.
    pull_request_socket: str | None = None
    # The runtime's socket behind the agent's screenshot tool; None: no such tool.
    screenshot_socket: str | None = None
    # The repository's declared dev servers, {"<port>": "http://127.0.0.1:<port>/..."}: the agent's
    # OPENINSPECT_PREVIEW_URLS (read by its screenshot tool) and a line of its instructions. Empty: none.
    preview_urls: Mapping[str, str] = field(default_factory=dict)


class AgentHarness(ABC):
    """One coding agent behind the same five calls; built with the sandbox's :class:`AgentConfig`."""

    name: ClassVar[str]

    def __init__(self, config: AgentConfig) -> None:
        self.config = config

    def use_previews(self, urls: Mapping[str, str]) -> None:
        """The repository's declared previews (known after the clone, before :meth:`start`): the agent is
        told of them when it starts."""
        self.config = dataclasses.replace(self.config, preview_urls=dict(urls))

    @abstractmethod
    async def start(self) -> str:
        """Start the agent server; return its version. Raise AgentStartError on failure."""

    @abstractmethod
    async def run(self, prompt: protocol.Prompt, emit: Emit) -> protocol.ExecutionComplete:
        """Run one turn to its end, emitting events (with ``message_id`` set) as they happen.

        Returns the completion (not emitted: the caller emits it). A turn that was
        aborted returns ``success=False, stopped=True``; an agent that died
        mid-turn returns ``success=False`` with the reason in ``error``.
        """

    @abstractmethod
    async def abort(self) -> None:
        """Abort the running turn, if any; ``run`` then returns promptly."""

    @property
    @abstractmethod
    def running(self) -> bool:
        """True while the agent server process is alive."""

    @abstractmethod
    async def close(self) -> None:
        """Stop the agent server and everything it started."""
