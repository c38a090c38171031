"""Request ids in and out of the API, on the prompt's row and on the lines logged for the request;
the session's sandbox log read back over REST."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import openinspect_protocol as p
import pytest
from openinspect_protocol import logs

from openinspect_app.http.request_ids import HEADER, session_id_in
from openinspect_core.models import Message, Sandbox
from openinspect_core.services import sandbox_logs
from tests.support.system import ServedApi, api_token


@pytest.fixture
def web_log() -> Iterator[io.StringIO]:
    """The JSON lines the web process's own loggers write during the test."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    loggers = [logging.getLogger(name) for name in ("openinspect_app", "openinspect_core")]
    saved = [(logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield out
    for logger, (level, propagate) in zip(loggers, saved, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_a_usable_request_id_is_kept_and_returned_and_the_prompt_remembers_it(
        served: ServedApi, web_log: io.StringIO) -> None:
    async with served.client(token=await api_token(served.context)) as http:
        session = (await http.post("/api/sessions", json={"repo_url": "/tmp/anything"})).json()
        sent = await http.post(f"/api/sessions/{session['id']}/prompts", headers={HEADER: "req-from-client_1"},
                               json={"content": "hello", "client_request_id": "c1"})
    assert sent.status_code == 201 and sent.headers[HEADER] == "req-from-client_1"
    assert sent.json()["request_id"] == "req-from-client_1"
    async with served.context.db.session() as db:
        message = await db.get(Message, sent.json()["id"])
    assert message is not None and message.request_id == "req-from-client_1"
    # Every line of that request names it and the session; the access line closes it.
    mine = [line for line in lines(web_log) if line.get("request_id") == "req-from-client_1"]
    assert [line["event"] for line in mine] == ["prompts.queued", "http.request"]
    assert {line["session_id"] for line in mine} == {session["id"]}
    assert mine[0]["message_id"] == sent.json()["id"]
    assert (mine[1]["method"], mine[1]["status"]) == ("POST", 201)


@pytest.mark.parametrize("given", [None, "", "has space", "x" * 65, "semi;colon", "quote\"d"])
async def test_a_missing_or_unusable_request_id_is_replaced_by_a_new_one(served: ServedApi, given: str | None,
                                                                        web_log: io.StringIO) -> None:
    headers = {} if given is None else {HEADER: given}
    async with served.client(token=await api_token(served.context)) as http:
        answers = [await http.get("/api/sessions", headers=headers) for _ in range(2)]
    ids = [answer.headers[HEADER] for answer in answers]
    assert ids[0] != ids[1] and all(logs.VALID_ID.match(i) for i in ids) and given not in ids
    assert [line["request_id"] for line in lines(web_log) if line["event"] == "http.request"] == ids


async def test_refusals_carry_a_request_id_too(served: ServedApi) -> None:
    async with served.client() as anonymous:
        refused = await anonymous.get("/api/sessions", headers={HEADER: "anon-1"})
    async with served.client(token=await api_token(served.context)) as http:
        missing = await http.get("/api/sessions/" + "0" * 32)
    assert (refused.status_code, refused.headers[HEADER]) == (401, "anon-1")
    assert missing.status_code == 404 and logs.VALID_ID.match(missing.headers[HEADER])


def test_the_session_paths_name_their_session() -> None:
    assert session_id_in("/api/sessions/abc123/prompts") == "abc123"
    assert session_id_in("/api/sessions/abc123") == "abc123"
    assert session_id_in("/_ui/presence/abc123") == "abc123"
    assert session_id_in("/api/sessions") is None
    assert session_id_in("/api/sessions/a b/prompts") is None


async def test_the_sandbox_log_is_read_back_newest_last_and_capped(served: ServedApi,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_logs, "MAX_LINES", 5)
    async with served.client(token=await api_token(served.context)) as http:
        session = (await http.post("/api/sessions", json={"repo_url": "/tmp/anything"})).json()
        empty = (await http.get(f"/api/sessions/{session['id']}/sandbox-log")).json()
        async with served.context.work() as work:
            sandbox = Sandbox(session_id=session["id"], backend="test", auth_token_hash="h" * 64, status="failed")
            work.db.add(sandbox)
            await work.db.flush()
            for batch in range(3):  # 9 lines and one "dropped" marker; the newest 5 are kept
                await sandbox_logs.append(work.db, session["id"], sandbox.id, p.SandboxLog(
                    dropped=2 if batch == 1 else 0,
                    lines=[p.SandboxLogLine(ts=datetime.now(UTC), level="info", line=f'{{"event": "e{batch}{n}"}}')
                           for n in range(3)]))
        tail = (await http.get(f"/api/sessions/{session['id']}/sandbox-log", params={"tail": 4})).json()
        full = (await http.get(f"/api/sessions/{session['id']}/sandbox-log")).json()
        too_many = await http.get(f"/api/sessions/{session['id']}/sandbox-log", params={"tail": 100_000})
        unknown = await http.get("/api/sessions/" + "0" * 32 + "/sandbox-log")
    assert empty == {"lines": []}
    assert [json.loads(line["line"])["event"] for line in tail["lines"]] == ["e12", "e20", "e21", "e22"]
    assert [json.loads(line["line"])["event"] for line in full["lines"]] == ["e11", "e12", "e20", "e21", "e22"]
    assert {line["sandbox_id"] for line in full["lines"]} == {sandbox.id}
    assert (too_many.status_code, unknown.status_code) == (422, 404)


async def test_a_dropped_count_is_kept_as_a_line_of_its_own(served: ServedApi) -> None:
    async with served.client(token=await api_token(served.context)) as http:
        session = (await http.post("/api/sessions", json={"repo_url": "/tmp/anything"})).json()
        async with served.context.work() as work:
            await sandbox_logs.append(work.db, session["id"], "sb1", p.SandboxLog(dropped=7, lines=[
                p.SandboxLogLine(ts=datetime.now(UTC), level="error", line='{"event": "after.gap"}')]))
        got = (await http.get(f"/api/sessions/{session['id']}/sandbox-log")).json()["lines"]
    assert [(line["level"], json.loads(line["line"])) for line in got] == [
        ("warning", {"event": "sandbox_log.dropped", "lines": 7}), ("error", {"event": "after.gap"})]
