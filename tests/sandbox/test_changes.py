"""ChangeReader against real git clones: commits and uncommitted work against the base, the agent's index
untouched, caps, and a repository whose settings try to shape the output."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.changes import ChangeReader
from tests.sandbox.gitrepos import git, make_repo


def clone(tmp_path: Path, env: dict[str, str], files: dict[str, str] | None = None) -> Path:
    origin = make_repo(tmp_path / "origin", env, files or {"app.py": "def f():\n    return 1\n", "keep.txt": "k\n",
                                                          "logo.png": "not yet"})
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", str(origin), str(work), env=env)
    return work


def reader(work: Path, env: dict[str, str], **caps: int) -> ChangeReader:
    changes = ChangeReader(work, env=env, max_file_bytes=caps.get("max_file_bytes", 65536),
                           max_total_bytes=caps.get("max_total_bytes", 196608))
    changes.base_branch = "main"
    return changes


async def test_commits_and_uncommitted_work_new_files_included(tmp_path: Path, sandbox_git_env: dict[str, str]):
    env = sandbox_git_env
    work = clone(tmp_path, env)
    (work / "app.py").write_text("def f():\n    return 2\n")
    git(work, "commit", "--quiet", "-am", "two", env=env)
    (work / "app.py").write_text("def f():\n    return 3\n")  # uncommitted, on top
    (work / "new file.md").write_text("# hello\n")  # untracked
    (work / "keep.txt").unlink()
    (work / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (work / ".gitignore").write_text("build/\n")
    (work / "build").mkdir()
    (work / "build" / "out.js").write_text("ignored\n")
    status_before = git(work, "status", "--porcelain", env=env)

    event = await reader(work, env).read()

    by_path = {f.path: f for f in event.files}
    assert set(by_path) == {"app.py", "new file.md", "keep.txt", "logo.png", ".gitignore"}
    app = by_path["app.py"]
    assert app.status == "modified" and (app.additions, app.deletions) == (1, 1)
    assert "-    return 1\n+    return 3\n" in by_path["app.py"].patch  # against the base, not the last commit
    assert by_path["new file.md"].status == "added" and by_path["new file.md"].patch == "@@ -0,0 +1 @@\n+# hello\n"
    assert by_path["keep.txt"].status == "deleted" and by_path["keep.txt"].deletions == 1
    assert by_path["logo.png"].binary and by_path["logo.png"].omitted == "binary" and by_path["logo.png"].patch == ""
    assert event.uncommitted and event.base_ref == "origin/main"
    assert event.base_sha == git(work, "rev-parse", "origin/main", env=env)
    assert event.head_sha == git(work, "rev-parse", "HEAD", env=env)
    assert (event.additions, event.deletions) == (3, 2)
    # The agent's own index and work tree are as they were: nothing staged, nothing left behind.
    assert git(work, "status", "--porcelain", env=env) == status_before
    assert not list((work / ".git").glob("openinspect-changes-*"))


async def test_a_clean_session_has_no_changes(tmp_path: Path, sandbox_git_env: dict[str, str]):
    event = await reader(clone(tmp_path, sandbox_git_env), sandbox_git_env).read()
    assert event.files == [] and not event.uncommitted and (event.additions, event.deletions) == (0, 0)


async def test_committed_work_alone_is_not_uncommitted(tmp_path: Path, sandbox_git_env: dict[str, str]):
    env = sandbox_git_env
    work = clone(tmp_path, env)
    (work / "keep.txt").write_text("k\nmore\n")
    git(work, "commit", "--quiet", "-am", "more", env=env)
    event = await reader(work, env).read()
    assert [f.path for f in event.files] == ["keep.txt"] and not event.uncommitted


async def test_caps_fold_large_diffs_and_say_so(tmp_path: Path, sandbox_git_env: dict[str, str]):
    env = sandbox_git_env
    work = clone(tmp_path, env)
    (work / "huge.txt").write_text("".join(f"line {i}\n" for i in range(5000)))  # ~50 KB of diff
    (work / "app.py").write_text("def f():\n    return 2\n")
    event = await reader(work, env, max_file_bytes=4096).read()
    by_path = {f.path: f for f in event.files}
    assert by_path["huge.txt"].omitted == "file_cap" and by_path["huge.txt"].additions == 5000
    assert by_path["huge.txt"].patch_bytes > 4096 and by_path["huge.txt"].patch == ""
    assert by_path["app.py"].omitted == "" and by_path["app.py"].patch
    assert event.max_file_bytes == 4096


async def test_the_repository_cannot_reshape_the_diff(tmp_path: Path, sandbox_git_env: dict[str, str]):
    env = sandbox_git_env
    work = clone(tmp_path, env)
    marker = tmp_path / "driver-ran"
    # An agent (or a hostile repository's setup) may set any of these; none may change what is reported
    # or run a program of theirs.
    (work / ".gitattributes").write_text("*.py diff=evil\n")
    for key, value in (("diff.evil.command", f"touch {marker}"), ("diff.external", f"touch {marker}"),
                       ("diff.noprefix", "true"), ("color.ui", "always"), ("diff.evil.textconv", f"touch {marker}")):
        git(work, "config", key, value, env=env)
    (work / "app.py").write_text("def f():\n    return 2\n")
    event = await reader(work, env).read()
    app = next(f for f in event.files if f.path == "app.py")
    assert app.patch == "@@ -1,2 +1,2 @@\n def f():\n-    return 1\n+    return 2\n"
    assert not marker.exists()


@pytest.mark.parametrize("base_branch", ["main", "no-such-branch"])
async def test_without_the_remote_branch_the_clone_start_is_the_base(tmp_path: Path, sandbox_git_env: dict[str, str],
                                                                    base_branch: str):
    env = sandbox_git_env
    work = clone(tmp_path, env)
    start = git(work, "rev-parse", "HEAD", env=env)
    git(work, "update-ref", "-d", "refs/remotes/origin/main", env=env)
    (work / "keep.txt").write_text("changed\n")
    changes = reader(work, env)
    changes.base_branch, changes.start_sha = base_branch, start
    event = await changes.read()
    assert event.base_ref == start and event.base_sha == start
    assert [f.path for f in event.files] == ["keep.txt"]
