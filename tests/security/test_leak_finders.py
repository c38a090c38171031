"""The leak test's finders find what is there (so an empty answer means something)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil

from tests.support import leaks

SECRET = "ghs_plantedPlantedPlanted0123456789"


def test_files_processes_and_texts_are_searched(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / ".git" / "config").write_text(f"[remote]\n\turl = https://x:{SECRET}@h/r\n")
    (tmp_path / "clean.txt").write_text("nothing here\n")
    assert leaks.in_files(tmp_path, [SECRET]) == [f"file {tmp_path / 'repo' / '.git' / 'config'}"]
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", SECRET],
                             env={"TOKEN": SECRET, "PATH": "/usr/bin:/bin"})
    try:
        found = leaks.in_processes(leaks.process_tree(psutil.Process().pid), [SECRET])
        assert any("environment" in f and str(child.pid) in f for f in found), found
        assert any("command line" in f and str(child.pid) in f for f in found), found
    finally:
        child.kill()
        child.wait()
    assert leaks.in_texts([("log", f"x {SECRET} y"), ("page", "clean")], [SECRET]) == ["log"]
    assert leaks.in_texts([("log", "clean")], [SECRET, ""]) == []


def test_git_objects_are_searched_packed_or_loose_and_skipped_paths_are_not(tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    work = tmp_path / "work"
    env = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@e", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "a.txt").write_text(f"value {SECRET}\n")
    subprocess.run(["git", "-C", str(work), "add", "a.txt"], check=True)
    subprocess.run(["git", "-C", str(work), "commit", "-qm", "a"], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "push", "-q", str(origin), "HEAD:refs/heads/main"], check=True, env=env)
    subprocess.run(["git", "--git-dir", str(origin), "gc", "-q"], check=True, env=env)  # packed: compressed
    assert not list((origin / "objects").glob("??/*"))  # nothing loose is left to find in the files
    assert leaks.in_files(origin, [SECRET]) == []
    repos = leaks.git_repositories(tmp_path)
    assert repos == [origin, work / ".git"]
    found = leaks.in_blobs([o for repo in repos for o in leaks.git_objects(repo)], [SECRET])
    assert len(found) == 2 and all(f.startswith("blob ") for f in found), found
    assert leaks.git_repositories(tmp_path, skip=[work]) == [origin]
    assert leaks.in_files(tmp_path, [SECRET], skip=[work]) == []
