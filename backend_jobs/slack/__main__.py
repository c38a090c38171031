"""The Slack bot on its own: ``python -m backend_jobs.slack``.

Production runs the web with ``OPENINSPECT_SLACK_IN_PROCESS=false`` and one of these beside it (its
own Deployment, k8s/base/slack.yaml); all of them share PostgreSQL. It builds the same
:class:`ControlPlane` as the other processes, without the background jobs and with the bot, then
serves Slack: over Socket Mode when ``OPENINSPECT_SLACK_APP_TOKEN`` is set, else over HTTP. Either
way it listens on ``OPENINSPECT_SLACK_HOST:OPENINSPECT_SLACK_PORT`` for ``GET /healthz`` (ready once
``auth.test`` answered) and ``POST /slack/events`` (refused in Socket Mode without a signing secret).
It runs until SIGTERM/SIGINT. Exit status 2: the configuration cannot work (no bot token, a refused
token).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from openinspect_protocol import logs

from backend_jobs.control_plane import ControlPlane
from backend_jobs.slack.bot import SlackAuthError
from backend_jobs.slack.http_server import SlackHttpServer
from openinspect_core.settings import ConfigError, Settings

log = logs.EventLog("backend_jobs.slack.process")
OWN_LOGGERS = ("openinspect_core", "backend_jobs")


async def run(settings: Settings) -> int:
    control_plane = ControlPlane(settings, run_background_jobs=False, run_slack=True)
    bot = control_plane.slack
    assert bot is not None  # settings.slack_enabled was checked by main()
    try:
        await control_plane.start()
    except SlackAuthError as error:
        log.error("slack.process_refused", code="slack_auth_failed", error=str(error))
        await control_plane.stop()
        return 2
    server = SlackHttpServer(bot, settings.slack_host, settings.slack_port)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    log.info("slack.process_started", transport="socket_mode" if settings.slack_socket_mode else "http",
             port=server.port)
    await stopping.wait()
    log.info("slack.process_stopping")
    await server.close()  # no new deliveries first; Slack retries what it could not hand over
    await control_plane.stop()
    return 0


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
        if not settings.slack_enabled:
            raise ConfigError("python -m backend_jobs.slack needs OPENINSPECT_SLACK_BOT_TOKEN (docs/slack.md)")
    except ConfigError as error:
        logs.configure(json_lines=False, loggers=OWN_LOGGERS)
        log.error("slack.config_error", error=str(error))
        return 2
    logs.configure(json_lines=settings.log_json, loggers=OWN_LOGGERS)
    if not settings.database_url.startswith("postgresql"):
        log.warning("slack.sqlite", hint="a separate Slack process needs PostgreSQL to reach the web and the worker")
    return asyncio.run(run(settings))


if __name__ == "__main__":
    sys.exit(main())
