"""Running a repository's own scripts: ``.openinspect/setup.sh``, ``start.sh`` and ``verify.sh``.

:class:`ScriptRunner` owns the processes it starts. A script runs under bash in
the repository, in its own process group (so a timeout kills everything it
started, not just bash), with the sandbox's child environment. Its combined
stdout/stderr streams out as ``script_output`` events, coalesced into chunks
(at most :data:`CHUNK_MAX_CHARS`, at most :data:`FLUSH_INTERVAL_SECONDS` old),
followed by one ``script_finished``. What a failure *means* (a warning for
setup, fatal for start) is the supervisor's decision, not the runner's.

A script may leave background processes behind on purpose (``start.sh``
starting a dev server): they keep running, their output is read and dropped
(so they never block on a full pipe), and :meth:`ScriptRunner.close` ends them.

Output is bounded: after ``max_output_bytes`` (the launch spec's
``max_script_output_bytes``) of one run, the rest is read and dropped, and one
``warning`` (``script_output_truncated``) says so; the script runs on, and the
tail of its output (what a failure is explained with) is still kept.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import openinspect_protocol as protocol
from openinspect_protocol.launch import MAX_SCRIPT_OUTPUT_BYTES
from openinspect_protocol.logs import EventLog

from sandbox.harness.base import Emit
from sandbox.outbox import OutboxFull

log = EventLog("sandbox.scripts")

# Why: live enough that a person watching sees progress, coarse enough that a
# chatty `npm install` becomes tens of events, not thousands.
FLUSH_INTERVAL_SECONDS = 0.1
CHUNK_MAX_CHARS = 4096
READ_BYTES = 65536
# Why: SIGTERM first lets a script's children clean up; 5 s is plenty for that.
KILL_GRACE_SECONDS = 5.0
# Why: after the script exits, output still in the pipe arrives within
# milliseconds; a background child keeping the pipe open must not hold us.
DRAIN_SECONDS = 1.0
# Why: enough lines to see the error that made start.sh fail.
TAIL_LINES = 20
TAIL_LINE_MAX_CHARS = 500


@dataclass(frozen=True)
class ScriptResult:
    script: protocol.ScriptName
    exit_code: int | None  # None when it was killed at the timeout
    timed_out: bool
    duration_ms: int
    tail: tuple[str, ...]  # the last lines of output

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class Chunker:
    """Cuts a text stream into chunks of at most ``max_chars``, preferring line ends."""

    def __init__(self, max_chars: int = CHUNK_MAX_CHARS) -> None:
        self._max = max_chars
        self._buffer = ""

    @property
    def pending(self) -> bool:
        return bool(self._buffer)

    def push(self, text: str) -> list[str]:
        """Add ``text``; return the chunks that are full."""
        self._buffer += text
        chunks = []
        while len(self._buffer) >= self._max:
            cut = self._buffer.rfind("\n", 0, self._max) + 1 or self._max
            chunks.append(self._buffer[:cut])
            self._buffer = self._buffer[cut:]
        return chunks

    def take(self) -> str:
        """Everything buffered (the flush at an interval or at the end)."""
        text, self._buffer = self._buffer, ""
        return text


class Tail:
    """The last ``lines`` lines of a text stream."""

    def __init__(self, lines: int = TAIL_LINES) -> None:
        self._lines: deque[str] = deque(maxlen=lines)
        self._partial = ""

    def feed(self, text: str) -> None:
        *complete, self._partial = (self._partial + text).split("\n")
        self._lines.extend(line[:TAIL_LINE_MAX_CHARS] for line in complete)
        self._partial = self._partial[-TAIL_LINE_MAX_CHARS:]

    def lines(self) -> tuple[str, ...]:
        lines = [*self._lines, self._partial] if self._partial else list(self._lines)
        return tuple(lines[-(self._lines.maxlen or TAIL_LINES):])


class _OutputPump:
    """Reads one script's pipe, emitting chunks until muted, then reading and dropping."""

    def __init__(self, stream: asyncio.StreamReader, transport: asyncio.BaseTransport,
                 script: protocol.ScriptName, emit: Emit, max_output_bytes: int = MAX_SCRIPT_OUTPUT_BYTES,
                 message_id: str | None = None) -> None:
        self._stream = stream
        self._message_id = message_id  # verify.sh runs for a turn: its output belongs to that prompt
        self._transport = transport
        self._script = script
        self._emit = emit
        self._chunker = Chunker()
        self.tail = Tail()
        self._muted = False
        self.dropped_bytes = 0
        self._budget = max_output_bytes  # bytes of output still to be sent
        self._refused = False  # the outbox is full: nothing more is sent (the tail is still kept)
        self._truncated = False  # past the limit: the rest is dropped (and was said to be, once)
        self._max_output_bytes = max_output_bytes

    def _send(self, text: str) -> None:
        if text and not self._muted and not self._refused:
            try:
                self._emit(protocol.ScriptOutput(script=self._script, text=text, message_id=self._message_id))
            except OutboxFull as full:  # the control plane is not taking events: keep reading, send no more
                log.warning("scripts.output_dropped", script=self._script, reason=str(full))
                self._refused = True

    def _within_budget(self, text: str) -> str:
        """What of ``text`` may still be sent; past the limit, send what is buffered and one warning."""
        if not text:
            return text
        encoded = text.encode("utf-8", "surrogatepass")
        if len(encoded) <= self._budget:
            self._budget -= len(encoded)
            return text
        kept = encoded[:self._budget].decode("utf-8", "ignore")  # never half a character
        self.dropped_bytes += len(encoded) - len(kept.encode("utf-8", "surrogatepass"))
        if self._truncated:
            return ""
        self._budget, self._truncated = 0, True
        for chunk in self._chunker.push(kept):
            self._send(chunk)
        self._send(self._chunker.take())
        if not self._muted and not self._refused:
            self._emit_note()
        return ""

    def _emit_note(self) -> None:
        log.warning("scripts.output_truncated", script=self._script, limit_bytes=self._max_output_bytes)
        try:
            self._emit(protocol.WarningEvent(
                code="script_output_truncated", message_id=self._message_id,
                message=f"{self._script}.sh printed more than {self._max_output_bytes} bytes; the rest of its "
                        "output was dropped (the script went on)"))
        except OutboxFull:
            self._refused = True

    def mute(self) -> None:
        """Send what is buffered, then drop everything read from now on."""
        self._send(self._chunker.take())
        self._muted = True

    async def run(self) -> None:
        try:
            await self._pump()
        finally:
            self._transport.close()

    async def _pump(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    data = await self._stream.read(READ_BYTES)
            except TimeoutError:
                self._send(self._chunker.take())
                deadline = None
                continue
            if not data:
                break
            if self._muted:
                self.dropped_bytes += len(data)
                continue
            text = decoder.decode(data)
            self.tail.feed(text)
            for chunk in self._chunker.push(self._within_budget(text)):
                self._send(chunk)
            if not self._chunker.pending:
                deadline = None
            elif deadline is None:
                deadline = loop.time() + FLUSH_INTERVAL_SECONDS
        rest = decoder.decode(b"", final=True)
        self.tail.feed(rest)
        for chunk in self._chunker.push(self._within_budget(rest)):
            self._send(chunk)
        self._send(self._chunker.take())


def _signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to process group ``pgid``; False when the group no longer exists."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def _group_running(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still runs (zombies waiting for init do not count)."""
    if not _signal_group(pgid, 0):
        return False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True  # no /proc: trust the signal
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                state, _ppid, group = stat.read().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(group) == pgid and state != "Z":
            return True
    return False


class ScriptRunner:
    """Runs ``.openinspect/<name>.sh`` scripts in ``repo_dir`` and ends what they leave behind."""

    def __init__(self, repo_dir: Path, *, env: Mapping[str, str], emit: Emit,
                 max_output_bytes: int = MAX_SCRIPT_OUTPUT_BYTES) -> None:
        self._repo_dir = repo_dir
        self._env = dict(env)
        self._emit = emit
        self._max_output_bytes = max_output_bytes
        self._groups: set[int] = set()
        self._background: set[asyncio.Task[None]] = set()

    def path(self, script: protocol.ScriptName) -> Path:
        return self._repo_dir / ".openinspect" / f"{script}.sh"

    def exists(self, script: protocol.ScriptName) -> bool:
        return self.path(script).is_file()

    async def run(self, script: protocol.ScriptName, timeout_seconds: float, *, message_id: str | None = None,
                  announce_finish: bool = True, keep_background: bool = True) -> ScriptResult:
        """Run the script to its end (or kill its process group at the timeout); emit its output (tied to
        ``message_id``, if given), then ``script_finished`` unless the caller reports the end its own way.
        ``keep_background=False`` ends whatever the script left running once it has exited."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Our own pipe, not asyncio's PIPE: asyncio's wait() also waits for its pipes to
        # close, which a background child of the script may never do.
        read_fd, write_fd = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                "bash", str(self.path(script)),
                cwd=self._repo_dir,
                env=self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                start_new_session=True,  # its own process group: pid == pgid
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self._groups.add(process.pid)
        log.info("scripts.started", script=script, pid=process.pid, timeout_seconds=timeout_seconds)
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0))
        pump = _OutputPump(reader, transport, script, self._emit, self._max_output_bytes, message_id)
        pump_task = asyncio.create_task(pump.run(), name=f"scripts.{script}.output")
        timed_out = False
        try:
            async with asyncio.timeout(timeout_seconds):
                await process.wait()
        except TimeoutError:
            timed_out = True
            log.warning("scripts.timed_out", script=script, timeout_seconds=timeout_seconds)
            await self._end_group(process.pid, process)
        finally:
            # From here on, close() owns the reader (cancelled mid-run: close() ends the group too).
            self._background.add(pump_task)
            pump_task.add_done_callback(self._background.discard)
        if not keep_background and not timed_out and _group_running(process.pid):
            await self._end_group(process.pid)
        await asyncio.wait({pump_task}, timeout=DRAIN_SECONDS)
        # Whatever still holds the pipe (a background child) is read and dropped from now on.
        pump.mute()
        duration_ms = int((loop.time() - started) * 1000)
        exit_code = None if timed_out else process.returncode
        result = ScriptResult(script, exit_code, timed_out, duration_ms, pump.tail.lines())
        if announce_finish:
            self._emit(protocol.ScriptFinished(
                script=script, exit_code=exit_code, timed_out=timed_out, duration_ms=duration_ms))
        log.info("scripts.finished", script=script, exit_code=exit_code, timed_out=timed_out,
                 duration_ms=duration_ms)
        return result

    async def _end_group(self, pgid: int, process: asyncio.subprocess.Process | None = None) -> None:
        """SIGTERM the whole group, give it a grace period, then SIGKILL whatever is left."""
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            self._groups.discard(pgid)
            return
        if process is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(KILL_GRACE_SECONDS):
                    await process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        if process is not None:
            await process.wait()
        self._groups.discard(pgid)

    async def close(self) -> None:
        """End every process group a script left running and stop reading their output."""
        alive = [pgid for pgid in self._groups if _signal_group(pgid, signal.SIGTERM)]
        if alive:
            log.info("scripts.ending_leftovers", groups=alive)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(KILL_GRACE_SECONDS):
                    # No event says "a process group is empty": poll (leftovers only, at exit).
                    while any(_group_running(pgid) for pgid in alive):  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
            for pgid in alive:
                _signal_group(pgid, signal.SIGKILL)
        self._groups.clear()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
