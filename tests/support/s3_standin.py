"""An S3-compatible server for tests: moto's server (PyPI ``moto[server]``), in a virtualenv of its own.

Why its own: moto needs boto3/botocore, and botocore pins ``python-dateutil<3`` while the Kubernetes
client in the project's environment needs ``>=3``; they cannot share one. The virtualenv is made once
(``.venv/s3-standin``, from the same package index, pinned below) and kept, like the project's own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MOTO = "moto[server]==5.2.6"
ROOT = Path(__file__).resolve().parents[2] / ".venv" / "s3-standin"
STAMP = ROOT / ".installed"
READY_TIMEOUT_SECONDS = 60.0


def standin_python() -> Path:
    """The stand-in virtualenv's interpreter, made (once) if missing."""
    python = ROOT / "bin" / "python"
    if not (STAMP.exists() and STAMP.read_text() == MOTO and python.exists()):
        subprocess.run([sys.executable, "-m", "venv", str(ROOT)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", MOTO],
                       check=True)
        STAMP.write_text(MOTO)
    return python


@contextmanager
def moto_server() -> Iterator[str]:
    """A running moto server on a free loopback port; its http:// endpoint."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    process = subprocess.Popen([str(standin_python()), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's server did not start (exit {process.poll()})") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
