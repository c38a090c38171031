"""Pushing the session's branch, one push at a time, and telling the control plane how it went.

:class:`BranchPusher` owns the order of pushes (an ``asyncio.Lock``: a ``push``
command and the agent's pull-request tool may ask at once; git itself would be
safe, but two pushes of one branch racing would report out of order) and the
``push_complete``/``push_error`` events. Git's work is :class:`~sandbox.git_sync.GitRepo`'s;
what a failed push means is :func:`classify_push_failure`, a pure function of git's
stderr. A push while a turn runs is fine: it reads the branch's commits, never the
working tree.

Messages are for people (shown on the timeline) and carry no credentials: git's
stderr is masked, and the token was never in a URL to begin with.

Before git pushes anything, the commits it would send are read for secret values
(:func:`~sandbox.secret_guard.find_secret_in_history`): one found refuses the push with
``secret_in_diff``, naming the secret and the commit, never the value.
"""

from __future__ import annotations

import asyncio

import openinspect_protocol as protocol
from openinspect_protocol.logs import EventLog
from openinspect_protocol.redaction import Redactor

from sandbox.git_sync import GitError, GitRepo, mask_credentials
from sandbox.harness.base import Emit
from sandbox.secret_guard import find_secret_in_history, push_refusal

log = EventLog("sandbox.pushes")

# Why: the last lines of git's stderr say what the remote answered; more is noise on a timeline.
STDERR_TAIL_LINES = 6

_REJECTED = ("non-fast-forward", "fetch first", "[rejected]", "updates were rejected", "stale info")
_DENIED = ("authentication failed", "could not read username", "could not read password",
           "returned error: 401", "returned error: 403", "permission to", "access denied",
           "permission denied", "403 forbidden", "invalid username or password")
_UNREACHABLE = ("could not resolve host", "failed to connect", "connection refused", "connection timed out",
                "operation timed out", "network is unreachable", "couldn't connect", "did not finish within",
                "empty reply from server", "connection reset")


def classify_push_failure(stderr: str, credential_problem: str | None = None) -> tuple[str, str]:
    """``(code, message)`` for a failed push: push_rejected, push_denied, push_unreachable or push_failed."""
    lowered = stderr.lower()
    detail = _tail(stderr)
    if any(marker in lowered for marker in _REJECTED):
        return "push_rejected", ("the remote branch has commits this sandbox does not have, so the push was "
                                 "refused (pushes are never forced)" + detail)
    if any(marker in lowered for marker in _DENIED) or (credential_problem and "could not read" in lowered):
        why = f": {credential_problem}" if credential_problem else " (check the app's access to the repository)"
        return "push_denied", f"the remote refused the push{why}" + detail
    if any(marker in lowered for marker in _UNREACHABLE):
        return "push_unreachable", "the remote could not be reached" + detail
    return "push_failed", "git push failed" + detail


def _tail(stderr: str) -> str:
    lines = [line for line in mask_credentials(stderr).strip().splitlines() if line.strip()]
    return ("\n" + "\n".join(lines[-STDERR_TAIL_LINES:])) if lines else ""


class BranchPusher:
    """Pushes branches of ``repo`` one at a time and emits ``push_complete``/``push_error``."""

    def __init__(self, repo: GitRepo, emit: Emit, *, base_branch: str | None = None,
                 redactor: Redactor | None = None) -> None:
        self._repo = repo
        self._redactor = redactor or Redactor()  # the values no pushed commit may hold
        self._emit = emit
        self._lock = asyncio.Lock()
        self.base_branch = base_branch  # what the session's branch is compared with (None: the remote's default)

    async def push(self, branch: str, message_id: str | None = None) -> protocol.PushComplete | protocol.PushError:
        """Push ``branch``; emit and return how it went. Never raises for git's failures."""
        async with self._lock:
            event = await self._push(branch, message_id)
        self._emit(event)
        return event

    async def _push(self, branch: str, message_id: str | None) -> protocol.PushComplete | protocol.PushError:
        log.info("push.started", branch=branch, message_id=message_id)
        refused = await self._secret_check(branch, message_id)
        if refused is not None:
            return refused
        try:
            head_sha = await self._repo.push(branch)
        except GitError as exc:
            code, message = classify_push_failure(str(exc), exc.credential_problem)
            log.warning("push.failed", branch=branch, code=code, reason=message)
            return protocol.PushError(branch=branch, code=code, message=message, message_id=message_id)
        base = self.base_branch or await self._repo.remote_default_branch()
        try:
            ahead = await self._repo.commits_ahead(branch, base)
        except GitError as exc:
            log.warning("push.ahead_unknown", branch=branch, error=str(exc))
            ahead = 0
        log.info("push.completed", branch=branch, head_sha=head_sha, base_branch=base, commits_ahead=ahead)
        return protocol.PushComplete(branch=branch, head_sha=head_sha, base_branch=base, commits_ahead=ahead,
                                     message_id=message_id)

    async def _secret_check(self, branch: str, message_id: str | None) -> protocol.PushError | None:
        if not self._redactor:
            return None
        try:
            finding = find_secret_in_history(await self._repo.unpushed_history(branch), self._redactor)
        except GitError as exc:
            log.warning("push.unchecked", branch=branch, error=str(exc))
            return protocol.PushError(branch=branch, code="push_failed", message_id=message_id,
                                      message=f"git push failed: {mask_credentials(str(exc))}")
        if finding is None:
            return None
        log.warning("push.secret_in_diff", branch=branch, secret=finding.name, commit=finding.commit,
                    where=finding.where)
        return protocol.PushError(branch=branch, code="secret_in_diff", message=push_refusal(branch, finding),
                                  message_id=message_id)
