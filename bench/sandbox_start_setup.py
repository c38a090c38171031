"""Set-up and references of the sandbox-start benchmark: the database, interpreter start times, versions, machine.

Shared with ``bench/k8s_spawn.py`` (``database``, ``version_of``, ``machine_description``).
"""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from backend_jobs.sandboxes.local import INHERITED_ENV
from bench.sandbox_start_figures import Summary, summarize
from bench.sandbox_start_run import PROJECT_ROOT
from openinspect_core.settings import normalise_database_url

PYTHON_START_SAMPLES = 5


@contextlib.contextmanager
def database(url: str | None, tmp: Path) -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, description) of the database to use; a PostgreSQL one is made and dropped here."""
    if url is None:
        yield f"sqlite+aiosqlite:///{tmp / 'openinspect.db'}", f"SQLite {sqlite3.sqlite_version} (a file in a temp dir)"
        return
    if not url.startswith(("postgres://", "postgresql://", "postgresql+psycopg://")):
        yield normalise_database_url(url), url
        return
    admin = "postgresql://" + url.split("://", 1)[1]
    name = f"oi_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        version = (conn.execute("SHOW server_version").fetchone() or ["?"])[0]
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin)
    try:
        yield (normalise_database_url(parts._replace(path=f"/{name}").geturl()),
               f"PostgreSQL {version} at {parts.hostname}:{parts.port or 5432} (throwaway database {name})")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def python_start_reference() -> tuple[Summary, Summary, Summary]:
    """Interpreter starts as the local backend runs them: bare; importing the runtime; and its OpenCode harness.

    The runtime logs ``entrypoint.starting`` once ``sandbox.entrypoint`` is imported; the
    harness module is imported after that, when the parts are built (before the bridge connects).
    """
    env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ} | {"PYTHONPATH": str(PROJECT_ROOT)}

    def timed(code: str) -> Summary:
        samples = []
        for _ in range(PYTHON_START_SAMPLES):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, check=True)
            samples.append(time.perf_counter() - start)
        return summarize(samples)

    runtime = "import sandbox.entrypoint"
    return timed("pass"), timed(runtime), timed(f"{runtime}, sandbox.harness.opencode")


def version_of(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"unknown ({exc})"


def machine_description() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "?")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}; load average at start {load}"
