"""The sandbox's clone of the repository: getting it, attributing commits, finding new ones.

:class:`GitRepo` owns one working copy at a fixed path and runs git there with
the environment it was given (the sandbox's child environment, without
``GIT_AUTHOR_*``/``GIT_COMMITTER_*``, so the clone's own config decides who
commits). It knows nothing of events or the bridge: the supervisor turns its
results into ``git_sync`` and ``artifact`` events.

Credentials: a repository URL may carry a token (``https://x:TOKEN@host/...``).
It is used for the clone only; the remote left in ``.git/config`` has no
credentials, and every message or error shows the URL with them masked.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import openinspect_protocol as protocol
from openinspect_protocol.logs import EventLog

from sandbox.config import Identity

log = EventLog("sandbox.git")

# Why: a large repository over a slow link can take minutes; half an hour means
# the remote hangs, and a sandbox stuck in "syncing" helps nobody.
CLONE_TIMEOUT_SECONDS = 1800.0
# Why: local git commands (config, rev-parse, log) finish in milliseconds.
LOCAL_COMMAND_TIMEOUT_SECONDS = 60.0

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_FIELD_SEP = "\x1f"
_RECORD_SEP = "\x1e"


class GitError(RuntimeError):
    """A git command failed; the message carries git's own words (credentials masked)."""


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    subject: str
    author_name: str
    author_email: str
    committer_name: str
    committer_email: str


def mask_credentials(text: str) -> str:
    """``text`` with the user-info part of every URL in it replaced by ``***``."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def strip_credentials(url: str) -> str:
    """``url`` without user name and password (what is left in the clone's remote)."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def explain_clone_failure(stderr: str, url: str, branch: str | None) -> str:
    """A one-line reason a person understands, from git clone's stderr."""
    lowered = stderr.lower()
    if branch and "remote branch" in lowered and "not found" in lowered:
        return f"branch {branch!r} not found in {url}"
    if ("not found" in lowered or "does not exist" in lowered
            or "does not appear to be a git repository" in lowered):
        return f"repository not found: {url}"
    if "authentication failed" in lowered or "could not read username" in lowered or " 403" in lowered:
        return f"access to {url} was denied (check the credentials)"
    if "could not resolve host" in lowered or "failed to connect" in lowered:
        return f"could not reach {url}"
    return f"git clone of {url} failed"


class GitRepo:
    """One working copy at ``path``: clone into it, set per-prompt attribution, list new commits."""

    def __init__(self, path: Path, *, env: Mapping[str, str]) -> None:
        self.path = path
        # Never ask a terminal for credentials: there is nobody to answer.
        self._env = {**env, "GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}

    async def _git(
        self, *args: str, cwd: Path | None = None, timeout_seconds: float = LOCAL_COMMAND_TIMEOUT_SECONDS
    ) -> str:
        process = await asyncio.create_subprocess_exec(
            "git", *args,
            cwd=cwd or self.path,
            env=self._env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(timeout_seconds):
                stdout, stderr = await process.communicate()
        except TimeoutError:
            raise GitError(f"git {args[0]} did not finish within {timeout_seconds:g} s") from None
        finally:
            if process.returncode is None:  # timed out or cancelled (shutdown mid-clone)
                process.kill()
                await asyncio.shield(process.wait())
        if process.returncode != 0:
            raise GitError(mask_credentials(stderr.decode("utf-8", "replace").strip())
                           or f"git {args[0]} exited with code {process.returncode}")
        return stdout.decode("utf-8", "replace")

    async def clone(self, url: str, branch: str | None = None,
                    *, timeout_seconds: float = CLONE_TIMEOUT_SECONDS) -> str | None:
        """Clone ``url`` (``branch`` if given) into :attr:`path`; return HEAD's sha (None if empty).

        An existing clone at :attr:`path` (a restarted sandbox on the same
        workspace) is kept as it is. Raises :class:`GitError` with a clear first
        line and git's stderr (credentials masked) below it.
        """
        shown = mask_credentials(url)
        if (self.path / ".git").is_dir():
            log.info("git.clone_reused", path=str(self.path), url=shown)
            return await self.head_sha()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        args = ["clone", "--quiet"]
        if branch:
            args += ["--branch", branch]
        args += ["--", url, str(self.path)]
        log.info("git.clone_started", url=shown, branch=branch, path=str(self.path))
        try:
            await self._git(*args, cwd=self.path.parent, timeout_seconds=timeout_seconds)
        except GitError as exc:
            reason = explain_clone_failure(str(exc), shown, branch)
            log.warning("git.clone_failed", url=shown, branch=branch, reason=reason, stderr=str(exc))
            raise GitError(f"{reason}\n{exc}") from None
        clean = strip_credentials(url)
        if clean != url:
            await self._git("remote", "set-url", "origin", clean)
        sha = await self.head_sha()
        log.info("git.clone_completed", url=shown, branch=branch, head_sha=sha)
        return sha

    async def head_sha(self) -> str | None:
        """The commit HEAD points at, or None in an empty repository."""
        try:
            return (await self._git("rev-parse", "--verify", "--quiet", "HEAD^{commit}")).strip() or None
        except GitError:
            return None

    async def current_branch(self) -> str | None:
        try:
            return (await self._git("symbolic-ref", "--quiet", "--short", "HEAD")).strip() or None
        except GitError:
            return None

    async def set_attribution(self, author: protocol.Author, committer: Identity) -> None:
        """Make commits in this clone carry ``author`` as author and ``committer`` as committer.

        Git (>= 2.22) reads ``author.*``/``committer.*`` before ``user.*``; only
        the ``GIT_AUTHOR_*``/``GIT_COMMITTER_*`` variables beat them, and those
        are kept out of the environment of everything the sandbox starts.
        """
        for key, value in (
            ("author.name", author.name),
            ("author.email", author.email),
            ("committer.name", committer.name),
            ("committer.email", committer.email),
        ):
            await self._git("config", "--local", key, value)

    async def ref_tips(self) -> tuple[str, ...]:
        """The commits HEAD and every local branch point at (what "new commits" are measured from)."""
        output = await self._git("for-each-ref", "--format=%(objectname)", "refs/heads")
        tips = {line.strip() for line in output.splitlines() if line.strip()}
        head = await self.head_sha()
        if head:
            tips.add(head)
        return tuple(sorted(tips))

    async def commits_since(self, tips: Iterable[str]) -> list[CommitInfo]:
        """Commits reachable from HEAD or a local branch but not from ``tips``, oldest first."""
        starts = ["--branches"]
        if await self.head_sha():
            starts.insert(0, "HEAD")
        fmt = _FIELD_SEP.join(["%H", "%s", "%an", "%ae", "%cn", "%ce"]) + _RECORD_SEP
        output = await self._git(
            "log", "--reverse", "--topo-order", f"--format={fmt}", *starts, "--not", *tips, "--"
        )
        commits = []
        for record in output.split(_RECORD_SEP):
            record = record.strip("\n")
            if not record:
                continue
            sha, subject, author_name, author_email, committer_name, committer_email = record.split(
                _FIELD_SEP)
            commits.append(CommitInfo(sha, subject, author_name, author_email,
                                      committer_name, committer_email))
        return commits
