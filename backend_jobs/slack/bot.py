"""The Slack bot: a slack-bolt ``AsyncApp`` on the control plane's context, over Socket Mode or HTTP.

:class:`SlackBot` owns the bot's parts and their lifetime: the Web API client (:mod:`.web_client`, the
only way anything here reaches Slack), the bolt app with the ingress's listeners, the reporter that
keeps each session's thread current, the Socket Mode connection (when an app-level token is set), and
a loop that goes on with requests whose Slack user was linked on the web meanwhile.

Who is asking: over HTTP, bolt checks Slack's signature and timestamp (``X-Slack-Signature``,
``X-Slack-Request-Timestamp``, five minutes) before any listener runs — a bad or stale one is a 401
and nothing is done; over Socket Mode the connection itself was opened with the app token. The bot's
identity is Slack's answer to ``auth.test`` at start (a refused token stops the start:
:class:`SlackAuthError`); bolt's ``authorize`` hands that cached answer to every request, so bolt
itself never calls Slack (nor any installation store) on its own.

It runs in the web process (``ControlPlane.slack``, the embedded default; the web's
``POST /slack/events`` calls :meth:`SlackBot.handle_http`) or alone (``python -m backend_jobs.slack``).
One bot per installation: two would report every session twice.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from openinspect_protocol.logs import EventLog
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from backend_jobs.slack.ingress import Ingress
from backend_jobs.slack.intake import Intake
from backend_jobs.slack.replies import Replies, error_code
from backend_jobs.slack.reporter import Reporter
from backend_jobs.slack.task_set import TaskSet
from backend_jobs.slack.web_client import CALL_TIMEOUT_SECONDS, SLACK_FAILURES, make_client, retry_handlers
from openinspect_core.context import AppContext
from openinspect_core.slack import deliveries, threads

log = EventLog(__name__)

MAX_BODY_BYTES = 1024 * 1024  # Slack's payloads are a few KB; anything near this is not Slack
LINK_POLL_SECONDS = 5.0  # how soon a link made on the web (in another process) lets its request go on
PRUNE_EVERY_SECONDS = 3600.0  # forgetting old deliveries and answered requests
AUTH_RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)  # Slack unreachable at start: tried again, the last forever
# auth.test's answers that mean the token itself is wrong (https://api.slack.com/methods/auth.test#errors).
REFUSED_TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                                  "token_expired", "not_allowed_token_type", "no_permission", "missing_scope"})
OWN_LOOPS = ("slack.identity", "slack.links", "slack.socket")  # long-running: idle() does not wait for them


class SlackAuthError(Exception):
    """Slack refused the bot token: the bot cannot run (a wrong, revoked or non-bot token)."""

    code = "slack_auth_failed"


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot is in its workspace (``auth.test``)."""

    team_id: str
    bot_user_id: str
    bot_id: str | None = None
    enterprise_id: str | None = None


@dataclass(frozen=True)
class HttpAnswer:
    """What to send back to Slack for one HTTP delivery."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _answer(status: int, text: str) -> HttpAnswer:
    return HttpAnswer(status, {"content-type": "text/plain; charset=utf-8"}, text.encode())


class SlackBot:
    """``start()``/``stop()``; ``handle_http(body, headers)`` for HTTP deliveries; ``resume(pending_id)``
    when a link completes; ``idle()`` and ``identified()`` to wait on (tests, readiness)."""

    def __init__(self, context: AppContext, *, min_update_seconds: float = 1.0,
                 link_poll_seconds: float = LINK_POLL_SECONDS) -> None:
        """``min_update_seconds``: the reporter's least time between two updates of a status message;
        ``link_poll_seconds``: how often links made in another process are looked for."""
        self.context = context
        self.link_poll_seconds = link_poll_seconds
        self.settings = settings = context.settings
        self.client = make_client(settings)
        self.replies = Replies(self.client)
        self.reporter = Reporter(context, self.client, min_update_seconds=min_update_seconds)
        self.identity: BotIdentity | None = None
        self._identified = asyncio.Event()
        self.tasks = TaskSet()
        self.intake = Intake(context, self.replies, self.reporter, self._bot_user_id)
        self.ingress = Ingress(context, self.replies, self.intake, self._spawn_work, self._bot_user_id)
        # The app's own client has no token: bolt gives each request a copy of it with the token from
        # ``authorize`` (and the same base URL and retry handlers), so every call goes to the configured URL.
        app_client = AsyncWebClient(base_url=settings.slack_api_url, timeout=CALL_TIMEOUT_SECONDS,
                                    retry_handlers=retry_handlers())

        async def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
            # A plain function: bolt passes arguments by the names it reads off the signature ("self" too).
            return self._authorize(user_id)

        # process_before_response: bolt runs a listener to its end before answering Slack, and ours only
        # acknowledge and hand the work to self.tasks — tracked, unlike bolt's own background futures.
        self.app = AsyncApp(name="openinspect", client=app_client, signing_secret=settings.slack_signing_secret or "",
                            authorize=authorize, process_before_response=True, raise_error_for_unhandled_request=False)
        self.ingress.register(self.app)
        self._socket: AsyncSocketModeHandler | None = None

    # -- lifetime ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Verify the token (``auth.test``), start the reporter and the link loop, connect Socket Mode.

        Raises :class:`SlackAuthError` when Slack refuses the token. Slack unreachable is no reason not to
        start: the identity is asked for again in the background and the bot answers 503 until then.
        """
        try:
            await self._identify()
            await self._connect()
        except SLACK_FAILURES as error:
            log.warning("slack.unreachable", error=error_code(error), code="slack_unreachable")
            self.tasks.spawn(self._identify_later(), name="slack.identity")
        await self.reporter.start()
        self.tasks.spawn(self._watch_links(), name="slack.links")
        log.info("slack.started", transport="socket_mode" if self.settings.slack_socket_mode else "http",
                 api_url=self.settings.slack_api_url)

    async def _identify(self) -> None:
        try:
            answer = await self.client.auth_test()
        except SlackApiError as error:
            code = error_code(error)
            if code in REFUSED_TOKEN_ERRORS:
                log.error("slack.auth_failed", code="slack_auth_failed", error=code)
                raise SlackAuthError(f"Slack refused OPENINSPECT_SLACK_BOT_TOKEN ({code})") from None
            raise
        data = answer.data if isinstance(answer.data, dict) else {}
        team_id, user_id = data.get("team_id"), data.get("user_id")
        if not isinstance(team_id, str) or not isinstance(user_id, str):
            raise SlackAuthError("auth.test did not say which bot this is")
        bot_id, enterprise = data.get("bot_id"), data.get("enterprise_id")
        self.identity = BotIdentity(team_id=team_id, bot_user_id=user_id,
                                    bot_id=bot_id if isinstance(bot_id, str) else None,
                                    enterprise_id=enterprise if isinstance(enterprise, str) and enterprise else None)
        self._identified.set()
        log.info("slack.identified", team_id=team_id, bot_user_id=user_id)

    async def _identify_later(self) -> None:
        for attempt in itertools.count():
            await asyncio.sleep(AUTH_RETRY_SECONDS[min(attempt, len(AUTH_RETRY_SECONDS) - 1)])
            try:
                if self.identity is None:
                    await self._identify()
                await self._connect()
                return
            except SlackAuthError:
                return  # logged; the bot stays unready (503) until the token is fixed and it restarts
            except SLACK_FAILURES as error:
                log.warning("slack.unreachable", error=error_code(error), code="slack_unreachable")

    async def _connect(self) -> None:
        """Socket Mode: open a connection URL with the app token (a refused token stops here), then connect
        in the background — slack-bolt's default async handler (aiohttp), on our client, so
        ``apps.connections.open`` goes to the configured API URL; it reconnects by itself when Slack
        asks it to or the connection drops."""
        if not self.settings.slack_socket_mode or self._socket is not None:
            return
        assert self.settings.slack_app_token is not None
        try:
            opened = await self.client.apps_connections_open(app_token=self.settings.slack_app_token)
        except SlackApiError as error:
            code = error_code(error)
            if code in REFUSED_TOKEN_ERRORS:
                log.error("slack.auth_failed", code="slack_auth_failed", error=code, token="app")
                raise SlackAuthError(f"Slack refused OPENINSPECT_SLACK_APP_TOKEN ({code})") from None
            raise
        self._socket = AsyncSocketModeHandler(self.app, self.settings.slack_app_token, web_client=self.client)
        url = opened.data.get("url") if isinstance(opened.data, dict) else None
        if isinstance(url, str):
            self._socket.client.wss_uri = url  # connect with this one, not a second one
        self.tasks.spawn(self._socket.connect_async(), name="slack.socket")  # type: ignore[no-untyped-call]

    async def stop(self) -> None:
        """Disconnect, let the reporter finish, cancel what is left."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        await self.tasks.close()
        await self.reporter.close()
        log.info("slack.stopped")

    async def identified(self) -> BotIdentity:
        """Until Slack has said who the bot is (at start, or later when Slack was away then)."""
        await self._identified.wait()
        assert self.identity is not None
        return self.identity

    async def idle(self) -> None:
        """Until every delivery received so far has been handled (tests; the loops do not count)."""
        await self.tasks.idle(except_names=OWN_LOOPS)

    # -- HTTP transport ----------------------------------------------------------------------------

    async def handle_http(self, body: bytes, headers: Mapping[str, str]) -> HttpAnswer:
        """One Events API / interactivity delivery (``POST /slack/events``): checked by bolt, then dispatched."""
        if not self.settings.slack_signing_secret:
            log.warning("slack.http_refused", code="slack_http_disabled")
            return _answer(404, "this Slack bot is reached over Socket Mode; no signing secret is configured")
        if len(body) > MAX_BODY_BYTES:
            log.warning("slack.http_refused", code="slack_body_too_large", size=len(body))
            return _answer(413, "too large")
        if self.identity is None:
            log.warning("slack.http_refused", code="slack_not_ready")  # Slack retries the delivery later
            return _answer(503, "the bot is starting")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _answer(400, "the body is not UTF-8")
        request = AsyncBoltRequest(body=text, headers={k.lower(): v for k, v in headers.items()}, mode="http")
        response = await self.app.async_dispatch(request)
        if response.status == 401:
            log.warning("slack.signature_refused", code="slack_bad_signature",
                        retry_num=request.headers.get("x-slack-retry-num", [None])[0])
        return HttpAnswer(response.status, response.first_headers_without_set_cookie(),
                          (response.body or "").encode())

    # -- bolt's authorize and the ingress's helpers ------------------------------------------------

    def _authorize(self, user_id: str | None) -> AuthorizeResult:
        """The bot's identity from ``auth.test`` (cached): single workspace, one bot token."""
        identity = self.identity
        if identity is None:  # not reached: deliveries wait for the identity (503, Socket Mode connects after)
            raise RuntimeError("the Slack bot does not know who it is yet")
        return AuthorizeResult(enterprise_id=identity.enterprise_id, team_id=identity.team_id,
                               bot_user_id=identity.bot_user_id, bot_id=identity.bot_id,
                               bot_token=self.settings.slack_bot_token, user_id=user_id)

    def _bot_user_id(self) -> str | None:
        return None if self.identity is None else self.identity.bot_user_id

    def _spawn_work(self, work: Coroutine[Any, Any, object]) -> None:
        self.tasks.spawn(work, name="slack.work")

    # -- requests that go on later -----------------------------------------------------------------

    async def resume(self, pending_id: str) -> bool:
        """Go on with the request ``pending_id`` once its Slack user is linked (the web's link page calls
        this through the control plane when the bot runs in the web process). False: nothing to resume
        (not linked yet, resumed already, expired, unknown)."""
        return await self.intake.resume(pending_id)

    async def _watch_links(self) -> None:
        """Requests whose Slack user was linked in another process: resumed within ``link_poll_seconds``."""
        since_prune = PRUNE_EVERY_SECONDS  # prune at the first round
        while True:
            try:
                async with self.context.db.session() as db:
                    waiting = [row.id for row in await threads.linked_waiting(db)]
                for pending_id in waiting:  # as deliveries are: idle() waits for them
                    self._spawn_work(self.intake.resume(pending_id))
                if since_prune >= PRUNE_EVERY_SECONDS:
                    since_prune = 0.0
                    async with self.context.work() as work:
                        await deliveries.prune(work.db)
                        await threads.prune_pending(work.db)
            except Exception:  # the database away for a moment: the next round tries again
                log.exception("slack.links_failed")
            await asyncio.sleep(self.link_poll_seconds)
            since_prune += self.link_poll_seconds
