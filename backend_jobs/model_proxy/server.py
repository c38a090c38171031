"""The model proxy's HTTP server: sandboxes call the model here, with their own token.

:class:`ModelProxy` listens on ``OPENINSPECT_MODEL_PROXY_HOST``/``_PORT``. Each
call, in order:

1. only a model endpoint passes (:func:`~backend_jobs.model_proxy.forwarding.endpoint_of`; else 404);
2. the caller's token — ``Authorization: Bearer`` (OpenAI style) or
   ``x-api-key`` (Anthropic style) — must belong to a live sandbox
   (:func:`~backend_jobs.model_proxy.ledger.caller_for`; else 401). Both refusals
   happen before the body is read and nothing is forwarded;
3. the body is read, at most :data:`MAX_BODY_BYTES` (chunked or not; else 413);
4. it goes to the provider with the real key (:class:`~backend_jobs.model_proxy.forwarding.Upstream`);
   the answer streams back as it arrives, chunk by chunk, with the provider's
   status — its errors included; no answer at all is 502 or 504;
5. one :class:`~openinspect_core.models.ModelUsage` row is written per model
   call (every forwarded POST) from what the answer reported
   (:class:`~backend_jobs.model_proxy.metering.UsageMeter`), before the answer's
   last byte is sent: once a caller has seen the end of an answer, its cost is on
   the books (the spend limit relies on that: docs/previews.md#cost).

Refusals are JSON, ``{"error": {"code", "message"}}``. The log has one line per
call (session, sandbox, endpoint, status, model, tokens) and never a key, a
token or a body.

Why HTTP/1.1 by hand, on ``asyncio`` streams with ``h11``: the background jobs
must not import the web framework (the layers contract), the proxy is a handful
of routes with one job — pass bytes through as they come, with a hard bound on
what comes in — and ``h11`` (already installed: it is what ``httpx`` itself
speaks HTTP/1.1 with) does the parsing and framing, so the proxy holds exact
control of reading (the body limit before anything is buffered, a ``100
Continue`` only once the caller is known) and of writing (each upstream chunk
written and drained before the next is read, so a slow caller slows the stream
instead of filling memory). uvicorn would have meant a second server with its
own lifecycle, signal handling and logging inside the web process, for the same
result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import h11
import httpx
from openinspect_protocol.logs import EventLog

from backend_jobs.model_proxy import ledger
from backend_jobs.model_proxy.forwarding import Upstream, UpstreamError, endpoint_of, returned_headers
from backend_jobs.model_proxy.metering import UsageMeter, inspect_request
from openinspect_core.costs import parse_prices
from openinspect_core.db import Database
from openinspect_core.notify.local import Notifier
from openinspect_core.settings import ConfigError, Settings

log = EventLog(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024  # an agent's whole conversation in one request; far above what OpenCode sends
MAX_HEADER_BYTES = 64 * 1024
READ_CHUNK_BYTES = 64 * 1024
# Why these: a request that stalls half-way for a minute is gone; an agent sends its next call within
# seconds of the last answer, so a keep-alive connection idle for two minutes is closed.
REQUEST_READ_TIMEOUT_SECONDS = 60.0
IDLE_TIMEOUT_SECONDS = 120.0
MAX_CONNECTIONS = 256  # far above one agent per sandbox times the most sandboxes at once
CLOSE_GRACE_SECONDS = 5.0  # at shutdown, for calls in flight to finish (their sandboxes are stopped first)
# A refused caller still sending its body: what is read and dropped so that it gets the refusal.
LINGER_SECONDS = 10.0
LINGER_MAX_BYTES = 2 * MAX_BODY_BYTES


class _Gone(Exception):
    """The caller went away, stalled, or the answer cannot be completed: close the connection."""


class _Connection:
    """One caller's connection: the h11 state machine over an asyncio stream pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)

    async def next_event(self, timeout_seconds: float) -> h11.Event | type[h11.PAUSED]:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            if self.h11.they_are_waiting_for_100_continue:
                await self.send(h11.InformationalResponse(status_code=100, headers=[]))
            try:
                data = await asyncio.wait_for(self.reader.read(READ_CHUNK_BYTES), timeout_seconds)
            except (TimeoutError, ConnectionError) as error:
                raise _Gone() from error
            self.h11.receive_data(data)  # b"": the caller closed its side

    async def send(self, event: h11.Event) -> None:
        data = self.h11.send(event)
        if data:
            try:
                self.writer.write(data)
                await self.writer.drain()
            except ConnectionError as error:
                raise _Gone() from error

    async def send_json(self, status: int, payload: dict[str, object], *, close: bool = False) -> None:
        body = json.dumps(payload).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
        if close:  # the request's body was not read: this connection cannot carry another request
            headers.append(("connection", "close"))
        await self.send(h11.Response(status_code=status, headers=headers))
        await self.send(h11.Data(data=body))
        await self.send(h11.EndOfMessage())

    async def linger(self) -> None:
        """Refused before its body was read: let the caller finish sending (discarded), then close.

        Closing a socket with unread data makes the kernel answer with a reset, which can
        destroy the refusal before the caller reads it; so stop writing, and swallow what
        still comes, within bounds.
        """
        with contextlib.suppress(OSError, RuntimeError):
            if self.writer.can_write_eof():
                self.writer.write_eof()
        discarded = 0
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(LINGER_SECONDS):
                while discarded <= LINGER_MAX_BYTES and (data := await self.reader.read(READ_CHUNK_BYTES)):
                    discarded += len(data)

    @property
    def reusable(self) -> bool:
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE


def _error(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message}}


def _token(headers: list[tuple[str, str]]) -> str:
    for name, value in headers:
        if name == "authorization" and value[:7].lower() == "bearer ":
            return value[7:].strip()
    for name, value in headers:
        if name == "x-api-key":
            return value.strip()
    return ""


class ModelProxy:
    """The HTTP server sandboxes reach the model through; see the module docstring."""

    def __init__(self, settings: Settings, db: Database, notifier: Notifier | None = None) -> None:
        self.settings = settings
        self.db = db
        self.notifier = notifier
        try:
            self.prices = parse_prices(settings.model_prices)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        self.host = settings.model_proxy_host
        self.port = settings.model_proxy_port  # the real one once started (0 = any free port)
        self.upstream = Upstream(kind=settings.provider_kind, base_url=settings.provider_base_url,
                                 api_key=settings.provider_api_key)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()  # connections inside a call (not waiting for the next)
        self._closing = False

    @property
    def url(self) -> str:
        """Where sandboxes reach the proxy (known once it listens)."""
        return (self.settings.model_proxy_public_url or f"http://{self.host}:{self.port}").rstrip("/")

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=READ_CHUNK_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("model_proxy.listening", url=self.url, upstream=self.upstream.shown_url or None,
                 kind=self.upstream.kind)

    async def close(self) -> None:
        """Stop listening; let calls in flight finish (and be recorded) for a moment, then end them all."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for task in self._connections - self._busy:
            task.cancel()
        if self._busy:
            # Cancelling a call inside its database write would lose the row (and the connection).
            await asyncio.wait(set(self._busy), timeout=CLOSE_GRACE_SECONDS)
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        await self.upstream.close()

    # -- connections -------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= MAX_CONNECTIONS:
            log.warning("model_proxy.too_many_connections", limit=MAX_CONNECTIONS)
            writer.close()
            return
        self._connections.add(task)
        connection = _Connection(reader, writer)
        try:
            while not self._closing:
                event = await connection.next_event(IDLE_TIMEOUT_SECONDS)
                if not isinstance(event, h11.Request):
                    return  # the caller closed the connection
                self._busy.add(task)
                try:
                    await self._exchange(connection, event)
                finally:
                    self._busy.discard(task)
                if not connection.reusable:
                    if connection.h11.their_state is h11.SEND_BODY:
                        await connection.linger()
                    return
                connection.h11.start_next_cycle()
        except h11.RemoteProtocolError as error:
            if connection.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                with contextlib.suppress(_Gone, h11.LocalProtocolError):
                    await connection.send_json(error.error_status_hint, _error("bad_request", str(error)))
        except _Gone:
            pass
        except Exception:  # a bug must cost this connection only, never the server
            log.exception("model_proxy.connection_failed")
        except asyncio.CancelledError:
            # Only close() cancels these tasks, and it is their owner: end quietly (asyncio of
            # Python 3.11 logs a cancelled connection task of start_server as an error).
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _exchange(self, connection: _Connection, request: h11.Request) -> None:
        method = request.method.decode("ascii", "replace").upper()
        target = request.target.decode("ascii", "replace")
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers]
        endpoint = endpoint_of(method, target)
        if endpoint is None:
            log.info("model_proxy.not_found", method=method, path=target.split("?", 1)[0][:200])
            await connection.send_json(404, _error("not_found", f"{method} {target.split('?', 1)[0][:200]} is not "
                                                   "a model endpoint of this proxy"), close=True)
            return
        caller = await ledger.caller_for(self.db, _token(headers))
        if caller is None:
            log.warning("model_proxy.refused", reason="unknown_or_ended_sandbox", endpoint=endpoint)
            await connection.send_json(401, _error(
                "invalid_proxy_token", "the token is not that of a running sandbox"), close=True)
            return
        declared = dict(headers).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await connection.send_json(413, _error("request_too_large", _too_large()), close=True)
            return
        body = await self._read_body(connection)
        if body is None:
            await connection.send_json(413, _error("request_too_large", _too_large()), close=True)
            return
        query = target.split("?", 1)[1] if "?" in target else ""
        inspected = inspect_request(body, kind=self.upstream.kind, path=endpoint)
        try:
            response = await self.upstream.open(method, endpoint, query, headers, inspected.body)
        except UpstreamError as error:
            log.warning("model_proxy.upstream_failed", session_id=caller.session_id, sandbox_id=caller.sandbox_id,
                        endpoint=endpoint, status=error.status, code=error.code)
            await connection.send_json(error.status, _error(error.code, error.message))
            return
        await self._relay(connection, response, caller, method=method, endpoint=endpoint, model=inspected.model)

    async def _read_body(self, connection: _Connection) -> bytes | None:
        """The whole request body, or None once it passes the limit (chunked bodies included)."""
        body = bytearray()
        while True:
            event = await connection.next_event(REQUEST_READ_TIMEOUT_SECONDS)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES:
                    return None
            elif isinstance(event, h11.EndOfMessage):
                return bytes(body)
            else:
                raise _Gone()

    async def _relay(self, connection: _Connection, response: httpx.Response, caller: ledger.Caller, *,
                     method: str, endpoint: str, model: str) -> None:
        """Stream the provider's answer back as it arrives, metering it on the way."""
        meter = UsageMeter(content_type=response.headers.get("content-type", ""), model=model)
        outcome = "completed"
        try:
            await connection.send(h11.Response(status_code=response.status_code,
                                               headers=returned_headers(response.headers.multi_items()),
                                               reason=response.reason_phrase.encode("latin-1", "replace")))
            async for chunk in response.aiter_bytes():
                meter.feed(chunk)
                await connection.send(h11.Data(data=chunk))
        except httpx.HTTPError as error:
            outcome = f"provider_broke_off ({type(error).__name__})"
        except _Gone:
            outcome = "caller_went_away"  # closing the answer below stops the provider (and the spending)
        finally:
            await response.aclose()
            usage = meter.result()
            if method == "POST":
                try:
                    await ledger.record(self.db, caller, usage, prices=self.prices, notifier=self.notifier)
                except Exception:  # the answer still goes out; the missing row is in the log
                    log.exception("model_proxy.usage_not_recorded", session_id=caller.session_id,
                                  sandbox_id=caller.sandbox_id, input_tokens=usage.input_tokens,
                                  output_tokens=usage.output_tokens)
            log.info("model_proxy.call", session_id=caller.session_id, sandbox_id=caller.sandbox_id,
                     endpoint=endpoint, status=response.status_code, model=usage.model or None,
                     input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                     usage_reported=usage.reported, outcome=outcome)
        if outcome != "completed":
            raise _Gone()  # no clean end: a chunked answer without its last chunk reads as cut off
        await connection.send(h11.EndOfMessage())


def _too_large() -> str:
    return f"the request body is larger than {MAX_BODY_BYTES} bytes"
