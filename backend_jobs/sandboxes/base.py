"""The contract every sandbox backend fulfils, and nothing more.

A backend starts the sandbox runtime (``python -m sandbox.entrypoint``) for one
sandbox with the environment it is given, stops it, and reports when it has
ended. Everything else — tokens, database rows, what a status means — belongs
to the background manager, so a new backend is one small module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from openinspect_core.services.previews import PreviewUnavailable

if TYPE_CHECKING:
    from openinspect_core.settings import Settings


@dataclass(frozen=True)
class Capabilities:
    # Sandboxes keep running when the control plane stops (their bridges reconnect).
    outlives_control_plane: bool = False
    # The web process can reach a sandbox's declared dev-server ports (live previews: port_address).
    previews: bool = False


@dataclass(frozen=True)
class SandboxSpec:
    sandbox_id: str
    session_id: str
    env: Mapping[str, str] = field(default_factory=dict)  # LaunchSpec.to_env(): the runtime's OPENINSPECT_* settings
    # The bridge token, delivered out of band: the backend puts it in the file the spec's
    # OPENINSPECT_SANDBOX_TOKEN_FILE names (the runtime reads and removes it), never in an environment.
    token: str = field(default="", repr=False)
    # The session's repository secrets, delivered like the token: a JSON file the spec's
    # OPENINSPECT_SECRETS_FILE names (on Kubernetes, a key of the sandbox's own Secret); empty: none.
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class SandboxExit:
    sandbox_id: str
    exit_code: int | None
    reason: str  # for people, one line: what ended it
    log_tail: str = ""  # the end of the sandbox's own log, for operators


ExitListener = Callable[[SandboxExit], Awaitable[None]]


class SpawnError(RuntimeError):
    """The backend could not start the sandbox; the message is shown to users."""


class SandboxBackend(ABC):
    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(self) -> None:
        self._exit_listener: ExitListener | None = None

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> SandboxBackend:
        """Build the backend from the control plane's settings (its options live there)."""

    async def start(self) -> None:  # noqa: B027 - optional hook; most backends need nothing
        """Begin watching for sandbox endings (called once, before the first spawn)."""

    def on_exit(self, listener: ExitListener) -> None:
        """Register the one callback told about every sandbox that ends, for any reason."""
        self._exit_listener = listener

    async def _report_exit(self, exit_report: SandboxExit) -> None:
        if self._exit_listener is not None:
            await self._exit_listener(exit_report)

    @abstractmethod
    async def spawn(self, spec: SandboxSpec) -> str:
        """Start the sandbox; return the backend's id for it. Raise SpawnError on failure."""

    @abstractmethod
    async def stop(self, external_id: str) -> None:
        """End the sandbox and everything it started; its exit is still reported."""

    @abstractmethod
    async def alive(self) -> set[str]:
        """External ids of the sandboxes this backend is running now."""

    async def port_address(self, external_id: str, port: int) -> tuple[str, int]:
        """Where the web process connects to reach ``port`` of the sandbox ``external_id`` (a declared
        dev server: live previews), as ``(host, port)``. Raises :class:`PreviewUnavailable` saying why
        not; backends without ``capabilities.previews`` always do."""
        raise PreviewUnavailable(f"the {self.name} sandbox backend has no live previews")

    async def close(self) -> None:
        """The control plane is shutting down: stop every sandbox that cannot outlive it."""
        if not self.capabilities.outlives_control_plane:
            for external_id in await self.alive():
                await self.stop(external_id)
