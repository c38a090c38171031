"""The OpenCode harness: one ``opencode serve`` process, one session, one event stream.

:class:`OpenCodeHarness` owns the agent process (its environment, its log, its
whole process tree), an HTTP client with the per-sandbox server password, the
one OpenCode session every prompt goes to, and one SSE subscription to
``GET /event``. :class:`TurnTranslator` owns the mapping of OpenCode's events to
protocol events for one prompt; it is pure (events in, events out) and knows
nothing of processes or HTTP.

Ordering: the SSE reader task routes this session's events into the running
turn's queue; ``run`` drains that queue, so protocol events leave in the order
OpenCode published them. Text deltas are held back per part for up to
:data:`TEXT_COALESCE_SECONDS` and flushed before any other event.

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
import json
import logging
import os
import re
import secrets
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import httpx

from openinspect_app import protocol
from sandbox.harness.base import AgentConfig, AgentHarness, AgentStartError, Emit

log = logging.getLogger(__name__)

# Why 60: a cold start on a fresh data dir takes ~2 s here, but a loaded 2-core
# machine running several sandboxes can be far slower; past a minute it is broken.
START_TIMEOUT_SECONDS = 60.0
# Why 10: the stream answers `server.connected` at once when the server is up.
EVENT_STREAM_CONNECT_TIMEOUT_SECONDS = 10.0
# Why 30: OpenCode sends a heartbeat every 10 s; three missed means a dead stream.
EVENT_STREAM_READ_TIMEOUT_SECONDS = 30.0
EVENT_STREAM_RECONNECT_DELAY_SECONDS = 0.2
HTTP_TIMEOUT_SECONDS = 30.0
# Why 0.1: enough to merge a model's token-by-token deltas into a few events per
# second without a visible lag in the UI.
TEXT_COALESCE_SECONDS = 0.1
# Why 64 KiB: a tool's output is shown, not archived; more only bloats the event log.
MAX_TOOL_OUTPUT_CHARS = 64 * 1024
# Why 2: an abort that raced the turn's start is simply sent again.
ABORT_RETRY_SECONDS = 2.0
TERMINATE_GRACE_SECONDS = 5.0
STDERR_TAIL_LINES = 40
SERVER_USERNAME = "opencode"

_LISTENING = re.compile(r"opencode server listening on (?P<url>http://\S+)")
# OpenCode names an untitled session "New session - <ISO time>" until its title
# request answers; that placeholder is not a title worth showing.
_PLACEHOLDER_TITLE = re.compile(r"^(New session|Child session) - \d{4}-\d{2}-\d{2}T[\d:.]+Z$")

OFFLINE_ENVIRONMENT: Mapping[str, str] = {
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    # `serve` as the client disables the interactive question tool.
    "OPENCODE_CLIENT": "serve",
}

# Every permission allowed except questions: nobody is there to answer them.
PERMISSIONS: Mapping[str, str] = {
    name: "allow"
    for name in (
        "read", "edit", "glob", "grep", "list", "bash", "task", "external_directory", "todowrite",
        "webfetch", "websearch", "lsp", "doom_loop", "skill",
    )
} | {"question": "deny"}


# --------------------------------------------------------------------------
# Configuration (pure)
# --------------------------------------------------------------------------


def split_model(model: str) -> tuple[str, str]:
    """``"openinspect/scripted"`` -> ``("openinspect", "scripted")``."""
    provider_id, sep, model_id = model.partition("/")
    if not sep or not provider_id or not model_id:
        raise AgentStartError(f"model must look like 'provider/model', got {model!r}")
    return provider_id, model_id


def opencode_config(config: AgentConfig) -> dict[str, Any]:
    """The JSON OpenCode reads from ``OPENCODE_CONFIG_CONTENT``."""
    provider_id, model_id = split_model(config.model)
    provider = config.provider
    options: dict[str, Any] = {}
    if provider.base_url:
        options["baseURL"] = provider.base_url
    if provider.api_key:
        options["apiKey"] = provider.api_key
    result: dict[str, Any] = {
        "autoupdate": False,
        "share": "disabled",
        "model": config.model,
        "enabled_providers": [provider_id],
        "permission": dict(PERMISSIONS),
    }
    match provider.kind:
        case "openai_compatible":
            if not provider.base_url:
                raise AgentStartError("an openai_compatible provider needs a base_url")
            result["provider"] = {
                provider_id: {
                    "npm": "@ai-sdk/openai-compatible",  # bundled in the binary: nothing to download
                    "name": provider_id,
                    "options": options,
                    "models": {model_id: {"name": model_id}},
                }
            }
            # Session titles come from the same model (else OpenCode looks for a "small" one).
            result["small_model"] = config.model
        case "anthropic":
            if provider_id != "anthropic":
                raise AgentStartError(f"anthropic models are named 'anthropic/<model>', got {config.model!r}")
            result["provider"] = {"anthropic": {"options": options}}
        case other:
            raise AgentStartError(f"unknown provider kind {other!r}")
    return result


def xdg_dirs(state_dir: Path) -> dict[str, Path]:
    return {
        "XDG_CONFIG_HOME": state_dir / "xdg" / "config",
        "XDG_DATA_HOME": state_dir / "xdg" / "data",
        "XDG_CACHE_HOME": state_dir / "xdg" / "cache",
        "XDG_STATE_HOME": state_dir / "xdg" / "state",
    }


def agent_environment(config: AgentConfig, password: str, base: Mapping[str, str]) -> dict[str, str]:
    """The agent's environment: ``base`` minus our own settings, then ``config.env``, then ours.

    ``OPENINSPECT_*`` and stray ``OPENCODE_*`` variables of the sandbox process are
    dropped: the agent's bash tool inherits this environment.
    """
    env = {k: v for k, v in base.items() if not k.startswith(("OPENINSPECT_", "OPENCODE_"))}
    env.update(config.env)
    env.update(OFFLINE_ENVIRONMENT)
    env.update({name: str(path) for name, path in xdg_dirs(config.state_dir).items()})
    env["OPENCODE_SERVER_USERNAME"] = SERVER_USERNAME
    env["OPENCODE_SERVER_PASSWORD"] = password
    env["OPENCODE_CONFIG_CONTENT"] = json.dumps(opencode_config(config))
    return env


def prepare_state_dir(state_dir: Path) -> None:
    """Create the XDG dirs and pre-seed OpenCode's global config dir.

    At start OpenCode runs a background ``npm install @opencode-ai/plugin`` into
    its config dir unless that dir already has ``node_modules`` and a lock file
    listing the package: that install would reach the npm registry.
    """
    for path in xdg_dirs(state_dir).values():
        path.mkdir(parents=True, exist_ok=True)
    config_dir = xdg_dirs(state_dir)["XDG_CONFIG_HOME"] / "opencode"
    (config_dir / "node_modules").mkdir(parents=True, exist_ok=True)
    dependencies = {"@opencode-ai/plugin": "*"}
    package, lock = config_dir / "package.json", config_dir / "package-lock.json"
    if not package.exists():
        package.write_text(json.dumps({"dependencies": dependencies}))
    if not lock.exists():
        lock.write_text(json.dumps({"packages": {"": {"dependencies": dependencies}}}))


def truncate(text: str, limit: int = MAX_TOOL_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [{len(text) - limit} more characters truncated]"


def is_real_title(title: str | None) -> bool:
    return bool(title and title.strip()) and not _PLACEHOLDER_TITLE.match(title or "")


# --------------------------------------------------------------------------
# Event translation (pure)
# --------------------------------------------------------------------------


class TurnTranslator:
    """Maps one session's OpenCode events to protocol events for one prompt.

    Owns the per-turn bookkeeping (message roles, part kinds, tools announced,
    text held back for coalescing) and the turn's outcome. Feed it events with
    the current monotonic time; emit what it returns.
    """

    def __init__(self, message_id: str, *, coalesce_seconds: float = TEXT_COALESCE_SECONDS) -> None:
        self.message_id = message_id
        self.coalesce_seconds = coalesce_seconds
        self.busy_seen = False
        self.finished = False
        self.aborted = False
        self.errors: list[str] = []
        self._roles: dict[str, str] = {}
        self._part_kinds: dict[str, str] = {}
        self._sent_text: dict[str, str] = {}  # per text part: emitted or held back so far
        self._held_part: str | None = None
        self._held: list[str] = []
        self._held_since = 0.0
        self._calls_announced: dict[str, str] = {}  # call id -> tool name
        self._calls_finished: set[str] = set()
        self._retries_seen: set[int] = set()

    # -- text coalescing ---------------------------------------------------

    def next_flush_at(self) -> float | None:
        return self._held_since + self.coalesce_seconds if self._held else None

    def flush(self) -> list[protocol.SandboxEvent]:
        if not self._held or self._held_part is None:
            return []
        text, part_id = "".join(self._held), self._held_part
        self._held, self._held_part = [], None
        return [protocol.TokenDelta(message_id=self.message_id, part_id=part_id, text=text)]

    def flush_due(self, now: float) -> list[protocol.SandboxEvent]:
        due = self.next_flush_at()
        return self.flush() if due is not None and now >= due else []

    def _hold(self, part_id: str, text: str, now: float) -> list[protocol.SandboxEvent]:
        out = self.flush() if self._held_part not in (None, part_id) else []
        if not self._held:
            self._held_part, self._held_since = part_id, now
        self._held.append(text)
        self._sent_text[part_id] = self._sent_text.get(part_id, "") + text
        return out + self.flush_due(now)

    # -- events --------------------------------------------------------------

    def feed(self, event: Mapping[str, Any], now: float) -> list[protocol.SandboxEvent]:
        kind = event.get("type")
        props = event.get("properties") or {}
        match kind:
            case "message.part.delta":
                part_id = props.get("partID", "")
                if props.get("field") == "text" and self._part_kinds.get(part_id) == "text":
                    return self._hold(part_id, props.get("delta", ""), now)
                return []
            case "message.updated":
                info = props.get("info") or {}
                if info.get("id") and info.get("role"):
                    self._roles[info["id"]] = info["role"]
                return []
            case "message.part.updated":
                return self._part(props.get("part") or {}, now)
            case "session.status":
                return self._status(props.get("status") or {})
            case "session.idle":
                self.finished = self.finished or self.busy_seen
                return []
            case "session.error":
                return self._error(props.get("error") or {})
            case _:
                return []

    def _status(self, status: Mapping[str, Any]) -> list[protocol.SandboxEvent]:
        match status.get("type"):
            case "busy":
                self.busy_seen = True
            case "idle":
                self.finished = self.finished or self.busy_seen
            case "retry":
                attempt = int(status.get("attempt") or 0)
                if attempt not in self._retries_seen:
                    self._retries_seen.add(attempt)
                    message = f"provider error, retry {attempt}: {status.get('message', '')}"
                    return [*self.flush(), protocol.Warning(
                        message_id=self.message_id, code="provider_retry", message=message)]
        return []

    def _error(self, error: Mapping[str, Any]) -> list[protocol.SandboxEvent]:
        name = str(error.get("name") or "UnknownError")
        if name == "MessageAbortedError":
            self.aborted = True  # reported as stopped, not as an error
            return self.flush()
        data = error.get("data") or {}
        message = str(data.get("message") or json.dumps(data)[:500] or name)
        self.errors.append(message)
        return [*self.flush(), protocol.Error(message_id=self.message_id, code=name, message=message)]

    def _part(self, part: Mapping[str, Any], now: float) -> list[protocol.SandboxEvent]:
        # Only the assistant's parts: the user's own prompt comes back as a text part too.
        if self._roles.get(part.get("messageID", "")) != "assistant":
            return []
        part_id, kind = part.get("id", ""), part.get("type")
        self._part_kinds[part_id] = kind or ""
        match kind:
            case "step-start":
                return [*self.flush(), protocol.StepStart(message_id=self.message_id)]
            case "step-finish":
                return [*self.flush(), self._step_finish(part)]
            case "text":
                return self._text_part(part, now)
            case "tool":
                return self._tool_part(part)
            case _:
                return []

    def _text_part(self, part: Mapping[str, Any], now: float) -> list[protocol.SandboxEvent]:
        if part.get("synthetic") or part.get("ignored") or not (part.get("time") or {}).get("end"):
            return []
        # The part is complete: send whatever the deltas did not carry.
        part_id, full = part.get("id", ""), part.get("text") or ""
        sent = self._sent_text.get(part_id, "")
        out: list[protocol.SandboxEvent] = []
        if full.startswith(sent) and len(full) > len(sent):
            out += self._hold(part_id, full[len(sent) :], now)
        return out + self.flush()

    def _tool_part(self, part: Mapping[str, Any]) -> list[protocol.SandboxEvent]:
        state = part.get("state") or {}
        status = state.get("status")
        call_id, tool = part.get("callID") or part.get("id", ""), part.get("tool", "")
        out: list[protocol.SandboxEvent] = []
        if status in ("running", "completed", "error") and call_id not in self._calls_announced:
            self._calls_announced[call_id] = tool
            out += self.flush()
            raw_input = state.get("input") or {}
            tool_input = raw_input if isinstance(raw_input, dict) else {"input": raw_input}
            out.append(protocol.ToolCall(message_id=self.message_id, call_id=call_id, tool=tool, input=tool_input))
        if status in ("completed", "error") and call_id not in self._calls_finished:
            self._calls_finished.add(call_id)
            metadata = state.get("metadata") or {}
            output = state.get("output") if status == "completed" else metadata.get("output")
            out.append(protocol.ToolResult(
                message_id=self.message_id, call_id=call_id, tool=tool, status=status,
                title=state.get("title"), output=truncate(str(output or "")),
                error=truncate(str(state.get("error"))) if status == "error" else None,
            ))
        return out

    def _step_finish(self, part: Mapping[str, Any]) -> protocol.StepFinish:
        tokens = part.get("tokens") or {}
        cache = tokens.get("cache") or {}
        usage = protocol.TokenUsage(
            input=int(tokens.get("input") or 0), output=int(tokens.get("output") or 0),
            reasoning=int(tokens.get("reasoning") or 0),
            cache_read=int(cache.get("read") or 0), cache_write=int(cache.get("write") or 0),
        )
        return protocol.StepFinish(
            message_id=self.message_id, reason=part.get("reason"), tokens=usage,
            cost=float(part.get("cost") or 0.0),
        )

    def close_open_calls(self, reason: str) -> list[protocol.SandboxEvent]:
        """A result for every call that got none (the turn was stopped or the agent died)."""
        out: list[protocol.SandboxEvent] = []
        for call_id, tool in self._calls_announced.items():
            if call_id not in self._calls_finished:
                self._calls_finished.add(call_id)
                out.append(protocol.ToolResult(
                    message_id=self.message_id, call_id=call_id, tool=tool, status="error", error=reason))
        return out

    def completion(self, *, stop_requested: bool) -> protocol.ExecutionComplete:
        if stop_requested or self.aborted:
            return protocol.ExecutionComplete(message_id=self.message_id, success=False, stopped=True)
        if self.errors:
            return protocol.ExecutionComplete(message_id=self.message_id, success=False, error=self.errors[0])
        return protocol.ExecutionComplete(message_id=self.message_id, success=True)


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """JSON objects from an SSE stream's ``data:`` lines (an event ends at a blank line)."""
    data: list[str] = []
    async for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif not line.strip() and data:
            payload, data = "\n".join(data), []
            try:
                yield json.loads(payload)
            except json.JSONDecodeError:
                log.warning("opencode.sse.bad_json payload=%r", payload[:200])


# --------------------------------------------------------------------------
# The process
# --------------------------------------------------------------------------


def _descendants(root_pid: int) -> list[int]:
    """Every live descendant of ``root_pid`` (Linux ``/proc``; empty elsewhere).

    OpenCode starts its tool commands detached (their own process groups), so
    killing its process group alone would leave them running.
    """
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill(process_group: int, pids: list[int], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class AgentProcess:
    """Owns one ``opencode serve`` child: its pipes, its log file and its process tree.

    Both output streams go to ``log_path``; the last stderr lines are kept for
    error messages. Knows nothing of HTTP.
    """

    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.proc = proc
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._log = log_path.open("ab")
        self._listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._readers = [
            asyncio.create_task(self._read(proc.stdout, b"stdout")),
            asyncio.create_task(self._read(proc.stderr, b"stderr")),
        ]

    @classmethod
    async def spawn(cls, argv: list[str], *, cwd: str, env: Mapping[str, str], log_path: Path) -> AgentProcess:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: close() takes the whole group
        )
        return cls(proc, log_path)

    async def _read(self, stream: asyncio.StreamReader | None, name: bytes) -> None:
        if stream is None:
            return
        while line := await stream.readline():
            self._log.write(b"[" + name + b"] " + line)
            self._log.flush()
            text = line.decode(errors="replace").rstrip()
            if name == b"stderr":
                self.stderr_tail.append(text)
            elif (found := _LISTENING.search(text)) and not self._listening.done():
                self._listening.set_result(found.group("url"))

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def describe_exit(self) -> str:
        code = self.proc.returncode
        if code is None:
            return "still running"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by signal {signal.Signals(-code).name}"
        return f"exit code {code}"

    async def wait_listening(self, timeout_seconds: float) -> str:
        """The server's URL once it says it listens; AgentStartError if it exits or stalls first."""
        exited = asyncio.ensure_future(self.proc.wait())
        try:
            done, _ = await asyncio.wait({self._listening, exited}, timeout=timeout_seconds,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
        if self._listening in done:
            return self._listening.result()
        if self.proc.returncode is not None:
            await asyncio.wait(self._readers, timeout=1.0)  # let the last stderr lines arrive
            tail = "\n".join(self.stderr_tail) or "(no output)"
            raise AgentStartError(f"opencode exited before listening ({self.describe_exit()}):\n{tail}")
        raise AgentStartError(f"opencode did not start listening within {timeout_seconds:.0f} s")

    async def terminate(self) -> None:
        """Stop the server and everything it started; then release pipes and the log."""
        group = self.proc.pid
        if self.proc.returncode is None:
            tree = _descendants(self.proc.pid)
            _kill(group, tree, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), TERMINATE_GRACE_SECONDS)
            except TimeoutError:
                log.warning("opencode.terminate.timeout pid=%s", self.proc.pid)
            _kill(group, tree + _descendants(self.proc.pid), signal.SIGKILL)
            await self.proc.wait()
        else:
            _kill(group, [], signal.SIGKILL)  # leftovers of a server that died on its own
        _, pending = await asyncio.wait(self._readers, timeout=TERMINATE_GRACE_SECONDS)
        for reader in pending:  # a grandchild still holds a pipe open
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._log.close()


# --------------------------------------------------------------------------
# The harness
# --------------------------------------------------------------------------

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
        env = agent_environment(self.config, password, os.environ)
        # Port 0: OpenCode binds 4096 if free, else any free port, and prints the URL it got.
        argv = [self.config.binary, "serve", "--port", "0", "--hostname", "127.0.0.1"]
        log.info("opencode.starting workdir=%s log=%s", self._workdir, self.log_path)
        try:
            prepare_state_dir(self._state_dir)
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
        log.info("opencode.ready url=%s version=%s session=%s", self._base_url, self._version,
                 self._session_id)
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
        log.info("opencode.exited pid=%s %s", process.proc.pid, process.describe_exit())
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
                            log.exception("opencode.sse.dispatch_failed type=%s", event.get("type"))
            except httpx.HTTPError as exc:
                log.info("opencode.sse.disconnected error=%r", exc)
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
        log.warning("opencode.prompt_answered path=%s body=%s", path, body)
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
        log.info("opencode.turn.start message_id=%s", prompt.message_id)
        try:
            result = await self._run_turn(turn, prompt, emit)
        finally:
            self._turn = None
        log.info("opencode.turn.end message_id=%s success=%s stopped=%s error=%s",
                 prompt.message_id, result.success, result.stopped, result.error)
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
            log.info("opencode.abort message_id=%s status=%s", turn.message_id, response.status_code)
        except httpx.HTTPError as exc:
            log.info("opencode.abort.failed message_id=%s error=%r", turn.message_id, exc)
