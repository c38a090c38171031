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
