"""The REST API over the services, on SQLite and PostgreSQL (no sandboxes started here)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from openinspect_app.api.app import attach, build_api
from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.notify.local import Notifier
from openinspect_core.settings import Settings
from tests.support.http import serve_http
from tests.support.system import ADA, api_token

REPOS = Path("/tmp/openinspect-test-repos")  # an allowed root (OPENINSPECT_REPO_ROOTS); nothing is cloned here


@pytest.fixture
async def client(database: Database, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the API signed in as Ada with an API token."""
    settings = Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path / "data")}, database_url=database.url,
                                 repo_roots=(str(REPOS),))
    api = build_api()
    context = AppContext.of(settings, database, Notifier())
    attach(api, context)
    token = await api_token(context)
    # A real HTTP server: httpx's ASGI transport buffers whole bodies, which hides streaming.
    async with serve_http(api) as base_url, httpx.AsyncClient(
            base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


async def new_session(client: httpx.AsyncClient, **body: object) -> dict:
    response = await client.post("/api/sessions", json={"repo_url": f"{REPOS}/some-repo", **body})
    assert response.status_code == 201, response.text
    return response.json()


async def prompt(client: httpx.AsyncClient, session_id: str, request_id: str, content: str = "hi",
                 **body: object) -> httpx.Response:
    return await client.post(f"/api/sessions/{session_id}/prompts",
                             json={"content": content, "client_request_id": request_id, **body})


async def test_create_list_and_get_a_session(client: httpx.AsyncClient) -> None:
    created = await new_session(client, branch="main", title="Fix it")
    assert created["status"] == "spawning"
    assert created["repo"] == {"id": created["repo"]["id"], "url": f"{REPOS}/some-repo", "name": "some-repo",
                               "full_name": None}
    assert (created["work_branch"], created["pushed_sha"]) == (None, None)  # a local repository: nothing pushed
    assert (created["branch"], created["title"], created["archived"]) == ("main", "Fix it", False)
    listed = (await client.get("/api/sessions")).json()
    assert [s["id"] for s in listed] == [created["id"]]
    fetched = (await client.get(f"/api/sessions/{created['id']}")).json()
    assert fetched["id"] == created["id"]


async def test_unknown_session_is_404_with_a_json_error(client: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/api/sessions/nope"), ("POST", "/api/sessions/nope/stop"),
                         ("GET", "/api/sessions/nope/events"), ("GET", "/api/sessions/nope/events/stream")]:
        response = await client.request(method, path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "session_not_found"
    response = await prompt(client, "nope", "r1")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "session_not_found")


async def test_bad_bodies_get_clear_errors(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/sessions", json={"repo_url": "ftp://example.com/x"})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_repo_url")
    response = await client.post("/api/sessions", json={"branch": "main"})
    assert response.status_code == 422
    assert response.json()["error"] == {"code": "invalid_request", "message": "repo_url: Field required"}
    response = await client.post("/api/sessions", content=b"{not json", headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_request")
    session = await new_session(client)
    response = await prompt(client, session["id"], "r1", content="   ")
    assert (response.status_code, response.json()["error"]["code"]) == (422, "empty_prompt")


async def test_the_same_client_request_id_queues_one_prompt(client: httpx.AsyncClient) -> None:
    session = await new_session(client)
    first = await prompt(client, session["id"], "req-1", "do the thing")
    again = await prompt(client, session["id"], "req-1", "do the thing")
    concurrent = await asyncio.gather(*(prompt(client, session["id"], "req-2") for _ in range(5)))
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert sorted(r.status_code for r in concurrent) == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in concurrent}) == 1
    queued = (await client.get(f"/api/sessions/{session['id']}/prompts")).json()
    assert [m["client_request_id"] for m in queued] == ["req-1", "req-2"]
    assert queued[0]["author"] == {"name": ADA["name"], "email": ADA["email"]}  # the caller, always


async def test_prompt_limits(client: httpx.AsyncClient) -> None:
    session = await new_session(client)
    response = await prompt(client, session["id"], "big", content="x" * 64_001)
    assert (response.status_code, response.json()["error"]["code"]) == (413, "prompt_too_long")
    assert (await prompt(client, session["id"], "edge", content="x" * 64_000)).status_code == 201
    for i in range(9):
        assert (await prompt(client, session["id"], f"r{i}")).status_code == 201
    response = await prompt(client, session["id"], "one-too-many")
    assert (response.status_code, response.json()["error"]["code"]) == (429, "queue_full")
    assert "10 unfinished prompts" in response.json()["error"]["message"]


async def test_cancel_a_queued_prompt(client: httpx.AsyncClient) -> None:
    session = await new_session(client)
    message = (await prompt(client, session["id"], "r1")).json()
    assert message["author"] == ADA
    cancelled = await client.delete(f"/api/sessions/{session['id']}/prompts/{message['id']}")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    again = await client.delete(f"/api/sessions/{session['id']}/prompts/{message['id']}")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "not_queued")
    missing = await client.delete(f"/api/sessions/{session['id']}/prompts/nope")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "prompt_not_found")


async def test_stop_with_nothing_running_is_a_conflict(client: httpx.AsyncClient) -> None:
    session = await new_session(client)
    response = await client.post(f"/api/sessions/{session['id']}/stop")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_running")


async def test_events_are_paged_after_a_sequence(client: httpx.AsyncClient) -> None:
    session = await new_session(client)
    for i in range(3):
        await prompt(client, session["id"], f"r{i}", f"prompt {i}")
    page = (await client.get(f"/api/sessions/{session['id']}/events")).json()
    assert [e["type"] for e in page["events"]] == ["session_status"] + ["prompt_queued"] * 3
    assert [e["sequence"] for e in page["events"]] == [1, 2, 3, 4]
    assert page["events"][1]["data"]["content"] == "prompt 0"
    assert (page["next_after"], page["has_more"]) == (4, False)
    part = (await client.get(f"/api/sessions/{session['id']}/events", params={"after": 1, "limit": 2})).json()
    assert [e["sequence"] for e in part["events"]] == [2, 3]
    assert (part["next_after"], part["has_more"]) == (3, True)


async def test_the_stream_sends_history_then_live_events(client: httpx.AsyncClient) -> None:
    session = await new_session(client)
    await prompt(client, session["id"], "r0", "before")
    received: list[dict] = []
    history_read = asyncio.Event()

    async def read() -> None:
        async with client.stream("GET", f"/api/sessions/{session['id']}/events/stream") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line.removeprefix("data: ")))
                    if len(received) == 2:
                        history_read.set()
                    if len(received) == 3:
                        return

    reader = asyncio.create_task(read())
    await asyncio.wait_for(history_read.wait(), 10)
    await prompt(client, session["id"], "r1", "after")
    await asyncio.wait_for(reader, 10)
    assert [e["sequence"] for e in received] == [1, 2, 3]
    assert [e["data"].get("content") for e in received[1:]] == ["before", "after"]


async def test_stream_resumes_after_last_event_id(client: httpx.AsyncClient) -> None:
    session = await new_session(client)
    for i in range(3):
        await prompt(client, session["id"], f"r{i}")
    async with client.stream("GET", f"/api/sessions/{session['id']}/events/stream",
                             headers={"Last-Event-ID": "2"}) as response:
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                assert line == "id: 3"
                break
