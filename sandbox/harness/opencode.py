"""The OpenCode harness: one ``opencode serve`` process, one session, one event stream.

:class:`OpenCodeHarness` owns the running agent (an
:class:`~sandbox.harness.opencode_process.AgentProcess`), an HTTP client with
the per-sandbox server password, the one OpenCode session every prompt goes to,
and one SSE subscription to ``GET /event``. It composes three helpers:
:mod:`sandbox.harness.opencode_config` (config JSON, credential file, environment, state dir),
:mod:`sandbox.harness.opencode_process` (the child process and its tree) and
:mod:`sandbox.harness.opencode_events` (SSE parsing and the
:class:`~sandbox.harness.opencode_events.TurnTranslator`, which maps OpenCode's
events to protocol events for one prompt and knows nothing of processes or HTTP).

Ordering: the SSE reader task routes this session's events into the running
turn's queue; ``run`` drains that queue, so protocol events leave in the order
OpenCode published them. Text deltas are held back per part for up to
:data:`~sandbox.harness.opencode_events.TEXT_COALESCE_SECONDS` and flushed
before any other event.

A turn ends at ``session.idle`` seen after this turn's ``busy`` status (a stale
idle from the previous turn cannot end it), when the agent process exits, or —
after the event stream had to reconnect — when ``GET /session/status`` says the
session is no longer busy.

What this module leaves to others: git (commits, identity), the outbox (it
numbers and sends events), retries of whole prompts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx
import openinspect_protocol as protocol
from openinspect_protocol.logs import EventLog

from sandbox.harness.base import AgentConfig, AgentHarness, AgentStartError, Emit
from sandbox.harness.opencode_config import (
    SERVER_USERNAME,
    agent_environment,
    prepare_state_dir,
    split_model,
    write_credentials,
    write_instructions,
)
from sandbox.harness.opencode_events import TurnTranslator, is_real_title, sse_events
from sandbox.harness.opencode_process import AgentProcess

log = EventLog("sandbox.harness.opencode")

# Why 60: a cold start on a fresh data dir takes ~2 s here, but a loaded 2-core
# machine running several sandboxes can be far slower; past a minute it is broken.
START_TIMEOUT_SECONDS = 60.0
# Why 10: the stream answers `server.connected` at once when the server is up.
EVENT_STREAM_CONNECT_TIMEOUT_SECONDS = 10.0
# Why 30: OpenCode sends a heartbeat every 10 s; three missed means a dead stream.
EVENT_STREAM_READ_TIMEOUT_SECONDS = 30.0
EVENT_STREAM_RECONNECT_DELAY_SECONDS = 0.2
HTTP_TIMEOUT_SECONDS = 30.0
# Why 2: an abort that raced the turn's start is simply sent again.
ABORT_RETRY_SECONDS = 2.0

_PROCESS_EXITED = object()  # queued to a turn when the agent process dies
_STREAM_RESUMED = object()  # queued to a turn when the event stream reconnected


class _Turn:
    """One running prompt: its event queue and its stop request."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.stop_requested = False
        self.last_abort_at = 0.0

    def next_abort_at(self) -> float | None:
        return self.last_abort_at + ABORT_RETRY_SECONDS if self.stop_requested else None

    def abort_due(self, now: float) -> bool:
        due = self.next_abort_at()
        return due is not None and now >= due


class OpenCodeHarness(AgentHarness):
    """Runs prompts through ``opencode serve``; see the module docstring for what it owns."""

    name: ClassVar[str] = "opencode"

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self._workdir = str(config.workdir.resolve())
        self._state_dir = config.state_dir.resolve()
        self._process: AgentProcess | None = None
        self._client: httpx.AsyncClient | None = None
        self._base_url: str | None = None
        self._events_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._session_id: str | None = None
        self._version = ""
        self._turn: _Turn | None = None
        self._title: str | None = None  # the last real title emitted
        self._title_sink: tuple[Emit, str] | None = None  # emit and message id of the latest prompt

    # -- what tests and operators may look at ---------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        return self._process.proc.pid if self._process else None

    @property
    def base_url(self) -> str | None:
        return self._base_url

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def log_path(self) -> Path:
        return self._state_dir / "opencode.log"

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> str:
        if self.running:
            return self._version
        await self._shutdown()  # what is left of a process that died
        password = secrets.token_urlsafe(32)
        # Port 0: OpenCode binds 4096 if free, else any free port, and prints the URL it got.
        argv = [self.config.binary, "serve", "--port", "0", "--hostname", "127.0.0.1"]
        log.info("opencode.starting", workdir=str(self._workdir), log=str(self.log_path))
        try:
            prepare_state_dir(self._state_dir)
            credentials = write_credentials(self._state_dir, self.config)  # the model credential: a file, not env
            write_instructions(self._state_dir, self.config)  # the session's branch, the pull-request tool
        except OSError as exc:
            raise AgentStartError(f"cannot prepare the agent's state dir {self._state_dir}: {exc}") from exc
        env = agent_environment(self.config, password, os.environ, credentials)
        try:
            self._process = await AgentProcess.spawn(argv, cwd=self._workdir, env=env, log_path=self.log_path)
        except OSError as exc:
            raise AgentStartError(f"cannot run {self.config.binary}: {exc}") from exc
        try:
            self._base_url = await self._process.wait_listening(START_TIMEOUT_SECONDS)
            self._client = httpx.AsyncClient(
                base_url=self._base_url, auth=httpx.BasicAuth(SERVER_USERNAME, password),
                params={"directory": self._workdir}, timeout=HTTP_TIMEOUT_SECONDS,
                trust_env=False,  # a proxy setting must never capture loopback traffic
            )
            health = (await self._client.get("/global/health")).raise_for_status().json()
            self._version = str(health.get("version", ""))
            self._session_id = await self._open_session()
            connected = asyncio.Event()
            self._events_task = asyncio.create_task(self._pump_events(connected))
            await asyncio.wait_for(connected.wait(), EVENT_STREAM_CONNECT_TIMEOUT_SECONDS)
        except BaseException as exc:  # cancelled too: never leave a half-started server behind
            await self._shutdown()
            if isinstance(exc, AgentStartError) or not isinstance(exc, Exception):
                raise
            raise AgentStartError(f"opencode started but did not answer: {exc!r}") from exc
        self._watch_task = asyncio.create_task(self._watch(self._process))
        log.info("opencode.ready", url=self._base_url, version=self._version,
                 opencode_session=self._session_id)
        return self._version

    async def close(self) -> None:
        await self._shutdown()
        log.info("opencode.closed")

    async def _shutdown(self) -> None:
        for task in (self._events_task, *self._background):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._events_task, *self._background) if t), return_exceptions=True)
        self._events_task, self._background = None, set()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._process is not None:
            await self._process.terminate()  # a running turn hears of it through _watch
        if self._watch_task is not None:
            await asyncio.gather(self._watch_task, return_exceptions=True)
            self._watch_task = None

    async def _open_session(self) -> str:
        assert self._client is not None
        if self._session_id is not None:  # a restart: the data dir still has the conversation
            response = await self._client.get(f"/session/{self._session_id}")
            if response.status_code == 200:
                return self._session_id
        response = (await self._client.post("/session", json={})).raise_for_status()
        return str(response.json()["id"])

    async def _watch(self, process: AgentProcess) -> None:
        await process.proc.wait()
        log.info("opencode.exited", pid=process.proc.pid, exit=process.describe_exit())
        if self._turn is not None:
            self._turn.queue.put_nowait(_PROCESS_EXITED)

    # -- the event stream --------------------------------------------------------

    async def _pump_events(self, connected: asyncio.Event) -> None:
        assert self._client is not None
        resumed = False
        timeout = httpx.Timeout(HTTP_TIMEOUT_SECONDS, read=EVENT_STREAM_READ_TIMEOUT_SECONDS)
        while self.running:
            try:
                async with self._client.stream("GET", "/event", timeout=timeout) as response:
                    response.raise_for_status()
                    async for event in sse_events(response.aiter_lines()):
                        if event.get("type") == "server.connected":
                            connected.set()
                            if resumed and self._turn is not None:
                                self._turn.queue.put_nowait(_STREAM_RESUMED)
                            continue
                        try:
                            self._dispatch(event)
                        except Exception:  # one bad event must not cost the stream
                            log.exception("opencode.sse.dispatch_failed", type=event.get("type"))
            except httpx.HTTPError as exc:
                log.info("opencode.sse.disconnected", error=repr(exc))
            except Exception:
                # This task is the only way turns hear of anything: it must outlive a bad event.
                log.exception("opencode.sse.failed")
            resumed = True
            await asyncio.sleep(EVENT_STREAM_RECONNECT_DELAY_SECONDS)

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        props = event.get("properties") or {}
        session_id = props.get("sessionID")
        if session_id is not None and session_id != self._session_id:
            return
        match kind:
            case "session.updated":
                self._note_title((props.get("info") or {}).get("title"))
            case "permission.asked":
                self._in_background(self._answer(f"/permission/{props.get('id')}/reply", {"reply": "once"}))
            case "question.asked":
                self._in_background(self._answer(f"/question/{props.get('id')}/reject", None))
        if self._turn is not None and (session_id is not None or kind == "session.error"):
            self._turn.queue.put_nowait(event)

    def _note_title(self, title: str | None) -> None:
        # Titles are per session and may land just after the first turn ended:
        # they go to the latest prompt's emit either way.
        if not is_real_title(title) or title == self._title or self._title_sink is None:
            return
        self._title = title
        emit, message_id = self._title_sink
        emit(protocol.SessionTitle(message_id=message_id, title=(title or "").strip()[:200]))

    def _in_background(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _answer(self, path: str, body: dict[str, Any] | None) -> None:
        # Configured away (permissions allow, questions off); answered anyway so
        # nothing can ever wait on a person who is not there.
        assert self._client is not None
        log.warning("opencode.prompt_answered", path=path, body=body)
        with contextlib.suppress(httpx.HTTPError):
            await self._client.post(path, json=body)

    # -- turns -----------------------------------------------------------------

    async def run(self, prompt: protocol.Prompt, emit: Emit) -> protocol.ExecutionComplete:
        if self._turn is not None:
            raise RuntimeError("a turn is already running")
        if not self.running or self._client is None or self._session_id is None:
            return protocol.ExecutionComplete(
                message_id=prompt.message_id, success=False, error="the agent is not running")
        turn = self._turn = _Turn(prompt.message_id)
        self._title_sink = (emit, prompt.message_id)
        log.info("opencode.turn.start", message_id=prompt.message_id)
        try:
            result = await self._run_turn(turn, prompt, emit)
        finally:
            self._turn = None
        log.info("opencode.turn.end", message_id=prompt.message_id, success=result.success,
                 stopped=result.stopped, error=result.error)
        return result

    async def _run_turn(self, turn: _Turn, prompt: protocol.Prompt, emit: Emit) -> protocol.ExecutionComplete:
        assert self._client is not None
        try:
            provider_id, model_id = split_model(prompt.model or self.config.model)
        except AgentStartError as exc:
            return protocol.ExecutionComplete(message_id=prompt.message_id, success=False, error=str(exc))
        body = {
            "parts": [{"type": "text", "text": prompt.content}],
            "model": {"providerID": provider_id, "modelID": model_id},
        }
        try:
            response = await self._client.post(f"/session/{self._session_id}/prompt_async", json=body)
        except httpx.HTTPError as exc:
            return await self._failed_request(turn, f"could not send the prompt to the agent: {exc!r}")
        if response.status_code >= 400:
            return protocol.ExecutionComplete(
                message_id=prompt.message_id, success=False,
                error=f"the agent refused the prompt (HTTP {response.status_code}): {response.text[:500]}")
        return await self._follow(turn, TurnTranslator(prompt.message_id), emit)

    async def _follow(self, turn: _Turn, translator: TurnTranslator, emit: Emit) -> protocol.ExecutionComplete:
        getter: asyncio.Future[Any] = asyncio.ensure_future(turn.queue.get())
        try:
            while not translator.finished:
                deadlines = [d for d in (translator.next_flush_at(), turn.next_abort_at()) if d is not None]
                timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                done, _ = await asyncio.wait({getter}, timeout=timeout)
                now = time.monotonic()
                if getter in done:
                    item, getter = getter.result(), asyncio.ensure_future(turn.queue.get())
                    if item is _PROCESS_EXITED:
                        result = self._exit_completion(turn)
                        self._emit_all(emit, translator.flush() + translator.close_open_calls(result.error or ""))
                        return result
                    if item is _STREAM_RESUMED:
                        translator.finished = not await self._session_busy()
                    else:
                        self._emit_all(emit, translator.feed(item, now))
                self._emit_all(emit, translator.flush_due(now))
                if turn.abort_due(now):
                    await self._send_abort(turn)
        finally:
            getter.cancel()
        result = translator.completion(stop_requested=turn.stop_requested)
        reason = "stopped" if result.stopped else "the turn ended before the tool finished"
        self._emit_all(emit, translator.flush() + translator.close_open_calls(reason))
        return result

    @staticmethod
    def _emit_all(emit: Emit, events: list[protocol.SandboxEvent]) -> None:
        for event in events:
            emit(event)

    async def _session_busy(self) -> bool:
        assert self._client is not None
        try:
            statuses = (await self._client.get("/session/status")).raise_for_status().json()
        except httpx.HTTPError:
            return True  # cannot tell: keep waiting (a dead process ends the turn anyway)
        return (statuses.get(self._session_id) or {}).get("type") in ("busy", "retry")

    async def _failed_request(self, turn: _Turn, error: str) -> protocol.ExecutionComplete:
        # A request that failed because the process is dying says less than its exit.
        if self._process is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._process.proc.wait()), 1.0)
        if not self.running:
            return self._exit_completion(turn)
        return protocol.ExecutionComplete(message_id=turn.message_id, success=False, error=error)

    def _exit_completion(self, turn: _Turn) -> protocol.ExecutionComplete:
        how = self._process.describe_exit() if self._process else "unknown"
        return protocol.ExecutionComplete(
            message_id=turn.message_id, success=False, error=f"the agent process exited during the turn ({how})")

    async def abort(self) -> None:
        turn = self._turn
        if turn is None or not self.running:
            return
        turn.stop_requested = True
        await self._send_abort(turn)

    async def _send_abort(self, turn: _Turn) -> None:
        turn.last_abort_at = time.monotonic()
        if self._client is None or self._session_id is None:
            return
        try:
            response = await self._client.post(f"/session/{self._session_id}/abort", timeout=5.0)
            log.info("opencode.abort", message_id=turn.message_id, status=response.status_code)
        except httpx.HTTPError as exc:
            log.info("opencode.abort.failed", message_id=turn.message_id, error=repr(exc))
