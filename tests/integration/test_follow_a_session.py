"""One session followed by its id through every process's log, from the REST call to the turn's end.

Production topology (as ``test_split_processes``): the web process (here, the test's own
process, logging JSON lines to a buffer), a separate worker (``python -m backend_jobs``,
``OPENINSPECT_LOG_FORMAT=json``, stderr to a file) and the sandbox it starts (the local
backend's log file), PostgreSQL between web and worker. The prompt's ``X-Request-Id``
must reach all three, with the session, sandbox and message ids, and the sandbox's own
log must also be kept with the session (``GET /api/sessions/{id}/sandbox-log``).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openinspect_protocol import logs

from tests.fakes.scripted_model import ScriptedModel
from tests.support.split import web_and_worker
from tests.support.system import WAIT_SECONDS, RunningSystem, make_repo

REQUEST_ID = "follow-me-0123456789"
WEB_LOGGERS = ("openinspect_app", "openinspect_core", "backend_jobs")


@pytest.fixture
def web_log() -> Iterator[io.StringIO]:
    """The web process's own lines (this process's), as the JSON form writes them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    loggers = [logging.getLogger(name) for name in WEB_LOGGERS]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield out
    for logger, level in zip(loggers, saved, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def json_lines(text: str) -> list[dict]:
    """The JSON log lines of ``text`` (a sandbox's log file also holds bubblewrap's own words)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def steps(lines: list[dict], **ids: str) -> list[dict]:
    """The lines carrying every one of ``ids``, in order."""
    return [line for line in lines if all(line.get(key) == value for key, value in ids.items())]


def names(lines: list[dict]) -> list[str]:
    return [line["event"] for line in lines]


def first(lines: list[dict], event: str) -> dict:
    return next(line for line in lines if line["event"] == event)


def in_order(found: list[str], expected: list[str]) -> bool:
    """``expected`` appears in ``found`` in this order (other lines may come between)."""
    remaining = iter(found)
    return all(name in remaining for name in expected)


async def stored_sandbox_log(s: RunningSystem, session_id: str, until_event: str) -> list[dict]:
    """The session's stored sandbox log, once it holds ``until_event`` (the runtime ships about every second)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        answer = await s.client.get(f"/api/sessions/{session_id}/sandbox-log", params={"tail": 5000})
        assert answer.status_code == 200, answer.text
        lines = [json.loads(line["line"]) for line in answer.json()["lines"]]
        if until_event in names(lines) or time.monotonic() > deadline:
            return lines
        await asyncio.sleep(0.2)


async def test_one_session_is_followed_through_web_worker_and_sandbox_logs(
        postgres_url: str, tmp_path: Path, scripted_model: ScriptedModel, web_log: io.StringIO) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "x\n"})
    async with web_and_worker(postgres_url, tmp_path, scripted_model, OPENINSPECT_LOG_FORMAT="json") as split:
        s = split.system
        session = await s.create_session(repo)
        session_id = session["id"]
        sent = await s.client.post(f"/api/sessions/{session_id}/prompts", headers={"X-Request-Id": REQUEST_ID},
                                   json={"content": "#script write-file path=f.txt content=followed",
                                         "client_request_id": "follow-1"})
        assert sent.status_code == 201 and sent.headers["X-Request-Id"] == REQUEST_ID, sent.text
        message_id = sent.json()["id"]
        finished = await s.wait_for_prompt_end(session_id, message_id)
        assert finished["data"]["status"] == "completed"
        stored = await stored_sandbox_log(s, session_id, "supervisor.prompt_finished")
    worker_log = split.worker_log
    assert split.worker_exit_code == 0, worker_log.read_text()[-2000:]

    turn = {"session_id": session_id, "request_id": REQUEST_ID, "message_id": message_id}
    # The web process: the prompt queued, then the request's access line.
    web_steps = steps(json_lines(web_log.getvalue()), **turn)
    assert in_order(names(web_steps), ["prompts.queued"]), names(web_steps)
    [access] = steps(json_lines(web_log.getvalue()), session_id=session_id, request_id=REQUEST_ID,
                     event="http.request")
    assert (access["method"], access["path"], access["status"]) == ("POST", f"/api/sessions/{session_id}/prompts",
                                                                    201)

    # The worker: the session's sandbox started and connected; the prompt sent to it, then its end stored.
    worker_lines = json_lines(worker_log.read_text())
    [spawning] = steps(worker_lines, session_id=session_id, event="supervisor.spawning")
    sandbox_id = spawning["sandbox_id"]
    assert in_order(names(steps(worker_lines, session_id=session_id, sandbox_id=sandbox_id)),
                    ["supervisor.spawning", "bridge_handler.connected", "dispatcher.prompt_dispatched",
                     "ingestion.execution_complete"])
    worker_steps = steps(worker_lines, sandbox_id=sandbox_id, **turn)
    assert in_order(names(worker_steps), ["dispatcher.prompt_dispatched", "ingestion.execution_complete"]), \
        names(worker_steps)

    # The sandbox: started for this session; the turn's every line names the request and the prompt.
    sandbox_file = split.worker_data_dir / "workspaces" / session_id / f"sandbox-{sandbox_id}.log"
    sandbox_lines = json_lines(sandbox_file.read_text())
    assert in_order(names(steps(sandbox_lines, session_id=session_id, sandbox_id=sandbox_id)),
                    ["entrypoint.starting", "supervisor.ready", "supervisor.prompt_queued",
                     "supervisor.prompt_started", "opencode.turn.start", "opencode.turn.end",
                     "supervisor.prompt_finished"])
    sandbox_steps = steps(sandbox_lines, sandbox_id=sandbox_id, **turn)
    assert in_order(names(sandbox_steps), ["bridge.command", "supervisor.prompt_queued", "supervisor.prompt_started",
                                           "opencode.turn.start", "opencode.turn.end",
                                           "supervisor.prompt_finished"]), names(sandbox_steps)

    # Across the processes, in the order they happened (one machine, one clock).
    path = [first(web_steps, "prompts.queued"), first(worker_steps, "dispatcher.prompt_dispatched"),
            first(sandbox_steps, "supervisor.prompt_started"), first(sandbox_steps, "supervisor.prompt_finished"),
            first(worker_steps, "ingestion.execution_complete")]
    assert names(path) == ["prompts.queued", "dispatcher.prompt_dispatched", "supervisor.prompt_started",
                           "supervisor.prompt_finished", "ingestion.execution_complete"]
    assert [line["ts"] for line in path] == sorted(line["ts"] for line in path)

    # The sandbox's own log is kept with the session: the same lines, read back over REST.
    assert in_order(names(steps(stored, sandbox_id=sandbox_id, **turn)),
                    ["supervisor.prompt_started", "opencode.turn.start", "supervisor.prompt_finished"])
    assert "bridge.frame_rejected" not in names(stored)
