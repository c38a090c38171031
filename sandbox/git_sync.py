"""The sandbox's clone of the repository: getting it, attributing commits, finding new ones.

:class:`GitRepo` owns one working copy at a fixed path and runs git there with
the environment it was given (the sandbox's child environment, without
``GIT_AUTHOR_*``/``GIT_COMMITTER_*``, so the clone's own config decides who
commits). It knows nothing of events or the bridge: the supervisor turns its
results into ``git_sync`` and ``artifact`` events.

Credentials: a repository URL may carry a token (``https://x:TOKEN@host/...``).
It is used for the clone only; the remote left in ``.git/config`` has no
credentials, and every message or error shows the URL with them masked. With
:class:`~sandbox.git_credentials.GitCredentials` (GitHub repositories) the URL has
none: the commands that reach the remote (clone, fetch, push) get them from the
control plane's broker through a credential helper given on their command line
only (see :mod:`sandbox.git_credentials`); every other git command, and the agent's
own git, gets none.

The session's branch: after the clone, :meth:`GitRepo.checkout_work_branch` checks
it out (tracking the remote's copy when there is one: a restarted sandbox), and
:meth:`GitRepo.push` pushes it (never forced). Deciding what a failed push means is
:mod:`sandbox.pushes`'s job.
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
from sandbox.git_credentials import GitCredentials

log = EventLog("sandbox.git")

# Why: a large repository over a slow link can take minutes; half an hour means
# the remote hangs, and a sandbox stuck in "syncing" helps nobody.
CLONE_TIMEOUT_SECONDS = 1800.0
# Why: local git commands (config, rev-parse, log) finish in milliseconds.
LOCAL_COMMAND_TIMEOUT_SECONDS = 60.0
# Why: a session's branch adds a few commits to what the remote has; five minutes
# means the remote or the link hangs (the agent's pull-request tool waits on a push too).
PUSH_TIMEOUT_SECONDS = 300.0

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_FIELD_SEP = "\x1f"
_RECORD_SEP = "\x1e"


class GitError(RuntimeError):
    """A git command failed; the message carries git's own words (credentials masked).

    ``credential_problem`` says why no credentials were given, when that happened.
    """

    def __init__(self, message: str, credential_problem: str | None = None) -> None:
        super().__init__(message)
        self.credential_problem = credential_problem


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

    def __init__(self, path: Path, *, env: Mapping[str, str], credentials: GitCredentials | None = None) -> None:
        self.path = path
        # Never ask a terminal for credentials: there is nobody to answer.
        self._env = {**env, "GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
        self._credentials = credentials

    async def _git(
        self, *args: str, cwd: Path | None = None, timeout_seconds: float = LOCAL_COMMAND_TIMEOUT_SECONDS,
        remote: bool = False,
    ) -> str:
        """Run git; ``remote`` commands (clone, fetch, push) get the broker's credentials, if any."""
        if not remote or self._credentials is None:
            return await self._run(args, cwd, timeout_seconds, (), {}, ())
        async with self._credentials.channel() as invocation:
            try:
                return await self._run(args, cwd, timeout_seconds, invocation.config_args, invocation.env,
                                       invocation.pass_fds)
            except GitError as exc:
                raise GitError(str(exc), invocation.state.problem) from None

    async def _run(self, args: tuple[str, ...], cwd: Path | None, timeout_seconds: float,
                   config_args: tuple[str, ...], extra_env: Mapping[str, str], pass_fds: tuple[int, ...]) -> str:
        process = await asyncio.create_subprocess_exec(
            "git", *config_args, *args,
            cwd=cwd or self.path,
            env={**self._env, **extra_env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=pass_fds,
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
            await self._git(*args, cwd=self.path.parent, timeout_seconds=timeout_seconds, remote=True)
        except GitError as exc:
            reason = explain_clone_failure(str(exc), shown, branch)
            if exc.credential_problem:
                reason += f" ({exc.credential_problem})"
            log.warning("git.clone_failed", url=shown, branch=branch, reason=reason, stderr=str(exc))
            raise GitError(f"{reason}\n{exc}", exc.credential_problem) from None
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

    async def remote_default_branch(self) -> str | None:
        """The remote's default branch as the clone saw it (``origin/HEAD``), or None."""
        try:
            ref = (await self._git("symbolic-ref", "--quiet", "refs/remotes/origin/HEAD")).strip()
        except GitError:
            return None
        return ref.removeprefix("refs/remotes/origin/") or None

    async def _ref_sha(self, ref: str) -> str | None:
        try:
            return (await self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")).strip() or None
        except GitError:
            return None

    async def _check_branch_name(self, branch: str) -> None:
        # Also refuses names git would read as options ("-x") before they reach another command.
        try:
            await self._git("check-ref-format", "--branch", branch)
        except GitError:
            raise GitError(f"{branch!r} is not a valid branch name") from None

    async def checkout_work_branch(self, branch: str) -> str:
        """Check out the session's ``branch``: the local one, else tracking ``origin/<branch>`` (a
        restarted sandbox finds its pushed work), else a new one from HEAD. Returns how it was found
        (``"current"``, ``"local"``, ``"remote"``, ``"new"``)."""
        await self._check_branch_name(branch)
        if await self.current_branch() == branch:
            return "current"
        if await self._ref_sha(f"refs/heads/{branch}"):
            await self._git("checkout", "--quiet", branch, "--")
            how = "local"
        elif await self._ref_sha(f"refs/remotes/origin/{branch}"):
            await self._git("checkout", "--quiet", "-b", branch, "--track", f"origin/{branch}", "--")
            how = "remote"
        else:
            await self._git("checkout", "--quiet", "-b", branch)
            how = "new"
        log.info("git.work_branch", branch=branch, found=how)
        return how

    async def push(self, branch: str, *, timeout_seconds: float = PUSH_TIMEOUT_SECONDS) -> str:
        """Push ``branch`` to ``origin`` under the same name, never forced; return the pushed sha.

        A branch that does not exist yet is made from HEAD first. Raises :class:`GitError` with
        git's stderr (and :attr:`GitError.credential_problem`) when the push fails.
        """
        await self._check_branch_name(branch)
        sha = await self._ref_sha(f"refs/heads/{branch}")
        if sha is None:
            head = await self.head_sha()
            if head is None:
                raise GitError(f"nothing to push: the repository has no commits for {branch!r}")
            await self._git("branch", "--quiet", branch, head)
            sha = head
        refspec = f"refs/heads/{branch}:refs/heads/{branch}"
        await self._git("push", "--quiet", "origin", refspec, timeout_seconds=timeout_seconds, remote=True)
        log.info("git.pushed", branch=branch, head_sha=sha)
        return sha

    async def unpushed_history(self, branch: str) -> str:
        """``git log -p`` of the commits a push of ``branch`` (HEAD if it does not exist yet) would
        send: those no remote-tracking branch has. Each commit starts with a NUL, its sha and message."""
        await self._check_branch_name(branch)
        if await self._ref_sha(f"refs/heads/{branch}"):
            ref = f"refs/heads/{branch}"
        elif await self.head_sha():
            ref = "HEAD"
        else:
            return ""  # no commits: nothing to send (push says so)
        return await self._git("log", "-p", "-U0", "--no-color", "--no-ext-diff", "--no-textconv",
                               "--format=%x00%H%n%B", ref, "--not", "--remotes", "--")

    async def hooks_path(self) -> Path:
        """Where git looks for this clone's hooks now (``core.hooksPath`` or ``.git/hooks``)."""
        return self.path / (await self._git("rev-parse", "--git-path", "hooks")).strip()

    async def set_config(self, key: str, value: str) -> None:
        await self._git("config", "--local", key, value)

    async def commits_ahead(self, branch: str, base: str | None) -> int:
        """Commits on ``branch`` that the remote's ``base`` does not have (all of them without one)."""
        base_ref = f"refs/remotes/origin/{base}" if base else None
        exclude = [f"^{base_ref}"] if base_ref and await self._ref_sha(base_ref) else []
        output = await self._git("rev-list", "--count", f"refs/heads/{branch}", *exclude, "--")
        return int(output.strip() or 0)

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
