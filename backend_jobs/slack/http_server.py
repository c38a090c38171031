"""The Slack process's own HTTP server (HTTP Events API mode): ``POST /slack/events`` and ``GET /healthz``.

Owns only the transport: the body (bounded) and headers go to :meth:`.bot.SlackBot.handle_http`
unread, its answer goes back as it is. aiohttp because slack-sdk's async client already brings it.
In the web process the same route is the web app's (it calls ``handle_http`` too).
"""

from __future__ import annotations

from aiohttp import web

from backend_jobs.slack.bot import MAX_BODY_BYTES, SlackBot

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


def build_app(bot: SlackBot) -> web.Application:
    async def events(request: web.Request) -> web.Response:
        body = await request.read()
        answer = await bot.handle_http(body, dict(request.headers))
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        return web.Response(status=answer.status, body=answer.body, headers=headers)

    async def health(_: web.Request) -> web.Response:
        # Ready once the bot knows who it is: before that it refuses deliveries (503) anyway.
        ready = bot.identity is not None
        return web.Response(status=200 if ready else 503, text="ok" if ready else "starting")

    app = web.Application(client_max_size=MAX_BODY_BYTES + 1)  # over the bound: aiohttp's 413, unread
    app.router.add_post(EVENTS_PATH, events)
    app.router.add_get(HEALTH_PATH, health)
    return app


class SlackHttpServer:
    def __init__(self, bot: SlackBot, host: str, port: int) -> None:
        self._runner = web.AppRunner(build_app(bot), access_log=None)
        self.host, self.port = host, port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the one the system gave when asked for port 0

    async def close(self) -> None:
        await self._runner.cleanup()
