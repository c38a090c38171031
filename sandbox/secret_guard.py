"""Keeping secret values out of git: a pre-commit hook for the agent, a check before every push.

Commits: :class:`CommitGuard` points the clone's ``core.hooksPath`` at a directory of the
runtime's own (in the workspace, outside the clone) whose ``pre-commit`` runs
:mod:`sandbox.commit_hook`; every other hook there hands over to the repository's own
hooks directory (whatever ``core.hooksPath`` was, else ``.git/hooks``), so the
repository's hooks keep working. It is (re)installed before each turn: a ``setup.sh``
or an ``npm install`` that sets ``core.hooksPath`` itself (husky) is chained to, not lost.
The hook refuses the commit and notes the refusal; :meth:`CommitGuard.refusals` turns
the notes into timeline warnings after the turn.

Pushes: :func:`find_secret_in_history` reads every commit a push would send (messages and
added lines) for any value the runtime knows — the secrets and the runtime's own tokens;
:class:`~sandbox.pushes.BranchPusher` refuses with ``secret_in_diff`` when one is found.
This is the net under the hook, which the agent could skip (``--no-verify``).
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import openinspect_protocol as protocol
from openinspect_protocol.logs import EventLog
from openinspect_protocol.redaction import Redactor

from sandbox import commit_hook
from sandbox.git_sync import GitRepo

log = EventLog("sandbox.secret_guard")

HOOK_PATH = Path(commit_hook.__file__).resolve()
# Client-side hooks handed over to the repository's own: all but pre-commit, which is ours first.
FORWARDED_HOOKS = (
    "applypatch-msg", "pre-applypatch", "post-applypatch", "pre-merge-commit", "prepare-commit-msg",
    "commit-msg", "post-commit", "pre-rebase", "post-checkout", "post-merge", "pre-push", "post-rewrite",
    "reference-transaction", "pre-auto-gc", "post-index-change", "push-to-checkout", "sendemail-validate",
)
WARNING_CODE = "secret_in_commit"


@dataclass(frozen=True)
class Finding:
    name: str  # the secret's name (never its value)
    commit: str  # the commit's sha
    where: str  # a path, or "the commit message"


def find_secret_in_history(history: str, redactor: Redactor) -> Finding | None:
    """The first value found in ``history`` (:meth:`GitRepo.unpushed_history`): a message or an added line."""
    for record in history.split("\x00"):
        sha, _, rest = record.partition("\n")
        if not sha.strip():
            continue
        cut = rest.find("\ndiff --git ")
        message, diff = (rest, "") if cut < 0 else (rest[:cut], rest[cut:])
        name = redactor.contains_secret(message)
        if name is not None:
            return Finding(name, sha.strip(), "the commit message")
        found = commit_hook.find_secret(diff, redactor)
        if found is not None:
            return Finding(found[0], sha.strip(), found[1])
    return None


def push_refusal(branch: str, finding: Finding) -> str:
    """What the timeline says when a push is refused for ``finding``."""
    return (f"the push of {branch} was refused: commit {finding.commit[:12]} contains the value of the secret "
            f"{finding.name} (in {finding.where}). Remove it from the branch's commits (amend or rebase) and "
            "push again; secrets belong in the environment, not in the repository.")


class CommitGuard:
    """Installs the pre-commit hook for the clone and reports the commits it refused."""

    def __init__(self, repo: GitRepo, hooks_dir: Path, names: Iterable[str]) -> None:
        self._repo = repo
        self.hooks_dir = hooks_dir
        self._names = sorted(set(names))

    @property
    def refusals_file(self) -> Path:
        return self.hooks_dir / commit_hook.REFUSALS_FILE

    async def install(self) -> None:
        """Point ``core.hooksPath`` at our hooks (chaining to whatever was there); nothing without secrets."""
        if not self._names:
            return
        current = (await self._repo.hooks_path()).resolve()
        if current == self.hooks_dir.resolve():
            return
        self.hooks_dir.mkdir(parents=True, exist_ok=True)
        (self.hooks_dir / commit_hook.GUARD_FILE).write_text(
            json.dumps({"names": self._names, "chain": str(current)}), encoding="utf-8")
        command = " ".join(shlex.quote(part) for part in (sys.executable, "-I", str(HOOK_PATH), str(self.hooks_dir)))
        _write_hook(self.hooks_dir / "pre-commit", f'exec {command} "$@"\n')
        for hook in FORWARDED_HOOKS:
            chained = shlex.quote(str(current / hook))
            _write_hook(self.hooks_dir / hook, f'if [ -x {chained} ]; then exec {chained} "$@"; fi\n')
        await self._repo.set_config("core.hooksPath", str(self.hooks_dir))
        log.info("secret_guard.installed", hooks_dir=str(self.hooks_dir), chained=str(current),
                 secrets=len(self._names))

    def refusals(self, message_id: str | None) -> list[protocol.WarningEvent]:
        """One warning per commit the hook refused since the last call."""
        taken = self.refusals_file.with_suffix(".taken")
        try:
            self.refusals_file.rename(taken)
        except FileNotFoundError:
            return []
        warnings = []
        for line in taken.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                note = json.loads(line)
                name, path = str(note["name"]), str(note["path"])
            except (ValueError, KeyError, TypeError):
                continue
            log.warning("secret_guard.commit_refused", secret=name, path=path, message_id=message_id)
            warnings.append(protocol.WarningEvent(
                code=WARNING_CODE, message_id=message_id,
                message=f"A commit was refused: the changes to {path} contain the value of the secret {name}. "
                        "Secrets are never committed; the agent was told to read it from the environment."))
        taken.unlink(missing_ok=True)
        return warnings


def _write_hook(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(0o755)
