"""The workspace clone's pre-commit hook: refuse a commit whose staged changes add a secret value.

Git runs it (``python -I commit_hook.py <hooks dir> [args]``, from the
wrapper :mod:`sandbox.secret_guard` writes) in the agent's ``git commit``. The agent's
environment holds the session's secrets under their names; ``guard.json`` in the hooks
directory says which names those are (names only: no value is ever written to disk). A
refusal prints which secret and which file, never the value, and appends a line to
``refused.jsonl`` from which the runtime tells the timeline. When the staged changes are
clean it runs the repository's own hook of the same name, if there is one.

``-I`` keeps PYTHONPATH and the working directory out of ``sys.path``: this file imports
nothing of the sandbox package, only the installed protocol package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from openinspect_protocol.redaction import Redactor

GUARD_FILE = "guard.json"  # {"names": [...], "chain": "<the repository's own hooks dir>"}
REFUSALS_FILE = "refused.jsonl"  # {"name": ..., "path": ...} per refused commit, read by the runtime
STAGED_DIFF = ("diff", "--cached", "--no-color", "--no-ext-diff", "--no-textconv", "-U0")


def added_lines(diff: str) -> Iterator[tuple[str, str]]:
    """``(path, text)`` of every line a unified diff adds (headers and removed lines are skipped)."""
    path = ""
    for line in diff.splitlines():
        if line.startswith("+++ "):
            path = line[4:].removeprefix("b/")
        elif line.startswith("diff --git "):
            path = ""
        elif line.startswith("+") and path:
            yield path, line[1:]


def find_secret(diff: str, redactor: Redactor) -> tuple[str, str] | None:
    """``(secret name, path)`` of the first added line holding a value, or None."""
    for path, text in added_lines(diff):
        name = redactor.contains_secret(text)
        if name is not None:
            return name, path
    return None


def _chain(hooks_dir: Path, hook: str, args: list[str]) -> int:
    guard = json.loads((hooks_dir / GUARD_FILE).read_text(encoding="utf-8"))
    chained = Path(guard.get("chain") or "") / hook
    if guard.get("chain") and os.access(chained, os.X_OK) and chained.is_file():
        os.execv(chained, [str(chained), *args])  # the repository's own hook decides from here
    return 0


def pre_commit(hooks_dir: Path, args: list[str]) -> int:
    guard = json.loads((hooks_dir / GUARD_FILE).read_text(encoding="utf-8"))
    redactor = Redactor({name: os.environ[name] for name in guard.get("names", []) if os.environ.get(name)})
    if redactor:
        diff = subprocess.run(["git", *STAGED_DIFF], capture_output=True, text=True, errors="replace",
                              check=False).stdout
        found = find_secret(diff, redactor)
        if found is not None:
            name, path = found
            print(f"open-inspect: commit refused: the staged changes to {path} contain the value of the "
                  f"secret {name}.\nSecrets must never be committed: read it from the environment "
                  f"(${name}) instead, unstage the change (git restore --staged {path}) and commit again.",
                  file=sys.stderr)
            with open(hooks_dir / REFUSALS_FILE, "a", encoding="utf-8") as refusals:
                refusals.write(json.dumps({"name": name, "path": path}) + "\n")
            return 1
    return _chain(hooks_dir, "pre-commit", args)


def main(argv: list[str]) -> int:
    hooks_dir, *args = argv
    return pre_commit(Path(hooks_dir), args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
