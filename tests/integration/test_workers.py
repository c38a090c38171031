"""Several workers over PostgreSQL: one leads, and when it is killed (``kill -9``) mid-turn,
another takes over — it sweeps the dead one's sandbox, says so, and the queue goes on."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

from tests.fakes.scripted_model import ScriptedModel
from tests.support.split import Worker, web_and_worker
from tests.support.system import make_repo

WAIT_SECONDS = 120


def events_named(worker: Worker, name: str) -> list[dict]:
    found = []
    for line in worker.log_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line from something that does not log our way (e.g. a library's warning)
        if isinstance(record, dict) and record.get("event") == name:
            found.append(record)
    return found


async def until(condition: object, what: str, seconds: float = WAIT_SECONDS) -> None:
    try:
        async with asyncio.timeout(seconds):
            while not condition():  # type: ignore[operator]
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"still waiting after {seconds} s for {what}") from None


async def test_one_worker_leads_and_another_takes_over_when_it_is_killed(
        postgres_url: str, tmp_path: Path, scripted_model: ScriptedModel) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "x\n"})
    async with web_and_worker(postgres_url, tmp_path, scripted_model, OPENINSPECT_LOG_FORMAT="json") as split:
        await until(lambda: events_named(split.workers[0], "background_jobs.started"), "the first worker")
        await split.start_worker("worker-2")
        workers = split.workers
        await until(lambda: all(events_named(w, "background_jobs.started") for w in workers), "both workers")
        leaders = [w for w in workers if events_named(w, "leadership.gained")]
        assert len(leaders) == 1, [w.log for w in leaders]
        leader, = leaders
        follower, = (w for w in workers if w is not leader)

        s = split.system
        session = await s.create_session(repo)
        sid = session["id"]
        first = await s.prompt(sid, "#script write-file path=one.txt content=before")
        assert (await s.wait_for_prompt_end(sid, first["id"]))["data"]["status"] == "completed"
        # The leader alone started the sandbox; the follower decided nothing.
        assert events_named(leader, "supervisor.spawning") and not events_named(follower, "supervisor.spawning")

        slow = await s.prompt(sid, "#script slow seconds=120 interval_seconds=0.5")
        await s.wait_for(sid, lambda e: e["type"] == "token" and e.get("message_id") == slow["id"])
        queued = await s.prompt(sid, "#script write-file path=two.txt content=after-the-kill")

        os.kill(leader.process.pid, signal.SIGKILL)
        await leader.process.wait()

        # The follower holds the lock once PostgreSQL has seen the leader's connection close; it sweeps
        # the sandbox that died with its worker, the turn ends saying so, and the queue goes on.
        await until(lambda: events_named(follower, "leadership.gained"), "the follower to take over")
        ended = await s.wait_for_prompt_end(sid, slow["id"], timeout_seconds=WAIT_SECONDS)
        assert ended["data"]["status"] == "failed"
        exits = [e["data"]["reason"] for e in await s.events(sid) if e["type"] == "sandbox_exited"]
        assert exits == ["the control plane restarted"]  # the timeline says why the turn failed
        done = await s.wait_for_prompt_end(sid, queued["id"], timeout_seconds=WAIT_SECONDS)
        assert done["data"]["status"] == "completed"
        assert events_named(follower, "supervisor.spawning")
        workspace = follower.data_dir / "workspaces" / sid / "repo"
        assert (workspace / "two.txt").read_text().strip() == "after-the-kill"
        # Every prompt ended once; none is left waiting.
        finished = [e for e in await s.events(sid) if e["type"] == "prompt_finished"]
        assert sorted(e["message_id"] for e in finished) == sorted([first["id"], slow["id"], queued["id"]])
    assert split.workers[1].process.returncode == 0, follower.log_text()[-2000:]
