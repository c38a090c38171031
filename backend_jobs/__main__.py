"""The background worker on its own: ``python -m backend_jobs``.

Production runs the web process with ``OPENINSPECT_BACKGROUND_JOBS=off`` and
one of these beside it; both use PostgreSQL, whose LISTEN/NOTIFY carries
"session changed" between them. It builds the same :class:`ControlPlane` as the
web process (with the jobs), runs until SIGTERM/SIGINT, and shuts down cleanly
(every sandbox that cannot outlive it gets a shutdown first).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from openinspect_protocol import logs

from backend_jobs.control_plane import ControlPlane
from openinspect_core.settings import ConfigError, Settings

log = logs.EventLog("backend_jobs.worker")
OWN_LOGGERS = ("openinspect_core", "backend_jobs")


async def run(settings: Settings) -> None:
    control_plane = ControlPlane(settings, run_background_jobs=True, run_slack=False)  # Slack: web or its own process
    await control_plane.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    log.info("worker.started", backend=control_plane.backend.name)
    await stopping.wait()
    log.info("worker.stopping")
    await control_plane.stop()


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as error:
        logs.configure(json_lines=False, loggers=OWN_LOGGERS)
        log.error("worker.config_error", error=str(error))
        return 2
    logs.configure(json_lines=settings.log_json, loggers=OWN_LOGGERS)
    if not settings.database_url.startswith("postgresql"):
        log.warning("worker.sqlite", hint="a separate worker needs PostgreSQL to reach the web process")
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
