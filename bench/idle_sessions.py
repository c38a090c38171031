"""Idle cost: what the control plane's memory grows by per 1,000 idle or archived sessions.

Run from the project root; it prints figures and asserts nothing::

    python -m bench.idle_sessions [--sessions 1000 --events 40] [--database-url URL]

**System.** The real system in production mode (``scripts/run``) with the manual backend, as
``bench/fanout.py`` starts it (SQLite, or a throwaway PostgreSQL database beside ``--database-url``).

**What happens.** One session is made and archived first (so the code each step needs is loaded
before the first reading). Then ``--sessions`` sessions are made over the REST API (each starts a
manual sandbox, as a new session warms one), each given a history of ``--events`` timeline events
straight in the database, and every one archived (the dispatcher shuts its sandbox down, as for a
session someone archived); half of them are restored, which leaves them idle: no sandbox, nothing
queued, not archived. Then everything a control plane does with many sessions while nobody works
in them runs: the dispatcher's 30 s rescan and the timers (waited for), and the sessions list read
through the REST API page by page, idle and archived (what the sidebar and the listing read).

**Figures.** The resident memory (RSS) of the system's whole process tree after the warm-up and
after all that, and the difference per 1,000 sessions, beside the goal (50 MB per 1,000); the
number of live sandboxes at the end (0: every archived session's sandbox was shut down). RSS is
what the operating system charges: it includes what a step allocated and the allocator kept, so it
is an upper bound on what the sessions hold.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from sqlmodel import col, func, select

from bench.fanout_system import POSTGRES_PREFIXES, _auth, create_session, prefill, running_system, throwaway_database
from openinspect_core.db import Database
from openinspect_core.models import LIVE_SANDBOX_STATUSES, Sandbox
from openinspect_core.notify.postgres import notifier_for
from openinspect_core.services import sessions
from openinspect_core.unit_of_work import UnitOfWork

GOAL_MB_PER_1000 = 50.0
CONCURRENCY = 8
SETTLE_SECONDS = 35  # past the dispatcher's 30 s rescan, so its round over every session has run
PAGE = 200


def tree_rss_mb(pid: int) -> float:
    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / 1e6


async def make_sessions(http: httpx.AsyncClient, repo: Path, count: int) -> list[str]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(n: int) -> str:
        async with gate:
            return await create_session(http, repo, f"idle {n}")

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def archive_and_restore(database_url: str, archive: list[str], restore: list[str]) -> None:
    """Archive through the core's own service and unit of work, so the running system is told (PostgreSQL's
    LISTEN/NOTIFY; on SQLite its dispatcher finds them at its next rescan)."""
    db, notifier = Database(database_url), notifier_for(database_url)
    await notifier.start()
    try:
        for session_id in archive:
            async with UnitOfWork(db, notifier) as work:
                await sessions.archive(work.db, session_id)
                work.changed(session_id)
        for session_id in restore:
            async with UnitOfWork(db, notifier) as work:
                await sessions.restore(work.db, session_id)
                work.changed(session_id)
    finally:
        await notifier.close()
        await db.dispose()


async def live_sandboxes(database_url: str) -> int:
    db = Database(database_url)
    try:
        async with db.session() as s:
            return int((await s.exec(select(func.count()).select_from(Sandbox).where(
                col(Sandbox.status).in_(LIVE_SANDBOX_STATUSES)))).one())
    finally:
        await db.dispose()


async def read_listing(http: httpx.AsyncClient) -> int:
    read = 0
    for archived in (False, True):
        offset = 0
        while True:
            response = await http.get("/api/sessions", params={"archived": archived, "limit": PAGE, "offset": offset},
                                      headers=_auth(http))
            response.raise_for_status()
            page = response.json()
            read += len(page)
            if len(page) < PAGE:
                break
            offset += PAGE
    return read


async def wait_for_no_live_sandboxes(database_url: str, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while True:  # the system is another process: polling its database is the only way to know
        live = await live_sandboxes(database_url)
        if not live or time.monotonic() >= deadline:
            return live
        await asyncio.sleep(1)


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="oi-idle-") as tmp:
        root = Path(tmp)
        repo = root / "repo"  # only its path is used: manual sandboxes clone nothing
        repo.mkdir()
        with throwaway_database(args.database_url) as database_url:
            database = "PostgreSQL" if database_url and database_url.startswith(POSTGRES_PREFIXES) else "SQLite"
            print(f"starting the system (scripts/run, {database}) ...", flush=True)
            # One person makes every session here: lift the per-person bounds above the sessions made.
            limit = str(args.sessions + 10)
            with running_system(root, database_url, OPENINSPECT_MAX_ACTIVE_SESSIONS_PER_USER=limit,
                                OPENINSPECT_MAX_SANDBOXES_PER_USER=limit, OPENINSPECT_MAX_SANDBOXES=limit) as system:
                async with httpx.AsyncClient(base_url=system.base_url, timeout=120) as http:
                    warm = await make_sessions(http, repo, 1)
                    await archive_and_restore(system.database_url, warm, [])
                    await wait_for_no_live_sandboxes(system.database_url, 120)
                    await read_listing(http)
                    before = tree_rss_mb(system.pid)
                    started = time.monotonic()
                    ids = await make_sessions(http, repo, args.sessions)
                    made = time.monotonic() - started
                    print(f"made {len(ids)} sessions in {made:.1f} s; filling histories ...", flush=True)
                    for session_id in ids:
                        await prefill(system.database_url, session_id, args.events)
                    await archive_and_restore(system.database_url, ids, ids[: len(ids) // 2])
                    live = await wait_for_no_live_sandboxes(system.database_url, 600)
                    await asyncio.sleep(SETTLE_SECONDS)
                    listed = await read_listing(http)
                    after = tree_rss_mb(system.pid)
    per_1000 = (after - before) * 1000 / max(1, args.sessions)
    print()
    print(f"Idle cost ({database}; {args.sessions} sessions: {args.sessions - args.sessions // 2} idle, "
          f"{args.sessions // 2} archived, {args.events} events each)")
    print(f"  {'':34} {'measured':>12} {'goal':>10}")
    print(f"  {'control plane RSS after warm-up':34} {before:>9.1f} MB")
    print(f"  {'control plane RSS after':34} {after:>9.1f} MB")
    print(f"  {'growth per 1,000 sessions':34} {per_1000:>9.1f} MB {GOAL_MB_PER_1000:>7.0f} MB")
    print(f"  {'sessions listed (REST, all pages)':34} {listed:>12}")
    print(f"  {'live sandboxes at the end':34} {live:>12}")
    print(f"  {'sessions made per second (REST)':34} {args.sessions / made:>12.1f}")
    return 0


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=40, help="timeline events per session's history")
    parser.add_argument("--database-url", help="PostgreSQL server (a throwaway database is made beside it)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(run(_parse(sys.argv[1:]))))
