"""Key files in the data directory: random bytes made once, kept with mode 0600.

The session secret (which signs sign-in cookies) lives here by default; the
GitHub integration keeps its encryption key the same way. A key is created the
first time it is asked for and read back ever after, so a restart keeps every
sign-in valid. A file that other users may read is refused rather than used: a
key that was readable is no longer secret.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

KEY_BYTES = 32


class KeyFileError(RuntimeError):
    """A key file cannot be used; the message names it and says why."""


def load_or_create(path: Path, nbytes: int = KEY_BYTES) -> bytes:
    """The key kept in ``path``; a new random one (written 0600, atomically) when there is none."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written to a private temporary file, then linked into place: a concurrent reader never sees a
    # half-written key, and of two processes creating it at once one wins and both use its key.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode() + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)


def read_all(path: Path) -> list[bytes]:
    """Every key in ``path``, one per line (blank lines and ``#`` comments skipped); none if there is no file.

    For keys kept only to read old values (the encryption keys a rotation left behind)."""
    try:
        text = _private_text(path)
    except FileNotFoundError:
        return []
    lines = [line.strip() for line in text.splitlines()]
    return [_decode(path, line, number) for number, line in enumerate(lines, 1) if line and not line.startswith("#")]


def replace(path: Path, nbytes: int = KEY_BYTES) -> bytes:
    """Write a new random key into ``path`` (0600, atomically: a reader sees the old key or the new one)."""
    key = secrets.token_bytes(nbytes)
    _write_private(path, base64.urlsafe_b64encode(key).decode() + "\n")
    return key


def append(path: Path, key: bytes) -> None:
    """Add ``key`` as a line of ``path`` (made 0600 when missing), unless it is there already."""
    existing = read_all(path)
    if key in existing:
        return
    lines = [base64.urlsafe_b64encode(k).decode() for k in [*existing, key]]
    _write_private(path, "\n".join(lines) + "\n")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _private_text(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path} is readable by other users (mode {stat.filemode(mode)}); "
                           f"make it private (chmod 600) or remove it to have a new key made")
    return path.read_text()


def _read(path: Path) -> bytes:
    return _decode(path, _private_text(path).strip())


def _decode(path: Path, text: str, line: int | None = None) -> bytes:
    where = f"{path}" if line is None else f"{path} line {line}"
    try:
        key = base64.urlsafe_b64decode(text.encode())
    except ValueError:
        raise KeyFileError(f"{where} does not hold a key (base64 text)") from None
    if len(key) < 16:
        raise KeyFileError(f"{where} holds a key of {len(key)} bytes; at least 16 are needed")
    return key
