"""``python -m backend_jobs.slack`` as Kubernetes runs it: its own process on a database the web shares,
ready on /healthz once Slack answered auth.test, Slack's deliveries on /slack/events, a clean stop
on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
from sqlmodel import select

from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.models import Session
from openinspect_core.notify.local import Notifier
from tests.backend_jobs.slack.bot_world import REPOS, add_repos, bot_settings
from tests.conftest import REPO_ROOT
from tests.fakes.slack import FakeSlack
from tests.support.http import free_port

READY_SECONDS = 60.0  # imports and migrations on a busy two-core machine


async def test_the_slack_process_serves_slack_and_stops_cleanly(tmp_path: Path, sqlite_url: str,
                                                                fake_slack: FakeSlack) -> None:
    settings = bot_settings(tmp_path, sqlite_url, fake_slack)
    database = Database(sqlite_url)
    await add_repos(AppContext.of(settings, database, Notifier()), tmp_path / "repos", REPOS)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENINSPECT_")}
    env.update(OPENINSPECT_DATA_DIR=str(tmp_path / "data"), OPENINSPECT_DATABASE_URL=sqlite_url,
               OPENINSPECT_REPO_ROOTS=str(tmp_path / "repos"), OPENINSPECT_SLACK_BOT_TOKEN=fake_slack.bot_token,
               OPENINSPECT_SLACK_SIGNING_SECRET=fake_slack.signing_secret,
               OPENINSPECT_SLACK_API_URL=fake_slack.api_url, OPENINSPECT_SLACK_PORT=str(port))
    # Its output in a pipe, read at the end (a few lines: well under the pipe's buffer).
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "backend_jobs.slack", cwd=REPO_ROOT,
                                                   env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(int(READY_SECONDS / 0.2)):
                assert process.returncode is None, "the process ended before it was ready"
                try:
                    if (await client.get(f"{base}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("not ready in time")
        event = fake_slack.mention(fake_slack.world.ada, fake_slack.world.general, "acme/infra: add a namespace")
        assert (await fake_slack.deliver_event(f"{base}/slack/events", event)).status == 200
        await fake_slack.wait_for_call("reactions.add", timeout=30)
        # Ada has no person here: the process asks her (privately) to link her account.
        await fake_slack.wait_for_call("chat.postEphemeral", timeout=30)
        async with database.session() as db:
            assert (await db.exec(select(Session))).all() == []
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        await database.dispose()
    log = output.decode(errors="replace")
    assert process.returncode == 0, log
    assert "slack.process_started" in log and fake_slack.bot_token not in log
