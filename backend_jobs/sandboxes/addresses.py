"""Where a sandbox's declared dev-server port is, for the web process's preview proxy.

The web process proxies live previews, but the sandboxes may be run by another
process (the worker, ``OPENINSPECT_BACKGROUND_JOBS=off``). So the answer comes from a
backend of the sandbox's own kind: the running one when this process runs the
sandboxes, else one built from the same settings for lookups only (never started:
it watches nothing and spawns nothing; on Kubernetes it needs only ``list`` on Pods in
the sandbox namespace, the web's Role in ``k8s/base/rbac.yaml``).

What it leaves to others: *whether* a port may be reached (a live sandbox that
declared it: ``openinspect_core.services.previews``), and the proxying.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from openinspect_protocol.logs import EventLog

from backend_jobs.sandboxes import create_backend
from backend_jobs.sandboxes.base import SandboxBackend
from openinspect_core.services.previews import PreviewUnavailable

if TYPE_CHECKING:
    from openinspect_core.settings import Settings

log = EventLog(__name__)


class SandboxAddressBook:
    """:data:`openinspect_core.services.previews.SandboxAddresses`, answered by the sandboxes' backend."""

    def __init__(self, settings: Settings, running: SandboxBackend | None = None,
                 factory: Callable[[str, Settings], SandboxBackend] = create_backend) -> None:
        self._settings = settings
        self.running = running  # the backend this process runs sandboxes with, if it does
        self._factory = factory
        self._lookup: SandboxBackend | None = None

    async def address(self, backend_name: str, external_id: str, port: int) -> tuple[str, int]:
        backend = self._backend(backend_name)
        if not backend.capabilities.previews:
            raise PreviewUnavailable(f"the {backend_name} sandbox backend has no live previews")
        return await backend.port_address(external_id, port)

    def _backend(self, name: str) -> SandboxBackend:
        if self.running is not None and self.running.name == name:
            return self.running
        if name != self._settings.sandbox_backend:
            # A sandbox of a backend this installation no longer uses: nothing here knows where it is.
            raise PreviewUnavailable(f"the sandbox runs on the {name} backend, which this system does not use now")
        if self._lookup is None:
            try:
                self._lookup = self._factory(name, self._settings)
            except Exception as exc:  # e.g. no in-cluster credentials: say so, and try again next time
                log.warning("previews.backend_unavailable", backend=name, error=f"{type(exc).__name__}: {exc}")
                raise PreviewUnavailable(f"cannot reach the {name} sandbox backend from the web process: "
                                         f"{type(exc).__name__}") from None
        return self._lookup
