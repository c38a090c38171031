"""The verify gate and the turn's changes: what the sandbox checks and reports at the end of a turn.

After each turn, before its ``execution_complete``:

- when the turn made commits and the repository has ``.openinspect/verify.sh``, the
  script runs like setup.sh and start.sh do (bash in the clone, the scripts' environment
  with the session's secrets, its own process group, output streamed as ``script_output``
  with ``script`` = ``verify`` and tied to the turn's prompt, scrubbed by the bridge) under
  the launch spec's ``verify_timeout_seconds``; one that is still running then is killed
  (its whole group) and reported as timed out. What it left running is ended too: a
  check leaves nothing behind. The outcome is one ``verify_finished`` event.
- the session's changes against its base (:mod:`sandbox.changes`) go out as one
  ``changes`` event, which the control plane keeps with the session.

Neither can fail the turn: a verify.sh that fails is the outcome being reported, and
changes git cannot read are a warning.
"""

from __future__ import annotations

import openinspect_protocol as protocol
from openinspect_protocol.events import MAX_VERIFY_TAIL_CHARS
from openinspect_protocol.logs import EventLog

from sandbox.changes import ChangeReader, ChangesUnavailable
from sandbox.harness.base import Emit
from sandbox.scripts import ScriptResult, ScriptRunner

log = EventLog("sandbox.verify")


def verify_finished(result: ScriptResult, timeout_seconds: float, head_sha: str | None,
                    message_id: str | None = None) -> protocol.VerifyFinished:
    """The outcome of one verify.sh run: passed (exit 0), timed out (killed at the limit) or failed."""
    outcome: protocol.events.VerifyOutcome
    if result.timed_out:
        outcome = "timed_out"
    elif result.exit_code == 0:
        outcome = "passed"
    else:
        outcome = "failed"
    tail = "\n".join(result.tail)[-MAX_VERIFY_TAIL_CHARS:]
    return protocol.VerifyFinished(outcome=outcome, exit_code=None if result.timed_out else result.exit_code,
                                   duration_ms=max(result.duration_ms, 0), timeout_seconds=timeout_seconds,
                                   head_sha=head_sha, tail=tail, message_id=message_id)


class TurnChecks:
    """Runs verify.sh after a turn with commits, and reports the turn's changes."""

    def __init__(self, scripts: ScriptRunner, changes: ChangeReader, emit: Emit, *,
                 verify_timeout_seconds: float) -> None:
        self._scripts = scripts
        self.changes = changes
        self._emit = emit
        self._timeout = verify_timeout_seconds

    async def verify(self, message_id: str, head_sha: str | None) -> protocol.VerifyFinished | None:
        """Run verify.sh (if the repository has one); emit and return its outcome."""
        if not self._scripts.exists("verify"):
            return None
        log.info("verify.started", message_id=message_id, timeout_seconds=self._timeout, head_sha=head_sha)
        result = await self._scripts.run("verify", self._timeout, message_id=message_id, announce_finish=False,
                                         keep_background=False)
        event = verify_finished(result, self._timeout, head_sha, message_id)
        log.info("verify.finished", message_id=message_id, outcome=event.outcome, exit_code=event.exit_code,
                 duration_ms=event.duration_ms)
        self._emit(event)
        return event

    async def report_changes(self, message_id: str) -> protocol.ChangesSnapshot | None:
        """Emit the session's changes against its base, as the clone has them now."""
        try:
            event = await self.changes.read()
        except (ChangesUnavailable, TimeoutError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            log.warning("changes.unreadable", message_id=message_id, error=reason)
            self._emit(protocol.WarningEvent(code="changes_unavailable", message_id=message_id,
                                             message=f"could not read the session's changes: {reason}"))
            return None
        event = event.model_copy(update={"message_id": message_id})
        log.info("changes.read", message_id=message_id, files=len(event.files) + event.files_omitted,
                 additions=event.additions, deletions=event.deletions)
        self._emit(event)
        return event
