"""Looking for secrets where they must never be: files, process environments and command lines, text.

Each finder returns the places a secret was found (empty: nowhere), as readable strings for an
assertion message; it never prints the secret itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import psutil

# Why: a workspace holds OpenCode's binaries and caches; files above this are not text a token ends up in.
MAX_FILE_BYTES = 64 * 1024 * 1024


def in_files(root: Path, secrets: Iterable[str]) -> list[str]:
    """Files under ``root`` (hidden ones and ``.git`` included; symlinks not followed) holding a secret."""
    wanted = [s.encode() for s in secrets if s]
    found: list[str] = []
    for path in sorted(root.rglob("*")):
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue  # a socket, or a file that went away while we looked
        found.extend(f"file {path}" for secret in wanted if secret in data)
    return found


def in_processes(processes: Iterable[psutil.Process], secrets: Iterable[str]) -> list[str]:
    """Processes whose environment or command line holds a secret."""
    wanted = [s for s in secrets if s]
    found: list[str] = []
    for process in processes:
        try:
            environ = "\n".join(f"{k}={v}" for k, v in process.environ().items())
            cmdline = " ".join(process.cmdline())
            name = f"pid {process.pid} ({process.name()})"
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        for secret in wanted:
            if secret in environ:
                found.append(f"environment of {name}")
            if secret in cmdline:
                found.append(f"command line of {name}")
    return found


def process_tree(root_pid: int) -> list[psutil.Process]:
    """``root_pid`` and every process below it (sandboxes, git, the agent)."""
    try:
        root = psutil.Process(root_pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def in_texts(texts: Iterable[tuple[str, str]], secrets: Iterable[str]) -> list[str]:
    """Named texts (a log, a page's HTML, a WebSocket frame) holding a secret."""
    wanted = [s for s in secrets if s]
    return [name for name, text in texts for secret in wanted if secret in text]
