"""The session's changes against its base branch, read from the clone at the end of each turn.

:class:`ChangeReader` owns the git commands; what their output means is
:mod:`sandbox.diff_parsing`'s. "The changes" are what a reviewer would see: the
commits of the session and the work tree's uncommitted edits, new files included,
against the point where the session left its base branch (the merge base of HEAD
and ``origin/<base>``, the remote's branch as the clone found it).

New files are seen without touching the agent's index: git runs on a copy of it
(``GIT_INDEX_FILE``) in which untracked files are marked "intent to add", and the
work tree is compared with the base. Files ``.gitignore`` hides stay out.

The repository is the agent's, so its settings are not trusted to shape the output:
no external diff drivers or text conversions, no colour, no fsmonitor hook, the
standard ``a/``/``b/`` prefixes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import openinspect_protocol as protocol
from openinspect_protocol.logs import EventLog

from sandbox import diff_parsing

log = EventLog("sandbox.changes")

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree
# Why: a diff of a large repository takes seconds; a minute means something is wrong, and the
# turn's end (its completion) must not wait longer for it.
DIFF_TIMEOUT_SECONDS = 60.0
READ_BYTES = 65536
_SAFE_CONFIG = ("-c", "core.fsmonitor=false", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false",
                "-c", "color.ui=never", "-c", "core.quotePath=false")
# The same for the three runs (they must list the same files in the same order); not --unified=N, which
# would add a patch to the --numstat and --name-status output.
_DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--no-textconv", "-M")


class ChangesUnavailable(RuntimeError):
    """Git could not say what changed (the message says why)."""


class ChangeReader:
    """Reads the changes of the clone at ``repo_dir`` against ``origin/<base_branch>``."""

    def __init__(self, repo_dir: Path, *, env: Mapping[str, str], max_file_bytes: int, max_total_bytes: int,
                 timeout_seconds: float = DIFF_TIMEOUT_SECONDS) -> None:
        self._repo_dir = repo_dir
        self._env = {**env, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
        self._max_file = max_file_bytes
        self._max_total = max_total_bytes
        self._timeout = timeout_seconds
        self.base_branch: str | None = None  # set once the clone says which branch the session started from
        self.start_sha: str | None = None  # HEAD after the clone: the base when the remote branch is unknown

    async def read(self) -> protocol.ChangesSnapshot:
        """The ``changes`` event for the clone as it is now; raises :class:`ChangesUnavailable`."""
        async with asyncio.timeout(self._timeout):
            base_ref, base = await self._base()
            head = await self._sha("HEAD")
            with self._scratch_index() as index:
                env = {**self._env, "GIT_INDEX_FILE": str(index)}
                await self._git(env, "add", "--intent-to-add", "--all", "--", ".")
                counts = diff_parsing.parse_numstat(await self._git(env, "diff", *_DIFF_OPTIONS, "--numstat", "-z",
                                                                    base, "--"))
                statuses = diff_parsing.parse_name_status(await self._git(env, "diff", *_DIFF_OPTIONS,
                                                                          "--name-status", "-z", base, "--"))
                collector = diff_parsing.PatchCollector(self._max_file, self._max_total)
                await self._stream(env, collector, "diff", *_DIFF_OPTIONS, "--patch", "--unified=3", base, "--")
                uncommitted = bool(await self._git(env, "diff", "--name-only", "-z", "HEAD" if head else EMPTY_TREE,
                                                   "--"))
        if len(collector.chunks) != len(counts):  # never seen; the counts are still right, the diffs may not be
            log.warning("changes.unpaired", files=len(counts), diffs=len(collector.chunks))
        files = diff_parsing.build_files(counts, statuses, collector.chunks)
        event = diff_parsing.snapshot(files, base_ref=base_ref, base_sha=None if base == EMPTY_TREE else base,
                                      head_sha=head, uncommitted=uncommitted, max_file_bytes=self._max_file,
                                      max_total_bytes=self._max_total)
        return diff_parsing.fit_in_frame(event)

    async def _base(self) -> tuple[str, str]:
        """``(what it is called, the commit)`` the changes are measured from."""
        head = await self._sha("HEAD")
        candidates = []
        if self.base_branch:
            candidates.append(f"origin/{self.base_branch}")
        if self.start_sha:
            candidates.append(self.start_sha)
        for name in candidates:
            sha = await self._sha(name)
            if sha is None:
                continue
            if head is None:
                return name, sha
            try:
                return name, (await self._git(self._env, "merge-base", "HEAD", sha)).strip() or sha
            except ChangesUnavailable:
                return name, sha  # unrelated histories: measured from the base itself
        return "(empty tree)", EMPTY_TREE

    async def _sha(self, ref: str) -> str | None:
        try:
            return (await self._git(self._env, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")).strip() or None
        except ChangesUnavailable:
            return None

    @contextlib.contextmanager
    def _scratch_index(self) -> Iterator[Path]:
        git_dir = self._repo_dir / ".git"
        handle, name = tempfile.mkstemp(prefix="openinspect-changes-", suffix=".index",
                                        dir=git_dir if git_dir.is_dir() else None)
        os.close(handle)
        scratch = Path(name)
        try:
            real = git_dir / "index"
            if real.is_file():
                shutil.copyfile(real, scratch)  # keeps git's stat cache: no file is read twice
            else:
                scratch.unlink()  # git makes a fresh one
            yield scratch
        finally:
            scratch.unlink(missing_ok=True)

    async def _git(self, env: Mapping[str, str], *args: str) -> str:
        process = await self._start(env, args)
        try:
            stdout, stderr = await process.communicate()
        finally:
            if process.returncode is None:  # timed out or cancelled
                process.kill()
                await process.wait()
        if process.returncode != 0:
            raise ChangesUnavailable(stderr.decode("utf-8", "replace").strip()[:500]
                                     or f"git {args[0]} exited with code {process.returncode}")
        return stdout.decode("utf-8", "surrogateescape")

    async def _stream(self, env: Mapping[str, str], collector: diff_parsing.PatchCollector, *args: str) -> None:
        """Run git and feed its stdout to ``collector`` as it comes: a huge diff is never held whole."""
        process = await self._start(env, args)
        assert process.stdout is not None and process.stderr is not None
        try:
            while data := await process.stdout.read(READ_BYTES):
                collector.feed(data)
            collector.close()
            stderr = await process.stderr.read()
            await process.wait()
        finally:
            if process.returncode is None:  # timed out or cancelled: git must not outlive the read
                process.kill()
                await process.wait()
        if process.returncode != 0:
            raise ChangesUnavailable(stderr.decode("utf-8", "replace").strip()[:500] or "git diff failed")

    async def _start(self, env: Mapping[str, str], args: tuple[str, ...]) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            "git", *_SAFE_CONFIG, *args, cwd=self._repo_dir, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
