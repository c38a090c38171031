"""Looking for a secret where it must never be: process environments, command lines, files.

:class:`ProcScanner` polls every readable ``/proc/<pid>/environ`` and ``cmdline`` in a
background thread while a test runs git (so short-lived git and helper processes are
seen too) and records any process whose environment or command line holds the secret,
plus the command names it saw (so a test can show it did watch git run).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


class ProcScanner:
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proc-scanner", daemon=True)
        self.hits: list[str] = []  # "pid comm where"
        self.seen: set[str] = set()  # command lines' first words seen
        self.scans = 0

    def __enter__(self) -> ProcScanner:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.scan()

    def scan(self) -> None:
        self.scans += 1
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            for where in ("environ", "cmdline"):
                try:
                    data = Path("/proc", entry, where).read_bytes()
                except OSError:
                    continue
                if where == "cmdline" and data:
                    words = data.split(b"\0")
                    self.seen.add(" ".join(w.decode(errors="replace") for w in words[:4]))
                if self._secret in data:
                    self.hits.append(f"{entry} {data[:200]!r} {where}")

    def saw(self, fragment: str) -> bool:
        return any(fragment in line for line in self.seen)


def files_containing(root: Path, secret: str) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``secret``."""
    needle = secret.encode()
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found
