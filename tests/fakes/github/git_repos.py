"""The bare git repositories behind the fake's repositories, read and written with real git.

Owns every git command the fake runs except the smart-HTTP transport
(:mod:`.git_http`): creating a bare repository with an initial commit, committing
files onto a branch without a work tree (a temporary index, ``commit-tree``,
``update-ref``), and reading branches, commits, logs, ahead counts, diff stats and
mergeability. git runs with no system or global configuration, so the host's
settings never leak in.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

INITIAL_AUTHOR = ("Octo Cat", "octocat@example.com")
FIELD_SEP = "\x1f"
RECORD_SEP = "\x1e"


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }
    env.update(extra or {})
    return env


def git(repo: Path, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
        check: bool = True) -> str:
    result = subprocess.run(["git", "--git-dir", str(repo), *args], input=input, env=git_env(env),
                            capture_output=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode()


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_date: str  # ISO 8601, UTC, "Z"
    committer_name: str
    committer_email: str
    committer_date: str
    message: str

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]


_FORMAT = FIELD_SEP.join(["%H", "%T", "%P", "%an", "%ae", "%ad", "%cn", "%ce", "%cd", "%B"]) + RECORD_SEP


def _parse(output: str) -> list[CommitInfo]:
    commits = []
    for record in output.split(RECORD_SEP):
        record = record.lstrip("\n")
        if not record:
            continue
        sha, tree, parents, an, ae, ad, cn, ce, cd, message = record.split(FIELD_SEP)
        commits.append(CommitInfo(sha, tree, tuple(parents.split()), an, ae, ad, cn, ce, cd,
                                  message.rstrip("\n")))
    return commits


def log(repo: Path, rev: str, *, exclude: str | None = None, limit: int | None = None) -> list[CommitInfo]:
    """Commits reachable from ``rev`` (not from ``exclude``), newest first."""
    args = ["log", f"--format={_FORMAT}", "--date=format-local:%Y-%m-%dT%H:%M:%SZ"]
    if limit is not None:
        args.append(f"-n{limit}")
    args.append(rev)
    if exclude:
        args.append(f"^{exclude}")
    return _parse(git(repo, *args, env={"TZ": "UTC"}))


def commit_info(repo: Path, rev: str) -> CommitInfo:
    return log(repo, rev, limit=1)[0]


def branches(repo: Path) -> list[tuple[str, str]]:
    """(name, sha) of every branch, by name."""
    out = git(repo, "for-each-ref", "--format=%(refname:short) %(objectname)", "--sort=refname", "refs/heads/")
    return [tuple(line.split(" ", 1)) for line in out.splitlines() if line]  # type: ignore[misc]


def branch_sha(repo: Path, branch: str) -> str | None:
    out = git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False).strip()
    return out or None


def ahead_count(repo: Path, base: str, head: str) -> int:
    """Commits on ``head`` that are not on ``base``."""
    return int(git(repo, "rev-list", "--count", f"{base}..{head}").strip() or 0)


def diff_stats(repo: Path, base: str, head: str) -> tuple[int, int, int]:
    """(additions, deletions, changed files) of head against the merge base, as a pull request shows."""
    out = git(repo, "diff", "--numstat", f"{base}...{head}")
    additions = deletions = files = 0
    for line in out.splitlines():
        added, deleted, _ = line.split("\t", 2)
        files += 1
        additions += int(added) if added.isdigit() else 0
        deletions += int(deleted) if deleted.isdigit() else 0
    return additions, deletions, files


def mergeable(repo: Path, base: str, head: str) -> bool:
    """Whether head merges into base without conflicts (``git merge-tree --write-tree``)."""
    result = subprocess.run(["git", "--git-dir", str(repo), "merge-tree", "--write-tree", base, head],
                            env=git_env(), capture_output=True, timeout=60, check=False)
    return result.returncode == 0


def commit_files(repo: Path, branch: str, files: dict[str, str | bytes | None], message: str, *,
                 author: tuple[str, str] = INITIAL_AUTHOR, committer: tuple[str, str] | None = None,
                 start: str | None = None, date: str | None = None) -> str:
    """Commit ``files`` (path -> content; None deletes) on ``branch``; returns the new commit's sha.

    The parent is the branch's tip, or ``start`` (a branch or sha) when the branch is new, or none.
    """
    old = branch_sha(repo, branch)
    parent = old or (git(repo, "rev-parse", "--verify", f"{start}^{{commit}}").strip() if start else None)
    committer = committer or author
    with tempfile.TemporaryDirectory() as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if parent:
            git(repo, "read-tree", parent, env=index)
        entries = []
        for path, content in files.items():
            if content is None:
                entries.append(f"0 {'0' * 40}\t{path}\n")  # mode 0 removes the path from the index
                continue
            data = content.encode() if isinstance(content, str) else content
            blob = git(repo, "hash-object", "-w", "--stdin", input=data).strip()
            entries.append(f"100644 {blob}\t{path}\n")
        git(repo, "update-index", "--index-info", input="".join(entries).encode(), env=index)
        tree = git(repo, "write-tree", env=index).strip()
    identity = {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1],
                "GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1]}
    if date:
        identity.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
    sha = git(repo, *args, env=identity).strip()
    git(repo, "update-ref", f"refs/heads/{branch}", sha, old or "0" * 40)  # fails if the branch moved meanwhile
    return sha


def create_bare(path: Path, default_branch: str, files: dict[str, str | bytes | None], branches: list[str], *,
                author: tuple[str, str] = INITIAL_AUTHOR, message: str = "Initial commit") -> str:
    """A new bare repository whose branches all point at one initial commit of ``files``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(path)],
                   env=git_env(), capture_output=True, timeout=60, check=True)
    sha = commit_files(path, default_branch, files or {"README.md": f"# {path.stem}\n"}, message, author=author)
    for branch in branches:
        if branch != default_branch:
            git(path, "update-ref", f"refs/heads/{branch}", sha)
    return sha
